package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lifeboat-mail/lifeboat/store/archive"
)

func newArchive(t *testing.T) *archive.Archive {
	t.Helper()
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// folder returns what an archive folder holds: Message-ID → entry, and the
// messages' bytes.
func folder(t *testing.T, a *archive.Archive, name string) (map[string]*archive.Entry, map[string]string) {
	t.Helper()
	f, err := a.ReadFolder(archive.FolderID{Account: "old", Name: name, Delim: '/'})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	byID, raw := map[string]*archive.Entry{}, map[string]string{}
	for _, e := range f.Entries() {
		var b bytes.Buffer
		if err := f.WriteOriginal(&b, e); err != nil {
			t.Fatal(err)
		}
		byID[e.MessageID] = e
		raw[e.MessageID] = b.String()
	}
	return byID, raw
}

func flags(e *archive.Entry) string {
	f := append([]string(nil), e.Flags...)
	sort.Strings(f)
	return strings.Join(f, " ")
}

func TestImportTakeout(t *testing.T) {
	a := newArchive(t)
	res, err := Import(a, "old", "testdata/takeout.mbox", Options{})
	if err != nil || res.Added != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	byID, raw := folder(t, a, "takeout")
	e := byID["<t1@gmail.test>"]
	if e == nil || strings.Join(e.Labels, "|") != `\Inbox|\Important|Work, 2023` || flags(e) != `\Seen` {
		t.Fatalf("t1: %+v", e)
	}
	if !strings.HasSuffix(raw["<t1@gmail.test>"], "Hello\r\nFrom the start of a line\r\n") {
		t.Errorf("t1's bytes: %q", raw["<t1@gmail.test>"])
	}
	if e.Date.Unix() != 1700000000 {
		t.Errorf("t1 dated %v, want the separator's", e.Date)
	}
	if e := byID["<t2@gmail.test>"]; e == nil || flags(e) != `\Flagged` || strings.Join(e.Labels, "|") != `\Sent|\Starred` {
		t.Errorf("t2 (starred, unread): %+v", e)
	}
	// Again: nothing added.
	res, err = Import(a, "old", "testdata/takeout.mbox", Options{})
	if err != nil || res.Added != 0 || res.Skipped != 2 {
		t.Fatalf("second import: %+v %v", res, err)
	}
}

func TestImportMboxcl2(t *testing.T) {
	a := newArchive(t)
	res, err := Import(a, "old", "testdata/mutt.mboxcl2", Options{Folder: "Mutt"})
	if err != nil || res.Added != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	byID, raw := folder(t, a, "Mutt")
	if !strings.Contains(raw["<cl1@x.test>"], "\n\nFrom the desk of a person\nFrom nobody Mon Jan  1 00:00:00 2024\nstill the same message\n") {
		t.Errorf("cl1 (Content-Length keeps its From lines): %q", raw["<cl1@x.test>"])
	}
	if flags(byID["<cl1@x.test>"]) != `\Answered \Flagged \Seen` || flags(byID["<cl2@x.test>"]) != "" {
		t.Errorf("Status/X-Status: %q %q", flags(byID["<cl1@x.test>"]), flags(byID["<cl2@x.test>"]))
	}
	if !strings.HasSuffix(raw["<cl2@x.test>"], "\n\nshort\n") {
		t.Errorf("cl2: %q", raw["<cl2@x.test>"])
	}
	// The lying Content-Length: split at the next separator.
	if !strings.HasSuffix(raw["<cl3@x.test>"], "\n\nthird\n") || !strings.HasSuffix(raw["<cl4@x.test>"], "\n\nfourth\n") {
		t.Errorf("cl3 %q, cl4 %q", raw["<cl3@x.test>"], raw["<cl4@x.test>"])
	}
}

func TestImportATreeOfEveryKind(t *testing.T) {
	a := newArchive(t)
	res, err := Import(a, "old", "testdata", Options{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(res.Folders)
	if got := strings.Join(res.Folders, ", "); got != "Old, eml, mutt.mboxcl2, takeout, thunderbird/Inbox, thunderbird/Work/2026" {
		t.Fatalf("folders: %s", got)
	}
	byID, raw := folder(t, a, "thunderbird/Inbox")
	if e := byID["<tb1@x.test>"]; e == nil || flags(e) != `$label1 \Flagged \Seen` || !strings.Contains(raw["<tb1@x.test>"], "\n\nFrom quoted by Thunderbird\n") {
		t.Errorf("tb1: %+v %q", e, raw["<tb1@x.test>"])
	}
	if byID, _ := folder(t, a, "thunderbird/Work/2026"); flags(byID["<tb3@x.test>"]) != `\Answered \Seen` {
		t.Errorf("tb3: %+v", byID["<tb3@x.test>"])
	}
	byID, raw = folder(t, a, "eml")
	want, _ := os.ReadFile(filepath.Join("testdata", "eml", "a.eml"))
	if raw["<e1@x.test>"] != string(want) || byID["<e1@x.test>"].Date.Unix() != 1706871600 {
		t.Errorf("e1: %q dated %v", raw["<e1@x.test>"], byID["<e1@x.test>"].Date)
	}
	if _, raw := folder(t, a, "Old"); raw["<ap1@x.test>"] == "" {
		t.Error("the Apple Mail bundle was not imported")
	}
	if res.Added != 2+2+1+4+2+1 {
		t.Errorf("%d added", res.Added)
	}
	// The sources are untouched, and a second import adds nothing.
	res2, err := Import(a, "old", "testdata", Options{})
	if err != nil || res2.Added != 0 || res2.Skipped != res.Added {
		t.Fatalf("second import: %+v %v", res2, err)
	}
	if _, damage, err := a.VerifyFolder(archive.FolderID{Account: "old", Name: "takeout", Delim: '/'}, nil); err != nil || len(damage) > 0 {
		t.Errorf("verify: %v %v", damage, err)
	}
}

// A Thunderbird Local Folders directory itself: Inbox is INBOX.
func TestImportThunderbirdLocalFolders(t *testing.T) {
	a := newArchive(t)
	res, err := Import(a, "old", "testdata/thunderbird", Options{})
	if err != nil || strings.Join(res.Folders, ", ") != "INBOX, Work/2026" || res.Added != 3 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestImportRefusesWhatIsNotMail(t *testing.T) {
	a := newArchive(t)
	p := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(p, []byte("just some notes\n"), 0o600)
	if _, err := Import(a, "old", p, Options{}); err == nil || !strings.Contains(err.Error(), "not an mbox file") {
		t.Fatalf("a text file: %v", err)
	}
	if _, err := Import(a, "old", t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "no mbox file") {
		t.Fatalf("an empty directory: %v", err)
	}
}

// Content-Length that does not describe the message as it is in the file
// (a file whose line ends were converted; a length too short, with blank
// lines after it): the message is read to its next separator, byte for
// byte, blank lines included.
func TestWrongContentLengthKeepsEveryByte(t *testing.T) {
	for name, c := range map[string]struct{ file, want string }{
		"CRLF since": {
			"From a@x Mon Jan 15 09:00:00 2024\r\nMessage-ID: <a@x>\r\nContent-Length: 22\r\n\r\nKind regards,\r\nJohn Smith\r\n\r\n",
			"Message-ID: <a@x>\r\nContent-Length: 22\r\n\r\nKind regards,\r\nJohn Smith\r\n"},
		"too short, blank lines after": {
			"From a@x Mon Jan 15 09:00:00 2024\nMessage-ID: <b@x>\nContent-Length: 6\n\npara1\n\npara2\n\n",
			"Message-ID: <b@x>\nContent-Length: 6\n\npara1\n\npara2\n"},
		"zero": {
			"From a@x Mon Jan 15 09:00:00 2024\nMessage-ID: <c@x>\nContent-Length: 0\n\n\n\nbody after blanks\n\n",
			"Message-ID: <c@x>\nContent-Length: 0\n\n\n\nbody after blanks\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			path := filepath.Join(t.TempDir(), "x.mbox")
			os.WriteFile(path, []byte(c.file), 0o600)
			if err := readMbox(path, func(m parsed) error { got = append(got, string(m.raw)); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != c.want {
				t.Fatalf("read %q\nwant %q", got, c.want)
			}
		})
	}
}
