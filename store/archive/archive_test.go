package archive

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

var inbox = FolderID{Account: "bt", Name: "INBOX", Delim: '/'}

func msg(uid uint32, body string) *Message {
	b := []byte(body)
	return &Message{UID: uid, Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Size: int64(len(b)),
		Flags: []string{`\Seen`}, MessageID: fmt.Sprintf("<%d@test>", uid), SHA: mboxrd.Hash(b), EOL: mboxrd.Detect(b), Body: bytes.NewReader(b)}
}

func newArchive(t *testing.T) *Archive {
	t.Helper()
	a, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func appendAll(t *testing.T, f *Folder, bodies ...string) {
	t.Helper()
	for i, b := range bodies {
		if _, err := f.Append(msg(uint32(len(f.Entries())+1), b)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func TestAppendReopenReplay(t *testing.T) {
	a := newArchive(t)
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(7)
	appendAll(t, f, "Subject: a\r\n\r\nFrom me\r\n", "Subject: b\n\nbare LF\n", "Subject: c\r\n\r\nno newline")
	f.SetFlags(f.Lookup(7, 1), []string{`\Seen`, `\Flagged`})
	f.MarkGone(f.Lookup(7, 2), time.Unix(1700000000, 0))
	f.Checkpoint(State{UIDValidity: 7, UIDNext: 4, Messages: 2, At: time.Unix(1700000001, 0)})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	g, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if len(g.Quarantined) != 0 {
		t.Fatalf("clean folder was quarantined: %v", g.Quarantined)
	}
	if n := len(g.Entries()); n != 3 {
		t.Fatalf("%d entries after reopen, want 3", n)
	}
	if e := g.Lookup(7, 1); !EqualFlags(e.Flags, []string{`\Flagged`, `\Seen`}) {
		t.Fatalf("flags after replay: %v", e.Flags)
	}
	if e := g.Lookup(7, 2); e.Gone.Unix() != 1700000000 {
		t.Fatalf("gone after replay: %v", e.Gone)
	}
	if g.State.UIDNext != 4 || g.State.Messages != 2 || g.UIDValidity != 7 {
		t.Fatalf("state after replay: %+v uv %d", g.State, g.UIDValidity)
	}
	if cur := g.Current(); len(cur) != 2 || cur[2] != nil {
		t.Fatalf("current should be UIDs 1 and 3: %v", cur)
	}
	for i, want := range []string{"Subject: a\r\n\r\nFrom me\r\n", "Subject: b\n\nbare LF\n", "Subject: c\r\n\r\nno newline"} {
		var b bytes.Buffer
		if err := g.WriteOriginal(&b, g.Entries()[i]); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Fatalf("message %d: got %q want %q", i, b.String(), want)
		}
	}
	checked, damage, err := a.VerifyFolder(inbox, nil)
	if err != nil || checked != 3 || len(damage) != 0 {
		t.Fatalf("verify: %d checked, damage %v, err %v", checked, damage, err)
	}
}

func TestPermissions(t *testing.T) {
	a := newArchive(t)
	f, err := a.OpenFolder(FolderID{Account: "bt", Name: "Work/2026", Delim: '/'})
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(1)
	appendAll(t, f, "x\r\n")
	f.Close()
	filepath.Walk(a.Root, func(p string, info os.FileInfo, err error) error {
		if p == a.Root {
			return nil
		}
		want := os.FileMode(fileMode)
		if info.IsDir() {
			want = dirMode
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(a.Root, "bt", "Work", "2026.mbox")); err != nil {
		t.Fatal("nested folder should be a directory with an mbox inside:", err)
	}
}

func TestTornTailIsQuarantined(t *testing.T) {
	a := newArchive(t)
	f, _ := a.OpenFolder(inbox)
	f.SetUIDValidity(1)
	appendAll(t, f, "Subject: kept\r\n\r\nkept\r\n")
	f.Close()
	// A crash after writing a message but before its log record.
	torn := "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: half a mess"
	mb, _ := os.OpenFile(a.MboxPath(inbox), os.O_WRONLY|os.O_APPEND, 0)
	mb.WriteString(torn)
	mb.Close()
	// ... and a torn log line.
	lf, _ := os.OpenFile(a.LogPath(inbox), os.O_WRONLY|os.O_APPEND, 0)
	lf.WriteString(`{"t":"m","uv":1,"ui`)
	lf.Close()

	g, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Quarantined) != 2 {
		t.Fatalf("want the log line and the mbox tail quarantined, got %v", g.Quarantined)
	}
	var q []byte
	for _, qq := range g.Quarantined {
		if strings.HasSuffix(qq.From, ".mbox") {
			q, _ = os.ReadFile(qq.To)
		}
	}
	if string(q) != torn {
		t.Fatalf("quarantine holds %q, want the torn bytes", q)
	}
	// Appending continues right after the last good message.
	appendAll(t, g, "Subject: next\r\n\r\nnext\r\n")
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	checked, damage, err := a.VerifyFolder(inbox, nil)
	if err != nil || checked != 2 || len(damage) != 0 {
		t.Fatalf("verify after recovery: %d checked, %v, %v", checked, damage, err)
	}
}

func TestShortMboxIsRefused(t *testing.T) {
	a := newArchive(t)
	f, _ := a.OpenFolder(inbox)
	f.SetUIDValidity(1)
	appendAll(t, f, "Subject: a\r\n\r\nsome text\r\n")
	f.Close()
	os.Truncate(a.MboxPath(inbox), 10)
	_, err := a.OpenFolder(inbox)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "lifeboat repair") {
		t.Fatalf("want a refusal pointing at repair, got %v", err)
	}
	if st, _ := os.Stat(a.MboxPath(inbox)); st.Size() != 10 {
		t.Fatal("a refused open must not change the file")
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	a := newArchive(t)
	f, _ := a.OpenFolder(inbox)
	f.SetUIDValidity(1)
	appendAll(t, f, "Subject: a\r\n\r\nalpha\r\n", "Subject: b\r\n\r\nbravo\r\n")
	f.Close()
	b, _ := os.ReadFile(a.MboxPath(inbox))
	i := bytes.Index(b, []byte("bravo"))
	b[i] = 'B'
	os.WriteFile(a.MboxPath(inbox), b, 0o600)
	checked, damage, err := a.VerifyFolder(inbox, nil)
	if err != nil || checked != 2 {
		t.Fatal(checked, err)
	}
	if len(damage) != 1 || damage[0].UID != 2 || !strings.Contains(damage[0].Problem, "content changed") {
		t.Fatalf("want UID 2 reported changed, got %v", damage)
	}
}

func TestRemapAfterUIDValidityReset(t *testing.T) {
	a := newArchive(t)
	f, _ := a.OpenFolder(inbox)
	f.SetUIDValidity(1)
	appendAll(t, f, "Subject: a\r\n\r\nalpha\r\n")
	f.Close()
	g, _ := a.OpenFolder(inbox)
	g.SetUIDValidity(2)
	e := g.ByHash(mboxrd.Hash([]byte("Subject: a\r\n\r\nalpha\r\n")))
	if len(e) != 1 {
		t.Fatalf("ByHash: %v", e)
	}
	g.Remap(e[0], 40, []string{`\Answered`}, e[0].SHA)
	g.Close()
	h, _ := a.ReadFolder(inbox)
	if h.UIDValidity != 2 || h.Lookup(2, 40) == nil || len(h.Entries()) != 1 {
		t.Fatalf("remap not replayed: uv %d entries %d", h.UIDValidity, len(h.Entries()))
	}
	if !EqualFlags(h.Lookup(2, 40).Flags, []string{`\Answered`}) {
		t.Fatalf("flags after remap: %v", h.Lookup(2, 40).Flags)
	}
}

func TestFoldersAndEscaping(t *testing.T) {
	a := newArchive(t)
	names := []string{"INBOX", "Archiv/2026", ".hidden", "a%b", "Sent Items", "Entwürfe", "x:y*z?", "runs", "trailing.", ""}
	for _, n := range names {
		f, err := a.OpenFolder(FolderID{Account: "acc", Name: n, Delim: '/'})
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		f.Close()
	}
	ids, err := a.Folders("acc")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range ids {
		got[id.Name] = true
	}
	for _, n := range names {
		if !got[n] {
			t.Errorf("folder %q not listed back (have %v)", n, got)
		}
	}
	for _, c := range []string{"..", ".", "a/b", "%", "\x00", "é"} {
		back, err := unescapeComponent(escapeComponent(c))
		if err != nil || back != c {
			t.Errorf("escape round trip of %q: %q %v", c, back, err)
		}
		if e := escapeComponent(c); strings.ContainsAny(e, "/\x00") || e == "." || e == ".." {
			t.Errorf("unsafe escaped component %q for %q", e, c)
		}
	}
	accts, _ := a.Accounts()
	if len(accts) != 1 || accts[0] != "acc" {
		t.Fatalf("accounts: %v", accts)
	}
}

func TestAccountLock(t *testing.T) {
	a := newArchive(t)
	unlock, err := a.LockAccount("bt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.LockAccount("bt"); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := a.LockAccount("bt")
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

func TestRuns(t *testing.T) {
	a := newArchive(t)
	a.AppendRun("bt", Run{Result: ResultOK, Folders: []FolderRun{{Path: "INBOX", New: 3}}})
	a.AppendRun("bt", Run{Result: ResultWarnings, Warnings: []string{"mass deletion"}})
	runs, err := a.Runs("bt")
	if err != nil || len(runs) != 2 || runs[1].Result != ResultWarnings || runs[0].Folders[0].New != 3 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
}

func TestFolderUnder(t *testing.T) {
	work := FolderID{Account: "a", Name: "Work/2026", Delim: '/'}
	inbox := FolderID{Account: "a", Name: "INBOX", Delim: '/'}
	for _, c := range []struct {
		id    FolderID
		paths []string
		want  bool
	}{
		{work, []string{"Work"}, true}, {work, []string{"Work/2026"}, true}, {work, []string{"/Work/"}, true},
		{work, []string{"Wor"}, false}, {work, []string{"Work/2026/x"}, false}, {work, nil, false},
		{inbox, []string{"inbox"}, true}, {work, []string{"work"}, false},
	} {
		if got := c.id.Under(c.paths...); got != c.want {
			t.Errorf("%s under %q: %v, want %v", c.id.Path(), c.paths, got, c.want)
		}
	}
}
