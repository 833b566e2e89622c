package export

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-mbox"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// subjects reads an mbox file with go-mbox and returns its messages'
// subjects.
func subjects(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := mbox.NewReader(f)
	var out []string
	for {
		m, err := r.NextMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(m)
		_, rest, _ := strings.Cut(string(b), "Subject: ")
		subj, _, _ := strings.Cut(rest, "\r\n")
		out = append(out, subj)
	}
	return out
}

// With ByLabel, a Gmail account comes out as one mbox per label (a
// message with two labels in both), the unlabelled messages in All
// Mail's file, and Trash whole.
func TestExportByLabel(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	add := func(folder, role string, msgs map[string][]string) {
		f, err := a.OpenFolder(archive.FolderID{Account: "gm", Name: folder, Delim: '/'})
		if err != nil {
			t.Fatal(err)
		}
		f.SetUIDValidity(1)
		var names []string
		for s := range msgs {
			names = append(names, s)
		}
		sort.Strings(names)
		for i, s := range names {
			b := []byte("From: a@x\r\nSubject: " + s + "\r\n\r\nbody\r\n")
			if _, err := f.Append(&archive.Message{UID: uint32(i + 1), Date: time.Date(2026, 5, 1+i, 0, 0, 0, 0, time.UTC), Size: int64(len(b)),
				Labels: msgs[s], GmailID: uint64(i + 1), SHA: mboxrd.Hash(b), EOL: mboxrd.Detect(b), Body: bytes.NewReader(b)}); err != nil {
				t.Fatal(err)
			}
		}
		f.Checkpoint(archive.State{UIDValidity: 1, UIDNext: 10, At: time.Now(), Role: role})
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	add("[Gmail]/All Mail", `\All`, map[string][]string{"both": {`\Inbox`, "Work/2026", "Inbox"}, "work": {"Work/2026"}, "archived": nil,
		"takeout": {"Inbox"}})
	add("[Gmail]/Trash", `\Trash`, map[string][]string{"trashed": {"Work/2026"}})
	dest := filepath.Join(t.TempDir(), "out")
	res, err := Export(a, "gm", dest, Options{Format: Mbox, ByLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"Labels/Inbox.mbox":     {"both", "takeout"}, // \Inbox and a Takeout's "Inbox": one file, each message once
		"Labels/Work/2026.mbox": {"both", "work"},
		"[Gmail]/All Mail.mbox": {"archived"},
		"[Gmail]/Trash.mbox":    {"trashed"},
	}
	for rel, subj := range want {
		if got := subjects(t, filepath.Join(dest, filepath.FromSlash(rel))); !reflect.DeepEqual(got, subj) {
			t.Errorf("%s: %q, want %q", rel, got, subj)
		}
	}
	if res.Labels != 2 || res.Folders != 2 || res.Messages != 6 || len(res.Files) != 4 {
		t.Errorf("result: %+v", res)
	}
	if _, err := Export(a, "gm", filepath.Join(t.TempDir(), "x"), Options{Format: EML, ByLabel: true}); err == nil || !strings.Contains(err.Error(), "--format mbox") {
		t.Errorf("eml by label: %v", err)
	}
}
