package serve

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/mutt"
)

type seen struct {
	raw   string
	date  time.Time
	flags string
}

// mailOf is every message of every selectable folder, as a client sees it.
func mailOf(t *testing.T, c *imapclient.Client) map[string][]seen {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]seen{}
	for _, l := range list {
		noSelect := false
		for _, a := range l.Attrs {
			noSelect = noSelect || a == imap.MailboxAttrNoSelect
		}
		if noSelect {
			continue
		}
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("select %s: %v", l.Mailbox, err)
		}
		out[l.Mailbox] = nil
		if sel.NumMessages == 0 {
			continue
		}
		sect := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true,
			Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{}, BodySection: []*imap.FetchItemBodySection{sect}}).Collect()
		if err != nil {
			t.Fatalf("fetch %s: %v", l.Mailbox, err)
		}
		for _, m := range msgs {
			var fl []string
			for _, f := range m.Flags {
				if f != `\Recent` {
					fl = append(fl, strings.ToLower(string(f)))
				}
			}
			sort.Strings(fl)
			body := m.FindBodySection(sect)
			if m.RFC822Size != int64(len(body)) {
				t.Errorf("%s: RFC822.SIZE %d for %d bytes", l.Mailbox, m.RFC822Size, len(body))
			}
			out[l.Mailbox] = append(out[l.Mailbox], seen{string(body), m.InternalDate.UTC(), strings.Join(fl, " ")})
		}
		sort.Slice(out[l.Mailbox], func(i, j int) bool { return out[l.Mailbox][i].raw < out[l.Mailbox][j].raw })
	}
	return out
}

func endpoint(s *dovecot.Server, user string) imapconn.Endpoint {
	host, port, _ := net.SplitHostPort(s.IMAPSAddr)
	var n int
	fmt.Sscan(port, &n)
	return imapconn.Endpoint{Host: host, Port: n, Security: imapconn.TLS, Username: user, CAFile: s.CAFile}
}

// sourceAndArchive: a Dovecot user with flags, dates and nested and UTF-8
// folders, backed up.
func sourceAndArchive(t *testing.T) (*dovecot.Server, *archive.Archive) {
	t.Helper()
	s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"src": "pw-src"}})
	add := func(folder, raw string, flags ...imap.Flag) {
		if _, err := s.Append("src", folder, []byte(raw), flags, time.Date(2022, 3, 4, 5, 6, 7, 0, time.FixedZone("", 7200))); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		add("INBOX", fmt.Sprintf("From: a@x.test\r\nMessage-ID: <%d@x>\r\nSubject: hello %d\r\n\r\nbody %d\r\n", i, i, i))
	}
	add("INBOX", "From: a@x.test\r\nSubject: read\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n", imap.FlagSeen, "$Label1")
	add("Sent", "From: me@x.test\r\nSubject: sent\r\n\r\nsent\r\n", imap.FlagSeen, imap.FlagAnswered)
	add("Work/2026", "From: b@x.test\r\nSubject: nested\r\n\r\nFrom a line\r\n", imap.FlagFlagged)
	add("Reçus/Été", "From: c@x.test\r\nSubject: utf8\r\n\r\nsoleil\r\n")
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	acct := backup.Account{Name: "old", Endpoint: endpoint(s, "src"), Password: func() (string, error) { return "pw-src", nil }}
	if res := backup.Backup(context.Background(), []backup.Account{acct}, backup.Options{Archive: a}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return s, a
}

func startServe(t *testing.T, a *archive.Archive) *Server {
	t.Helper()
	srv, err := Start(Options{Archive: a, Addr: "127.0.0.1:0", Password: "serve-pw", AuthFailureDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func dial(t *testing.T, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("lifeboat", "serve-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// treeSum is a digest of every file of the archive (names, sizes, bytes).
func treeSum(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(filepath.Base(p), "index.sqlite") { // the derived index (SEARCH updates it)
			return err
		}
		b, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestServesTheArchiveAsTheServerHadIt(t *testing.T) {
	s, a := sourceAndArchive(t)
	src, err := s.Dial("src")
	if err != nil {
		t.Fatal(err)
	}
	want := mailOf(t, src)
	srv := startServe(t, a)
	c := dial(t, srv.Addr)
	got := mailOf(t, c)
	if len(got) != len(want) {
		t.Errorf("folders served %d, the source has %d", len(got), len(want))
	}
	for folder, msgs := range want {
		g, ok := got[folder]
		if !ok {
			t.Errorf("%s is not served", folder)
			continue
		}
		if len(g) != len(msgs) {
			t.Errorf("%s: %d served, %d on the source", folder, len(g), len(msgs))
			continue
		}
		for i := range msgs {
			if g[i] != msgs[i] {
				t.Errorf("%s %d: served %+v\nsource %+v", folder, i, g[i], msgs[i])
			}
		}
	}
	// LIST-STATUS: each folder's counts in the one LIST.
	ls, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if n := len(want[l.Mailbox]); l.Status != nil && l.Status.NumMessages != nil && int(*l.Status.NumMessages) != n {
			t.Errorf("LIST-STATUS %s: %d messages, want %d", l.Mailbox, *l.Status.NumMessages, n)
		}
		if l.Mailbox == "INBOX" && (l.Status == nil || l.Status.NumMessages == nil) {
			t.Error("LIST-STATUS gave INBOX no status")
		}
	}
	// SEARCH, by flag, header and text (TEXT and BODY through the index).
	if srv.state.ix == nil {
		t.Fatal("serve has no full-text index to search")
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		c    imap.SearchCriteria
		want int
	}{
		{imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, 1},
		{imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, 5},
		{imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "HELLO 3"}}}, 1},
		{imap.SearchCriteria{Body: []string{"plain"}}, 1}, // the full-text index: the text a person reads
		{imap.SearchCriteria{Body: []string{"nowhere"}}, 0},
		{imap.SearchCriteria{Text: []string{"body"}}, 5},
		{imap.SearchCriteria{Since: time.Date(2022, 3, 4, 0, 0, 0, 0, time.UTC)}, 6},
		{imap.SearchCriteria{Before: time.Date(2022, 3, 4, 0, 0, 0, 0, time.UTC)}, 0},
	} {
		d, err := c.UIDSearch(&q.c, nil).Wait()
		if err != nil || len(d.AllUIDs()) != q.want {
			t.Errorf("search %+v: %v %v, want %d", q.c, d, err, q.want)
		}
	}
}

func TestNothingAClientDoesChangesTheArchive(t *testing.T) {
	_, a := sourceAndArchive(t)
	before := treeSum(t, a.Root)
	srv := startServe(t, a)
	c := dial(t, srv.Addr)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	// STORE: the client sees its flags; the archive keeps the provider's.
	if _, err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted, imap.FlagSeen}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	msgs, _ := c.Fetch(all, &imap.FetchOptions{Flags: true}).Collect()
	for _, m := range msgs {
		if len(m.Flags) < 2 {
			t.Errorf("STORE not seen by the client: %v", m.Flags)
		}
	}
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if sel, _ := c.Select("INBOX", nil).Wait(); sel.NumMessages != 6 {
		t.Errorf("after EXPUNGE %d messages, want 6", sel.NumMessages)
	}
	for name, err := range map[string]error{
		"APPEND": func() error {
			cmd := c.Append("INBOX", 4, nil)
			cmd.Write([]byte("x\r\n\r"))
			cmd.Close()
			_, err := cmd.Wait()
			return err
		}(),
		"CREATE": c.Create("New", nil).Wait(),
		"DELETE": c.Delete("Sent").Wait(),
		"RENAME": c.Rename("Sent", "Gone", nil).Wait(),
		"COPY":   func() error { _, err := c.Copy(all, "Sent").Wait(); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s: %v, want refused as read-only", name, err)
		}
	}
	if after := treeSum(t, a.Root); after != before {
		t.Error("the archive's files changed")
	}
}

func TestLoginAndListenerAreGuarded(t *testing.T) {
	_, a := sourceAndArchive(t)
	srv := startServe(t, a)
	c, err := imapclient.DialInsecure(srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("lifeboat", "wrong").Wait(); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if _, err := Start(Options{Archive: a, Addr: "0.0.0.0:0", Password: "x"}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a non-loopback listener: %v", err)
	}
	if _, err := Start(Options{Archive: a, Addr: "0.0.0.0:0", Password: "x", AllowRemote: true}); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("a remote listener without TLS: %v", err)
	}
}

// mutt over imap:// reads every served folder as the archive counts it.
func TestMuttReadsTheServedArchive(t *testing.T) {
	_, a := sourceAndArchive(t)
	srv := startServe(t, a)
	for folder, n := range map[string]int{"INBOX": 6, "Work/2026": 1, "Sent": 1} {
		url := "imap://lifeboat@" + srv.Addr + "/" + folder
		if got := mutt.Count(t, url, "set imap_pass=serve-pw", "set ssl_starttls=no", "set ssl_force_tls=no", "set imap_passive=no"); got != n {
			t.Errorf("mutt counts %d in %s, want %d", got, folder, n)
		}
	}
}

// "*" in a UID set is the highest UID served, also when the folder's last
// log record is a damaged one (its UID is never served).
func TestStarIsTheLastServedUID(t *testing.T) {
	e := &archive.Entry{}
	s := &session{st: &state{}, sel: &snapshot{msgs: []message{{uid: 1, entry: e}, {uid: 2, entry: e}}, uidNext: 4}}
	var got []imap.UID
	s.each(imap.UIDSet{imap.UIDRange{Start: 0, Stop: 0}}, func(_ uint32, m message) error { got = append(got, m.uid); return nil })
	s.each(imap.UIDSet{imap.UIDRange{Start: 3, Stop: 0}}, func(_ uint32, m message) error { got = append(got, m.uid); return nil })
	if fmt.Sprint(got) != "[2 2]" {
		t.Fatalf("UID * and 3:* gave %v, want the last message twice", got)
	}
}
