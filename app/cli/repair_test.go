package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
)

func (h *harness) archive() *archive.Archive {
	h.t.Helper()
	a, err := archive.Open(filepath.Join(h.dir, "archive"))
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) mustRun(want int, args ...string) string {
	h.t.Helper()
	code, out, errs := h.run("", args...)
	if code != want {
		h.t.Fatalf("%v: exit %d, want %d\n%s\n%s", args, code, want, out, errs)
	}
	return out + errs
}

func backedUpDemo(t *testing.T) (*harness, *demo.Provider) {
	h := newHarness(t)
	p := startDemo(t, demo.Options{})
	h.addDemoAccount(p, "demo")
	h.mustRun(ExitOK, "backup")
	return h, p
}

// One damaged folder must not stop the account: it is reported and
// skipped (exit 3), every other folder is backed up, and repair makes it
// whole again from what the mbox still has and what the server has.
func TestTruncatedMboxIsSkippedThenRepaired(t *testing.T) {
	h, p := backedUpDemo(t)
	inbox := filepath.Join(h.dir, "archive", "demo", "INBOX.mbox")
	st, _ := os.Stat(inbox)
	os.Truncate(inbox, st.Size()-1000)
	p.Deliver("Sent", []byte("Subject: after the damage\r\nMessage-ID: <after@x>\r\n\r\nstill backed up\r\n"), time.Now())

	out := h.mustRun(ExitWarnings, "backup")
	for _, want := range []string{"INBOX is damaged", "lifeboat repair --account demo --folder \"INBOX\"", "the account's other folders are backed up"} {
		if !strings.Contains(out, want) {
			t.Fatalf("backup output lacks %q:\n%s", want, out)
		}
	}
	sent, err := h.archive().ReadFolder(archive.FolderID{Account: "demo", Name: "Sent", Delim: '/'})
	if err != nil || len(sent.ByHash(hashOf("Subject: after the damage\r\nMessage-ID: <after@x>\r\n\r\nstill backed up\r\n"))) != 1 {
		t.Fatalf("the other folders were not backed up: %v", err)
	}
	h.mustRun(ExitWarnings, "status")
	h.mustRun(ExitFailure, "verify")

	out = h.mustRun(ExitOK, "repair")
	t.Logf("repair:\n%s", out)
	if !strings.Contains(out, "demo/INBOX: repaired") || !strings.Contains(out, "damaged messages fetched again from the server") {
		t.Fatalf("repair:\n%s", out)
	}
	h.mustRun(ExitOK, "verify")
	out = h.mustRun(ExitOK, "backup")
	if !strings.Contains(out, "unchanged") {
		t.Fatalf("the backup after repair:\n%s", out)
	}
	checkMatchesServer(t, h, p, "INBOX")
}

func TestFlippedByteIsFetchedAgain(t *testing.T) {
	h, p := backedUpDemo(t)
	sentPath := filepath.Join(h.dir, "archive", "demo", "Sent.mbox")
	b, _ := os.ReadFile(sentPath)
	b[len(b)/2] ^= 0x20
	os.WriteFile(sentPath, b, 0o600)
	h.mustRun(ExitOK, "backup") // cannot see it: nothing to compare without reading every message
	h.mustRun(ExitFailure, "verify")
	out := h.mustRun(ExitOK, "repair", "--account", "demo", "--folder", "Sent")
	if !strings.Contains(out, "1 damaged message marked") || !strings.Contains(out, "1 of 1 damaged message fetched again") {
		t.Fatalf("repair:\n%s", out)
	}
	out = h.mustRun(ExitOK, "verify")
	if !strings.Contains(out, "1 record marked damaged") {
		t.Fatalf("verify after repair:\n%s", out)
	}
	if got, _ := os.ReadFile(sentPath); !strings.HasPrefix(string(got), string(b)) {
		t.Fatal("repair changed bytes of the mbox")
	}
	checkMatchesServer(t, h, p, "Sent")
}

func TestDeletedMboxIsRefusedThenRestoredFromTheServer(t *testing.T) {
	h, p := backedUpDemo(t)
	inbox := filepath.Join(h.dir, "archive", "demo", "INBOX.mbox")
	os.Remove(inbox)
	out := h.mustRun(ExitWarnings, "backup")
	if !strings.Contains(out, "INBOX is damaged") || !strings.Contains(out, "missing") {
		t.Fatalf("backup:\n%s", out)
	}
	if _, err := os.Stat(inbox); err == nil {
		t.Fatal("a refused folder got an empty mbox")
	}
	out = h.mustRun(ExitOK, "repair", "--account", "demo")
	if !strings.Contains(out, "mbox file was missing") {
		t.Fatalf("repair:\n%s", out)
	}
	h.mustRun(ExitOK, "verify")
	checkMatchesServer(t, h, p, "INBOX")
}

// A run whose record could not be written (a full disk): status says what
// the folders know instead of "never backed up".
func TestStatusWithoutTheRunRecord(t *testing.T) {
	h := newHarness(t)
	p := startDemo(t, demo.Options{})
	h.addDemoAccount(p, "demo")
	a := h.archive()
	runs := filepath.Join(filepath.Dir(filepath.Dir(a.LogPath(archive.FolderID{Account: "demo", Name: "INBOX"}))), "runs.log")
	if err := os.MkdirAll(runs, 0o700); err != nil { // appending to it fails
		t.Fatal(err)
	}
	out := h.mustRun(ExitFailure, "backup")
	if !strings.Contains(out, "cannot record the run") {
		t.Fatalf("backup:\n%s", out)
	}
	out = h.mustRun(ExitWarnings, "status")
	if strings.Contains(out, "never backed up") || !strings.Contains(out, "no backup run is recorded") ||
		!strings.Contains(out, "by a run that is not recorded") || !strings.Contains(out, "INBOX          24") {
		t.Fatalf("status:\n%s", out)
	}
}

func hashOf(msg string) [32]byte { return mboxrd.Hash([]byte(msg)) }

func checkMatchesServer(t *testing.T, h *harness, p *demo.Provider, folder string) {
	t.Helper()
	f, err := h.archive().ReadFolder(archive.FolderID{Account: "demo", Name: folder, Delim: '/'})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := p.Messages(folder)
	if err != nil {
		t.Fatal(err)
	}
	cur := f.Current()
	if len(cur) != len(msgs) {
		t.Fatalf("%s: %d current in the archive, %d on the server", folder, len(cur), len(msgs))
	}
	for _, m := range msgs {
		if len(f.ByHash(hashOf(string(m)))) == 0 {
			t.Fatalf("%s: a message of the server is not archived", folder)
		}
	}
}

// Files that are not Lifeboat's (what Dovecot leaves in a tree it served,
// a stray file in the metadata directory) are reported and every message
// is still checked.
func TestVerifyGoesOnPastForeignFiles(t *testing.T) {
	h, _ := backedUpDemo(t)
	a := h.archive()
	acct := filepath.Join(a.Root, "demo")
	os.MkdirAll(filepath.Join(acct, ".imap", "INBOX"), 0o700)
	os.WriteFile(filepath.Join(acct, ".imap", "INBOX", "dovecot.index.log"), []byte("x"), 0o600)
	meta := filepath.Dir(a.LogPath(archive.FolderID{Account: "demo", Name: "INBOX"}))
	os.WriteFile(filepath.Join(meta, "notes.txt"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(meta, "Bogus.log"), []byte("not a header\n"), 0o600)
	out := h.mustRun(ExitWarnings, "verify")
	for _, want := range []string{"FOREIGN " + filepath.Join(acct, ".imap", "INBOX", "dovecot.index.log"), "notes.txt: not a folder log",
		"Bogus.log: first line is not a folder header", "59 messages checked", "every one intact"} {
		if !strings.Contains(out, want) {
			t.Fatalf("verify does not say %q:\n%s", want, out)
		}
	}
	// The backup leaves them alone too.
	h.mustRun(ExitOK, "backup")
}

// Lifeboat's own state lost (only the .mbox files kept): the next backup
// adopts the mbox files, and it and status say so.
func TestLostStateIsAdoptedAndSaidSo(t *testing.T) {
	h, _ := backedUpDemo(t)
	a := h.archive()
	if err := os.RemoveAll(filepath.Dir(filepath.Dir(a.LogPath(archive.FolderID{Account: "demo", Name: "INBOX"})))); err != nil {
		t.Fatal(err)
	}
	out := h.mustRun(ExitOK, "status")
	if !strings.Contains(out, "NOT YET ADOPTED") {
		t.Fatalf("status before the backup:\n%s", out)
	}
	out = h.mustRun(ExitWarnings, "backup")
	if !strings.Contains(out, "24 messages adopted from") || !strings.Contains(out, "0 new messages") {
		t.Fatalf("backup:\n%s", out)
	}
	out = h.mustRun(ExitWarnings, "status")
	t.Logf("status:\n%s", out)
	if !strings.Contains(out, "INBOX: 24 messages adopted from the mbox file on") || !strings.Contains(out, "INBOX          24") {
		t.Fatalf("status after adoption:\n%s", out)
	}
	h.mustRun(ExitOK, "verify")
	h.mustRun(ExitOK, "backup")
}
