package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

func startDemo(t *testing.T, o demo.Options) *demo.Provider {
	t.Helper()
	p, err := demo.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func account(p *demo.Provider) Account {
	return Account{Name: "demo", Endpoint: p.Endpoint(), Password: func() (string, error) { return p.Password, nil }}
}

func newArchive(t *testing.T) *archive.Archive {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func backupOnce(t *testing.T, a *archive.Archive, acct Account, tune ...func(*Options)) Result {
	t.Helper()
	o := Options{Archive: a, Backoff: 10 * time.Millisecond}
	for _, f := range tune {
		f(&o)
	}
	return Backup(context.Background(), []Account{acct}, o)[0]
}

// archived returns every archived message of a folder, as original bytes.
func archived(t *testing.T, a *archive.Archive, folder string) ([][]byte, *archive.Folder) {
	t.Helper()
	f, err := a.ReadFolder(archive.FolderID{Account: "demo", Name: folder, Delim: '/'})
	if err != nil {
		t.Fatalf("%s: %v", folder, err)
	}
	var out [][]byte
	for _, e := range f.Entries() {
		var b bytes.Buffer
		if err := f.WriteOriginal(&b, e); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out, f
}

func client(t *testing.T, p *demo.Provider) *imapclient.Client {
	t.Helper()
	c, err := imapconn.Dial(context.Background(), p.Endpoint(), p.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func expunge(t *testing.T, p *demo.Provider, folder string, uids ...imap.UID) {
	t.Helper()
	c := client(t, p)
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	set := imap.UIDSetNum(uids...)
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(set).Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFullThenIncremental(t *testing.T) {
	p := startDemo(t, demo.Options{})
	a := newArchive(t)
	res := backupOnce(t, a, account(p))
	if res.Err != nil || res.Run.Result != archive.ResultOK {
		t.Fatalf("first run: %v %s %v", res.Err, res.Run.Result, res.Run.Warnings)
	}
	want := map[string][][]byte{}
	for _, s := range demo.SampleMail() {
		want[s.Folder] = append(want[s.Folder], s.Raw)
	}
	total := 0
	for folder, msgs := range want {
		got, f := archived(t, a, folder)
		if len(got) != len(msgs) {
			t.Fatalf("%s: %d archived, want %d", folder, len(got), len(msgs))
		}
		for i := range msgs {
			if !bytes.Equal(got[i], msgs[i]) {
				t.Fatalf("%s #%d differs from the server's bytes", folder, i)
			}
		}
		if f.State.At.IsZero() {
			t.Fatalf("%s: no checkpoint after a complete run", folder)
		}
		total += len(got)
	}
	if total != len(demo.SampleMail()) {
		t.Fatalf("%d messages archived, want %d", total, len(demo.SampleMail()))
	}
	// BODY.PEEK: nothing became \Seen on the server.
	c := client(t, p)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumUnseen: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	unseen := 0
	for _, s := range demo.SampleMail() {
		if s.Folder == "INBOX" && !hasFlag(s.Flags, imap.FlagSeen) {
			unseen++
		}
	}
	if int(*st.NumUnseen) != unseen || unseen == 0 {
		t.Fatalf("unseen on server after backup: %d, want %d", *st.NumUnseen, unseen)
	}

	// A run with no change skips every folder without SELECT, and
	// without reading its log: the last checkpoint sums it up.
	replays := archive.Replays()
	res = backupOnce(t, a, account(p))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, fr := range res.Run.Folders {
		if !fr.Unchanged || fr.New != 0 {
			t.Fatalf("no-change run touched %s: %+v", fr.Path, fr)
		}
		if n := len(want[fr.Path]); fr.Archived != n || fr.OnServer != uint32(n) {
			t.Errorf("no-change run: %s has %d archived, %d on the server; want %d", fr.Path, fr.Archived, fr.OnServer, n)
		}
	}
	if n := archive.Replays() - replays; n != 0 {
		t.Errorf("the no-change run read %d folder logs whole, want 0", n)
	}
	// New mail: only it is fetched.
	p.Deliver("INBOX", []byte("Subject: new\r\nMessage-ID: <new@x>\r\n\r\nnew\r\n"), time.Now())
	p.Deliver("Brand new folder", []byte("Subject: first\r\n\r\nfirst\r\n"), time.Now())
	res = backupOnce(t, a, account(p))
	news := 0
	for _, fr := range res.Run.Folders {
		news += fr.New
	}
	if res.Err != nil || news != 2 {
		t.Fatalf("incremental: %v, %d new, want 2 (%+v)", res.Err, news, res.Run.Folders)
	}
	runs, _ := a.Runs("demo")
	if len(runs) != 3 {
		t.Fatalf("%d runs recorded, want 3", len(runs))
	}
}

func hasFlag(fl []imap.Flag, f imap.Flag) bool {
	for _, x := range fl {
		if x == f {
			return true
		}
	}
	return false
}

func TestServerDeletionIsRecordedNotApplied(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for i := 0; i < 10; i++ {
		p.Deliver("INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)), time.Now())
	}
	a := newArchive(t)
	backupOnce(t, a, account(p))
	before, _ := os.ReadFile(a.MboxPath(archive.FolderID{Account: "demo", Name: "INBOX"}))
	expunge(t, p, "INBOX", 2, 5)
	// A flag change at the same time is picked up as well.
	c := client(t, p)
	c.Select("INBOX", nil).Wait()
	c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered}, Silent: true}, nil).Close()
	res := backupOnce(t, a, account(p))
	if res.Err != nil || res.Run.Result != archive.ResultOK {
		t.Fatalf("%v %s", res.Err, res.Run.Result)
	}
	after, _ := os.ReadFile(a.MboxPath(archive.FolderID{Account: "demo", Name: "INBOX"}))
	if !bytes.Equal(before, after) {
		t.Fatal("the mbox changed although only deletions happened on the server")
	}
	msgs, f := archived(t, a, "INBOX")
	if len(msgs) != 10 {
		t.Fatalf("%d archived, want all 10", len(msgs))
	}
	for _, e := range f.Entries() {
		gone := !e.Gone.IsZero()
		if gone != (e.UID == 2 || e.UID == 5) {
			t.Fatalf("UID %d gone=%v", e.UID, gone)
		}
		if e.UID == 3 && !archive.EqualFlags(e.Flags, []string{`\Answered`}) {
			t.Fatalf("flags of UID 3: %v", e.Flags)
		}
	}
	if fr := res.Run.Folders[0]; fr.Gone != 2 || fr.FlagChanges != 1 {
		t.Fatalf("summary: %+v", fr)
	}
}

func TestMassDeletionWarns(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for i := 0; i < 100; i++ {
		p.Deliver("INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i)), time.Now())
	}
	a := newArchive(t)
	backupOnce(t, a, account(p))
	var uids []imap.UID
	for i := 1; i <= 60; i++ {
		uids = append(uids, imap.UID(i))
	}
	expunge(t, p, "INBOX", uids...)
	res := backupOnce(t, a, account(p))
	if res.Run.Result != archive.ResultWarnings || len(res.Run.Warnings) != 1 || !strings.Contains(res.Run.Warnings[0], "MASS DELETION: 60 of 100") {
		t.Fatalf("want a mass-deletion warning, got %s %q", res.Run.Result, res.Run.Warnings)
	}
	if msgs, _ := archived(t, a, "INBOX"); len(msgs) != 100 {
		t.Fatalf("archive lost messages: %d", len(msgs))
	}
}

func TestUIDValidityResetRemapsWithoutDuplicates(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	var raws [][]byte
	for i := 0; i < 20; i++ {
		raw := []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
		raws = append(raws, raw)
		p.Deliver("Work", raw, time.Now())
	}
	a := newArchive(t)
	backupOnce(t, a, account(p))
	// The folder is recreated: same messages (one dropped, one added), new UIDVALIDITY.
	p.User.Delete("Work")
	for _, raw := range raws[1:] {
		p.Deliver("Work", raw, time.Now())
	}
	p.Deliver("Work", []byte("Subject: fresh\r\n\r\nfresh\r\n"), time.Now())
	res := backupOnce(t, a, account(p))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	fr := folderRun(res, "Work")
	if fr.Remapped != 19 || fr.New != 1 || fr.Gone != 1 {
		t.Fatalf("after reset: %+v", fr)
	}
	msgs, f := archived(t, a, "Work")
	if len(msgs) != 21 {
		t.Fatalf("%d messages archived, want 21 (no duplicates)", len(msgs))
	}
	if len(f.Current()) != 20 {
		t.Fatalf("%d current messages, want 20", len(f.Current()))
	}
	// And the next run is quiet.
	res = backupOnce(t, a, account(p))
	if fr := folderRun(res, "Work"); !fr.Unchanged {
		t.Fatalf("run after remap: %+v", fr)
	}
}

func folderRun(res Result, path string) archive.FolderRun {
	for _, fr := range res.Run.Folders {
		if fr.Path == path {
			return fr
		}
	}
	return archive.FolderRun{}
}

// serverBytes fetches every message of a folder the simplest way, to
// compare the archive with exactly what the server hands out.
func serverBytes(t *testing.T, p *demo.Provider, folder string) [][]byte {
	t.Helper()
	msgs, err := p.Messages(folder)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

var oddMessages = map[string]string{
	"nul":        "Subject: nul\r\n\r\na\x00b\r\n",
	"bare CR":    "Subject: cr\r\n\r\na\rb\r\n",
	"bare LF":    "Subject: lf\n\nFrom here\n>From there\n",
	"8bit head":  "Subject: caf\xe9 \xff\r\nFrom: J\xf6rg <j@x>\r\n\r\n\xe9t\xe9\r\n",
	"from lines": "Subject: f\r\n\r\nFrom me\r\n>From you\r\n>>From them\r\n",
	"no eol":     "Subject: x\r\n\r\nno final newline",
	"bad mime":   "Content-Type: multipart/mixed; boundary=\"\r\n\r\n--\r\nbroken",
}

func TestOddMessagesAreByteExact(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for _, m := range oddMessages {
		p.Deliver("INBOX", []byte(m), time.Now())
	}
	// A message bigger than the in-memory limit goes through the spool.
	big := bytes.Repeat([]byte("From the big attachment line, base64-ish ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"), (memLimit/70)+5000)
	big = append([]byte("Subject: big\r\nMessage-ID: <big@x>\r\n\r\n"), big...)
	p.Deliver("INBOX", big, time.Now())
	want := serverBytes(t, p, "INBOX")
	if !bytes.Equal(want[len(want)-1], big) {
		t.Fatal("the server changed the big message")
	}
	a := newArchive(t)
	res := backupOnce(t, a, account(p))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got, f := archived(t, a, "INBOX")
	if len(got) != len(want) {
		t.Fatalf("%d archived, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("message %d differs (len %d vs %d)", i, len(got[i]), len(want[i]))
		}
	}
	if f.Entries()[len(want)-1].MessageID != "<big@x>" {
		t.Fatalf("Message-ID of the big message: %q", f.Entries()[len(want)-1].MessageID)
	}
	spool, _ := a.TempDir("demo")
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Fatalf("spool files left behind: %v", ents)
	}
}

// cutProxy forwards TCP to target and cuts the first `cuts` connections after
// `after` bytes from the server.
type cutProxy struct {
	ln    net.Listener
	conns atomic.Int32
}

func startCutProxy(t *testing.T, target string, cuts int32, after int64) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cp := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := cp.conns.Add(1)
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				if n <= cuts {
					io.CopyN(c, s, after)
					c.Close()
					s.Close()
					return
				}
				io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	return cp
}

func TestDropMidFetchResumes(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	var want [][]byte
	for i := 0; i < 300; i++ {
		raw := []byte(fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@x>\r\n\r\n%s\r\n", i, i, strings.Repeat("text ", 200)))
		want = append(want, raw)
		p.Deliver("INBOX", raw, time.Now())
	}
	// Three connections die mid-FETCH, at different points.
	cp := startCutProxy(t, p.Addr, 3, 120_000)
	acct := account(p)
	_, port, _ := net.SplitHostPort(cp.ln.Addr().String())
	fmt.Sscan(port, &acct.Endpoint.Port)
	var retries atomic.Int32
	a := newArchive(t)
	res := backupOnce(t, a, acct, func(o *Options) {
		o.CommitMessages = 50
		o.Progress = func(ev Event) {
			if ev.Kind == Retry {
				retries.Add(1)
			}
		}
	})
	if res.Err != nil || res.Run.Result != archive.ResultOK {
		t.Fatalf("run did not recover: %v %s", res.Err, res.Run.Result)
	}
	if retries.Load() < 3 {
		t.Fatalf("%d retries, want at least 3 (the proxy cut 3 connections)", retries.Load())
	}
	got, _ := archived(t, a, "INBOX")
	if len(got) != len(want) {
		t.Fatalf("%d archived, want %d (lost or duplicated)", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("message %d differs", i)
		}
	}
	// The run's figures count what every attempt committed, not the last.
	if fr := folderRun(res, "INBOX"); fr.New != len(want) || fr.Archived != len(want) {
		t.Fatalf("the run reports %d new, %d archived; %d were archived", fr.New, fr.Archived, len(want))
	}
	var sum int64
	for _, w := range want {
		sum += int64(len(w))
	}
	if fr := folderRun(res, "INBOX"); fr.NewBytes != sum {
		t.Fatalf("the run reports %d new bytes, want %d", fr.NewBytes, sum)
	}
}

func TestGivesUpWhenServerKeepsFailing(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for i := 0; i < 50; i++ {
		p.Deliver("INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 5000))), time.Now())
	}
	cp := startCutProxy(t, p.Addr, 1000, 2000) // every connection dies after the login
	acct := account(p)
	_, port, _ := net.SplitHostPort(cp.ln.Addr().String())
	fmt.Sscan(port, &acct.Endpoint.Port)
	a := newArchive(t)
	res := backupOnce(t, a, acct, func(o *Options) { o.Attempts = 3 })
	if res.Err == nil || res.Run.Result != archive.ResultFailed {
		t.Fatalf("a run that never finished reported %s", res.Run.Result)
	}
	if n := cp.conns.Load(); n < 3 || n > 10 {
		t.Fatalf("%d connections: retries must be bounded", n)
	}
}

func TestWrongPasswordIsAuthError(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	acct := account(p)
	acct.Password = func() (string, error) { return "wrong", nil }
	res := backupOnce(t, newArchive(t), acct)
	var ce *imapconn.Error
	if !errors.As(res.Err, &ce) || ce.Kind != imapconn.KindAuth {
		t.Fatalf("want an auth error, got %v", res.Err)
	}
	if strings.Contains(res.Err.Error(), "wrong") {
		t.Fatal("the password leaked into the error")
	}
}

func TestCancelStopsCleanlyAndResumes(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for i := 0; i < 400; i++ {
		p.Deliver("INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("y", 3000))), time.Now())
	}
	a := newArchive(t)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	res := Backup(ctx, []Account{account(p)}, Options{Archive: a, CommitMessages: 20, Progress: func(ev Event) {
		if ev.Kind == Progress && ev.Messages == 100 {
			once.Do(cancel)
		}
	}})[0]
	if res.Run.Result != archive.ResultInterrupted || res.Err == nil {
		t.Fatalf("cancelled run reported %s (%v)", res.Run.Result, res.Err)
	}
	got, f := archived(t, a, "INBOX")
	if len(got) < 100 || len(got) >= 400 || !f.State.At.IsZero() {
		t.Fatalf("after cancel: %d archived, checkpoint %v", len(got), f.State.At)
	}
	res = backupOnce(t, a, account(p))
	if res.Err != nil || res.Run.Folders[0].New != 400-len(got) {
		t.Fatalf("resume: %v %+v", res.Err, res.Run.Folders)
	}
	if got, _ := archived(t, a, "INBOX"); len(got) != 400 {
		t.Fatalf("%d archived after resume, want 400", len(got))
	}
}
