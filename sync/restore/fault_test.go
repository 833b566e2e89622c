package restore

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
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// These tests restore into go-imap's in-memory server wrapped to misbehave
// on demand: a content filter, throttling, and connections cut mid-APPEND.

// faultServer is an in-memory IMAP target.
type faultServer struct {
	addr  string
	user  *imapmemserver.User
	srv   *imapserver.Server
	n     atomic.Int32 // APPENDs seen
	mu    sync.Mutex
	fault func(n int32, raw []byte) error // nil: take the message
	limit uint32                          // APPENDLIMIT (0: go-imap's default)
}

func startFault(t *testing.T, caps imap.CapSet) *faultServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("dst", "pw-dst")
	mem.AddUser(user)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	fs := &faultServer{user: user}
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapLiteralPlus: {}, imap.CapUIDPlus: {}}
	}
	fs.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &faultSession{Session: mem.NewSession(), fs: fs}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { fs.srv.Serve(ln); close(done) }()
	t.Cleanup(func() { fs.srv.Close(); <-done })
	return fs
}

type faultSession struct {
	imapserver.Session
	fs *faultServer
}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

func (s *faultSession) AppendLimit() uint32 {
	if s.fs.limit == 0 {
		return 100 << 20
	}
	return s.fs.limit
}

func (s *faultSession) Append(mailbox string, r imap.LiteralReader, o *imap.AppendOptions) (*imap.AppendData, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != r.Size() {
		return nil, io.ErrUnexpectedEOF // a cut connection: a real server stores nothing
	}
	n := s.fs.n.Add(1)
	s.fs.mu.Lock()
	fault := s.fs.fault
	s.fs.mu.Unlock()
	if fault != nil {
		if err := fault(n, raw); err != nil {
			return nil, err
		}
	}
	return s.Session.Append(mailbox, literal{bytes.NewReader(raw), int64(len(raw))}, o)
}

func (fs *faultServer) target(addr string) Target {
	if addr == "" {
		addr = fs.addr
	}
	host, port, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(port, &n)
	return Target{Name: "dst", Endpoint: imapconn.Endpoint{Host: host, Port: n, Security: imapconn.Plain, Username: "dst", Timeout: 5 * time.Second},
		Password: func() (string, error) { return "pw-dst", nil }}
}

// hashes counts the copies of each message in a folder of the target.
func (fs *faultServer) hashes(t *testing.T, folder string) map[[32]byte]int {
	t.Helper()
	out := map[[32]byte]int{}
	c, err := dialPlain(fs.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return out
	}
	sect := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sect}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		out[mboxrd.Hash(m.FindBodySection(sect))]++
	}
	return out
}

// sourceArchive backs up a demo provider holding n messages of about size
// bytes in INBOX (plus extra ones), returning the archive.
func sourceArchive(t *testing.T, n, size int, extra ...[]byte) (*archive.Archive, [][]byte) {
	t.Helper()
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var msgs [][]byte
	for i := 0; i < n; i++ {
		msgs = append(msgs, []byte(fmt.Sprintf("From: a@x.test\r\nMessage-ID: <m%d@x.test>\r\nSubject: %d\r\n\r\n%s\r\n", i, i, strings.Repeat("x", size))))
	}
	msgs = append(msgs, extra...)
	for i, m := range msgs {
		if err := p.Deliver("INBOX", m, time.Date(2020, 1, 1, 0, i, 0, 0, time.UTC), imap.FlagSeen); err != nil {
			t.Fatal(err)
		}
	}
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	acct := backup.Account{Name: "old", Endpoint: p.Endpoint(), Password: func() (string, error) { return p.Password, nil }}
	if res := backup.Backup(context.Background(), []backup.Account{acct}, backup.Options{Archive: a}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return a, msgs
}

func checkOnce(t *testing.T, got map[[32]byte]int, msgs [][]byte, except ...[]byte) {
	t.Helper()
	skip := map[[32]byte]bool{}
	for _, m := range except {
		skip[mboxrd.Hash(m)] = true
	}
	want := 0
	for _, m := range msgs {
		h := mboxrd.Hash(m)
		if skip[h] {
			if got[h] != 0 {
				t.Errorf("a refused message is in the target")
			}
			continue
		}
		want++
		if got[h] != 1 {
			t.Fatalf("message %.40q is in the target %d times, want once", m, got[h])
		}
	}
	total := 0
	for _, c := range got {
		total += c
	}
	if total != want {
		t.Fatalf("the target holds %d messages, want %d", total, want)
	}
}

func TestRefusedMessagesAreReportedAndTheRestRestored(t *testing.T) {
	filtered := []byte("From: spam@x.test\r\nMessage-ID: <filtered@x.test>\r\nX-Refuse: yes\r\n\r\nfilter me\r\n")
	big := []byte("From: a@x.test\r\nMessage-ID: <big@x.test>\r\n\r\n" + strings.Repeat("big ", 3000) + "\r\n")
	a, msgs := sourceArchive(t, 40, 500, filtered, big)
	fs := startFault(t, nil)
	fs.limit = 8000
	fs.fault = func(_ int32, raw []byte) error {
		if bytes.Contains(raw, []byte("X-Refuse")) {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Message rejected by content filter (policy 5.7.1)"}
		}
		return nil
	}
	for run := 1; run <= 2; run++ {
		rep := Restore(context.Background(), Source{Archive: a, Account: "old"}, fs.target(""), Options{Batch: 8})
		if rep.Err != nil {
			t.Fatal(rep.Err)
		}
		if !rep.Problems() {
			t.Fatalf("run %d: no problems reported", run)
		}
		f := rep.Folders[0]
		if len(f.Refused) != 2 {
			t.Fatalf("run %d: %d refused, want 2: %+v", run, len(f.Refused), f.Refused)
		}
		var why []string
		for _, r := range f.Refused {
			why = append(why, r.MessageID+": "+r.Why)
		}
		all := strings.Join(why, "\n")
		if !strings.Contains(all, "<filtered@x.test>: the server said: Message rejected by content filter") ||
			!strings.Contains(all, "<big@x.test>: larger than the target accepts (APPENDLIMIT 8000 bytes)") {
			t.Errorf("run %d: refusals do not give the server's words:\n%s", run, all)
		}
		wantApp := 40
		if run == 2 {
			wantApp = 0
		}
		if f.Appended != wantApp || f.There != 40-wantApp {
			t.Errorf("run %d: %d appended, %d there; want %d, %d", run, f.Appended, f.There, wantApp, 40-wantApp)
		}
	}
	// The over-limit message was never sent.
	if n := fs.n.Load(); n != 41+1 {
		t.Errorf("the server saw %d APPENDs, want 42 (40 + the filtered one twice, never the big one)", n)
	}
	checkOnce(t, fs.hashes(t, "INBOX"), msgs, filtered, big)
}

func TestThrottledAppendsAreSentAgain(t *testing.T) {
	a, msgs := sourceArchive(t, 100, 300)
	fs := startFault(t, nil)
	fs.fault = func(n int32, _ []byte) error {
		if n >= 20 && n < 26 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Too many uploads, try again later"}
		}
		return nil
	}
	var retries atomic.Int32
	rep := Restore(context.Background(), Source{Archive: a, Account: "old"}, fs.target(""), Options{Batch: 16, Backoff: 10 * time.Millisecond,
		Progress: func(ev Event) {
			if ev.Kind == Retry {
				retries.Add(1)
			}
		}})
	if rep.Err != nil || rep.Problems() {
		t.Fatalf("restore: %v %+v", rep.Err, rep.Folders)
	}
	if retries.Load() == 0 {
		t.Error("no retry was reported")
	}
	checkOnce(t, fs.hashes(t, "INBOX"), msgs)
}

// cutClient forwards TCP to target and cuts the first cuts connections
// after after bytes from the client: mid-APPEND.
func cutClient(t *testing.T, target string, cuts int32, after int64) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := conns.Add(1)
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				if n <= cuts {
					io.CopyN(s, c, after)
				} else {
					io.Copy(s, c)
				}
				c.Close()
				s.Close()
			}()
			go func() { defer wg.Done(); io.Copy(c, s); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestDropMidAppendResumesWithoutDuplicates(t *testing.T) {
	a, msgs := sourceArchive(t, 300, 2000)
	fs := startFault(t, nil)
	var retries atomic.Int32
	proxy := cutClient(t, fs.addr, 3, 150_000)
	rep := Restore(context.Background(), Source{Archive: a, Account: "old"}, fs.target(proxy), Options{Batch: 32, Backoff: 10 * time.Millisecond,
		Progress: func(ev Event) {
			if ev.Kind == Retry {
				retries.Add(1)
			}
		}})
	if rep.Err != nil || rep.Problems() {
		t.Fatalf("restore: %v %+v", rep.Err, rep.Folders)
	}
	if retries.Load() < 3 {
		t.Errorf("%d retries, want at least 3 (three connections were cut)", retries.Load())
	}
	checkOnce(t, fs.hashes(t, "INBOX"), msgs)
	if f := rep.Folders[0]; f.Appended+f.There != 300 {
		t.Errorf("report: %d appended + %d there, want 300", f.Appended, f.There)
	}
	// And again, through no proxy: nothing appended.
	rep = Restore(context.Background(), Source{Archive: a, Account: "old"}, fs.target(""), Options{})
	if app, there := totals(rep); rep.Err != nil || app != 0 || there != 300 {
		t.Fatalf("re-run: %v, %d appended, %d there", rep.Err, app, there)
	}
}

func dialPlain(addr string) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login("dst", "pw-dst").Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
