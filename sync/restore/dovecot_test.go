package restore

import (
	"bytes"
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
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/restorelog"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// These tests back up a user of a private Dovecot, restore the archive into
// another user (of the same or another Dovecot) and compare what the two
// users' folders hold: bytes, INTERNALDATE, flags.

func endpoint(s *dovecot.Server, user string) imapconn.Endpoint {
	host, port, _ := net.SplitHostPort(s.IMAPSAddr)
	var n int
	fmt.Sscan(port, &n)
	return imapconn.Endpoint{Host: host, Port: n, Security: imapconn.TLS, Username: user, CAFile: s.CAFile}
}

func targetOf(s *dovecot.Server, user string) Target {
	return Target{Name: user, Endpoint: endpoint(s, user), Password: func() (string, error) { return s.Password(user), nil }}
}

// seed is a source mailbox: folders of odd messages with flags, keywords
// and dates.
type seedMsg struct {
	folder string
	raw    []byte
	flags  []imap.Flag
	date   time.Time
}

func seedMessages() []seedMsg {
	d := func(i int) time.Time {
		return time.Date(2019, 3, 1+i%27, 8+i%12, i%60, 7, 0, time.FixedZone("", 3600*(i%5-2)))
	}
	var out []seedMsg
	add := func(folder string, raw string, flags ...imap.Flag) {
		out = append(out, seedMsg{folder, []byte(raw), flags, d(len(out))})
	}
	for i := 0; i < 30; i++ {
		add("INBOX", fmt.Sprintf("From: a@x.test\r\nMessage-ID: <in%d@x.test>\r\nSubject: inbox %d\r\n\r\nbody %d\r\n", i, i, i))
	}
	add("INBOX", "From: a@x.test\r\nMessage-ID: <seen@x.test>\r\nSubject: seen and flagged\r\n\r\nx\r\n", imap.FlagSeen, imap.FlagFlagged)
	add("INBOX", "From: a@x.test\r\nMessage-ID: <kw@x.test>\r\nSubject: keywords\r\n\r\nx\r\n", imap.FlagSeen, "$Label1", "project-x")
	add("INBOX", "From: a@x.test\r\nMessage-ID: <ans@x.test>\r\nSubject: answered\r\n\r\nx\r\n", imap.FlagAnswered, "$Forwarded")
	// Two different messages with one Message-ID, and two identical copies.
	add("INBOX", "From: a@x.test\r\nMessage-ID: <same@x.test>\r\nSubject: first of two\r\n\r\none\r\n")
	add("INBOX", "From: a@x.test\r\nMessage-ID: <same@x.test>\r\nSubject: second of two\r\n\r\ntwo\r\n")
	add("INBOX", "From: a@x.test\r\nMessage-ID: <twin@x.test>\r\nSubject: twin\r\n\r\nsame bytes\r\n")
	add("INBOX", "From: a@x.test\r\nMessage-ID: <twin@x.test>\r\nSubject: twin\r\n\r\nsame bytes\r\n")
	// No Message-ID; "From " lines in the body; no final newline; 8-bit.
	add("INBOX", "From: a@x.test\r\nSubject: no id\r\n\r\nnothing to match by\r\n")
	add("INBOX", "From: a@x.test\r\nSubject: no id 2\r\n\r\nnothing either\r\n")
	add("INBOX", "From: a@x.test\r\nMessage-ID: <from@x.test>\r\n\r\nFrom the start\r\n>From quoted\r\n>>From twice\r\n")
	add("INBOX", "From: a@x.test\r\nMessage-ID: <nonl@x.test>\r\n\r\nno final newline")
	add("INBOX", "From: a@x.test\r\nMessage-ID: <8bit@x.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße, 東京\r\n")
	add("Sent", "From: me@x.test\r\nMessage-ID: <sent1@x.test>\r\nSubject: sent\r\n\r\nsent\r\n", imap.FlagSeen)
	add("Drafts", "From: me@x.test\r\nMessage-ID: <draft1@x.test>\r\nSubject: draft\r\n\r\ndraft\r\n", imap.FlagDraft)
	add("Trash", "From: me@x.test\r\nMessage-ID: <trash1@x.test>\r\nSubject: trash\r\n\r\ngone\r\n", imap.FlagSeen, imap.FlagDeleted)
	for i := 0; i < 12; i++ {
		add("Work/2026", fmt.Sprintf("From: b@x.test\r\nMessage-ID: <w%d@x.test>\r\nSubject: work %d\r\n\r\n%s\r\n", i, i, strings.Repeat("line\r\n", i*50)), imap.FlagSeen)
	}
	add("Work", "From: b@x.test\r\nMessage-ID: <wtop@x.test>\r\n\r\nparent folder\r\n")
	add("Reçus/Été", "From: c@x.test\r\nMessage-ID: <ete@x.test>\r\nSubject: =?utf-8?q?=C3=A9t=C3=A9?=\r\n\r\nsoleil\r\n")
	add("a.b", "From: c@x.test\r\nMessage-ID: <dot@x.test>\r\n\r\na dot in the name\r\n")
	return out
}

func startSource(t *testing.T, users map[string]string) *dovecot.Server {
	t.Helper()
	s := dovecot.StartT(t, dovecot.Options{Users: users})
	for _, m := range seedMessages() {
		if _, err := s.Append("src", m.folder, m.raw, m.flags, m.date); err != nil {
			t.Fatalf("seeding %s: %v", m.folder, err)
		}
	}
	return s
}

// backUp archives user src of s.
func backUp(t *testing.T, s *dovecot.Server) *archive.Archive {
	t.Helper()
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	acct := backup.Account{Name: "old", Endpoint: endpoint(s, "src"), Password: func() (string, error) { return s.Password("src"), nil }}
	res := backup.Backup(context.Background(), []backup.Account{acct}, backup.Options{Archive: a})
	if res[0].Err != nil {
		t.Fatalf("backup: %v", res[0].Err)
	}
	return a
}

type seen struct {
	raw   string
	date  time.Time
	flags string
}

// mailOf is every message of every folder of user on s, by folder name
// without the namespace prefix, as sorted lists (the order of APPENDs is
// not part of the promise).
func mailOf(t *testing.T, s *dovecot.Server, user, prefix string, sep rune) map[string][]seen {
	t.Helper()
	c, err := s.Dial(user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]seen{}
	for _, l := range list {
		if imapconn.HasAttr(l.Attrs, imap.MailboxAttrNoSelect) {
			continue
		}
		sel, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(l.Mailbox, prefix)
		if sep != '/' {
			name = strings.ReplaceAll(name, string(sep), "/")
		}
		if sel.NumMessages == 0 {
			out[name] = nil
			continue
		}
		sect := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{sect}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var fl []string
			for _, f := range m.Flags {
				if !strings.EqualFold(string(f), `\Recent`) {
					fl = append(fl, strings.ToLower(string(f)))
				}
			}
			sort.Strings(fl)
			out[name] = append(out[name], seen{string(m.FindBodySection(sect)), m.InternalDate.UTC(), strings.Join(fl, " ")})
		}
		sort.Slice(out[name], func(i, j int) bool {
			a, b := out[name][i], out[name][j]
			if a.raw != b.raw {
				return a.raw < b.raw
			}
			return a.date.Before(b.date)
		})
	}
	return out
}

func compareMail(t *testing.T, want, got map[string][]seen, rename map[string]string) {
	t.Helper()
	total := 0
	for _, msgs := range want {
		total += len(msgs)
	}
	if total != len(seedMessages()) {
		t.Fatalf("the source holds %d messages, want %d", total, len(seedMessages()))
	}
	for folder, msgs := range want {
		if len(msgs) == 0 {
			continue
		}
		to := folder
		if r, ok := rename[folder]; ok {
			to = r
		}
		g := got[to]
		if len(g) != len(msgs) {
			t.Errorf("%s → %s: %d messages, want %d", folder, to, len(g), len(msgs))
			continue
		}
		for i := range msgs {
			if g[i].raw != msgs[i].raw {
				t.Errorf("%s message %d: bytes differ:\n%q\nwant\n%q", to, i, g[i].raw, msgs[i].raw)
			}
			if !g[i].date.Equal(msgs[i].date) {
				t.Errorf("%s message %d: INTERNALDATE %v, want %v", to, i, g[i].date, msgs[i].date)
			}
			if g[i].flags != msgs[i].flags {
				t.Errorf("%s message %d: flags %q, want %q", to, i, g[i].flags, msgs[i].flags)
			}
		}
	}
}

func restoreOK(t *testing.T, a *archive.Archive, tgt Target, o Options) *Report {
	t.Helper()
	rep := Restore(context.Background(), Source{Archive: a, Account: "old"}, tgt, o)
	if rep.Err != nil {
		t.Fatalf("restore: %v", rep.Err)
	}
	for _, f := range rep.Folders {
		if f.Problems() {
			t.Fatalf("restore of %s: %s %+v", f.Target, f.Err, f.Refused)
		}
	}
	return rep
}

func totals(rep *Report) (appended, there int) {
	for _, f := range rep.Folders {
		appended += f.Appended
		there += f.There
	}
	return
}

func TestRestoreIsFaithfulAndIdempotent(t *testing.T) {
	s := startSource(t, map[string]string{"src": "pw-src", "dst": "pw-dst", "dst2": "pw-dst2", "dst3": "pw-dst3", "dst4": "pw-dst4"})
	a := backUp(t, s)
	want := mailOf(t, s, "src", "", '/')
	n := len(seedMessages())
	// Dovecot offers MULTIAPPEND; the second user is restored with one
	// APPEND per message, as a server without it is.
	// Batches of 3: many per folder.
	for user, opts := range map[string]Options{"dst": {}, "dst2": {NoMultiAppend: true}, "dst3": {Batch: 3}, "dst4": {Batch: 3, NoMultiAppend: true}} {
		t.Run(user, func(t *testing.T) {
			rep := restoreOK(t, a, targetOf(s, user), opts)
			if app, there := totals(rep); app != n || there != 0 {
				t.Fatalf("first restore: %d appended, %d already there; want %d, 0", app, there, n)
			}
			// Every batch ended: a re-run needs no recovery.
			l, err := restorelog.Open(LedgerPath(a, targetOf(s, user)))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Folders {
				if lf := l.Folder(f.Target, lf0(t, s, user, f.Target)); lf == nil || lf.Open != nil || lf.Count() != f.Appended {
					t.Errorf("%s: the ledger says %+v after %d were appended", f.Target, lf, f.Appended)
				}
			}
			l.Close()
			compareMail(t, want, mailOf(t, s, user, "", '/'), nil)

			// Again: the ledger says everything is there.
			rep = restoreOK(t, a, targetOf(s, user), opts)
			if app, there := totals(rep); app != 0 || there != n {
				t.Fatalf("second restore: %d appended, %d there; want 0, %d", app, there, n)
			}
			// Without the ledger: learnt from the server, nothing appended.
			if err := os.Remove(LedgerPath(a, targetOf(s, user))); err != nil {
				t.Fatal(err)
			}
			rep = restoreOK(t, a, targetOf(s, user), opts)
			if app, there := totals(rep); app != 0 || there != n {
				t.Fatalf("restore without the ledger: %d appended, %d there; want 0, %d", app, there, n)
			}
			compareMail(t, want, mailOf(t, s, user, "", '/'), nil)
		})
	}
}

// lf0 is a folder's UIDVALIDITY on the server.
func lf0(t *testing.T, s *dovecot.Server, user, folder string) uint32 {
	t.Helper()
	c, err := s.Dial(user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(folder, &imap.StatusOptions{UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return st.UIDValidity
}

func TestRestoreIntoACyrusLikeServerWithoutUIDPLUS(t *testing.T) {
	s := startSource(t, map[string]string{"src": "pw-src"})
	a := backUp(t, s)
	want := mailOf(t, s, "src", "", '/')
	n := len(seedMessages())
	// Another provider: "INBOX." namespace, "." separator, and neither
	// UIDPLUS nor CONDSTORE.
	d := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"dst": "pw-dst"}, Prefix: "INBOX.", Separator: ".",
		IMAPCapability: "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ NAMESPACE SPECIAL-USE"})
	rep := restoreOK(t, a, targetOf(d, "dst"), Options{})
	if app, _ := totals(rep); app != n {
		t.Fatalf("restore: %d appended, want %d", app, n)
	}
	var noted bool
	for _, f := range rep.Folders {
		if f.Target == "INBOX.a_b" && len(f.Notes) == 1 {
			noted = true
		}
	}
	if !noted {
		t.Errorf("the folder a.b was not reported as renamed to a_b: %+v", rep.Folders)
	}
	compareMail(t, want, mailOf(t, d, "dst", "INBOX.", '.'), map[string]string{"a.b": "a_b"})
	// Without UIDPLUS the ledger knows no UIDs (an APPENDUID would mean
	// nothing), so idempotency rests on the hashes alone.
	if b, err := os.ReadFile(LedgerPath(a, targetOf(d, "dst"))); err != nil || bytes.Contains(b, []byte(`"uid"`)) {
		t.Fatalf("the ledger records UIDs from a server without UIDPLUS (%v)", err)
	}
	rep = restoreOK(t, a, targetOf(d, "dst"), Options{})
	if app, there := totals(rep); app != 0 || there != n {
		t.Fatalf("second restore: %d appended, %d there; want 0, %d", app, there, n)
	}
	os.Remove(LedgerPath(a, targetOf(d, "dst")))
	rep = restoreOK(t, a, targetOf(d, "dst"), Options{})
	if app, there := totals(rep); app != 0 || there != n {
		t.Fatalf("restore without the ledger: %d appended, %d there; want 0, %d", app, there, n)
	}
	compareMail(t, want, mailOf(t, d, "dst", "INBOX.", '.'), map[string]string{"a.b": "a_b"})
}

func TestRestoreIntoOneParentFolder(t *testing.T) {
	s := startSource(t, map[string]string{"src": "pw-src", "dst": "pw-dst"})
	a := backUp(t, s)
	want := mailOf(t, s, "src", "", '/')
	restoreOK(t, a, targetOf(s, "dst"), Options{Into: "Restored 2026-12-01"})
	got := mailOf(t, s, "dst", "", '/')
	rename := map[string]string{}
	for f := range want {
		rename[f] = "Restored 2026-12-01/" + f
	}
	compareMail(t, want, got, rename)
	if len(got["INBOX"]) != 0 {
		t.Errorf("INBOX got %d messages; with --into everything goes under the parent", len(got["INBOX"]))
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	s := startSource(t, map[string]string{"src": "pw-src", "dst": "pw-dst"})
	a := backUp(t, s)
	before := mailOf(t, s, "dst", "", '/')
	rep := restoreOK(t, a, targetOf(s, "dst"), Options{DryRun: true})
	n := 0
	for _, f := range rep.Folders {
		n += f.ToAppend
		if f.Appended != 0 {
			t.Errorf("a dry run appended %d to %s", f.Appended, f.Target)
		}
	}
	if n != len(seedMessages()) {
		t.Errorf("a dry run would append %d, want %d", n, len(seedMessages()))
	}
	if after := mailOf(t, s, "dst", "", '/'); len(after) != len(before) {
		t.Errorf("a dry run created folders: %d before, %d after", len(before), len(after))
	}
	// Restore one folder, then a dry run of all shows it as there.
	rep = restoreOK(t, a, targetOf(s, "dst"), Options{})
	_ = rep
	ledger, _ := os.ReadFile(LedgerPath(a, targetOf(s, "dst")))
	rep = restoreOK(t, a, targetOf(s, "dst"), Options{DryRun: true})
	if app, there := totals(rep); app != 0 || there != len(seedMessages()) {
		t.Errorf("dry run after a restore: %d appended, %d there", app, there)
	}
	for _, f := range rep.Folders {
		if f.ToAppend != 0 {
			t.Errorf("%s: a dry run after a restore would append %d", f.Target, f.ToAppend)
		}
	}
	if after, _ := os.ReadFile(LedgerPath(a, targetOf(s, "dst"))); !bytes.Equal(after, ledger) {
		t.Error("a dry run wrote to the ledger")
	}
}

func TestOnlyTheNamedFolders(t *testing.T) {
	s := startSource(t, map[string]string{"src": "pw-src", "dst": "pw-dst"})
	a := backUp(t, s)
	rep := restoreOK(t, a, targetOf(s, "dst"), Options{})
	_ = rep
	rep = Restore(context.Background(), Source{Archive: a, Account: "old", Folders: []string{"Work"}}, targetOf(s, "dst"), Options{})
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	var got []string
	for _, f := range rep.Folders {
		got = append(got, f.Target)
	}
	if strings.Join(got, ",") != "Work,Work/2026" && strings.Join(got, ",") != "Work/2026,Work" {
		t.Errorf("--folder Work restored %v, want Work and Work/2026", got)
	}
	rep = Restore(context.Background(), Source{Archive: a, Account: "old", Folders: []string{"Nope"}}, targetOf(s, "dst"), Options{})
	if rep.Err == nil || !strings.Contains(rep.Err.Error(), `no folder "Nope"; it has: `) {
		t.Errorf("an unknown folder: %v", rep.Err)
	}
}

// A Dovecot whose quota refuses messages over 20 KB, without announcing
// APPENDLIMIT: the MULTIAPPEND that holds the big one is refused whole, and
// sent again one message per command, so that only the big one is refused,
// with Dovecot's words.
func TestRefusedInsideAMultiAppend(t *testing.T) {
	s := startSource(t, map[string]string{"src": "pw-src"})
	big := []byte("From: a@x.test\r\nMessage-ID: <big@x.test>\r\n\r\n" + strings.Repeat("a long line of the big message\r\n", 1500))
	if _, err := s.Append("src", "INBOX", big, nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	a := backUp(t, s)
	d := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"dst": "pw-dst"},
		IMAPCapability: "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE UIDPLUS MULTIAPPEND SPECIAL-USE UNSELECT",
		ExtraConfig: `mail_plugins = $mail_plugins quota
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=1G
  quota_max_mail_size = 20k
}`})
	rep := Restore(context.Background(), Source{Archive: a, Account: "old"}, targetOf(d, "dst"), Options{})
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	var refused []Refusal
	app := 0
	for _, f := range rep.Folders {
		refused = append(refused, f.Refused...)
		app += f.Appended
		if f.Err != "" {
			t.Errorf("%s: %s", f.Target, f.Err)
		}
	}
	if len(refused) != 1 || refused[0].MessageID != "<big@x.test>" || !strings.Contains(refused[0].Why, "the server said: ") {
		t.Fatalf("refused: %+v", refused)
	}
	t.Logf("Dovecot's words: %s", refused[0].Why)
	if app != len(seedMessages()) {
		t.Fatalf("%d appended, want %d", app, len(seedMessages()))
	}
	if !rep.Problems() {
		t.Error("a refusal is not reported as a problem")
	}
}

// Connections cut while a MULTIAPPEND is on its way: Dovecot saves all of
// a command or nothing, and the ledger's open batch finds out which.
func TestDropMidMultiAppendResumes(t *testing.T) {
	s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"src": "pw-src", "dst": "pw-dst"}})
	var msgs [][]byte
	for i := 0; i < 400; i++ {
		msgs = append(msgs, []byte(fmt.Sprintf("From: a@x.test\r\nMessage-ID: <d%d@x.test>\r\n\r\n%s\r\n", i, strings.Repeat("text ", 400))))
	}
	if err := s.Load("src", "INBOX", msgs, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	a := backUp(t, s)
	tgt := targetOf(s, "dst")
	proxy := cutClient(t, s.IMAPSAddr, 4, 300_000)
	host, port, _ := net.SplitHostPort(proxy)
	tgt.Endpoint.Host = host
	fmt.Sscan(port, &tgt.Endpoint.Port)
	rep := Restore(context.Background(), Source{Archive: a, Account: "old"}, tgt, Options{Batch: 40, Backoff: 10 * time.Millisecond})
	if rep.Err != nil || rep.Problems() {
		t.Fatalf("restore: %v %+v", rep.Err, rep.Folders[0])
	}
	got := map[string]int{}
	for _, m := range mailOf(t, s, "dst", "", '/')["INBOX"] {
		got[m.raw]++
	}
	for _, m := range msgs {
		if got[string(m)] != 1 {
			t.Fatalf("a message is in the target %d times", got[string(m)])
		}
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d different messages in the target, want %d", len(got), len(msgs))
	}
}

// After a restore the target changes under the ledger: messages expunged
// there, a folder deleted and made again (a new UIDVALIDITY). The next
// restore puts back exactly what is missing, with UIDPLUS (by UID) and
// without it (by count, then learning the folder).
func TestTargetChangedSinceTheLastRestore(t *testing.T) {
	s := startSource(t, map[string]string{"src": "pw-src", "dst": "pw-dst", "dst2": "pw-dst2"})
	a := backUp(t, s)
	want := mailOf(t, s, "src", "", '/')
	noUIDPLUS := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"dst": "pw-dst"},
		IMAPCapability: "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE SPECIAL-USE MULTIAPPEND UNSELECT"})
	for name, srv := range map[string]*dovecot.Server{"uidplus": s, "no uidplus": noUIDPLUS} {
		t.Run(name, func(t *testing.T) {
			user := "dst"
			restoreOK(t, a, targetOf(srv, user), Options{})
			if err := srv.Expunge(user, "INBOX", 2, 5); err != nil {
				t.Fatal(err)
			}
			if err := srv.DeleteMailbox(user, "Work/2026"); err != nil {
				t.Fatal(err)
			}
			rep := restoreOK(t, a, targetOf(srv, user), Options{})
			got := map[string]int{}
			for _, f := range rep.Folders {
				got[f.Target] = f.Appended
			}
			if got["INBOX"] != 2 || got["Work/2026"] != 12 {
				t.Fatalf("appended %v; want 2 into INBOX and 12 into Work/2026", got)
			}
			for f, n := range got {
				if f != "INBOX" && f != "Work/2026" && n != 0 {
					t.Errorf("%s: %d appended, want 0", f, n)
				}
			}
			compareMail(t, want, mailOf(t, srv, user, "", '/'), nil)
		})
	}
}

// treeSum digests every file of the archive but the restore's own ledger.
func treeSum(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, string(filepath.Separator)+"restore"+string(filepath.Separator)) {
			return err
		}
		b, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

// Messages the old server deleted are restored unless left out, and the
// report counts them either way; the archive's files do not change.
func TestDeletedOnTheServerAndTheArchiveUntouched(t *testing.T) {
	s2 := startSource(t, map[string]string{"src": "pw-src", "dst": "pw-dst", "dst2": "pw-dst2"})
	a := backUp(t, s2)
	if err := s2.Expunge("src", "INBOX", 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	acct := backup.Account{Name: "old", Endpoint: endpoint(s2, "src"), Password: func() (string, error) { return s2.Password("src"), nil }}
	if res := backup.Backup(context.Background(), []backup.Account{acct}, backup.Options{Archive: a}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	before := treeSum(t, a.Root)
	inbox := func(rep *Report) *FolderReport {
		for _, f := range rep.Folders {
			if f.Target == "INBOX" {
				return f
			}
		}
		t.Fatal("no INBOX in the report")
		return nil
	}
	all := inbox(restoreOK(t, a, targetOf(s2, "dst"), Options{}))
	if all.Deleted != 3 || all.Skipped != 0 || all.Appended != all.Archived {
		t.Fatalf("without --skip-deleted: %+v", all)
	}
	left := inbox(restoreOK(t, a, targetOf(s2, "dst2"), Options{SkipDeleted: true}))
	if left.Deleted != 3 || left.Skipped != 3 || left.Appended != all.Appended-3 {
		t.Fatalf("with --skip-deleted: %+v", left)
	}
	if treeSum(t, a.Root) != before {
		t.Fatal("a restore changed the archive's files")
	}
}
