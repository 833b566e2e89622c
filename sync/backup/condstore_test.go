package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// countingProxy forwards to target and counts the bytes the server sends.
type countingProxy struct {
	ln    net.Listener
	down  atomic.Int64
	conns atomic.Int32
	wg    sync.WaitGroup
	mu    sync.Mutex
	sent  bytes.Buffer // what the clients sent
}

func (p *countingProxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.Write(b)
}

// take returns what the clients sent since the last call.
func (p *countingProxy) take() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.sent.String()
	p.sent.Reset()
	return out
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.conns.Add(1)
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(io.MultiWriter(s, p), c); s.Close() }()
			go func() { defer p.wg.Done(); n, _ := io.Copy(c, s); p.down.Add(n); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// account is the Dovecot test account, reached through the proxy.
func (p *countingProxy) account(t *testing.T, s *dovecot.Server) Account {
	acct := dovecotAccount(t, s, imapconn.Plain)
	host, port, _ := net.SplitHostPort(p.ln.Addr().String())
	acct.Endpoint.Host = host
	fmt.Sscan(port, &acct.Endpoint.Port)
	return acct
}

// With CONDSTORE, what a changed folder costs does not grow with the
// folder: one new message, a flag change and a deletion in a folder of
// 2,000 bring far fewer bytes from the server than the whole list, and the
// archive ends exactly as the whole list makes it (FullList, on a second
// archive of the same folder).
func TestCondStoreAsksOnlyForChanges(t *testing.T) {
	s := dovecot.StartT(t)
	var msgs [][]byte
	for i := 0; i < 2000; i++ {
		msgs = append(msgs, []byte(fmt.Sprintf("Subject: m%d\r\nMessage-ID: <m%d@x>\r\n\r\nbody %d\r\n", i, i, i)))
	}
	if err := s.Load("user1", "INBOX", msgs, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, s.IMAPAddr)
	acct := proxy.account(t, s)
	fast, full := newArchive(t), newArchive(t)
	run := func(a *archive.Archive, fullList bool) (archive.FolderRun, int64) {
		t.Helper()
		before := proxy.down.Load()
		res := Backup(context.Background(), []Account{acct}, Options{Archive: a, FullList: fullList})[0]
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		time.Sleep(50 * time.Millisecond) // the proxy counts what the closed connection carried
		return folderRun(res, "INBOX"), proxy.down.Load() - before
	}
	run(fast, false)
	run(full, true)

	if err := s.Expunge("user1", "INBOX", 7); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFlags("user1", "INBOX", 1500, []imap.Flag{imap.FlagSeen, imap.FlagFlagged}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("user1", "INBOX", []byte("Subject: new\r\n\r\nnew\r\n"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	proxy.take()
	fr, fastBytes := run(fast, false)
	// New mail beside the other changes: the try to append it without
	// reading the folder asked what changed once, and the usual way
	// started from that instead of asking again.
	sent := proxy.take()
	if n, m := strings.Count(sent, " EXAMINE "), strings.Count(sent, "CHANGEDSINCE"); n != 1 || m != 1 {
		t.Errorf("the run sent %d EXAMINEs and %d CHANGEDSINCE, want 1 of each:\n%s", n, m, sent)
	}
	frFull, fullBytes := run(full, true)
	t.Logf("after 1 new, 1 flag change, 1 deletion in 2,000: CONDSTORE %d bytes from the server, whole list %d", fastBytes, fullBytes)
	if fr.New != 1 || fr.Gone != 1 || fr.FlagChanges != 1 || fr.OnServer != 2000 {
		t.Fatalf("CONDSTORE run: %+v", fr)
	}
	if frFull.New != fr.New || frFull.Gone != fr.Gone || frFull.FlagChanges != fr.FlagChanges || frFull.OnServer != fr.OnServer {
		t.Fatalf("whole list %+v, CONDSTORE %+v", frFull, fr)
	}
	if fastBytes*3 > fullBytes {
		t.Fatalf("CONDSTORE brought %d bytes, the whole list %d: not asking only for changes", fastBytes, fullBytes)
	}
	// Both archives hold the same messages, flags and deletions.
	a, _ := fast.ReadFolder(archive.FolderID{Account: "dove", Name: "INBOX"})
	b, _ := full.ReadFolder(archive.FolderID{Account: "dove", Name: "INBOX"})
	if len(a.Entries()) != len(b.Entries()) {
		t.Fatalf("%d entries, whole list %d", len(a.Entries()), len(b.Entries()))
	}
	for _, e := range a.Entries() {
		o := b.Lookup(e.UIDValidity, e.UID)
		if o == nil || !archive.EqualFlags(e.Flags, o.Flags) || e.Gone.IsZero() != o.Gone.IsZero() || e.SHA != o.SHA {
			t.Fatalf("UID %d differs: %+v vs %+v", e.UID, e, o)
		}
	}
	// Nothing changed: both skip the folder.
	if fr, _ := run(fast, false); !fr.Unchanged {
		t.Fatalf("no change: %+v", fr)
	}
}
