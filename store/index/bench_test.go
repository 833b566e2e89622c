package index

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
)

// The search benchmarks run over a generated archive: one folder of
// benchMessages messages (LIFEBOAT_BENCH_MESSAGES, default 100,000) of
// varied, realistic-looking mail made from a fixed seed. It is generated and
// indexed (Rebuild) once per run of the test binary, outside the timed
// loops; how long that took is printed on standard error:
//
//	bench archive: 100000 messages, 255 MB of mail generated in 5.0s; Rebuild 10.9s (9144 msgs/s); index 116 MB

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		if bench.ix != nil {
			bench.ix.Close()
		}
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

var bench struct {
	once    sync.Once
	dir     string
	a       *archive.Archive
	ix      *Index
	n       int
	gen     time.Duration
	rebuild Stats
	bytes   int64
	err     error
}

var benchFolder = archive.FolderID{Account: "bench", Name: "INBOX"}

func benchIndex(b *testing.B) *Index {
	bench.once.Do(func() {
		bench.n = 100_000
		if s := os.Getenv("LIFEBOAT_BENCH_MESSAGES"); s != "" {
			bench.n, _ = strconv.Atoi(s)
		}
		bench.dir, bench.err = os.MkdirTemp("", "lifeboat-bench-")
		if bench.err != nil {
			return
		}
		if bench.a, bench.err = archive.Open(bench.dir); bench.err != nil {
			return
		}
		start := time.Now()
		if bench.bytes, bench.err = generate(bench.a, benchFolder, bench.n); bench.err != nil {
			return
		}
		bench.gen = time.Since(start)
		if bench.ix, bench.err = Open(DefaultPath(bench.a)); bench.err != nil {
			return
		}
		bench.rebuild, bench.err = bench.ix.Rebuild(bench.a, nil)
		if bench.err == nil && bench.rebuild.Texts != bench.n {
			bench.err = fmt.Errorf("rebuild indexed %d texts of %d messages", bench.rebuild.Texts, bench.n)
		}
		fi, _ := os.Stat(DefaultPath(bench.a))
		fmt.Fprintf(os.Stderr, "bench archive: %d messages, %.0f MB of mail generated in %.1fs; Rebuild %.1fs (%.0f msgs/s); index %.0f MB\n",
			bench.n, float64(bench.bytes)/1e6, bench.gen.Seconds(), bench.rebuild.Duration.Seconds(),
			float64(bench.n)/bench.rebuild.Duration.Seconds(), float64(fi.Size())/1e6)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.ix
}

// BenchmarkSearch runs typical searches over the generated archive, with
// the total count and the first page of 50, as the search box does.
func BenchmarkSearch(b *testing.B) {
	ix := benchIndex(b)
	yes := true
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"word-rare", Query{Text: "zanzibar"}},       // ~0.1% of messages
		{"word-medium", Query{Text: "budget"}},       // a few %
		{"word-common", Query{Text: "the"}},          // nearly all
		{"two-words", Query{Text: "budget meeting"}}, // both
		{"phrase", Query{Text: `"quarterly report"`}},
		{"prefix", Query{Text: "invoi*"}},
		{"from", Query{From: "miller"}},
		{"word-has-attachment", Query{Text: "budget", HasAttachment: &yes}},
		{"word-date-range", Query{Text: "budget", After: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), Before: time.Date(2023, 7, 1, 0, 0, 0, 0, time.UTC)}},
		{"word-not-word", Query{Text: "budget -meeting"}},
		{"no-match", Query{Text: "xylophonist"}},
		{"filters-only", Query{HasAttachment: &yes, Folder: "inbox"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := c.q
			q.Limit = 50
			var total int
			for b.Loop() {
				rows, n, err := ix.Search(q)
				if err != nil || (n > 0 && len(rows) == 0) {
					b.Fatalf("%d rows of %d, %v", len(rows), n, err)
				}
				total = n
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
}

// BenchmarkMessagesPage lists a page of 50 at the start, the middle and
// the end of the generated folder.
func BenchmarkMessagesPage(b *testing.B) {
	ix := benchIndex(b)
	for _, at := range []float64{0, 0.5, 0.9995} {
		offset := int(float64(bench.n) * at)
		b.Run(fmt.Sprintf("offset-%d", offset), func(b *testing.B) {
			for b.Loop() {
				rows, err := ix.Messages(benchFolder.Account, benchFolder.Name, offset, 50)
				if err != nil || len(rows) != min(50, bench.n-offset) {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
}

// generate appends n messages to a folder and returns their total size.
func generate(a *archive.Archive, id archive.FolderID, n int) (int64, error) {
	f, err := a.OpenFolder(id)
	if err != nil {
		return 0, err
	}
	f.SetUIDValidity(1)
	g := newGenerator()
	var size int64
	start := time.Date(2021, 3, 1, 8, 0, 0, 0, time.UTC)
	step := 5 * 365 * 24 * time.Hour / time.Duration(n)
	for i := range n {
		date := start.Add(time.Duration(i)*step + time.Duration(g.r.Int64N(int64(step))))
		raw := g.message(i, date)
		size += int64(len(raw))
		if _, err := f.Append(msg(uint32(i+1), date, string(raw))); err != nil {
			f.Close()
			return 0, err
		}
		if i%5000 == 4999 {
			if err := f.Commit(); err != nil {
				f.Close()
				return 0, err
			}
		}
	}
	return size, f.Close()
}

// generator makes realistic-looking mail from a fixed seed: words drawn
// from a Zipf distribution over a vocabulary of common English words and
// made-up ones (the long tail of names and jargon real mail has), a few
// hundred correspondents, replies with quotes, newsletters in HTML,
// invoices with PDF attachments, Latin-1 quoted-printable and base64 UTF-8.
type generator struct {
	r      *rand.Rand
	zipf   *rand.Zipf
	vocab  []string
	people []string
}

var (
	commonWords = strings.Fields(`the of and to a in is it you that he was for on are with as I his they be at one
		have this from or had by hot word but what some we can out other were all there when up use your how said an
		each she which do their time if will way about many then them write would like so these her long make thing see
		him two has look more day could go come did number sound no most people my over know water than call first who
		may down side been now find any new work part take get place made live where after back little only round man
		year came show every good me give our under name very through just form sentence great think say help low line
		differ turn cause much mean before move right boy old too same tell does set three want air well also play small
		end put home read hand port large spell add even land here must big high such follow act why ask men change went
		light kind off need house picture try us again animal point mother world near build self earth father head stand
		own page should country found answer school grow study still learn plant cover food sun four between state keep
		eye never last let thought city tree cross farm hard start might story saw far sea draw left late run while press
		close night real life few north open seem together next white children begin got walk example ease paper group
		always music those both mark often letter until mile river car feet care second book carry took science eat room
		friend began idea fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl
		usual young ready above ever red list though feel talk bird soon body dog family direct pose leave song measure
		door product black short numeral class wind question happen complete ship area half rock order fire south problem
		piece told knew pass since top whole king space heard best hour better true during hundred five remember step
		early hold west ground interest reach fast verb sing listen six table travel less morning ten simple several
		vowel toward war lay against pattern slow center love person money serve appear road map rain rule govern pull
		cold notice voice unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun
		field rest correct able pound done beauty drive stood contain front teach week final gave green oh quick develop
		ocean warm free minute strong special mind behind clear tail produce fact street inch multiply nothing course stay
		wheel full force blue object decide surface deep moon island foot system busy test record boat common gold possible
		plane stead dry wonder laugh thousand ago ran check game shape equate hot miss brought heat snow tire bring yes
		distant fill east paint language among project meeting report invoice budget deadline schedule review contract
		customer account payment delivery office team manager quarterly agenda attached please thanks regards update`)
	firstNames = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
		Richard Susan Joseph Jessica Thomas Sarah Charles Karen Jörg Müller François Zoë Siobhán Mateo Sofia Lukas Emma
		Noah Olivia Liam Ava Ethan Mia Hiroshi Yuki Priya Arjun Wei Mei Olga Ivan Fatima Omar Chloé Björn Ingrid Pablo`)
	lastNames = strings.Fields(`Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
		Lopez Gonzalez Wilson Anderson Taylor Moore Jackson Martin Lee Schmidt Schneider Fischer Weber Dubois Moreau
		Rossi Russo Tanaka Suzuki Kumar Singh Wang Li Ivanov Petrov Nielsen Hansen Silva Santos`)
	domains = strings.Fields(`example.com example.org example.net mail.example.de post.example.fr shop.example.co.uk
		news.example.io corp.example.com uni.example.edu bank.example.ch travel.example.es city.example.gov`)
	syllables = strings.Fields(`ka ro mi ta ne lo su vi ra de ko pa li mo te nu zi ba fe go ha ju la ma no pe qui sa to
		ur ve wa xe ya zu bra cle dri flo gru pla sta tri vor zen`)
)

func newGenerator() *generator {
	g := &generator{r: rand.New(rand.NewPCG(2026, 1))}
	g.vocab = append(g.vocab, commonWords...)
	seen := map[string]bool{}
	for _, w := range g.vocab {
		seen[w] = true
	}
	for len(g.vocab) < 30000 { // the long tail
		var w strings.Builder
		for range 2 + g.r.IntN(3) {
			w.WriteString(syllables[g.r.IntN(len(syllables))])
		}
		if !seen[w.String()] {
			seen[w.String()] = true
			g.vocab = append(g.vocab, w.String())
		}
	}
	g.zipf = rand.NewZipf(g.r, 1.07, 2, uint64(len(g.vocab)-1))
	for i := range 400 {
		first, last := firstNames[g.r.IntN(len(firstNames))], lastNames[g.r.IntN(len(lastNames))]
		addr := strings.ToLower(asciiOnly(first)+"."+asciiOnly(last)) + strconv.Itoa(i%7) + "@" + domains[g.r.IntN(len(domains))]
		g.people = append(g.people, first+" "+last+" <"+addr+">")
	}
	return g
}

func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 {
			return r
		}
		return 'x'
	}, s)
}

func (g *generator) word() string { return g.vocab[g.zipf.Uint64()] }

// capitalize upper-cases the first letter of a word (the words are ASCII).
func capitalize(w string) string {
	if w == "" {
		return w
	}
	return strings.ToUpper(w[:1]) + w[1:]
}

func (g *generator) sentence() string {
	n := 5 + g.r.IntN(12)
	words := make([]string, n)
	for i := range words {
		words[i] = g.word()
	}
	if g.r.IntN(20000) == 0 {
		words[g.r.IntN(n)] = "zanzibar" // the rare word of the benchmark
	}
	s := strings.Join(words, " ")
	return strings.ToUpper(s[:1]) + s[1:] + [...]string{".", ".", ".", "?", "!"}[g.r.IntN(5)]
}

func (g *generator) paragraphs(n int) []string {
	out := make([]string, n)
	for i := range out {
		var p []string
		for range 1 + g.r.IntN(5) {
			p = append(p, g.sentence())
		}
		out[i] = wrap(strings.Join(p, " "), 72)
	}
	return out
}

func wrap(s string, width int) string {
	var b strings.Builder
	col := 0
	for i, w := range strings.Fields(s) {
		if i > 0 {
			if col+1+len(w) > width {
				b.WriteString("\r\n")
				col = 0
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

func (g *generator) subject(i int) string {
	switch g.r.IntN(8) {
	case 0:
		return fmt.Sprintf("Invoice %d-%04d", 2021+i%5, g.r.IntN(10000))
	case 1:
		return "Re: " + g.word() + " " + g.word() + " " + g.word()
	case 2:
		return "Fwd: " + capitalize(g.word()) + " " + g.word()
	case 3:
		return "Quarterly report: " + g.word()
	case 4:
		return "Meeting about the " + g.word() + " " + g.word()
	case 5:
		return "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_" + capitalize(g.word()) + "?="
	default:
		return capitalize(g.word()) + " " + g.word() + " " + g.word() + " " + g.word()
	}
}

// message makes message number i.
func (g *generator) message(i int, date time.Time) []byte {
	var b bytes.Buffer
	from, to := g.people[g.r.IntN(len(g.people))], g.people[g.r.IntN(len(g.people))]
	fmt.Fprintf(&b, "Received: from mx%d.example.net by imap.example.org; %s\r\n", g.r.IntN(9), date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", encodeAddr(from), encodeAddr(to))
	if g.r.IntN(4) == 0 {
		fmt.Fprintf(&b, "Cc: %s\r\n", encodeAddr(g.people[g.r.IntN(len(g.people))]))
	}
	fmt.Fprintf(&b, "Subject: %s\r\nDate: %s\r\nMessage-ID: <%d.%x@example.org>\r\nMIME-Version: 1.0\r\n",
		g.subject(i), date.Format(time.RFC1123Z), i, g.r.Uint32())
	paras := g.paragraphs(2 + g.r.IntN(6))
	if g.r.IntN(3) == 0 { // a reply quoting the last message
		var q []string
		for _, l := range strings.Split(strings.Join(g.paragraphs(1+g.r.IntN(3)), "\r\n\r\n"), "\r\n") {
			q = append(q, "> "+l)
		}
		paras = append(paras, "On "+date.Add(-26*time.Hour).Format("Mon, 2 Jan 2006")+", "+from+" wrote:\r\n"+strings.Join(q, "\r\n"))
	}
	paras = append(paras, "-- \r\n"+strings.SplitN(from, " <", 2)[0])
	plain := strings.Join(paras, "\r\n\r\n") + "\r\n"
	switch k := g.r.IntN(100); {
	case k < 55:
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + plain)
	case k < 62:
		b.WriteString("Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
			strings.ReplaceAll(plain, "e", "=E9")[:len(plain)/2] + "\r\n")
	case k < 67:
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			lines(base64.StdEncoding.EncodeToString([]byte(plain)), 76))
	case k < 82:
		b.WriteString("Content-Type: multipart/alternative; boundary=\"alt-" + strconv.Itoa(i) + "\"\r\n\r\n")
		b.WriteString("--alt-" + strconv.Itoa(i) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain)
		b.WriteString("--alt-" + strconv.Itoa(i) + "\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + g.html(paras))
		b.WriteString("--alt-" + strconv.Itoa(i) + "--\r\n")
	case k < 92:
		b.WriteString("Content-Type: text/html; charset=utf-8\r\n\r\n" + g.html(paras))
	default:
		b.WriteString("Content-Type: multipart/mixed; boundary=\"mix-" + strconv.Itoa(i) + "\"\r\n\r\n")
		b.WriteString("--mix-" + strconv.Itoa(i) + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain)
		for range 1 + g.r.IntN(2) {
			att := make([]byte, 1024+g.r.IntN(8192))
			for j := range att {
				att[j] = byte(g.r.Uint32())
			}
			name := capitalize(g.word()) + "-" + strconv.Itoa(g.r.IntN(1000)) + [...]string{".pdf", ".xlsx", ".jpg", ".docx"}[g.r.IntN(4)]
			b.WriteString("--mix-" + strconv.Itoa(i) + "\r\nContent-Type: application/octet-stream; name=\"" + name + "\"\r\n" +
				"Content-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				lines(base64.StdEncoding.EncodeToString(att), 76))
		}
		b.WriteString("--mix-" + strconv.Itoa(i) + "--\r\n")
	}
	return b.Bytes()
}

func (g *generator) html(paras []string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><head><style>body{font-family:sans-serif} .pre{display:none}</style></head><body>\r\n")
	b.WriteString(`<div class="pre" style="display:none">` + g.sentence() + "&zwnj;&nbsp;&zwnj;&nbsp;</div>\r\n<table><tr><td>\r\n")
	for _, p := range paras {
		p = strings.ReplaceAll(p, "&", "&amp;")
		p = strings.ReplaceAll(p, "<", "&lt;")
		if g.r.IntN(3) == 0 {
			p += ` <a href="https://track.example.com/c/` + strconv.FormatUint(g.r.Uint64(), 36) + `">` + g.word() + " " + g.word() + "</a>"
		}
		b.WriteString("<p>" + strings.ReplaceAll(p, "\r\n", "\r\n") + "</p>\r\n")
	}
	b.WriteString("</td></tr></table><img src=\"https://track.example.com/p.gif\" width=1 height=1 alt=\"\"></body></html>\r\n")
	return b.String()
}

func encodeAddr(a string) string {
	name, addr, _ := strings.Cut(a, " <")
	if asciiOnly(name) == name {
		return a
	}
	return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(name)) + "?= <" + addr
}

func lines(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\r\n")
		s = s[n:]
	}
	return b.String() + s + "\r\n"
}
