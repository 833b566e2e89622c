package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
)

// Every writer of the archive takes the account's lock: a backup, a relay
// delivering and ten `lifeboat send` processes at once leave an archive
// that verifies clean, with one copy of every message sent.
func TestArchiveWritersAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	needKeyring(t)
	s := newStack(t)
	// Mail for the backup to chew on while the others write.
	var msgs [][]byte
	for i := 0; i < 3000; i++ {
		msgs = append(msgs, []byte(fmt.Sprintf("Subject: old %d\r\nMessage-ID: <old-%d@a.test>\r\n\r\n%s\r\n", i, i, strings.Repeat("text ", 400))))
	}
	if err := s.a.Dovecot.Load(s.a.Email("jane"), "INBOX", msgs, time.Now()); err != nil {
		t.Fatal(err)
	}
	relay, password, relayOut := s.startRelay()

	letter := func(id string) string {
		return fmt.Sprintf("From: Jane <%s>\r\nTo: Tom <%s>\r\nMessage-ID: <%s@a.test>\r\nSubject: %s\r\n\r\nHello.\r\n", s.a.Email("jane"), s.b.Email("tom"), id, id)
	}
	backup := s.command("backup")
	var backupOut strings.Builder
	backup.Stdout, backup.Stderr = &backupOut, &backupOut
	if err := backup.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]string, 15)
	acked := make([]string, 15) // Message-IDs acknowledged (queued or sent)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out := s.run(letter(fmt.Sprintf("send-%d", i)), "send")
			results[i] = fmt.Sprintf("send %d: exit %d: %s", i, code, out)
			if code == 0 {
				acked[i] = fmt.Sprintf("<send-%d@a.test>", i)
			}
		}()
	}
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := s.swaks(password, letter(fmt.Sprintf("relay-%d", i))).CombinedOutput()
			results[10+i] = fmt.Sprintf("relay %d: %v: %s", i, err, out)
			if err == nil {
				acked[10+i] = fmt.Sprintf("<relay-%d@a.test>", i)
			}
		}()
	}
	wg.Wait()
	if err := backup.Wait(); err != nil {
		t.Fatalf("backup: %v\n%s", err, backupOut.String())
	}

	// What tom received is what was sent; each of them has one copy in the
	// archive of the account that carried it, once the last writer is done.
	var want []string
	for _, id := range acked {
		if id != "" {
			want = append(want, id)
		}
	}
	if len(want) < 15 {
		t.Logf("%d of 15 acknowledged:\n%s", len(want), strings.Join(results, "\n"))
	}
	delivered := map[string]bool{}
	missing := func() []string {
		var out []string
		for _, id := range want {
			if !delivered[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for deadline := time.Now().Add(60 * time.Second); len(missing()) > 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, _ := s.b.WaitForMail("tom", "INBOX", 0, time.Second)
		for _, m := range got {
			delivered[header(m, "Message-ID")] = true
		}
	}
	if m := missing(); len(m) > 0 {
		t.Errorf("acknowledged but not delivered: %v\n%s\n%s", m, strings.Join(results, "\n"), relayOut.String())
	}
	relay.Process.Kill()
	relay.Wait()
	if code, out := s.run("", "backup"); code != 0 && code != 3 {
		t.Fatalf("final backup: %d\n%s", code, out)
	}
	if code, out := s.run("", "verify"); code != 0 {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	a, err := archive.Open(filepath.Join(s.data, "archive"))
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string]int{}
	for _, acct := range []string{"a", "b"} {
		f, err := a.ReadFolder(archive.LocalFolder(acct, archive.SentFolder))
		if err != nil {
			continue
		}
		for _, e := range f.Entries() {
			copies[e.MessageID]++
		}
		if n := a.PendingCopies(acct); n != 0 {
			t.Fatalf("%s: %d copies still waiting after the last backup", acct, n)
		}
	}
	for id := range delivered {
		if copies[id] != 1 {
			t.Errorf("%s: %d copies in the archive, want 1\n%s", id, copies[id], strings.Join(results, "\n"))
		}
	}
	for id, n := range copies {
		if !delivered[id] {
			t.Errorf("%s: a copy (%d) of a message tom never got", id, n)
		}
	}
	if len(delivered) == 0 {
		t.Fatalf("nothing was delivered:\n%s", strings.Join(results, "\n"))
	}
}
