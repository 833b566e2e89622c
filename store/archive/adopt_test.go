package archive

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// archiveOf makes a folder with the given messages and returns its mbox
// bytes.
func archiveOf(t *testing.T, a *Archive, id FolderID, bodies ...string) []byte {
	t.Helper()
	f, err := a.OpenFolder(id)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(9)
	appendAll(t, f, bodies...)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(a.MboxPath(id))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var adoptBodies = []string{
	"Subject: a\r\nMessage-ID: <a@x>\r\n\r\nFrom the start\r\n",
	"Subject: b\r\nMessage-ID: <b@x>\r\n\r\nno final newline",
	"Subject: c\nMessage-ID: <c@x>\n\nbare LF\n>From quoted\n",
	"Subject: d\r\nMessage-ID: <d@x>\r\n\r\n\r\n\r\n",
	"Subject: e\r\n\r\nmixed\nendings\r\n",
}

// claim finds, for each message, an adopted entry that matches it by some
// reading of its bytes, as a backup does, and returns how many matched.
func claim(t *testing.T, f *Folder, bodies ...string) int {
	t.Helper()
	n := 0
	for i, b := range bodies {
		sha := mboxrd.Hash([]byte(b))
		for _, e := range f.ByHash(sha) {
			if e.UID == 0 {
				f.Remap(e, uint32(100+i), nil, sha)
				n++
				break
			}
		}
	}
	return n
}

func TestLostLogIsAdopted(t *testing.T) {
	a := newArchive(t)
	before := archiveOf(t, a, inbox, adoptBodies...)
	if err := os.Remove(a.LogPath(inbox)); err != nil {
		t.Fatal(err)
	}
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if f.Adopted != len(adoptBodies) || len(f.Quarantined) != 0 || !strings.Contains(f.AdoptedWhy, "missing") {
		t.Fatalf("adopted %d (%s), quarantined %v", f.Adopted, f.AdoptedWhy, f.Quarantined)
	}
	f.SetUIDValidity(10)
	if got := claim(t, f, adoptBodies...); got != len(adoptBodies) {
		t.Fatalf("%d of %d messages found by hash", got, len(adoptBodies))
	}
	appendAll(t, f, "Subject: new\r\n\r\nafter adoption\r\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(a.MboxPath(inbox))
	if !bytes.HasPrefix(after, before) {
		t.Fatal("adoption changed bytes below the end of the mbox")
	}
	g, err := a.ReadFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Entries()) != len(adoptBodies)+1 || len(g.Adoptions) != 1 {
		t.Fatalf("%d entries, adoptions %v", len(g.Entries()), g.Adoptions)
	}
	// Matched by another reading (no final newline), the entry now gives
	// back exactly the server's bytes.
	for i, want := range adoptBodies {
		var b bytes.Buffer
		e := g.Lookup(10, uint32(100+i))
		if e == nil {
			t.Fatalf("message %d not remapped after replay", i)
		}
		if err := g.WriteOriginal(&b, e); err != nil {
			t.Fatal(err)
		}
		if mboxrd.Hash(b.Bytes()) != mboxrd.Hash([]byte(want)) {
			t.Fatalf("message %d reads back as %q", i, b.String())
		}
	}
	if e := g.Lookup(10, 101); !bytes.Equal(readOriginal(t, g, e), []byte(adoptBodies[1])) {
		t.Fatalf("the message without a final newline reads back as %q", readOriginal(t, g, e))
	}
	if n, damage, err := a.VerifyFolder(inbox, nil); err != nil || n != len(adoptBodies)+1 || len(damage) != 0 {
		t.Fatalf("verify: %d %v %v", n, damage, err)
	}
}

func readOriginal(t *testing.T, f *Folder, e *Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.WriteOriginal(&b, e); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestStaleLogAdoptsTheRest(t *testing.T) {
	a := newArchive(t)
	archiveOf(t, a, inbox, adoptBodies[:2]...)
	stale, _ := os.ReadFile(a.LogPath(inbox))
	full := archiveOf(t, a, inbox, adoptBodies[2:]...)
	// The log is older than the mbox (restored from an older backup).
	if err := os.WriteFile(a.LogPath(inbox), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Adopted != 3 || len(f.Quarantined) != 0 || len(f.Entries()) != 5 {
		t.Fatalf("adopted %d, quarantined %v, %d entries", f.Adopted, f.Quarantined, len(f.Entries()))
	}
	if got, _ := os.ReadFile(a.MboxPath(inbox)); !bytes.Equal(got, full) {
		t.Fatal("the mbox changed")
	}
	if claim(t, f, adoptBodies[2:]...) != 3 {
		t.Fatal("adopted messages not found by hash")
	}
}

// A commit killed part way: the intent record tells the complete records of
// the commit from the one cut short, whatever its bytes look like.
func TestKilledCommitAdoptsCompleteRecordsQuarantinesTorn(t *testing.T) {
	a := newArchive(t)
	archiveOf(t, a, inbox, "Subject: logged\r\n\r\nlogged\r\n")
	// What Commit does up to the kill: the intent, then some of the bytes.
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, f, "Subject: one\r\n\r\none\r\n", "Subject: two\r\n\r\npara\r\n\r\ncut after a blank line\r\n\r\nrest\r\n")
	if err := f.w.flush(); err != nil { // as the buffer does when full, or a commit before its fsync
		t.Fatal(err)
	}
	f.mbox.Close() // killed
	f.logf.Close()
	full, _ := os.ReadFile(a.MboxPath(inbox))
	cut := bytes.Index(full, []byte("cut after a blank line")) // the torn record ends "\n\n" here
	if err := os.Truncate(a.MboxPath(inbox), int64(cut)); err != nil {
		t.Fatal(err)
	}
	g, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Adopted != 1 || len(g.Quarantined) != 1 || len(g.Entries()) != 2 {
		t.Fatalf("adopted %d, quarantined %v, %d entries", g.Adopted, g.Quarantined, len(g.Entries()))
	}
	q, _ := os.ReadFile(g.Quarantined[0].To)
	if !bytes.HasPrefix(q, []byte("From MAILER-DAEMON")) || !bytes.HasSuffix(full[:cut], q) {
		t.Fatalf("quarantine holds %q", q)
	}
	if len(g.ByHash(mboxrd.Hash([]byte("Subject: one\r\n\r\none\r\n")))) != 1 {
		t.Fatal("the complete record of the killed commit was not adopted")
	}
}

// Mail another program wrote (here, in the way mutt and Python's mailbox
// do: "From " lines quoted mboxo-style, a record without a blank line after
// it, a last line without a line break) is adopted as it is; a blank line is
// appended at the end so the next record starts a line of its own.
func TestForeignMboxIsAdopted(t *testing.T) {
	a := newArchive(t)
	id := FolderID{Account: "bt", Name: "Old mail", Delim: '/'}
	foreign := "From alice@example.org Sat Jan  3 01:05:34 1996\n" +
		"Subject: one\n\n>From the archive\n\n" +
		"From bob@example.org Mon, 5 Jan 2004 10:00:00 +0000\n" +
		"Subject: two\n\nno blank line after me\n" +
		"From 1234@xxx Sat Jan 01 00:00:00 +0000 2022\r\n" +
		"Subject: three\r\n\r\nTakeout style, CRLF, unterminated"
	if err := os.MkdirAll(filepath.Dir(a.MboxPath(id)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.MboxPath(id), []byte(foreign), 0o600); err != nil {
		t.Fatal(err)
	}
	notes, err := a.Prepare("bt")
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || !notes[0].Warn || !strings.Contains(notes[0].Text, "3 messages adopted") {
		t.Fatalf("notes: %+v", notes)
	}
	after, _ := os.ReadFile(a.MboxPath(id))
	if !bytes.HasPrefix(after, []byte(foreign)) || string(after[len(foreign):]) != "\n\n" {
		t.Fatalf("after adoption the file ends %q", after[max(0, len(after)-10):])
	}
	f, err := a.OpenFolder(id)
	if err != nil {
		t.Fatal(err)
	}
	if f.Adopted != 0 || len(f.Entries()) != 3 {
		t.Fatalf("reopened: adopted %d, %d entries", f.Adopted, len(f.Entries()))
	}
	for i, want := range []string{"Subject: one\r\n\r\nFrom the archive\r\n", "Subject: two\r\n\r\nno blank line after me\r\n",
		"Subject: three\r\n\r\nTakeout style, CRLF, unterminated"} {
		if got := readOriginal(t, f, f.Entries()[i]); string(got) != want {
			t.Errorf("message %d reads %q, want %q", i, got, want)
		}
	}
	if d := f.Entries()[0].Date; d.Year() != 1996 {
		t.Errorf("date from the separator: %v", d)
	}
	appendAll(t, f, "Subject: ours\r\n\r\nours\r\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n, damage, err := a.VerifyFolder(id, nil); err != nil || n != 4 || len(damage) != 0 {
		t.Fatalf("verify: %d %v %v", n, damage, err)
	}
	// Our record starts after a blank line, as mbox readers expect.
	got, _ := os.ReadFile(a.MboxPath(id))
	if !bytes.Contains(got, []byte("unterminated\n\nFrom MAILER-DAEMON ")) {
		t.Fatalf("no blank line before our record:\n%s", got)
	}
}

func TestNotAnMboxIsRefusedUntouched(t *testing.T) {
	a := newArchive(t)
	id := FolderID{Account: "bt", Name: "notes", Delim: '/'}
	os.MkdirAll(filepath.Dir(a.MboxPath(id)), 0o700)
	os.WriteFile(a.MboxPath(id), []byte("Dear diary,\nFrom today on I keep notes.\n"), 0o600)
	_, err := a.OpenFolder(id)
	var nm *NotMboxError
	if !errors.As(err, &nm) {
		t.Fatalf("want NotMboxError, got %v", err)
	}
	if exists1(a.LogPath(id)) {
		t.Fatal("a log was made for a file that is not an mbox")
	}
	if b, _ := os.ReadFile(a.MboxPath(id)); string(b) != "Dear diary,\nFrom today on I keep notes.\n" {
		t.Fatal("the file changed")
	}
}

func TestMissingMboxIsRefusedUntouched(t *testing.T) {
	a := newArchive(t)
	archiveOf(t, a, inbox, "Subject: a\r\n\r\na\r\n")
	os.Remove(a.MboxPath(inbox))
	logBefore, _ := os.ReadFile(a.LogPath(inbox))
	_, err := a.OpenFolder(inbox)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("want a damaged-folder refusal, got %v", err)
	}
	if exists1(a.MboxPath(inbox)) {
		t.Fatal("an empty mbox was made in place of the missing one")
	}
	if logAfter, _ := os.ReadFile(a.LogPath(inbox)); !bytes.Equal(logAfter, logBefore) {
		t.Fatal("the log changed")
	}
}

// Another program appending to an mbox while Lifeboat writes it: Commit
// notices and logs nothing, so no record can point at bytes that are not
// the message's.
func TestCommitRefusesAfterAForeignWrite(t *testing.T) {
	a := newArchive(t)
	archiveOf(t, a, inbox, "Subject: a\r\n\r\na\r\n")
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, f, "Subject: b\r\n\r\nb\r\n")
	other, _ := os.OpenFile(a.MboxPath(inbox), os.O_WRONLY|os.O_APPEND, 0)
	other.WriteString("From someone Mon Jan  5 10:00:00 2004\n\nmutt was here\n\n")
	other.Close()
	if err := f.Commit(); err == nil || !strings.Contains(err.Error(), "another program") {
		t.Fatalf("commit: %v", err)
	}
	f.Close()
	g, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// Our uncommitted message never reached the file (a backup fetches it
	// again); mutt's is adopted.
	if len(g.Entries()) != 2 || g.Adopted != 1 || g.Entries()[1].MessageID != "" {
		t.Fatalf("%d entries, %d adopted", len(g.Entries()), g.Adopted)
	}
	if n, damage, err := a.VerifyFolder(inbox, nil); err != nil || n != 2 || len(damage) != 0 {
		t.Fatalf("verify: %d %v %v", n, damage, err)
	}
}

// Garbage appended to an mbox is not a message: it stays where it is and is
// reported; what follows it is a record of its own.
func TestGarbageAfterTheLastMessageIsReported(t *testing.T) {
	a := newArchive(t)
	archiveOf(t, a, inbox, "Subject: a\r\n\r\na\r\n")
	mb, _ := os.OpenFile(a.MboxPath(inbox), os.O_WRONLY|os.O_APPEND, 0)
	mb.WriteString("\x00\x01garbage without a line end")
	mb.Close()
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(f.Notes(), "\n")
	if f.LeftInPlace != 28 || !strings.Contains(notes, "28 bytes") || !strings.Contains(notes, "left in place") {
		t.Fatalf("left %d, notes %q", f.LeftInPlace, notes)
	}
	appendAll(t, f, "Subject: b\r\n\r\nb\r\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n, damage, err := a.VerifyFolder(inbox, nil); err != nil || n != 2 || len(damage) != 0 {
		t.Fatalf("verify: %d %v %v", n, damage, err)
	}
	b, _ := os.ReadFile(a.MboxPath(inbox))
	if !bytes.Contains(b, []byte("line end\n\nFrom MAILER-DAEMON")) {
		t.Fatalf("the next record does not start on a line of its own:\n%q", b)
	}
}

// A folder's creation killed part way (earlier versions made the log before
// the mbox): a log without messages and no mbox is a folder to finish
// making, not a damaged one; a log without its header gets one.
func TestInterruptedFolderCreation(t *testing.T) {
	for name, log := range map[string]string{
		"empty log":      "",
		"header only":    `{"t":"h","name":"INBOX","delim":"/","at":1700000000}` + "\n",
		"torn header":    `{"t":"h","name":"IN`,
		"header, intent": `{"t":"h","name":"INBOX","delim":"/","at":1700000000}` + "\n" + `{"t":"p","off":0,"len":500,"ends":[500]}` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			a := newArchive(t)
			os.MkdirAll(filepath.Dir(a.LogPath(inbox)), 0o700)
			os.WriteFile(a.LogPath(inbox), []byte(log), 0o600)
			f, err := a.OpenFolder(inbox)
			if err != nil {
				t.Fatal(err)
			}
			f.SetUIDValidity(1)
			appendAll(t, f, "Subject: a\r\n\r\na\r\n")
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			ids, err := a.Folders("bt")
			if err != nil || len(ids) != 1 {
				t.Fatalf("folders: %v %v", ids, err)
			}
			if n, damage, err := a.VerifyFolder(inbox, nil); err != nil || n != 1 || len(damage) != 0 {
				t.Fatalf("verify: %d %v %v", n, damage, err)
			}
		})
	}
}
