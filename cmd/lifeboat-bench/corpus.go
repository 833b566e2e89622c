package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// A corpus is the mail of one Dovecot user: folders and how many messages
// each holds, and a deterministic generator for those messages.
type corpus struct {
	Name     string   // "A", "B", "C"
	User     string   // Dovecot user holding it
	Folders  []string // in load order; INBOX included
	Counts   []int    // messages per folder, parallel to Folders
	NewMail  int      // messages appended before the "+1% new" scenario (0: no such scenario)
	NoChange bool     // measure a re-run with nothing new
	Size     func(r *rand.Rand) int

	seed uint64

	// Filled in while loading.
	Messages int   // on the server now
	Bytes    int64 // on the server now (RFC822.SIZE, CRLF line endings)
	NewBytes int64 // of the NewMail messages, once appended
	sizes    []int // of every message loaded
}

// Corpus A's folders, with the share of the messages each gets.
var foldersA = []struct {
	name   string
	weight float64
}{
	{"INBOX", 30}, {"Archive", 22}, {"Sent", 14}, {"Lists/golang", 10}, {"Lists/dovecot", 6},
	{"Projects/lifeboat", 6}, {"Projects/website", 4}, {"Receipts", 4}, {"Family", 2.5}, {"Travel", 1.5},
}

// corpusA: about 20,000 × scale messages over 10 folders, 2 KB to 2 MB,
// about 1 GB at scale 1.
func corpusA(scale float64, seed uint64) *corpus {
	n := max(len(foldersA), int(math.Round(20000*scale)))
	c := &corpus{Name: "A", User: "bench-a", Size: sizeA, seed: seed ^ 0xA}
	var weights []float64
	for _, f := range foldersA {
		c.Folders = append(c.Folders, f.name)
		weights = append(weights, f.weight)
	}
	c.Counts = apportion(n, weights)
	c.NewMail = max(1, int(math.Round(float64(n)/100)))
	return c
}

// corpusB: many small folders (INBOX and folders-1 others).
func corpusB(folders, perFolder int, seed uint64) *corpus {
	c := &corpus{Name: "B", User: "bench-b", Size: func(r *rand.Rand) int { return logUniform(r, 2<<10, 16<<10) }, seed: seed ^ 0xB}
	for i := 0; i < folders; i++ {
		name := "INBOX"
		if i > 0 {
			name = fmt.Sprintf("Folder-%03d", i)
		}
		c.Folders = append(c.Folders, name)
		c.Counts = append(c.Counts, perFolder)
	}
	return c
}

// corpusC: one big message (peak memory).
func corpusC(size int, seed uint64) *corpus {
	return &corpus{Name: "C", User: "bench-c", Folders: []string{"INBOX"}, Counts: []int{1},
		Size: func(*rand.Rand) int { return size }, seed: seed ^ 0xC}
}

// total is the number of messages the corpus starts with.
func (c *corpus) total() int {
	n := 0
	for _, k := range c.Counts {
		n += k
	}
	return n
}

// sizeA is skewed: most messages are small, a few are large. The mean is
// about 51 KiB (82 % 2–32 KiB, 15 % 32–256 KiB, 3 % 256 KiB–2 MiB, each
// log-uniform), so 20,000 messages make about 1 GB.
func sizeA(r *rand.Rand) int {
	switch u := r.Float64(); {
	case u < 0.82:
		return logUniform(r, 2<<10, 32<<10)
	case u < 0.97:
		return logUniform(r, 32<<10, 256<<10)
	default:
		return logUniform(r, 256<<10, 2<<20)
	}
}

func logUniform(r *rand.Rand, lo, hi int) int {
	return int(math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo)))))
}

// apportion splits n into len(weights) parts proportional to weights (largest
// remainder), each at least 1 when n allows.
func apportion(n int, weights []float64) []int {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	out := make([]int, len(weights))
	rem := make([]float64, len(weights))
	left := n
	for i, w := range weights {
		exact := float64(n) * w / sum
		out[i] = int(exact)
		rem[i] = exact - float64(out[i])
		left -= out[i]
	}
	for ; left > 0; left-- {
		best := 0
		for i := range rem {
			if rem[i] > rem[best] {
				best = i
			}
		}
		out[best]++
		rem[best] = -1
	}
	for i := range out { // no empty folder: take from the largest
		if out[i] == 0 {
			big := 0
			for j := range out {
				if out[j] > out[big] {
					big = j
				}
			}
			if out[big] > 1 {
				out[big]--
				out[i]++
			}
		}
	}
	return out
}

// generator makes realistic messages: headers (Received, From, To, Subject,
// Date, Message-ID, MIME), text bodies whose lines sometimes start with
// "From " (mbox quoting) or "> ", and base64 attachments for the big ones.
// Line endings are CRLF, as IMAP delivers them.
type generator struct {
	r      *rand.Rand
	corpus string
	seq    int
	raw    [57]byte
	line   [76]byte
}

func newGenerator(c *corpus, stream uint64) *generator {
	return &generator{r: rand.New(rand.NewPCG(c.seed, stream)), corpus: c.Name}
}

var words = strings.Fields(`the of and to a in is it you that was for on are with as his they be at one have
this from or had by hot word but what some we can out other were all there when up use your how said an each she
which do their time if will way about many then them write would like so these her long make thing see him two has
look more day could go come did number sound no most people my over know water than call first who may down side
been now find any new work part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line differ turn cause much
mean before move right boy old too same tell does set three want air well also play small end put home read hand
port large spell add even land here must big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father backup mailbox server folder archive
message restore provider outage invoice meeting schedule release café Grüße naïve déjà-vu`)

var people = []struct{ name, addr string }{
	{"Alice Martin", "alice@example.org"}, {"Bob Nguyen", "bob@example.net"}, {"Carol Díaz", "carol@example.com"},
	{"Dan O'Brien", "dan@lists.example.org"}, {"Eve Schmidt", "eve@example.de"}, {"Frank Zhang", "frank@example.cn"},
	{"Grace Hopper", "grace@navy.example.mil"}, {"Heidi Kowalski", "heidi@example.pl"}, {"Ivan Petrov", "ivan@example.ru"},
	{"Judy Dupont", "judy@example.fr"}, {"golang-nuts", "golang-nuts@googlegroups.example.com"},
	{"Dovecot list", "dovecot@dovecot.example.org"}, {"Receipts", "no-reply@shop.example.com"},
}

var subjects = []string{"meeting schedule", "backup report", "invoice", "release notes", "travel plans",
	"photos from the weekend", "server outage", "question about the archive", "weekly digest", "your order has shipped"}

var attachTypes = []struct{ ctype, ext string }{
	{"application/pdf", "pdf"}, {"image/jpeg", "jpg"}, {"application/zip", "zip"},
	{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"}, {"image/png", "png"},
}

var dateBase = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// textLimit is the largest message made of text alone; bigger ones carry an
// attachment.
const textLimit = 48 << 10

// message returns one message of about size bytes (never less than a small
// header's worth).
func (g *generator) message(size int) []byte {
	r := g.r
	g.seq++
	var b bytes.Buffer
	b.Grow(size + 2048)
	from := people[r.IntN(len(people))]
	to := people[r.IntN(len(people))]
	date := dateBase.Add(-time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour)))).
		In(time.FixedZone("", (r.IntN(25)-12)*3600))
	subj := subjects[r.IntN(len(subjects))]
	switch r.IntN(4) {
	case 0:
		subj = "Re: " + subj
	case 1:
		subj = "Fwd: " + subj
	}
	if r.IntN(10) == 0 { // RFC 2047, as non-ASCII subjects are sent
		subj = "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?= " + subj
	}
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", from.addr)
	fmt.Fprintf(&b, "Received: from mx%d.example.org (mx%d.example.org [192.0.2.%d])\r\n\tby imap.example.net with ESMTPS id %08X\r\n\tfor <%s>; %s\r\n",
		r.IntN(4), r.IntN(4), 1+r.IntN(250), r.Uint32(), to.addr, date.Add(time.Duration(r.IntN(90))*time.Second).Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: \"%s\" <%s>\r\nTo: %s <%s>\r\nSubject: %s\r\nDate: %s\r\n",
		from.name, from.addr, to.name, to.addr, subj, date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%016x.%s%d@bench.lifeboat.invalid>\r\nMIME-Version: 1.0\r\n", r.Uint64(), g.corpus, g.seq)

	if size <= textLimit {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		g.text(&b, size-2)
		return b.Bytes()
	}
	boundary := fmt.Sprintf("=_bench_%016x", r.Uint64())
	att := attachTypes[r.IntN(len(attachTypes))]
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\nThis is a multi-part message in MIME format.\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary)
	g.text(&b, b.Len()+512+r.IntN(6<<10))
	name := fmt.Sprintf("%s-%d.%s", strings.Fields(subjects[r.IntN(len(subjects))])[0], g.seq, att.ext)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		boundary, att.ctype, name, name)
	closing := len(boundary) + 8
	for b.Len()+78+closing <= size {
		for i := 0; i < len(g.raw); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < len(g.raw); j++ {
				g.raw[i+j] = byte(v >> (8 * j))
			}
		}
		base64.StdEncoding.Encode(g.line[:], g.raw[:])
		b.Write(g.line[:])
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

// text appends text lines to b until it holds about upTo bytes: paragraphs,
// quoted replies ("> "), and lines starting with "From " or ">From " that an
// mbox writer must quote.
func (g *generator) text(b *bytes.Buffer, upTo int) {
	r := g.r
	quoted := false
	for b.Len() < upTo {
		switch k := r.IntN(100); {
		case k < 6:
			b.WriteString("\r\n") // paragraph break
			quoted = r.IntN(4) == 0
			continue
		case k < 8:
			b.WriteString("From ")
		case k == 8:
			b.WriteString(">From ")
		}
		if quoted {
			b.WriteString("> ")
		}
		width := 50 + r.IntN(26)
		n := 0
		for n < width {
			w := words[r.IntN(len(words))]
			if n > 0 {
				b.WriteByte(' ')
				n++
			}
			b.WriteString(w)
			n += len(w)
		}
		if r.IntN(12) == 0 {
			b.WriteByte('.')
		}
		b.WriteString("\r\n")
	}
}

// corpusD: one folder grown in steps (10,000, 50,000 and 100,000 messages
// at scale 1) of small messages, with one new message measured at each
// step: what an incremental run costs as the folder grows.
func corpusD(seed uint64) *corpus {
	return &corpus{Name: "D", User: "bench-d", Folders: []string{"INBOX"}, Counts: []int{0},
		Size: func(r *rand.Rand) int { return logUniform(r, 1<<10, 4<<10) }, seed: seed ^ 0xD}
}

// stepsD are corpus D's folder sizes at scale 1.
var stepsD = []int{10_000, 50_000, 100_000}
