package export

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

type seed struct {
	folder string
	raw    string
	flags  []string
}

var seeds = []seed{
	{"INBOX", "From: a@x\r\nSubject: hello: a/b?\r\nMessage-ID: <1@x>\r\n\r\nFrom the start\r\n>From quoted\r\n", []string{`\Seen`, `\Flagged`}},
	{"INBOX", "From: a@x\r\nSubject: CON\r\n\r\nno final newline", []string{`\Answered`, "$label1"}},
	{"INBOX", "From: a@x\nSubject: bare LF\n\nunix\n", nil},
	{"Sent", "From: me@x\r\nSubject: sent\r\n\r\nsent\r\n", []string{`\Seen`, "$Forwarded"}},
	{"Work/2026", "From: b@x\r\nSubject: nested\r\n\r\nwork\r\n", nil},
	{"Reçus/Été", "From: c@x\r\nSubject: =?utf-8?q?=C3=A9t=C3=A9?=\r\n\r\nsoleil\r\n", nil},
}

func testArchive(t *testing.T) *archive.Archive {
	t.Helper()
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	folders := map[string]*archive.Folder{}
	var order []string
	for i, s := range seeds {
		f := folders[s.folder]
		if f == nil {
			if f, err = a.OpenFolder(archive.FolderID{Account: "acct", Name: s.folder, Delim: '/'}); err != nil {
				t.Fatal(err)
			}
			f.SetUIDValidity(1)
			folders[s.folder] = f
			order = append(order, s.folder)
		}
		b := []byte(s.raw)
		if _, err := f.Append(&archive.Message{UID: uint32(i + 1), Date: time.Date(2024, 5, 1+i, 10, 0, 0, 0, time.UTC), Size: int64(len(b)),
			Flags: s.flags, SHA: mboxrd.Hash(b), EOL: mboxrd.Detect(b), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range order {
		f := folders[name]
		if name == "Sent" {
			f.Checkpoint(archive.State{UIDValidity: 1, UIDNext: 10, At: time.Now(), Role: `\Sent`})
		}
		if err := f.Commit(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return a
}

func want(folder string) []string {
	var out []string
	for _, s := range seeds {
		if s.folder == folder {
			out = append(out, s.raw)
		}
	}
	return out
}

// pyRead is what Python's mailbox module reads from an mbox: each
// message's bytes, with mboxrd's quoting undone.
const pyRead = `
import json, mailbox, re, sys
box = mailbox.mbox(sys.argv[1])
print(json.dumps([re.sub(rb'(?m)^>(>*From )', rb'\1', box.get_bytes(k)).decode('latin-1') for k in box.keys()]))
`

func python(t *testing.T, path string) []string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	out, err := exec.Command(py, "-c", pyRead, path).Output()
	if err != nil {
		t.Fatalf("python mailbox on %s: %v", path, err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// pyView: the mbox format ends every message with a line break; a message
// without one gets it.
func pyView(raw string) string {
	if !strings.HasSuffix(raw, "\n") {
		raw += "\n"
	}
	return raw
}

func TestExportMboxReadByPython(t *testing.T) {
	a := testArchive(t)
	dest := filepath.Join(t.TempDir(), "out")
	res, err := Export(a, "acct", dest, Options{Format: Mbox})
	if err != nil {
		t.Fatal(err)
	}
	if res.Folders != 4 || res.Messages != len(seeds) {
		t.Fatalf("%+v", res)
	}
	for _, folder := range []string{"INBOX", "Sent", "Work/2026", "Reçus/Été"} {
		got := python(t, filepath.Join(dest, filepath.FromSlash(folder)+".mbox"))
		w := want(folder)
		if len(got) != len(w) {
			t.Fatalf("%s: python read %d messages, want %d", folder, len(got), len(w))
		}
		for i := range w {
			if got[i] != pyView(w[i]) {
				t.Errorf("%s %d: python read\n%q\nwant\n%q", folder, i, got[i], pyView(w[i]))
			}
		}
	}
	// Nothing is overwritten.
	if _, err := Export(a, "acct", dest, Options{Format: Mbox}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("export into a full directory: %v", err)
	}
}

func TestExportEMLIsByteExactAndSafeOnWindows(t *testing.T) {
	a := testArchive(t)
	dest := filepath.Join(t.TempDir(), "out")
	if _, err := Export(a, "acct", dest, Options{Format: EML}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dest, "INBOX", "*.eml"))
	sort.Strings(files)
	if len(files) != 3 {
		t.Fatalf("INBOX: %v", files)
	}
	for i, f := range files {
		b, _ := os.ReadFile(f)
		if string(b) != want("INBOX")[i] {
			t.Errorf("%s differs from the original", f)
		}
		name := filepath.Base(f)
		if strings.ContainsAny(name, `<>:"\|?*`) {
			t.Errorf("%q is not a Windows file name", name)
		}
		if st, _ := os.Stat(f); runtime.GOOS != "windows" && st.ModTime().UTC().Day() != 1+i {
			t.Errorf("%s: dated %v, not its INTERNALDATE", name, st.ModTime())
		}
	}
	if !strings.Contains(filepath.Base(files[0]), "hello_ a_b_") {
		t.Errorf("the subject's unsafe characters: %s", filepath.Base(files[0]))
	}
	for _, c := range []struct{ in, want string }{{"CON", "_CON"}, {"a. ", "a"}, {"nul.txt", "_nul.txt"}, {"x\x01y", "x_y"}, {"", "_"}} {
		if got := safeName(c.in, 100); got != c.want {
			t.Errorf("safeName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := safeName(strings.Repeat("é", 80), 100); len(got) > 100 || !strings.HasPrefix(got, "éé") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("cut: %q", got)
	}
}

func TestExportThunderbirdLocalFolders(t *testing.T) {
	a := testArchive(t)
	dest := filepath.Join(t.TempDir(), "Local Folders")
	if _, err := Export(a, "acct", dest, Options{Format: Thunderbird}); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			r, _ := filepath.Rel(dest, p)
			files = append(files, filepath.ToSlash(r))
		}
		return nil
	})
	sort.Strings(files)
	// Inbox, Sent (its role's name), parents as files, subfolders in .sbd.
	if got := strings.Join(files, " "); got != "Inbox Reçus Reçus.sbd/Été Sent Work Work.sbd/2026" {
		t.Fatalf("files: %s", got)
	}
	if st, _ := os.Stat(filepath.Join(dest, "Work")); st.Size() != 0 {
		t.Error("the parent Work should be an empty file")
	}
	got := python(t, filepath.Join(dest, "Inbox"))
	if len(got) != 3 {
		t.Fatalf("Inbox: %d messages", len(got))
	}
	for i, status := range []string{"X-Mozilla-Status: 0005\r\n", "X-Mozilla-Status: 0002\r\n", "X-Mozilla-Status: 0000\n"} {
		if !strings.HasPrefix(got[i], status) {
			t.Errorf("message %d starts %q, want %q", i, got[i][:30], status)
		}
		if !strings.HasSuffix(got[i], pyView(want("INBOX")[i])) {
			t.Errorf("message %d: the original does not follow the headers", i)
		}
	}
	if !strings.Contains(got[1], "X-Mozilla-Keys: $label1\r\n") {
		t.Errorf("keywords: %q", got[1])
	}
	if sent := python(t, filepath.Join(dest, "Sent")); len(sent) != 1 || !strings.HasPrefix(sent[0], "X-Mozilla-Status: 1001\r\n") {
		t.Errorf("Sent: %q", sent)
	}
}
