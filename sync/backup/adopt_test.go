package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
)

func demoMessage(i int) []byte {
	return []byte(fmt.Sprintf("From: s%d@example.test\r\nSubject: message %d\r\nMessage-ID: <m%d@example.test>\r\n\r\nbody %d\r\nFrom here on\r\n", i, i, i, i))
}

// Losing Lifeboat's own state (a copy of only the .mbox files, a NAS sync
// that skips hidden files) must never cost a message: the mbox files are
// adopted, nothing is written below their end, the server's messages are
// matched to the adopted ones by hash (none stored twice) and the ones the
// server deleted meanwhile stay, marked.
func TestLostStateIsAdoptedNotOverwritten(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for i := 0; i < 1000; i++ {
		if err := p.Deliver("INBOX", demoMessage(i), time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	a := newArchive(t)
	if r := backupOnce(t, a, account(p)); r.Err != nil || len(r.Run.Warnings) != 0 {
		t.Fatalf("first backup: %v %v", r.Err, r.Run.Warnings)
	}
	id := archive.FolderID{Account: "demo", Name: "INBOX", Delim: '/'}
	before, _ := os.ReadFile(a.MboxPath(id))

	var gone []imap.UID
	for uid := imap.UID(1); uid <= 1000; uid++ {
		if uid%5 < 3 { // 60 %
			gone = append(gone, uid)
		}
	}
	expunge(t, p, "INBOX", gone...)
	if err := os.RemoveAll(filepath.Join(a.Root, ".lifeboat", "demo")); err != nil {
		t.Fatal(err)
	}

	r := backupOnce(t, a, account(p))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	after, _ := os.ReadFile(a.MboxPath(id))
	if !bytes.Equal(after, before) {
		t.Fatalf("the mbox changed: %d bytes before, %d after (prefix kept: %v)", len(before), len(after), bytes.HasPrefix(after, before))
	}
	warned := strings.Join(r.Run.Warnings, "\n")
	for _, want := range []string{"1000 messages adopted", "records of this folder were missing", "400 were found on the server and 600 are not on it"} {
		if !strings.Contains(warned, want) {
			t.Errorf("the run does not say %q:\n%s", want, warned)
		}
	}
	fr := folderRun(r, "INBOX")
	if fr.Recovered != 400 || fr.New != 0 || fr.Archived != 1000 {
		t.Fatalf("INBOX this run: %+v", fr)
	}
	f, err := a.ReadFolder(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries()) != 1000 || len(f.Current()) != 400 || len(f.Adoptions) != 1 {
		t.Fatalf("%d archived, %d current, adoptions %v", len(f.Entries()), len(f.Current()), f.Adoptions)
	}
	goneN := 0
	for _, e := range f.Entries() {
		if !e.Recovered {
			t.Fatalf("entry at %d not marked recovered", e.Offset)
		}
		if !e.Gone.IsZero() {
			goneN++
		}
	}
	if goneN != 600 {
		t.Fatalf("%d marked deleted on the server, want 600", goneN)
	}
	if n, damage, err := a.VerifyFolder(id, nil); err != nil || n != 1000 || len(damage) != 0 {
		t.Fatalf("verify: %d %v %v", n, damage, err)
	}
	// Every message still on the server is archived at its UID, byte for byte.
	server := serverBytes(t, p, "INBOX")
	cur := f.Current()
	i := 0
	for uid := imap.UID(1); uid <= 1000; uid++ {
		if uid%5 < 3 {
			continue
		}
		e := cur[uint32(uid)]
		if e == nil {
			t.Fatalf("UID %d not matched", uid)
		}
		var b bytes.Buffer
		if err := f.WriteOriginal(&b, e); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), server[i]) {
			t.Fatalf("UID %d: archived bytes differ from the server's", uid)
		}
		i++
	}
	// And the next run is a plain incremental one.
	p.Deliver("INBOX", demoMessage(5000), time.Now())
	r = backupOnce(t, a, account(p))
	if r.Err != nil || len(r.Run.Warnings) != 0 || folderRun(r, "INBOX").New != 1 {
		t.Fatalf("next run: %v %v %+v", r.Err, r.Run.Warnings, folderRun(r, "INBOX"))
	}
}

// A server folder named like Lifeboat's own (the earlier "Sent via
// Lifeboat", or "%Lifeboat/Sent" itself) is the server's: Lifeboat's copies
// of sent mail never mix with it, never take its UIDs, and every one of its
// messages is archived.
func TestServerFoldersNamedLikeLifeboatsOwn(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for _, folder := range []string{"Sent via Lifeboat", "%Lifeboat/Sent"} {
		for i := 0; i < 10; i++ {
			p.Deliver(folder, demoMessage(100*len(folder)+i), time.Now())
		}
	}
	a := newArchive(t)
	for i := 0; i < 3; i++ {
		if _, err := a.AddLocal(context.Background(), "demo", archive.SentFolder, demoMessage(9000+i), time.Now(), nil, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	r := backupOnce(t, a, account(p))
	if r.Err != nil || len(r.Run.Warnings) != 0 {
		t.Fatalf("backup: %v %v", r.Err, r.Run.Warnings)
	}
	for _, path := range []string{"Sent via Lifeboat", "%25Lifeboat/Sent"} {
		if fr := folderRun(r, path); fr.New != 10 || fr.Archived != 10 {
			t.Fatalf("%s: %+v", path, fr)
		}
	}
	local, err := a.ReadFolder(archive.LocalFolder("demo", archive.SentFolder))
	if err != nil || len(local.Entries()) != 3 {
		t.Fatalf("local copies: %v", err)
	}
	// More copies, more server mail: still apart.
	a.AddLocal(context.Background(), "demo", archive.SentFolder, demoMessage(9100), time.Now(), nil, time.Second)
	p.Deliver("Sent via Lifeboat", demoMessage(5555), time.Now())
	r = backupOnce(t, a, account(p))
	if fr := folderRun(r, "Sent via Lifeboat"); r.Err != nil || len(r.Run.Warnings) != 0 || fr.New != 1 || fr.Archived != 11 {
		t.Fatalf("second backup: %v %v %+v", r.Err, r.Run.Warnings, fr)
	}
	if local, _ = a.ReadFolder(archive.LocalFolder("demo", archive.SentFolder)); len(local.Entries()) != 4 {
		t.Fatalf("%d local copies, want 4", len(local.Entries()))
	}
}

// A folder the server did not change is told from its last checkpoint
// alone; bytes past that checkpoint (another program's, or a run killed
// after writing a message and before logging it) still make the run open
// the folder, adopt them and say so, and a damaged last log line is
// quarantined as before.
func TestUnchangedFolderWithBytesPastItsCheckpoint(t *testing.T) {
	p := startDemo(t, demo.Options{Empty: true})
	for i := range 5 {
		if err := p.Deliver("INBOX", demoMessage(i), time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
	}
	a := newArchive(t)
	if r := backupOnce(t, a, account(p)); r.Err != nil || len(r.Run.Warnings) != 0 {
		t.Fatalf("first backup: %v %v", r.Err, r.Run.Warnings)
	}
	id := archive.FolderID{Account: "demo", Name: "INBOX", Delim: '/'}
	if _, ok := a.PeekFolder(id); !ok {
		t.Fatal("a complete backup left no summed-up checkpoint")
	}
	extra := "From someone Thu Jan  1 00:00:00 2026\nFrom: other@example.test\nSubject: put here by another program\n\nhello\n\n"
	mb, err := os.OpenFile(a.MboxPath(id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	mb.Close()
	// Older than its log, as a copy may leave it: the account's
	// preparation (which opens folders written after their logs) passes it
	// by, and the checkpoint's length must tell.
	ls, err := os.Stat(a.LogPath(id))
	if err != nil {
		t.Fatal(err)
	}
	old := ls.ModTime().Add(-time.Hour)
	if err := os.Chtimes(a.MboxPath(id), old, old); err != nil {
		t.Fatal(err)
	}

	r := backupOnce(t, a, account(p))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	fr := folderRun(r, "INBOX")
	if fr.Unchanged || fr.Archived != 6 {
		t.Fatalf("INBOX after bytes were appended to its mbox: %+v (warnings %v)", fr, r.Run.Warnings)
	}
	if w := strings.Join(r.Run.Warnings, "\n"); !strings.Contains(w, "1 messages adopted") {
		t.Errorf("the run does not report the adopted message:\n%s", w)
	}

	// A torn last log line: quarantined, the folder still backed up.
	lf, err := os.OpenFile(a.LogPath(id), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	lf.WriteString(`{"t":"f","uv":1,"ui`)
	lf.Close()
	r = backupOnce(t, a, account(p))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if w := strings.Join(r.Run.Warnings, "\n"); !strings.Contains(w, "quarantine") {
		t.Errorf("the torn log line is not reported:\n%s", w)
	}
	f, err := a.ReadFolder(id)
	if err != nil {
		t.Fatalf("after the torn line: %v", err)
	}
	if len(f.Entries()) != 6 {
		t.Errorf("%d messages archived, want 6", len(f.Entries()))
	}
}
