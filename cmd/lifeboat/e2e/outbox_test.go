package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/outbox"
)

// TestOutboxSharedByManyProcessesAndKilled runs a relay with 20 clients and
// 20 `lifeboat send` processes at once on one outbox, kills every Lifeboat
// process with SIGKILL mid-way, starts the relay again and answers the
// questions Lifeboat asks about messages whose fate it cannot know (as a
// user would, by looking at the recipient's mailbox). Every acknowledged
// message is then delivered exactly once, none twice, and nothing was
// refused while the disk had room.
func TestOutboxSharedByManyProcessesAndKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	needKeyring(t)
	s := newStack(t)
	relay, password, _ := s.startRelay()
	letter := func(id string) string {
		return fmt.Sprintf("From: Jane <%s>\r\nTo: Tom <%s>\r\nMessage-ID: <%s@a.test>\r\nSubject: %s\r\n\r\n%s\r\n",
			s.a.Email("jane"), s.b.Email("tom"), id, id, strings.Repeat("a line of words to make the message longer\r\n", 300))
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	var refusals, transcripts []string
	var wg sync.WaitGroup
	var sends []*exec.Cmd
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("relay-%d", i)
		cmd := s.swaks(password, letter(id))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			transcripts = append(transcripts, fmt.Sprintf("%s: %v\n%s", id, err, out))
			// The reply to the final dot: a 250 is an acknowledgement; a
			// 4xx/5xx while the relay runs is a refusal.
			if i := bytes.Index(out, []byte("\n -> .\n")); i >= 0 {
				rest := out[i:]
				if bytes.Contains(rest, []byte("<-  250")) {
					acked["<"+id+"@a.test>"] = true
				} else if bytes.Contains(rest, []byte("<** ")) {
					refusals = append(refusals, fmt.Sprintf("%s: %s", id, rest))
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("send-%d", i)
		cmd := s.command("send")
		cmd.Stdin = strings.NewReader(letter(id))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sends = append(sends, cmd)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			o := out.String()
			transcripts = append(transcripts, fmt.Sprintf("%s: %v\n%s", id, err, o))
			if strings.Contains(o, "Queued ") {
				acked["<"+id+"@a.test>"] = true
			}
			if strings.Contains(o, "could not be queued") || (err != nil && !strings.Contains(err.Error(), "killed")) {
				refusals = append(refusals, fmt.Sprintf("%s: %v: %s", id, err, o))
			}
		}()
	}
	// Everything dies at once, somewhere in the middle.
	time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
	relay.Process.Signal(syscall.SIGKILL)
	for _, c := range sends {
		c.Process.Signal(syscall.SIGKILL)
	}
	wg.Wait()
	relay.Wait()
	if len(refusals) > 0 {
		t.Fatalf("refused while the disk had room:\n%s", strings.Join(refusals, "\n"))
	}
	t.Logf("%d of 40 messages acknowledged before the kill", len(acked))

	// The relay again: it finishes what the dead processes left.
	s.startRelay()
	ob, err := outbox.Open(filepath.Join(s.data, "lifeboat", "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	inbox := func() map[string]int {
		got := map[string]int{}
		msgs, _ := s.b.WaitForMail("tom", "INBOX", 0, time.Second)
		for _, m := range msgs {
			got[header(m, "Message-ID")]++
		}
		return got
	}
	answered := map[string]bool{}
	deadline := time.Now().Add(90 * time.Second)
	for {
		items, err := ob.List()
		if err != nil {
			t.Fatal(err)
		}
		got := inbox()
		for _, it := range items {
			if it.State() != outbox.NeedsUser || answered[it.ID] {
				continue
			}
			// Lifeboat asks; the user looks in the recipient's mailbox.
			verb := "retry"
			if got[it.MessageID] > 0 {
				verb = "drop"
			}
			answered[it.ID] = true
			if code, out := s.run("", "outbox", verb, it.ID); code != 0 {
				t.Fatalf("outbox %s %s: %d\n%s", verb, it.ID, code, out)
			}
		}
		missing := 0
		for mid := range acked {
			if got[mid] == 0 {
				missing++
			}
		}
		if missing == 0 && len(items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var left []string
			for _, it := range items {
				left = append(left, fmt.Sprintf("%s %s %s", it.ID, it.MessageID, it.State()))
			}
			t.Fatalf("after 90 s: %d acknowledged messages not delivered; outbox holds %v\n%s", missing, left, strings.Join(transcripts, "\n"))
		}
		time.Sleep(300 * time.Millisecond)
	}
	// A last look, after Postfix had time for any late copy.
	time.Sleep(2 * time.Second)
	for mid, n := range inbox() {
		if n != 1 {
			t.Errorf("%s delivered %d times", mid, n)
		}
	}
	t.Logf("%d questions answered", len(answered))
}
