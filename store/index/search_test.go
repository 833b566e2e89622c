package index

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
)

func TestParseQuery(t *testing.T) {
	yes, no := true, false
	local := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.Local) }
	for _, c := range []struct {
		in   string
		want Query
	}{
		{"", Query{}},
		{"hello  world", Query{Text: "hello world"}},
		{`"quoted phrase" word`, Query{Text: `"quoted phrase" word`}},
		{`"open phrase`, Query{Text: `"open phrase"`}},
		{"from:alice@example.org", Query{From: "alice@example.org"}},
		{`from:"John Smith" to:bob cc:carol subject:invoice Subject:"q1 report"`,
			Query{From: `"John Smith"`, To: "bob carol", Subject: `invoice "q1 report"`}},
		{"FROM:Alice", Query{From: "Alice"}},
		{"has:attachment", Query{HasAttachment: &yes}},
		{"has:attachments -has:attachment", Query{HasAttachment: &no}},
		{"has:pdf", Query{Text: "has:pdf"}},
		{"before:2026-01-31 after:2026/1/2", Query{Before: local(2026, 1, 31), After: local(2026, 1, 2)}},
		{"folder:Work/2026 account:bt report", Query{Folder: "Work/2026", Account: "bt", Text: "report"}},
		{"in:INBOX", Query{Folder: "INBOX"}},
		{"re:hello http://example.org/x a:b", Query{Text: "re:hello http://example.org/x a:b"}},
		{`-spam -"bad phrase" -from:bob -subject:"x y"`, Query{Text: `-spam -"bad phrase"`, From: "-bob", Subject: `-"x y"`}},
		{"a OR b or c", Query{Text: "a OR b or c"}},
		{"invoi* from:ali*", Query{Text: "invoi*", From: "ali*"}},
		{"from: bob subject:", Query{Text: "bob"}},
		{"- -- x-ray", Query{Text: "- -- x-ray"}},
		{"café\u00a0crème", Query{Text: "café crème"}},
	} {
		got, err := ParseQuery(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
	for _, in := range []string{"before:yesterday", "after:2026-13-01", "-folder:Spam", "-before:2026-01-01", "-account:x"} {
		if q, err := ParseQuery(in); err == nil {
			t.Errorf("%q: no error (%+v)", in, q)
		}
	}
}

func TestFTSExpr(t *testing.T) {
	for _, c := range []struct {
		in, cols string
		pos, neg []string
	}{
		{"hello", "", []string{`"hello"`}, nil},
		{`say "hi there" -spam`, "", []string{`"say"`, `"hi there"`}, []string{`"spam"`}},
		{`a OR b c OR`, "", []string{`("a" OR "b")`, `"c"`}, nil},
		{`OR a`, "", []string{`"a"`}, nil},
		{`x"y`, "", []string{`"x"`, `"y"`}, nil},
		{`pre* "ph ra"*`, "", []string{`"pre"*`, `"ph ra"*`}, nil},
		{`alice@example.org -bob`, "from_addr", []string{`{from_addr} : "alice@example.org"`}, []string{`{from_addr} : "bob"`}},
		{`- * "" 🎉 ... a"b`, "", []string{`"a"`, `"b"`}, nil},
		{`weird"""quote`, "", []string{`"weird"`, `"quote"`}, nil},
	} {
		pos, neg := ftsExpr(c.in, c.cols)
		if !reflect.DeepEqual(pos, c.pos) || !reflect.DeepEqual(neg, c.neg) {
			t.Errorf("%q: %q %q, want %q %q", c.in, pos, neg, c.pos, c.neg)
		}
	}
}

// The messages of the search tests, by the subject each has.
var searchMail = map[archive.FolderID][]string{
	inbox: {
		"From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.de>\r\nTo: anna@example.org\r\nSubject: Lunch\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\nShall we meet at the café on Friday?\r\n",
		"From: Tom Baker <tom@example.co.uk>\r\nTo: anna@example.org\r\nSubject: Invoice 2026-118\r\n" +
			"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlease pay by Friday.\r\n" +
			"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"Rechnung Nr 77.pdf\"\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n",
		"From: news@example.com\r\nTo: anna@example.org\r\nSubject: Weekly digest\r\nContent-Type: text/html\r\n\r\n" +
			"<html><head><script>var secretword = 1;</script></head><body><p>Top stories: gardening &amp; " +
			"<a href=\"https://example.com/x\">tomatoes</a></p></body></html>\r\n",
		"From: Claire <claire@example.fr>\r\nTo: team@example.org\r\nSubject: =?ISO-8859-1?Q?R=E9union?=\r\n" +
			"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			"La r=E9union aura lieu au premier =E9tage.\r\n",
	},
	work: {
		"From: Alice Example <alice@example.org>\r\nTo: bob@example.org\r\nCc: Carol <carol@example.org>\r\n" +
			"Subject: Quarterly report draft\r\n\r\nThe quarterly numbers are in the spreadsheet.\r\n",
	},
	other: {
		"From: friend@example.net\r\nTo: me@example.net\r\nSubject: lunch tomorrow?\r\n\r\nPizza or sushi?\r\n",
	},
}

func searchIndex(t *testing.T) (*archive.Archive, *Index) {
	t.Helper()
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for id, bodies := range searchMail {
		appendTo(t, a, id, bodies...)
	}
	ix := open(t, DefaultPath(a))
	st, err := ix.Update(a, "")
	if err != nil || st.Texts != 6 {
		t.Fatalf("update: %+v, %v", st, err)
	}
	return a, ix
}

// subjects runs a query and returns the subjects found, in order.
func subjects(t *testing.T, ix *Index, q string) []string {
	t.Helper()
	query, err := ParseQuery(q)
	if err != nil {
		t.Fatalf("%q: %v", q, err)
	}
	rows, total, err := ix.Search(query)
	if err != nil {
		t.Fatalf("%q: %v", q, err)
	}
	if total != len(rows) {
		t.Fatalf("%q: total %d, %d rows", q, total, len(rows))
	}
	out := []string{}
	for _, r := range rows {
		out = append(out, r.Subject)
	}
	return out
}

func TestSearch(t *testing.T) {
	a, ix := searchIndex(t)
	// Dates: INBOX has day+1..4, Work day+1, other day+1 (appendTo: one day apart).
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"friday", []string{"Invoice 2026-118", "Lunch"}},                               // body words, newest first
		{"cafe", []string{"Lunch"}},                                                     // accents aside
		{"CAFÉ", []string{"Lunch"}},                                                     // case aside
		{`"pay by friday"`, []string{"Invoice 2026-118"}},                               // phrase
		{`"friday by pay"`, nil},                                                        // words, not the phrase
		{"from:tom", []string{"Invoice 2026-118"}},                                      // from:
		{`from:"tom@example.co.uk"`, []string{"Invoice 2026-118"}},                      // an address
		{"from:jörg", []string{"Lunch"}},                                                // decoded name
		{"from:anna", nil},                                                              // she is in To
		{"to:carol", []string{"Quarterly report draft"}},                                // Cc counts as to:
		{"subject:report", []string{"Quarterly report draft"}},                          // subject:
		{"subject:numbers", nil},                                                        // that is in the body
		{"has:attachment", []string{"Invoice 2026-118"}},                                // has:attachment
		{"rechnung", []string{"Invoice 2026-118"}},                                      // an attachment's name
		{"-has:attachment friday", []string{"Lunch"}},                                   // and without
		{"secretword", nil},                                                             // no scripts
		{"tomatoes", []string{"Weekly digest"}},                                         // HTML text
		{"réunion étage", []string{"Réunion"}},                                          // Latin-1, quoted-printable
		{"lunch", []string{"Lunch", "lunch tomorrow?"}},                                 // subject, two accounts
		{"lunch -café", []string{"lunch tomorrow?"}},                                    // -word
		{"lunch account:other", []string{"lunch tomorrow?"}},                            // account:
		{"sushi OR spreadsheet", []string{"Quarterly report draft", "lunch tomorrow?"}}, // OR (same date: by folder)
		{"quarter*", []string{"Quarterly report draft"}},                                // prefix
		{"folder:work", []string{"Quarterly report draft"}},                             // subfolders, case aside
		{"folder:Work/2026", []string{"Quarterly report draft"}},                        // the folder itself
		{"folder:Wor", nil},                                                             // not a prefix of a name
		{"in:inbox friday", []string{"Invoice 2026-118", "Lunch"}},                      // in:
		{"folder:inbox account:bt", []string{"Réunion", "Weekly digest", "Invoice 2026-118", "Lunch"}},
		{"nothing-like-this", nil},
	} {
		got := subjects(t, ix, c.q)
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %q, want %q", c.q, got, c.want)
		}
	}

	// Dates: after: inclusive, before: exclusive, in local time (here UTC).
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.UTC
	d := func(n int) string { return day.AddDate(0, 0, n).Format("2006-01-02") }
	for _, c := range []struct {
		q    string
		want int
	}{
		{"after:" + d(4), 1}, {"after:" + d(2), 3}, {"before:" + d(2), 3}, {"after:" + d(2) + " before:" + d(3), 1},
		{"before:" + d(1), 0}, {"after:" + d(5), 0},
	} {
		if got := len(subjects(t, ix, c.q)); got != c.want {
			t.Errorf("%q: %d, want %d", c.q, got, c.want)
		}
	}
	q := Query{After: day.AddDate(0, 0, 2), Before: day.AddDate(0, 0, 4)} // exact instants
	if rows, n, err := ix.Search(q); err != nil || n != 2 || rows[0].Subject != "Weekly digest" || rows[1].Subject != "Invoice 2026-118" {
		t.Errorf("date range: %d, %v, %+v", n, err, rows)
	}

	// Rows carry what a list shows.
	rows, _, _ := ix.Search(Query{Text: "rechnung"})
	if len(rows) != 1 || !rows[0].HasAttachment || rows[0].From != "Tom Baker <tom@example.co.uk>" || rows[0].Account != "bt" || rows[0].Folder != "INBOX" {
		t.Errorf("row: %+v", rows)
	}

	// Paging, with the total of all matches.
	all, total, err := ix.Search(Query{})
	if err != nil || total != 6 || len(all) != 6 {
		t.Fatalf("everything: %d rows, total %d, %v", len(all), total, err)
	}
	page, total, err := ix.Search(Query{Limit: 2, Offset: 1})
	if err != nil || total != 6 || len(page) != 2 || !reflect.DeepEqual(page, all[1:3]) {
		t.Errorf("page: %+v, %d, %v", page, total, err)
	}
	if page, total, err := ix.Search(Query{Limit: 2, Offset: 6}); err != nil || total != 6 || len(page) != 0 {
		t.Errorf("past the end: %+v, %d, %v", page, total, err)
	}

	// A message deleted on the server is still found.
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	f.MarkGone(f.Lookup(7, 1), time.Unix(1700000000, 0))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := ix.Update(a, ""); err != nil || st.Folders != 1 || st.Texts != 0 {
		t.Fatalf("update after a deletion: %+v, %v", st, err)
	}
	if rows, _, _ := ix.Search(Query{Text: "café"}); len(rows) != 1 || rows[0].Gone.Unix() != 1700000000 {
		t.Errorf("gone message: %+v", rows)
	}

	// New mail is found after an Update, which reads only the new message.
	if got := subjects(t, ix, "zebras"); len(got) != 0 {
		t.Fatalf("found before it exists: %q", got)
	}
	appendTo(t, a, inbox, "Subject: Zoo trip\r\n\r\nWe saw zebras and giraffes.\r\n")
	if got := subjects(t, ix, "zebras"); len(got) != 0 {
		t.Fatalf("found before Update: %q", got)
	}
	if st, err := ix.Update(a, ""); err != nil || st.Folders != 1 || st.Texts != 1 {
		t.Fatalf("update after new mail: %+v, %v", st, err)
	}
	if got := subjects(t, ix, "zebras OR spreadsheet"); !reflect.DeepEqual(got, []string{"Zoo trip", "Quarterly report draft"}) {
		t.Errorf("new mail: %q", got)
	}

	// Rebuilt from scratch, the same is found.
	before := map[string][]string{}
	queries := []string{"friday", "has:attachment", "lunch", "folder:inbox", "zebras", "to:carol"}
	for _, q := range queries {
		before[q] = subjects(t, ix, q)
	}
	if st, err := ix.Rebuild(a, nil); err != nil || st.Texts != 7 {
		t.Fatalf("rebuild: %+v, %v", st, err)
	}
	for _, q := range queries {
		if got := subjects(t, ix, q); !reflect.DeepEqual(got, before[q]) {
			t.Errorf("%q after a rebuild: %q, want %q", q, got, before[q])
		}
	}
}

func TestSearchTextLifecycle(t *testing.T) {
	a, ix := searchIndex(t)
	words := func() int {
		var n int
		if err := ix.db.QueryRow(`SELECT count(*) FROM messages_fts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := words(); n != 6 {
		t.Fatalf("%d rows in messages_fts, want 6", n)
	}

	// An interrupted text step is finished by the next Update, though no
	// log changed.
	if _, err := ix.db.Exec(`DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE subject = 'Lunch')`); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.db.Exec(`UPDATE messages SET texted = 0 WHERE subject = 'Lunch'`); err != nil {
		t.Fatal(err)
	}
	if got := subjects(t, ix, "café"); len(got) != 0 {
		t.Fatalf("found without its text: %q", got)
	}
	if st, err := ix.Update(a, ""); err != nil || st.Folders != 0 || st.Texts != 1 {
		t.Fatalf("update: %+v, %v", st, err)
	}
	if got := subjects(t, ix, "café"); !reflect.DeepEqual(got, []string{"Lunch"}) {
		t.Fatalf("after the update: %q", got)
	}

	// A message whose bytes cannot be read is found by its headers.
	if _, err := ix.db.Exec(`UPDATE messages SET texted = 0 WHERE subject = 'Weekly digest'`); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.db.Exec(`DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE subject = 'Weekly digest')`); err != nil {
		t.Fatal(err)
	}
	mbox := a.MboxPath(inbox)
	saved := mbox + ".saved"
	if err := renameFile(mbox, saved); err != nil {
		t.Fatal(err)
	}
	if st, err := ix.Update(a, ""); err != nil || st.Texts != 1 {
		t.Fatalf("update without the mbox: %+v, %v", st, err)
	}
	if got := subjects(t, ix, "digest"); !reflect.DeepEqual(got, []string{"Weekly digest"}) {
		t.Errorf("by its headers: %q", got)
	}
	if got := subjects(t, ix, "tomatoes"); len(got) != 0 {
		t.Errorf("body without the mbox: %q", got)
	}
	if err := renameFile(saved, mbox); err != nil {
		t.Fatal(err)
	}

	// Removed folders take their words with them.
	if err := removeFiles(a.LogPath(work), a.MboxPath(work)); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Update(a, ""); err != nil {
		t.Fatal(err)
	}
	if n := words(); n != 5 {
		t.Errorf("%d rows in messages_fts after removing a folder, want 5", n)
	}
	if got := subjects(t, ix, "spreadsheet"); len(got) != 0 {
		t.Errorf("removed folder still found: %q", got)
	}
	orphans := func() int {
		var n int
		ix.db.QueryRow(`SELECT count(*) FROM messages_fts WHERE rowid NOT IN (SELECT id FROM messages)`).Scan(&n)
		return n
	}
	if n := orphans(); n != 0 {
		t.Errorf("%d words of rows that are gone", n)
	}

	// A folder replaced by hand: other messages at the same offsets.
	if err := removeFiles(a.LogPath(other), a.MboxPath(other)); err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, other, "Subject: lunch tomorrow!\r\n\r\nRamen or curry?\r\n", "Subject: second\r\n\r\nMore.\r\n")
	if st, err := ix.Update(a, ""); err != nil || st.Folders != 1 || st.Texts != 2 {
		t.Fatalf("update after replacing a folder: %+v, %v", st, err)
	}
	if got := subjects(t, ix, "sushi OR ramen"); !reflect.DeepEqual(got, []string{"lunch tomorrow!"}) {
		t.Errorf("replaced folder: %q", got)
	}
	if n := orphans(); n != 0 || words() != 6 {
		t.Errorf("%d words of rows that are gone, %d in all (want 6)", n, words())
	}
}

func TestSearchSchemaUpgrade(t *testing.T) {
	// An index of the version before full text is dropped and rebuilt.
	a, ix := searchIndex(t)
	path := DefaultPath(a)
	if _, err := ix.db.Exec(`PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	ix = open(t, path)
	if n, _ := ix.Count("", ""); n != 0 {
		t.Fatalf("old index kept %d rows", n)
	}
	if st, err := ix.Update(a, ""); err != nil || st.Texts != 6 {
		t.Fatalf("update: %+v, %v", st, err)
	}
	if got := subjects(t, ix, "friday"); len(got) != 2 {
		t.Errorf("after the upgrade: %q", got)
	}
	var names []string
	rows, _ := ix.db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	sort.Strings(names)
	if strings.Join(names, " ") != "folders labels messages messages_fts messages_fts_config messages_fts_data messages_fts_docsize messages_fts_idx" {
		t.Errorf("tables: %q", names)
	}
}

func renameFile(from, to string) error { return os.Rename(from, to) }

func removeFiles(paths ...string) error {
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}
