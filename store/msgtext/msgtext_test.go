package msgtext

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type want struct {
	from, to, cc, subject string
	date                  string // RFC 3339, "" for none
	text                  []string
	notText               []string
	exact                 string // the whole text, when set
	attachments           []Attachment
	html                  bool
	problems              []string // substrings, one per problem; nil: none
}

var corpus = map[string]want{
	"plain.eml": {
		from: "Jörg Müller <joerg@example.de>", to: "Anna Smith <anna@example.org>, bob@example.org",
		cc: "François <francois@example.fr>", subject: "Re: Lunch on Freitag?", date: "2026-01-13T09:15:00+01:00",
		exact: "Hi Anna,\n\nFriday works for me. The café on Marktstraße at 12:30?\n\nJörg\n\n" +
			"> On Mon, 12 Jan 2026, Anna Smith wrote:\n> Shall we have lunch this week?",
	},
	"qp-latin1.eml": {
		from: "Claire Dubois <claire@example.fr>", to: "team@example.org", subject: "Réunion de l'équipe",
		date: "2026-01-14T16:02:11+01:00",
		text: []string{"Bonjour à tous,\n\n", "dans la salle du premier étage. Le budget est de 5\u00a0000 €, “sans surprise”.",
			"Merci = thanks,\nClaire"},
	},
	"base64-utf8.eml": {
		from: "Maria Ivanova <maria@example.ru>", subject: "Заметки / notes", date: "2026-01-15T11:00:00+03:00",
		exact: "Привет! Meeting notes attached below.\n\n• 会议记录 — done ✅\n• Next steps: ship it 🚀\n\nCheers,\nMaria",
	},
	"alternative.eml": {
		subject: "Your order #1234 has shipped", html: true,
		exact: "Your order #1234 has shipped.\nTrack it at https://shop.example.com/track/1234?utm_source=mail",
	},
	"html-only.eml": {
		subject: "Weekly digest", html: true,
		exact: "This week\n\n" +
			"Fish & chips <3 — café €5 only.\n\n" +
			"Read the full article <https://example.com/article?id=7> or https://example.com.\nSecond line.\n\nThird line.\n\n" +
			"• First item\n• Second item\n\n" +
			"1. One\n2. Two\n\n" +
			"> Quoted text\n\n" +
			"Name Value\nPrice 12\n\n" +
			"[ACME logo] Write to our help desk <help@example.com>.\n\n" +
			"Click",
		notText: []string{"Digest title", "tracking", "hidden", "Preview", "color", "javascript"},
	},
	"mixed.eml": {
		from: "Tom Baker <tom@example.co.uk>", subject: "Invoice 2026-118 and photos", html: true,
		exact: "Hello Anna,\n\nplease find the invoice attached. The photos are from the site visit.\n\nTom\n\n" +
			"_______________________________________________\nList footer: unsubscribe at https://lists.example.org/",
		attachments: []Attachment{
			{"Invoice 2026-118.pdf", "application/pdf", 286, []int{2}},
			{"Baustelle München.jpg", "image/jpeg", 13, []int{3}},
			{"Übersicht 2026.csv", "text/csv", 7, []int{4}},
			{"Kostenübersicht.xls", "application/vnd.ms-excel", 3, []int{5}},
			{"The forwarded one.eml", "message/rfc822", 68, []int{6}},
		},
	},
	"apple-alternative.eml": {
		subject: "Contract", html: true, exact: "Here is the contract.",
		attachments: []Attachment{{"contract.pdf", "application/pdf", 9, []int{2, 2}}},
	},
	"broken-boundary.eml": {
		subject: "broken boundary", text: []string{"--some-other-boundary\nContent-Type: text/plain\n\nThe text is still here."},
		problems: []string{"multipart/mixed without its boundary"},
	},
	"unclosed.eml": {
		subject: "cut short", exact: "First part text.",
		attachments: []Attachment{{"data.zip", "application/zip", 9, []int{2}}},
		problems:    []string{"without its closing boundary"},
	},
	"unknown-charset.eml": {
		subject: "café", exact: "Grüße aus Köln",
		problems: []string{"unknown charset x-foo in a header: shown as Latin-1", "unknown charset x-foo in the text: shown as Latin-1"},
	},
	"no-headers.eml":      {exact: "Just a body, the header is empty."},
	"no-header-block.eml": {exact: "just text, no header\nand no empty line"},
	"garbage-headers.eml": {
		from: "Ärger <aerger@example.de>", to: "t@example.org", subject: "café “quoted”", exact: "Body after garbage.",
		problems: []string{"no header field was skipped"},
	},
	"flowed.eml": {
		exact: "This is a long paragraph that was wrapped by the sender's mail program at seventy-two characters and should read as one line.\n\n" +
			"> Quoted flowed text that also goes on.\n--\nSignature",
	},
	"gb2312.eml": {from: "张三 <zhang@example.cn>", subject: "你好", exact: "你好，世界"},
	"encrypted.eml": {
		attachments: []Attachment{{"encrypted.asc", "application/octet-stream", 62, []int{2}}},
		problems:    []string{"encrypted (OpenPGP)"},
	},
	"html-meta-charset.eml": {html: true, exact: "Schöne Grüße – bis bald"},
	"bad-base64.eml":        {exact: "Hello world!HelloHi", problems: []string{"damaged base64"}},
}

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) != len(corpus) {
		t.Fatalf("%d files in testdata, %d in the table (%v)", len(files), len(corpus), err)
	}
	for _, file := range files {
		w, ok := corpus[filepath.Base(file)]
		if !ok {
			t.Errorf("%s: not in the table", file)
			continue
		}
		lf, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
		for _, raw := range [][]byte{lf, crlf} {
			name := filepath.Base(file)
			if len(raw) != len(lf) {
				name += " (CRLF)"
			}
			t.Run(name, func(t *testing.T) { check(t, Parse(raw), w, len(raw) != len(lf)) })
		}
	}
}

func check(t *testing.T, m *Message, w want, crlf bool) {
	t.Helper()
	for _, c := range []struct{ name, got, want string }{
		{"From", m.From, w.from}, {"To", m.To, w.to}, {"Cc", m.Cc, w.cc}, {"Subject", m.Subject, w.subject},
	} {
		if c.want != "" && c.got != c.want {
			t.Errorf("%s %q, want %q", c.name, c.got, c.want)
		}
	}
	if w.date != "" {
		if d, _ := time.Parse(time.RFC3339, w.date); !m.Date.Equal(d) {
			t.Errorf("Date %v, want %v", m.Date, d)
		}
	}
	if w.exact != "" && m.Text != w.exact {
		t.Errorf("text:\n%s\n--- want:\n%s", m.Text, w.exact)
	}
	for _, s := range w.text {
		if !strings.Contains(m.Text, s) {
			t.Errorf("text does not hold %q:\n%s", s, m.Text)
		}
	}
	for _, s := range w.notText {
		if strings.Contains(m.Text, s) {
			t.Errorf("text holds %q:\n%s", s, m.Text)
		}
	}
	if !utf8.ValidString(m.Text) || strings.Contains(m.Text, "\r") {
		t.Errorf("text is not clean UTF-8 with \\n line breaks: %q", m.Text)
	}
	atts := append([]Attachment(nil), w.attachments...)
	for i := range atts {
		if n, ok := crlfSize[atts[i].Filename]; ok && crlf {
			atts[i].Size = n // not base64: its line breaks grew
		}
	}
	if !reflect.DeepEqual(m.Attachments, atts) && !(len(m.Attachments) == 0 && len(atts) == 0) {
		t.Errorf("attachments\n got %+v\nwant %+v", m.Attachments, atts)
	}
	if m.HasHTML != w.html {
		t.Errorf("HasHTML %v, want %v", m.HasHTML, w.html)
	}
	if len(m.Problems) != len(w.problems) {
		t.Errorf("problems %q, want %q", m.Problems, w.problems)
	} else {
		for i, p := range w.problems {
			if !strings.Contains(m.Problems[i], p) {
				t.Errorf("problem %q, want one with %q", m.Problems[i], p)
			}
		}
	}
}

var crlfSize = map[string]int64{"Übersicht 2026.csv": 8, "The forwarded one.eml": 71, "encrypted.asc": 64}

func TestSaveAttachment(t *testing.T) {
	raw, err := os.ReadFile("testdata/mixed.eml")
	if err != nil {
		t.Fatal(err)
	}
	pdf := append([]byte("%PDF-1.4\n% fake pdf for tests\n"), make([]byte, 256)...)
	for i := range 256 {
		pdf[len(pdf)-256+i] = byte(i)
	}
	for _, c := range []struct {
		part []int
		want []byte
	}{
		{[]int{2}, pdf},
		{[]int{3}, []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1}},
		{[]int{4}, []byte("a,b\n1,2")},
		{[]int{1, 2, 2}, append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 40)...)}, // the inline image
		{[]int{6}, []byte("From: someone@example.org\nSubject: The forwarded one\n\nforwarded body")},
	} {
		var b bytes.Buffer
		if err := SaveAttachment(raw, c.part, &b); err != nil || !bytes.Equal(b.Bytes(), c.want) {
			t.Errorf("part %v: %q, %v; want %q", c.part, b.Bytes(), err, c.want)
		}
		m := Parse(raw)
		for _, a := range m.Attachments {
			if reflect.DeepEqual(a.Part, c.part) && a.Size != int64(len(c.want)) {
				t.Errorf("part %v: listed with size %d, saves %d bytes", c.part, a.Size, len(c.want))
			}
		}
	}
	for _, part := range [][]int{nil, {0}, {8}, {2, 1}, {1, 3}, {1, 2, 2, 1}} {
		if err := SaveAttachment(raw, part, &bytes.Buffer{}); err == nil {
			t.Errorf("part %v: no error", part)
		}
	}
	single := []byte("Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n")
	var b bytes.Buffer
	if err := SaveAttachment(single, []int{1}, &b); err != nil || b.String() != "%PDF-1.4\n" {
		t.Errorf("single part: %q, %v", b.String(), err)
	}
	if m := Parse(single); len(m.Attachments) != 1 || !reflect.DeepEqual(m.Attachments[0].Part, []int{1}) || m.Text != "" {
		t.Errorf("single part: %+v", m)
	}
}

func TestHTMLToText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain <b>bold</b> and <i>it</i>alic", "plain bold and italic"},
		{"<p>one</p><p>two</p>", "one\n\ntwo"},
		{"a<br>b<br/><br>c", "a\nb\n\nc"},
		{"<div>a</div><div>b</div>", "a\nb"},
		{"x &lt;y&gt; &amp;amp; &quot;q&quot; &#39;s&#39; &euro;&nbsp;1 &#x263A; &bogus;", "x <y> &amp; \"q\" 's' € 1 ☺ &bogus;"},
		{"<a href='https://a.example/x'>text</a>", "text <https://a.example/x>"},
		{"<a href='http://www.a.example/'>a.example</a>", "a.example"},
		{"<a href='#top'>top</a> <a href='javascript:x()'>js</a>", "top js"},
		{"<a href='https://t.example/1'><img src=x></a>only", "only"},
		{"<a href='https://t.example/1'><img src=x alt='Buy'></a>", "[Buy] <https://t.example/1>"},
		{"<a href='mailto:a@b.example'>a@b.example</a>", "a@b.example"},
		{"<script>alert(1)</script><style>p{}</style><!-- comment -->text", "text"},
		{"<head><title>T</title><meta charset=utf-8>text", "text"},
		{"<span style='display: none'>hidden <b>x</b></span>shown", "shown"},
		{"<div hidden>h</div><div>v</div>", "v"},
		{"<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "• a\n  • b\n• c"},
		{"<ol start=3><li>c<li>d</ol>", "3. c\n4. d"},
		{"<blockquote>q1<blockquote>q2</blockquote></blockquote>after", "> q1\n>\n>> q2\n\nafter"},
		{"<pre>  code\n    indented</pre>", "  code\n    indented"},
		{"text   with\n\n  lots \t of   space", "text with lots of space"},
		{"zero&zwnj;&#8203;width\u00ad", "zerowidth"},
		{"<table><tr><td>a</td><td>b</td></tr></table>", "a b"},
		{"unclosed <b>tags <p>and <div>more", "unclosed tags\n\nand\nmore"},
		{"<p>broken &amp <a href=x>link", "broken & link"},
		{"", ""},
		{"<<<>>>", "<<<>>>"},
	} {
		if got := htmlToText(c.in); got != c.want {
			t.Errorf("%q:\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestParams(t *testing.T) {
	for _, c := range []struct {
		in, value string
		params    map[string]string
	}{
		{`text/plain; charset="utf-8"; format=flowed`, "text/plain", map[string]string{"charset": "utf-8", "format": "flowed"}},
		{`Text/HTML;CHARSET=ISO-8859-1;; junk; x="a;b\"c"`, "text/html", map[string]string{"charset": "ISO-8859-1", "x": `a;b"c`}},
		{`text/plain; charset=utf-8; charset=latin1`, "text/plain", map[string]string{"charset": "utf-8"}},
		{`attachment; filename*=iso-8859-1''n%E4me.pdf; filename="plain.pdf"`, "attachment", map[string]string{"filename": "näme.pdf"}},
		{`attachment; filename*=UTF-8'en'%E2%82%AC.txt`, "attachment", map[string]string{"filename": "€.txt"}},
		{`attachment; filename*1="b.pdf"; filename*0*=UTF-8''%C3%A4`, "attachment", map[string]string{"filename": "äb.pdf"}},
		{`attachment; filename="=?ISO-8859-1?Q?R=E9sum=E9.doc?="`, "attachment", map[string]string{"filename": "Résumé.doc"}},
		{"attachment; filename=\"caf\xe9.txt\"", "attachment", map[string]string{"filename": "café.txt"}},
		{`attachment; filename*=x-unknown''%E4.txt`, "attachment", map[string]string{"filename": "ä.txt"}},
		{`multipart/mixed; boundary="----=_Part_1"`, "multipart/mixed", map[string]string{"boundary": "----=_Part_1"}},
		{`"unterminated`, `"unterminated`, map[string]string{}},
	} {
		v, params := parseParams(c.in, &parser{})
		if v != c.value || !reflect.DeepEqual(params, c.params) {
			t.Errorf("%s: %q %q, want %q %q", c.in, v, params, c.value, c.params)
		}
	}
}

func TestTransferEncodings(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"caf=E9 =3D =e9 lower\r\nsoft=\r\nbreak=  \nand=\nend=", "caf\xe9 = \xe9 lower\r\nsoftbreakandend"},
		{"bad =ZZ and =4", "bad =ZZ and =4"},
	} {
		if got := string(decodeQP([]byte(c.in))); got != c.want {
			t.Errorf("QP %q: %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"SGVs\r\nbG8=", "Hello", true},
		{"SGVsbG8=IQ==", "Hello!", true}, // pieces glued together
		{"SGVsbG", "Hell", true},         // cut short: what is complete
		{"SGV*sbG8=", "Hello", false},
		{"S", "", false},
	} {
		got, ok := decodeBase64([]byte(c.in))
		if string(got) != c.want || ok != c.ok {
			t.Errorf("base64 %q: %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestHeaderText: the decoder package index uses for its rows is the one
// Parse uses for a Subject.
func TestHeaderText(t *testing.T) {
	for in, want := range map[string]string{
		"plain  text\t folded":                                "plain text folded",
		"=?UTF-8?B?SGVsbG8g8J+Mjg==?= =?UTF-8?Q?w=C3=B6rld?=": "Hello 🌎wörld",
		"=?iso-8859-1?q?J=F6rg?= <j@example.org>":             "Jörg <j@example.org>",
		"=?windows-1252?q?=80uro_=93quoted=94?=":              "€uro “quoted”",
		"=?latin-1?q?=80?=":                                   "€",
		"=?iso-8859-15?Q?=A4?=":                               "€",
		"=?gb2312?B?xOO6ww==?=":                               "你好",
		"=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=":          "こんにちは",
		"=?unknown-8bit?Q?Gr=C3=BC=C3=9Fe?=":                  "Grüße",
		"=?x-foo?Q?K=F6ln?=":                                  "Köln",
		"=?utf-8?q?broken":                                    "=?utf-8?q?broken",
		"caf\xe9 \x80":                                        "café €",
		"=?utf-8?Q?=1B[1mbold=00?=":                           "[1mbold",
		"":                                                    "",
	} {
		if got := HeaderText(in); got != want || !utf8.ValidString(got) {
			t.Errorf("HeaderText(%q) = %q, want %q", in, got, want)
		}
		if m := Parse([]byte("Subject: " + in + "\r\n\r\nbody\r\n")); m.Subject != HeaderText(in) {
			t.Errorf("Parse: Subject %q, HeaderText %q", m.Subject, HeaderText(in))
		}
	}
}

func TestSearchText(t *testing.T) {
	m := &Message{
		Text:        "Hello wörld, see <https://track.example.com/c/abc123?u=9> and http://user@host.example:8080/x. €€€",
		Attachments: []Attachment{{Filename: "report.pdf"}, {Filename: ""}, {Filename: "photo.jpg"}},
	}
	if got, want := SearchText(m, 0), "report.pdf\nphoto.jpg\nHello wörld, see track.example.com and host.example:8080. €€€"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Truncated on a character boundary: € is 3 bytes.
	m = &Message{Text: "ab€€"}
	for limit, want := range map[int]string{1: "a", 2: "ab", 3: "ab", 4: "ab", 5: "ab€", 8: "ab€€", 100: "ab€€"} {
		if got := SearchText(m, limit); got != want {
			t.Errorf("limit %d: %q, want %q", limit, got, want)
		}
	}
	if got := SearchText(&Message{Text: "a http b https:/ c httpsx://d"}, 0); got != "a http b https:/ c httpsx://d" {
		t.Errorf("not URLs: %q", got)
	}
}

func TestOddMessages(t *testing.T) {
	for _, c := range []struct {
		raw, text, subject string
	}{
		{"", "", ""},
		{"\r\n", "", ""},
		{"Subject: only a header", "", "only a header"},
		{"Subject: x\r\n\r\n", "", "x"},
		{"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: mbox\n\nbody", "body", "mbox"},
		{" leading continuation\r\nSubject: after\r\n\r\nbody", "body", "after"},
		{"Subject: no blank line\r\nthe body starts here", "the body starts here", "no blank line"},
		{"Subject: =?utf-8?q?broken\r\n\r\nb", "b", "=?utf-8?q?broken"},
		{"Content-Type: multipart/mixed\r\n\r\nno boundary parameter", "no boundary parameter", ""},
		{"Content-Type: multipart/mixed; boundary=x\r\nContent-Transfer-Encoding: base64\r\n\r\n--x\r\n\r\npart\r\n--x--", "part", ""},
		{"Content-Type: image/png\r\n\r\n\x89PNG", "", ""},
		{"Content-Type: text\r\n\r\ntext anyway", "text anyway", ""},
		{"Content-Type: text/plain; charset=utf-8\r\n\r\nnot utf-8: caf\xe9", "not utf-8: café", ""},
		{"Content-Type: text/plain; charset=utf-8\r\n\r\nmostly utf-8: caf\xc3\xa9 \xff", "mostly utf-8: café \uFFFD", ""},
		{"Content-Type: text/plain\r\n\r\nnul\x00 and \x1b[31mescape", "nul and [31mescape", ""},
		{"Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B$3$s$K$A$O\x1b(B", "こんにちは", ""},
	} {
		m := Parse([]byte(c.raw))
		if m == nil || m.Text != c.text || m.Subject != c.subject {
			t.Errorf("%q: text %q subject %q, want %q %q", c.raw, m.Text, m.Subject, c.text, c.subject)
		}
	}
	// Nested too deep: no stack overflow, and what is shallow enough shows.
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := 1; i < 1000; i++ {
		b.WriteString("--b" + string(rune('0'+i%10)) + "\r\nContent-Type: multipart/mixed; boundary=b" + string(rune('0'+(i+1)%10)) + "\r\n\r\n")
	}
	if m := Parse([]byte(b.String())); m == nil || len(m.Problems) == 0 {
		t.Errorf("deep nesting: %+v", m)
	}
}

// Parse must not fail on anything: damaged copies of the corpus.
func TestParseDamaged(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	r := rand.New(rand.NewPCG(1, 2))
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(raw); i += 7 {
			parseAll(t, raw[:i])
		}
		for range 200 {
			d := append([]byte(nil), raw...)
			for range 1 + r.IntN(8) {
				d[r.IntN(len(d))] = byte(r.IntN(256))
			}
			parseAll(t, d)
		}
	}
}

func parseAll(t *testing.T, raw []byte) {
	t.Helper()
	m := Parse(raw)
	if m == nil || !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) || !utf8.ValidString(m.From) {
		t.Fatalf("%q: %+v", raw, m)
	}
	for _, p := range m.Problems {
		if strings.Contains(p, "could not be taken apart") {
			t.Fatalf("%q: Parse panicked: %s", raw, p)
		}
	}
	for _, a := range m.Attachments {
		var b bytes.Buffer
		if err := SaveAttachment(raw, a.Part, &b); err != nil || int64(b.Len()) != a.Size {
			t.Fatalf("%q: attachment %+v: %d bytes, %v", raw, a, b.Len(), err)
		}
	}
	SearchText(m, 100)
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { parseAll(t, raw) })
}

// An attachment's size, counted without decoding, is what decoding gives,
// for well-formed and damaged base64 alike.
func TestDecodedSizeWithoutDecoding(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < 5000; i++ {
		var b []byte
		for j := r.IntN(300); j > 0; j-- {
			switch k := r.IntN(100); {
			case k < 85:
				b = append(b, chars[r.IntN(len(chars))])
			case k < 90:
				b = append(b, '\r', '\n')
			case k < 95:
				b = append(b, '=')
			default:
				b = append(b, byte(r.IntN(256)))
			}
		}
		e := &entity{header: header{{"content-transfer-encoding", "base64"}}, body: b}
		dec, _ := decodeBase64(b)
		if got := e.decodedSize(); got != int64(len(dec)) {
			t.Fatalf("%q: size %d, decoding gives %d", b, got, len(dec))
		}
	}
}

// ParseForSearch reads every test message as Parse does, but for the
// attachments' sizes.
func TestParseForSearchLikeParse(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	attachments := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		full, quick := Parse(raw), ParseForSearch(raw)
		if full.Text != quick.Text || full.Subject != quick.Subject || len(full.Attachments) != len(quick.Attachments) {
			t.Fatalf("%s: ParseForSearch differs from Parse", f)
		}
		for i, a := range quick.Attachments {
			if a.Size != -1 || a.Filename != full.Attachments[i].Filename {
				t.Errorf("%s: attachment %+v, Parse gave %+v", f, a, full.Attachments[i])
			}
			attachments++
		}
	}
	if attachments == 0 {
		t.Fatal("no test message has an attachment")
	}
}

// tidyReference is tidy as it was first written, in several passes over
// the text: the one-pass tidy must give the same text.
func tidyReference(s string, maxBlank int) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || invisible(r):
			return -1
		}
		return r
	}, s)
	var b strings.Builder
	blank := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, " \t\u00a0")
		if line == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			b.WriteString(strings.Repeat("\n", min(blank, maxBlank)+1))
		}
		blank = 0
		b.WriteString(line)
	}
	return b.String()
}

func FuzzTidy(f *testing.F) {
	for _, s := range []string{"", "a", "\n\n a \r\n\r\n\r\n\rb\t \u00a0\n", "x\u200b\u00a0\u200b\ny", "\xff\xc2\n\xc2\xa0",
		"\r\r\n\n\x00\x7f\u0085c", "  \t\n\n\n\n\nend \u00a0 \u00a0", "é\u00ad\ufeffü\r"} {
		f.Add(s, 1)
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, s string, maxBlank int) {
		maxBlank = max(0, maxBlank%4)
		if got, want := tidy(s, maxBlank), tidyReference(s, maxBlank); got != want {
			t.Fatalf("tidy(%q, %d) = %q, want %q", s, maxBlank, got, want)
		}
	})
}

func BenchmarkTidy(b *testing.B) {
	text := strings.Repeat("Dear team,\r\n\r\nplease find the quarterly report attached; the numbers are  \r\n"+
		"better than last year's. Grüße, Jörg\u00a0\r\n\r\n\r\n\r\n> quoted line\r\n", 200)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tidy(text, 2)
	}
}
