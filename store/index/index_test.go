package index

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

var (
	inbox = archive.FolderID{Account: "bt", Name: "INBOX", Delim: '/'}
	work  = archive.FolderID{Account: "bt", Name: "Work/2026", Delim: '/'}
	other = archive.FolderID{Account: "other", Name: "INBOX"}
	day   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func msg(uid uint32, date time.Time, body string) *archive.Message {
	b := []byte(body)
	return &archive.Message{UID: uid, Date: date, Size: int64(len(b)), Flags: []string{`\Seen`, `$Label1`},
		MessageID: fmt.Sprintf("<%d@test>", uid), SHA: mboxrd.Hash(b), EOL: mboxrd.Detect(b), Body: bytes.NewReader(b)}
}

// appendTo appends bodies to a folder, one day apart after day, and returns
// the folder still open.
func appendTo(t testing.TB, a *archive.Archive, id archive.FolderID, bodies ...string) {
	t.Helper()
	f, err := a.OpenFolder(id)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(7)
	for _, b := range bodies {
		n := uint32(len(f.Entries()) + 1)
		if _, err := f.Append(msg(n, day.AddDate(0, 0, int(n)), b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, path string) *Index {
	t.Helper()
	ix, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

var inboxBodies = []string{
	"Subject: =?UTF-8?B?SGVsbG8g8J+Mjg==?= =?UTF-8?Q?w=C3=B6rld?=\r\nFrom: =?iso-8859-1?q?J=F6rg?= <j@example.org>\r\nTo: a@example.org,\r\n b@example.org\r\n\r\nbody\r\n",
	"\r\nno headers at all, only a body\r\n",
	"Subject: caf\xe9 \xff\xfe\r\nFrom: \x80\x81 <x@y>\r\nThis line is no header\r\nTo: t@example.org\r\n\r\nbody\r\n",
	"Subject: bare LF\n  folded\nFrom: lf@example.org\n\nFrom the body\n",
	"just text, no header and no empty line",
}

func TestRebuild(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, inbox, inboxBodies...)
	appendTo(t, a, work, "Subject: w1\r\n\r\n.\r\n", "Subject: w2\r\n\r\n.\r\n")
	appendTo(t, a, other, "Subject: o1\r\n\r\n.\r\n")

	ix := open(t, DefaultPath(a))
	var calls []int
	st, err := ix.Rebuild(a, func(done, total int) { calls = append(calls, done, total) })
	if err != nil {
		t.Fatal(err)
	}
	if st.Folders != 3 || st.Messages != 8 {
		t.Fatalf("stats %+v, want 3 folders, 8 messages", st)
	}
	if !reflect.DeepEqual(calls, []int{1, 3, 2, 3, 3, 3}) {
		t.Fatalf("progress calls %v", calls)
	}
	for _, c := range []struct {
		account, folder string
		want            int
	}{{"", "", 8}, {"bt", "", 7}, {"bt", "INBOX", 5}, {"bt", "Work/2026", 2}, {"other", "", 1}, {"nobody", "", 0}} {
		if n, err := ix.Count(c.account, c.folder); err != nil || n != c.want {
			t.Errorf("Count(%q, %q) = %d, %v; want %d", c.account, c.folder, n, err, c.want)
		}
	}

	rows, err := ix.Messages("bt", "INBOX", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	f, err := a.ReadFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows { // newest first: UID 5 .. 1
		e := f.Entries()[len(rows)-1-i]
		want := Row{Account: "bt", Folder: "INBOX", UIDValidity: 7, UID: e.UID, Offset: e.Offset, Length: e.Length,
			SHA: fmt.Sprintf("%x", e.SHA), Date: e.Date, Size: e.Size, Flags: []string{`\Seen`, `$Label1`}, MessageID: e.MessageID}
		got := r
		got.Subject, got.From, got.To = "", "", ""
		if !got.Date.Equal(want.Date) {
			t.Errorf("row %d date %v, want %v", i, got.Date, want.Date)
		}
		got.Date = want.Date
		if !reflect.DeepEqual(got, want) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	byUID := map[uint32]Row{}
	for _, r := range rows {
		byUID[r.UID] = r
	}
	for uid, want := range map[uint32][3]string{
		1: {"Hello 🌎wörld", "Jörg <j@example.org>", "a@example.org, b@example.org"},
		2: {"", "", ""},
		3: {"café ÿþ", "€ <x@y>", "t@example.org"}, // 0x81 is no character in Windows-1252: a control, shown as a space (msgtext.HeaderText)
		4: {"bare LF folded", "lf@example.org", ""},
		5: {"", "", ""},
	} {
		r := byUID[uid]
		if got := [3]string{r.Subject, r.From, r.To}; got != want {
			t.Errorf("UID %d headers %q, want %q", uid, got, want)
		}
	}

	page, err := ix.Messages("", "", 1, 2)
	if err != nil || len(page) != 2 || page[0].UID != 4 || page[1].UID != 3 {
		t.Fatalf("page 2 of all messages: %+v, %v", page, err)
	}
}

func TestHeaders(t *testing.T) {
	long := "X-Long: " + strings.Repeat("x", 40<<10) + "\r\n"
	for _, c := range []struct{ msg, subject, from string }{
		{"Subject: plain\r\n\r\n", "plain", ""},
		{"Subject: =?windows-1252?q?=80uro_=93quoted=94?=\r\n\r\n", "€uro “quoted”", ""},
		{"Subject: =?gb2312?B?xOO6ww==?=\r\n\r\n", "你好", ""},
		{"Subject: =?x-foo?B?xOO6ww==?=\r\n\r\n", "ÄãºÃ", ""}, // unknown charset, not UTF-8: read as Windows-1252, as the message view does
		{"Subject: =?unknown-8bit?Q?Gr=C3=BC=C3=9Fe_?= =?x-foo?Q?aus_K=F6ln?=\r\n\r\n", "Grüße aus Köln", ""},
		{"Subject: =?iso-8859-15?Q?5_=A4?=\r\n\r\n", "5 €", ""},
		{"Subject: =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=\r\n\r\n", "こんにちは", ""}, // 7-bit, and still a charset
		{"Subject: =?utf-8?Q?=1B[31mred?=\r\n\r\n", "[31mred", ""},                   // no terminal escapes in a list
		{"Subject: =?utf-8?q?broken\r\n\r\n", "=?utf-8?q?broken", ""},
		{"From nobody Mon Jan  5 10:00:00 2026\r\nSubject: after an mbox line\r\n\r\n", "after an mbox line", ""},
		{"Subject: bare LF\nFrom: lf@example.org\n\nFrom the body\n", "bare LF", "lf@example.org"},
		{"subject: lower case\r\nFROM: upper@example.org\r\n\r\n", "lower case", "upper@example.org"},
		{" leading continuation\r\nSubject: after\r\n\r\n", "after", ""},
		{"Subject: first\r\n" + long + "\r\n", "first", ""}, // headers longer than what is read
		{long + "Subject: too late\r\n\r\n", "", ""},
		{"", "", ""},
		{"\x00\x01\x02", "", ""},
		{"Subject: \xc3\x28 invalid\r\n\r\n", "Ã( invalid", ""},
	} {
		var rec bytes.Buffer
		m, n, err := mboxrd.Append(&rec, []byte(c.msg), day)
		if err != nil {
			t.Fatal(err)
		}
		e := &archive.Entry{Length: n, Meta: m}
		h := readHeaders(bytes.NewReader(rec.Bytes()), e, make([]byte, maxHeaderRead))
		if h.subject != c.subject || h.from != c.from {
			t.Errorf("%.40q: subject %q from %q, want %q %q", c.msg, h.subject, h.from, c.subject, c.from)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r *bytes.Reader
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestHeadersOfRecords: the headers are read through mboxrd, from records
// as the archive holds them, as far as the header goes.
func TestHeadersOfRecords(t *testing.T) {
	big := "Subject: big\r\nFrom: a@example.org\r\n\r\n" + strings.Repeat("From the body, >From a quoted line\r\n", 100_000)
	var file bytes.Buffer
	file.WriteString("From someone Mon Jan  5 10:00:00 2026\r\nSubject: foreign\r\n\r\n>From me\r\n\r\n") // adopted, CRLF trail
	foreign := &archive.Entry{Offset: 0, Length: int64(file.Len()), Meta: mboxrd.Meta{Adopted: true, EOL: mboxrd.EOLRaw, Trail: 2}}
	m, n, err := mboxrd.Append(&file, []byte(big), day)
	if err != nil {
		t.Fatal(err)
	}
	ours := &archive.Entry{Offset: foreign.Length, Length: n, Meta: m}
	c := &countingReader{r: bytes.NewReader(file.Bytes())}
	buf := make([]byte, maxHeaderRead)
	if h := readHeaders(c, foreign, buf); h.subject != "foreign" {
		t.Errorf("adopted record: %+v", h)
	}
	c.n = 0
	if h := readHeaders(c, ours, buf); h.subject != "big" || h.from != "a@example.org" {
		t.Errorf("our record: %+v", h)
	}
	if c.n > 4<<10 {
		t.Errorf("read %d bytes of a %d-byte record for its headers", c.n, n)
	}
	// Damage: no separator where the entry says; a file that ends early.
	if h := readHeaders(c, &archive.Entry{Offset: ours.Offset + 1, Length: n - 1, Meta: m}, buf); h != (headers{}) {
		t.Errorf("no separator: %+v", h)
	}
	cut := bytes.NewReader(file.Bytes()[:ours.Offset+100])
	if h := readHeaders(cut, ours, buf); h.subject != "big" {
		t.Errorf("record cut short: %+v", h)
	}
}

func TestUpdate(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, inbox, "Subject: one\r\n\r\n.\r\n", "Subject: two\r\n\r\n.\r\n")
	appendTo(t, a, work, "Subject: w1\r\n\r\n.\r\n")
	ix := open(t, DefaultPath(a))

	// Update on an empty index derives everything.
	if st, err := ix.Update(a, ""); err != nil || st.Folders != 2 || st.Messages != 3 {
		t.Fatalf("first update: %+v, %v", st, err)
	}
	if st, err := ix.Update(a, ""); err != nil || st.Folders != 0 || st.Messages != 0 {
		t.Fatalf("update with nothing changed: %+v, %v", st, err)
	}
	derived := ix.derived.Load()

	// A message appended and one gone on the server.
	appendTo(t, a, inbox, "Subject: three\r\n\r\n.\r\n")
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	f.MarkGone(f.Lookup(7, 1), time.Unix(1700000000, 0))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := ix.Update(a, "bt")
	if err != nil || st.Folders != 1 || st.Messages != 3 {
		t.Fatalf("update after append: %+v, %v", st, err)
	}
	if ix.derived.Load() != derived+1 {
		t.Fatalf("%d folders re-derived, want 1", ix.derived.Load()-derived)
	}
	rows, err := ix.Messages("bt", "INBOX", 0, 1)
	if err != nil || len(rows) != 1 || rows[0].Subject != "three" || rows[0].UID != 3 {
		t.Fatalf("newest row after update: %+v, %v", rows, err)
	}
	stats, err := ix.FolderStats("")
	if err != nil {
		t.Fatal(err)
	}
	want := []FolderStat{
		{Account: "bt", Folder: "INBOX", Messages: 3, GoneOnServer: 1, Bytes: 19 + 19 + 21, Newest: day.AddDate(0, 0, 3)},
		{Account: "bt", Folder: "Work/2026", Messages: 1, Bytes: 18, Newest: day.AddDate(0, 0, 1)},
	}
	if len(stats) != len(want) {
		t.Fatalf("folder stats %+v", stats)
	}
	for i := range want {
		if !stats[i].Newest.Equal(want[i].Newest) {
			t.Errorf("newest %v, want %v", stats[i].Newest, want[i].Newest)
		}
		stats[i].Newest = want[i].Newest
		if stats[i] != want[i] {
			t.Errorf("folder stat\n got %+v\nwant %+v", stats[i], want[i])
		}
	}
	if rows, _ := ix.Messages("bt", "INBOX", 2, 0); len(rows) != 1 || rows[0].Gone.Unix() != 1700000000 {
		t.Fatalf("gone message: %+v", rows)
	}

	// Rebuilt from scratch, the index holds the same rows.
	before, err := ix.Messages("", "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(DefaultPath(a) + suffix)
	}
	ix = open(t, DefaultPath(a))
	if n, _ := ix.Count("", ""); n != 0 {
		t.Fatalf("new index holds %d messages", n)
	}
	if _, err := ix.Rebuild(a, nil); err != nil {
		t.Fatal(err)
	}
	after, err := ix.Messages("", "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 4 || !reflect.DeepEqual(before, after) {
		t.Fatalf("rows differ after a rebuild:\n%+v\n%+v", before, after)
	}

	// A folder removed from disk disappears from the index.
	if err := os.Remove(a.LogPath(work)); err != nil {
		t.Fatal(err)
	}
	os.Remove(a.MboxPath(work))
	if st, err := ix.Update(a, "bt"); err != nil || st.Folders != 0 {
		t.Fatalf("update after removal: %+v, %v", st, err)
	}
	if stats, _ := ix.FolderStats("bt"); len(stats) != 1 || stats[0].Folder != "INBOX" {
		t.Fatalf("folder stats after removal: %+v", stats)
	}
	if n, _ := ix.Count("bt", "Work/2026"); n != 0 {
		t.Fatalf("removed folder still counts %d", n)
	}
	if rows, _ := ix.Messages("", "", 0, 0); len(rows) != 3 {
		t.Fatalf("%d rows after removal, want 3", len(rows))
	}

	// So does an account (its mail and Lifeboat's state of it).
	for _, dir := range []string{filepath.Join(a.Root, "bt"), filepath.Dir(filepath.Dir(a.LogPath(inbox)))} {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ix.Update(a, ""); err != nil {
		t.Fatal(err)
	}
	if n, _ := ix.Count("", ""); n != 0 {
		t.Fatalf("removed account still counts %d", n)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd ?#% name", "index.sqlite")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ix := open(t, path)
	if _, err := ix.db.Exec(`CREATE TABLE junk (x); PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, %v; want a private file", name, fi, err)
		}
	}
	ix.Close()

	ix = open(t, path)
	var v, junk int
	ix.db.QueryRow(`PRAGMA user_version`).Scan(&v)
	ix.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'junk'`).Scan(&junk)
	if v != schemaVersion || junk != 0 {
		t.Fatalf("after reopening: version %d, junk table %d", v, junk)
	}
	if n, err := ix.Count("", ""); err != nil || n != 0 {
		t.Fatalf("count %d, %v", n, err)
	}
	var mode string
	ix.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal mode %q", mode)
	}
}

func TestConcurrentReaders(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, inbox, inboxBodies...)
	ix := open(t, DefaultPath(a))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := ix.Messages("bt", "INBOX", 0, 10); err != nil {
					t.Error(err)
					return
				}
				if _, err := ix.FolderStats(""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 5 {
		if _, err := ix.Rebuild(a, nil); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// BenchmarkRebuild indexes an archive of 20,000 messages in 10 folders.
func BenchmarkRebuild(b *testing.B) {
	a, err := archive.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	const folders, perFolder = 10, 2000
	filler := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 40)
	for i := range folders {
		f, err := a.OpenFolder(archive.FolderID{Account: "bench", Name: fmt.Sprintf("Folder %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		f.SetUIDValidity(1)
		for j := range perFolder {
			body := fmt.Sprintf("Received: from mx.example.org by mail.example.net; Fri, 2 Jan 2026 03:04:05 +0000\r\n"+
				"Message-ID: <%d.%d@example.org>\r\nDate: Fri, 2 Jan 2026 03:04:05 +0000\r\n"+
				"From: =?UTF-8?Q?J=C3=B6rg_Sender?= <sender%d@example.org>\r\nTo: Someone <to@example.net>\r\n"+
				"Subject: =?UTF-8?B?w5xiZXIgdGhlIG1lc3NhZ2U=?= %d\r\nMIME-Version: 1.0\r\n"+
				"Content-Type: text/plain; charset=utf-8\r\n\r\n%s", i, j, j, j, filler)
			if _, err := f.Append(msg(uint32(j+1), day.Add(time.Duration(j)*time.Minute), body)); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	ix, err := Open(DefaultPath(a))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	b.ResetTimer()
	for b.Loop() {
		st, err := ix.Rebuild(a, nil)
		if err != nil || st.Messages != folders*perFolder {
			b.Fatalf("%+v, %v", st, err)
		}
	}
	b.ReportMetric(float64(b.N*folders*perFolder)/b.Elapsed().Seconds(), "msgs/s")
}

// Update keeps rows of unchanged messages (their headers are not read
// again) and carries flag changes and deletions into existing rows.
func TestUpdateIsIncremental(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, inbox, "Subject: one\r\n\r\n.\r\n", "Subject: two\r\n\r\n.\r\n")
	ix := open(t, DefaultPath(a))
	if _, err := ix.Update(a, ""); err != nil {
		t.Fatal(err)
	}
	// Mark the stored subject of message 1 so a re-read would show.
	if _, err := ix.db.Exec(`UPDATE messages SET subject = 'kept' WHERE uid = 1`); err != nil {
		t.Fatal(err)
	}
	f, _ := a.OpenFolder(inbox)
	f.SetFlags(f.Lookup(7, 1), []string{`\Flagged`})
	f.MarkGone(f.Lookup(7, 2), time.Unix(1700000000, 0))
	f.Close()
	appendTo(t, a, inbox, "Subject: three\r\n\r\n.\r\n")
	if _, err := ix.Update(a, ""); err != nil {
		t.Fatal(err)
	}
	rows, err := ix.Messages("bt", "INBOX", 0, 0)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	by := map[uint32]Row{}
	for _, r := range rows {
		by[r.UID] = r
	}
	if by[1].Subject != "kept" || len(by[1].Flags) != 1 || by[1].Flags[0] != `\Flagged` {
		t.Fatalf("row 1 was re-derived or lost its flag change: %+v", by[1])
	}
	if by[2].Gone.Unix() != 1700000000 || by[3].Subject != "three" {
		t.Fatalf("rows 2/3: %+v %+v", by[2], by[3])
	}
}

// A folder handed over by its writer (a backup) is indexed from what the
// writer changed — new messages, flags, deletions on the server — and ends
// exactly as a rebuild from the files makes it; when the index was behind
// the log the writer opened, the whole folder is read instead.
func TestUpdateFolderFromAWritersChanges(t *testing.T) {
	a, _ := archive.Open(t.TempDir())
	var bodies []string
	for i := 0; i < 40; i++ {
		bodies = append(bodies, fmt.Sprintf("Subject: m%d\r\nFrom: f%d@example.org\r\n\r\nbody %d\r\n", i, i, i))
	}
	appendTo(t, a, inbox, bodies...)
	ix := open(t, filepath.Join(t.TempDir(), "index.db"))
	if _, err := ix.Update(a, "bt"); err != nil {
		t.Fatal(err)
	}
	change := func(subject string) *archive.Folder {
		t.Helper()
		f, err := a.OpenFolder(inbox)
		if err != nil {
			t.Fatal(err)
		}
		n := uint32(len(f.Entries()) + 1)
		if _, err := f.Append(msg(n, day, "Subject: "+subject+"\r\n\r\nnew\r\n")); err != nil {
			t.Fatal(err)
		}
		f.SetFlags(f.Entries()[4], []string{`\Flagged`})
		f.MarkGone(f.Entries()[6], day)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return f
	}
	same := func() {
		t.Helper()
		ref := open(t, filepath.Join(t.TempDir(), "ref.db"))
		if _, err := ref.Rebuild(a, nil); err != nil {
			t.Fatal(err)
		}
		want, err1 := ref.Messages("bt", "INBOX", 0, 0)
		got, err2 := ix.Messages("bt", "INBOX", 0, 0)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("index after the writer's changes differs from a rebuild (%v %v):\n got %+v\nwant %+v", err1, err2, got, want)
		}
		for _, q := range []string{"subject:late", "subject:later", "from:f3@example.org"} {
			pq, _ := ParseQuery(q)
			_, n1, _ := ref.Search(pq)
			_, n2, _ := ix.Search(pq)
			if n1 != n2 {
				t.Fatalf("%s: %d found, a rebuild finds %d", q, n2, n1)
			}
		}
	}
	f := change("late")
	if _, err := ix.UpdateFolder(a, inbox, f); err != nil {
		t.Fatal(err)
	}
	if ix.partial.Load() != 1 {
		t.Fatalf("%d folders indexed from the writer's changes, want 1", ix.partial.Load())
	}
	same()

	// The index is behind: a change it never saw, then the writer's.
	appendTo(t, a, inbox, "Subject: unseen\r\n\r\nnot indexed yet\r\n")
	f = change("later")
	if _, err := ix.UpdateFolder(a, inbox, f); err != nil {
		t.Fatal(err)
	}
	if ix.partial.Load() != 1 {
		t.Fatal("a folder whose index was behind was indexed from the writer's changes only")
	}
	same()
}

// The rows waiting for their text are read a page at a time: a folder of
// more new messages than a page has them all indexed, through the partial
// index in archive order (an index made before it is upgraded at Open).
func TestTextsInPages(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for i := range 3*textBatch + 7 {
		bodies = append(bodies, fmt.Sprintf("Subject: m%d\r\n\r\nword%d common\r\n", i, i))
	}
	appendTo(t, a, inbox, bodies...)
	path := filepath.Join(t.TempDir(), "ix.db")
	ix := open(t, path)
	// As an index of the same version made before the partial index had
	// the offset.
	if _, err := ix.db.Exec(`DROP INDEX messages_untexted_off; CREATE INDEX messages_untexted ON messages (folder) WHERE texted = 0`); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	ix = open(t, path)
	var plan, name string
	var x, y int
	if err := ix.db.QueryRow(`EXPLAIN QUERY PLAN SELECT id FROM messages WHERE folder = 1 AND texted = 0 AND off > 5 ORDER BY off LIMIT 10`).Scan(&x, &y, &name, &plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "messages_untexted_off") {
		t.Errorf("the page query's plan is %q, want it to use messages_untexted_off", plan)
	}
	st, err := ix.Update(a, "")
	if err != nil || st.Texts != len(bodies) {
		t.Fatalf("Update: %+v, %v; want %d texts", st, err, len(bodies))
	}
	for _, w := range []string{"word0", fmt.Sprintf("word%d", textBatch), fmt.Sprintf("word%d", len(bodies)-1)} {
		q, _ := ParseQuery(w)
		if _, n, err := ix.Search(q); err != nil || n != 1 {
			t.Errorf("%s: found %d (%v), want 1", w, n, err)
		}
	}
	q, _ := ParseQuery("common")
	if _, n, err := ix.Search(q); err != nil || n != len(bodies) {
		t.Errorf("common: found %d (%v), want %d", n, err, len(bodies))
	}
}

// A folder a backup appended to without reading it (archive.OpenAppend)
// holds only the new messages: the index takes them from the writer's
// changes, sums the folder's totals from its rows, and ends as a rebuild
// has it; when the index is behind, it reads the folder whole.
func TestUpdateFromAnAppendOnlyFolder(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := func(f *archive.Folder) {
		f.Checkpoint(archive.State{UIDValidity: 7, UIDNext: uint32(100), Messages: 1, HighestModSeq: 9, At: day})
	}
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(7)
	for i, b := range []string{"Subject: one\r\n\r\nfirst words\r\n", "Subject: two\r\n\r\nsecond words\r\n"} {
		if _, err := f.Append(msg(uint32(i+1), day.AddDate(0, 0, i), b)); err != nil {
			t.Fatal(err)
		}
	}
	f.MarkGone(f.Entries()[0], day)
	checkpoint(f)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ix := open(t, filepath.Join(t.TempDir(), "ix.db"))
	if _, err := ix.Update(a, ""); err != nil {
		t.Fatal(err)
	}
	appendOnly := func(uid uint32, body string) *archive.Folder {
		t.Helper()
		s, ok := a.PeekFolder(inbox)
		if !ok {
			t.Fatal("no summary to append from")
		}
		g, err := a.OpenAppend(inbox, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Append(msg(uid, day.AddDate(0, 0, int(uid)), body)); err != nil {
			t.Fatal(err)
		}
		checkpoint(g)
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		if len(g.Entries()) != 1 || !g.Partial() {
			t.Fatalf("the append-only folder holds %d entries (partial %v)", len(g.Entries()), g.Partial())
		}
		return g
	}
	same := func(when string) {
		t.Helper()
		ref := open(t, filepath.Join(t.TempDir(), "ref.db"))
		if _, err := ref.Rebuild(a, nil); err != nil {
			t.Fatal(err)
		}
		want, err1 := ref.FolderStats("bt")
		got, err2 := ix.FolderStats("bt")
		if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: folder totals %+v (%v), a rebuild has %+v (%v)", when, got, err2, want, err1)
		}
		wrows, _ := ref.Messages("bt", "INBOX", 0, 0)
		grows, _ := ix.Messages("bt", "INBOX", 0, 0)
		if !reflect.DeepEqual(grows, wrows) {
			t.Fatalf("%s: rows differ from a rebuild:\n got %+v\nwant %+v", when, grows, wrows)
		}
	}
	g := appendOnly(3, "Subject: three\r\n\r\nthird words\r\n")
	derived := ix.partial.Load()
	if _, err := ix.UpdateFolder(a, inbox, g); err != nil {
		t.Fatal(err)
	}
	if ix.partial.Load() != derived+1 {
		t.Error("the append-only folder was not indexed from its writer's changes")
	}
	same("after an append-only run")
	q, _ := ParseQuery("third")
	if _, n, err := ix.Search(q); err != nil || n != 1 {
		t.Errorf("the appended message's text: found %d, %v", n, err)
	}
	// The index behind (a run it never saw), then an append-only one.
	appendOnly(4, "Subject: four\r\n\r\nfourth words\r\n")
	g = appendOnly(5, "Subject: five\r\n\r\nfifth words\r\n")
	derived = ix.partial.Load()
	if _, err := ix.UpdateFolder(a, inbox, g); err != nil {
		t.Fatal(err)
	}
	if ix.partial.Load() != derived {
		t.Error("an index that was behind took an append-only folder's changes as all")
	}
	same("after the index caught up")
	for _, w := range []string{"fourth", "fifth"} {
		q, _ := ParseQuery(w)
		if _, n, err := ix.Search(q); err != nil || n != 1 {
			t.Errorf("%s: found %d, %v", w, n, err)
		}
	}
}

// The texts of a few new messages in several folders wait in one batch and
// are indexed together at Flush; texts a process never flushed (it died)
// are indexed by the next Update, their rows being still untexted.
func TestTextBatchAcrossFolders(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, inbox, "Subject: first\r\n\r\nalpha\r\n")
	appendTo(t, a, work, "Subject: second\r\n\r\nbravo\r\n")
	ix := open(t, filepath.Join(t.TempDir(), "ix.db"))
	found := func(word string) int {
		t.Helper()
		q, _ := ParseQuery(word)
		_, n, err := ix.Search(q)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	b := ix.NewTextBatch()
	for _, id := range []archive.FolderID{inbox, work} {
		if _, err := ix.UpdateFolderInto(a, id, nil, b); err != nil {
			t.Fatal(err)
		}
	}
	if found("alpha") != 0 || found("bravo") != 0 {
		t.Fatal("texts held in the batch are searchable before Flush")
	}
	if rows, err := ix.Messages("bt", "INBOX", 0, 0); err != nil || len(rows) != 1 || rows[0].Subject != "first" {
		t.Fatalf("the rows of a folder whose texts wait: %+v, %v", rows, err)
	}
	if n, err := b.Flush(); err != nil || n != 2 {
		t.Fatalf("Flush indexed %d texts (%v), want 2", n, err)
	}
	if found("alpha") != 1 || found("bravo") != 1 {
		t.Fatal("texts flushed together are not found")
	}

	// A batch dropped unflushed: the next Update indexes its texts.
	appendTo(t, a, inbox, "Subject: third\r\n\r\ncharlie\r\n")
	if _, err := ix.UpdateFolderInto(a, inbox, nil, ix.NewTextBatch()); err != nil {
		t.Fatal(err)
	}
	if found("charlie") != 0 {
		t.Fatal("an unflushed text is searchable")
	}
	st, err := ix.Update(a, "")
	if err != nil || st.Texts != 1 || found("charlie") != 1 {
		t.Fatalf("Update after a batch was lost: %+v, %v; charlie found %d times", st, err, found("charlie"))
	}

	// A folder with more new messages than a page is indexed at once.
	var many []string
	for i := range textBatch + 1 {
		many = append(many, fmt.Sprintf("Subject: m%d\r\n\r\ndelta%d\r\n", i, i))
	}
	appendTo(t, a, work, many...)
	b = ix.NewTextBatch()
	if st, err := ix.UpdateFolderInto(a, work, nil, b); err != nil || st.Texts != len(many) {
		t.Fatalf("a folder of %d new messages: %+v, %v", len(many), st, err)
	}
	if n, _ := b.Flush(); n != 0 {
		t.Errorf("the batch held %d texts of a folder indexed at once", n)
	}
}

// A writer's closed folder that waited in an indexer's queue while another
// process appended to the folder is not taken as the folder: the index reads
// it as it is now, and no message loses its row or its text.
func TestUpdateFromAFolderAnotherWriterAppendedTo(t *testing.T) {
	for _, partial := range []bool{false, true} {
		a, err := archive.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		write := func(uid uint32, body string, appendOnly bool) *archive.Folder {
			t.Helper()
			var f *archive.Folder
			if s, ok := a.PeekFolder(inbox); ok && appendOnly {
				f, err = a.OpenAppend(inbox, s)
			} else {
				f, err = a.OpenFolder(inbox)
			}
			if err != nil {
				t.Fatal(err)
			}
			f.SetUIDValidity(7)
			if _, err := f.Append(msg(uid, day.AddDate(0, 0, int(uid)), body)); err != nil {
				t.Fatal(err)
			}
			f.Checkpoint(archive.State{UIDValidity: 7, UIDNext: uid + 1, Messages: uid, HighestModSeq: 9, At: day})
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			return f
		}
		write(1, "Subject: one\r\n\r\nfirstword\r\n", false)
		ix := open(t, filepath.Join(t.TempDir(), "ix.db"))
		if _, err := ix.Update(a, ""); err != nil {
			t.Fatal(err)
		}
		w1 := write(2, "Subject: two\r\n\r\nsecondword\r\n", partial)
		write(3, "Subject: three\r\n\r\nthirdword\r\n", partial) // by another process, meanwhile
		// The first writer's indexer comes to its folder only now.
		if _, err := ix.UpdateFolder(a, inbox, w1); err != nil {
			t.Fatal(err)
		}
		if _, err := ix.Update(a, ""); err != nil {
			t.Fatal(err)
		}
		rows, err := ix.Messages("bt", "INBOX", 0, 0)
		if err != nil || len(rows) != 3 {
			t.Fatalf("partial %v: %d rows (%v), want 3", partial, len(rows), err)
		}
		for _, w := range []string{"firstword", "secondword", "thirdword"} {
			q, _ := ParseQuery(w)
			if _, n, err := ix.Search(q); err != nil || n != 1 {
				t.Errorf("partial %v: %s found %d times (%v), want 1", partial, w, n, err)
			}
		}
	}
}
