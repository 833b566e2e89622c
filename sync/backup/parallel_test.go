package backup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// Folders backed up over three connections end exactly as over one: the
// same messages, flags and deletions, every folder reported once, and the
// changes of a second run too.
func TestParallelFoldersLikeOne(t *testing.T) {
	s := dovecot.StartT(t)
	folders := []string{"INBOX", "Work", "Work/Projects", "Lists", "Receipts", "Travel"}
	for i, f := range folders {
		var msgs [][]byte
		for j := 0; j < 20+i; j++ {
			msgs = append(msgs, []byte(fmt.Sprintf("Subject: %s %d\r\nMessage-ID: <%d.%d@x>\r\n\r\nbody\r\n", f, j, i, j)))
		}
		if err := s.Load("user1", f, msgs, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	proxy := newCountingProxy(t, s.IMAPAddr)
	acct := proxy.account(t, s)
	one, three := newArchive(t), newArchive(t)
	first := map[int]bool{1: true, 3: true}
	run := func(a *archive.Archive, n int) Result {
		t.Helper()
		before := proxy.conns.Load()
		check := first[n]
		first[n] = false
		res := Backup(context.Background(), []Account{acct}, Options{Archive: a, Connections: n})[0]
		// A connection logs in at its first folder that needs the
		// server: on the first run (every folder new), with three, two or
		// three are made.
		if got := int(proxy.conns.Load() - before); check && ((n == 1 && got != 1) || (n > 1 && (got < 2 || got > n))) {
			t.Fatalf("%d connections asked for, %d made", n, got)
		}
		if res.Err != nil || res.Run.Result != archive.ResultOK {
			t.Fatalf("%d connections: %v %s %v", n, res.Err, res.Run.Result, res.Run.Warnings)
		}
		if len(res.Run.Folders) != len(folders) {
			t.Fatalf("%d connections: %d folders reported, want %d", n, len(res.Run.Folders), len(folders))
		}
		return res
	}
	same := func() {
		t.Helper()
		for _, f := range folders {
			id := archive.FolderID{Account: "dove", Name: f, Delim: '/'}
			a, err1 := one.ReadFolder(id)
			b, err2 := three.ReadFolder(id)
			if err1 != nil || err2 != nil || len(a.Entries()) != len(b.Entries()) {
				t.Fatalf("%s: %v %v", f, err1, err2)
			}
			for _, e := range a.Entries() {
				o := b.Lookup(e.UIDValidity, e.UID)
				if o == nil || o.SHA != e.SHA || !archive.EqualFlags(o.Flags, e.Flags) || o.Gone.IsZero() != e.Gone.IsZero() {
					t.Fatalf("%s UID %d differs", f, e.UID)
				}
			}
			checkFolderMatchesServer(t, three, s, f)
		}
	}
	run(one, 1)
	run(three, 3)
	same()
	s.Append("user1", "Travel", []byte("Subject: new\r\n\r\nnew\r\n"), nil, time.Now())
	s.Append("user1", "Work/Projects", []byte("Subject: new 2\r\n\r\nnew\r\n"), nil, time.Now())
	if err := s.Expunge("user1", "Lists", 3); err != nil {
		t.Fatal(err)
	}
	r1, r3 := run(one, 1), run(three, 3)
	same()
	for _, f := range []string{"Travel", "Work/Projects", "Lists"} {
		a, b := folderRun(r1, f), folderRun(r3, f)
		if a.New != b.New || a.Gone != b.Gone {
			t.Fatalf("%s: one connection %+v, three %+v", f, a, b)
		}
	}
}
