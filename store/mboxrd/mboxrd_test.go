package mboxrd

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

var date = time.Date(2026, 11, 3, 9, 4, 5, 0, time.FixedZone("X", 3600))

// roundTrip encodes msg whole and in pieces of every size in chunks, checks
// both encodings agree, that the record is well-formed mbox, and that Decode
// gives msg back byte for byte.
func roundTrip(t testing.TB, msg []byte, chunks ...int) {
	var whole bytes.Buffer
	meta, n, err := Append(&whole, msg, date)
	if err != nil {
		t.Fatal(err)
	}
	rec := whole.Bytes()
	if int64(len(rec)) != n {
		t.Fatalf("Append reported %d bytes, wrote %d", n, len(rec))
	}
	if !bytes.HasPrefix(rec, []byte("From MAILER-DAEMON Tue Nov  3 08:04:05 2026\n")) {
		t.Fatalf("separator: %q", rec[:min(len(rec), 60)])
	}
	if !bytes.HasSuffix(rec, []byte("\n\n")) {
		t.Fatalf("record does not end with a blank line: %q", rec)
	}
	// No line after the separator may look like a separator.
	for i, line := range bytes.Split(rec[bytes.IndexByte(rec, '\n')+1:], []byte("\n")) {
		if bytes.HasPrefix(line, []byte("From ")) {
			t.Fatalf("line %d of the body starts with \"From \": %q", i, line)
		}
	}
	if meta.EOL != Detect(msg) {
		t.Fatalf("meta EOL %v, Detect %v", meta.EOL, Detect(msg))
	}
	got, err := Decode(rec, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("round trip changed the message\n in: %q\nout: %q", msg, got)
	}
	readBack(t, rec, meta, msg)
	for _, size := range chunks {
		var sc Scanner
		var pieces bytes.Buffer
		pieces.Write(Separator(date))
		enc := NewEncoder(&pieces, meta.EOL)
		h := NewHasher()
		for i := 0; i < len(msg); i += size {
			p := msg[i:min(i+size, len(msg))]
			sc.Write(p)
			enc.Write(p)
			h.Write(p)
		}
		m2, _, err := enc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m2 != meta || !bytes.Equal(pieces.Bytes(), rec) {
			t.Fatalf("chunk size %d: streaming encoding differs\nwhole: %q\npiece: %q", size, rec, pieces.Bytes())
		}
		if sc.EOL() != meta.EOL {
			t.Fatalf("chunk size %d: Scanner says %v, Detect %v", size, sc.EOL(), meta.EOL)
		}
		if h.Sum() != sha256.Sum256(Canonical(msg)) {
			t.Fatalf("chunk size %d: streaming hash differs", size)
		}
		// Decode in pieces too.
		body, err := Body(rec, meta)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		dec := NewDecoder(&out, meta.EOL)
		for i := 0; i < len(body); i += size {
			dec.Write(body[i:min(i+size, len(body))])
		}
		if _, err := dec.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), msg) {
			t.Fatalf("chunk size %d: streaming decode differs\n in: %q\nout: %q", size, msg, out.Bytes())
		}
	}
}

var cases = map[string]string{
	"empty":              "",
	"plain":              "Subject: hi\r\n\r\nHello\r\n",
	"no final newline":   "Subject: hi\r\n\r\nHello",
	"From line":          "Subject: hi\r\n\r\nFrom here on\r\n",
	"quoted From":        "Subject: hi\r\n\r\n>From here\r\n>>From there\r\n",
	"From at start":      "From nobody\r\nSubject: x\r\n\r\nbody\r\n",
	"From no space":      "Subject: x\r\n\r\nFromage\r\n>Fromage\r\nFrom\r\n>From\r\n",
	"gt only":            "Subject: x\r\n\r\n>>>\r\n>\r\n",
	"bare LF":            "Subject: x\n\nbody\nFrom me\n",
	"mixed endings":      "Subject: x\r\n\nbody\r\n",
	"bare CR":            "Subject: x\r\n\r\na\rb\r\r\n\r",
	"CR at end":          "Subject: x\r\n\r\nend\r",
	"NUL and 8bit":       "Subject: caf\xe9\r\n\r\n\x00\xff\xfe\r\n",
	"blank lines at end": "Subject: x\r\n\r\nbody\r\n\r\n\r\n",
	"only newline":       "\n",
	"only CRLF":          "\r\n",
	"From then CR":       "From \r\n",
	"partial From end":   "a\r\n>>Fro",
}

func TestRoundTrip(t *testing.T) {
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) { roundTrip(t, []byte(msg), 1, 2, 3, 7, 4096) })
	}
}

func TestQuotingIsMboxrd(t *testing.T) {
	var b bytes.Buffer
	if _, _, err := Append(&b, []byte("S: x\r\n\r\nFrom a\r\n>From b\r\nx From c\r\n"), date); err != nil {
		t.Fatal(err)
	}
	want := "S: x\n\n>From a\n>>From b\nx From c\n\n"
	if got := b.String()[len(Separator(date)):]; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestNoFinalNewlineIsRecorded(t *testing.T) {
	var a, b bytes.Buffer
	ma, _, _ := Append(&a, []byte("x\r\n"), date)
	mb, _, _ := Append(&b, []byte("x"), date)
	if a.String() != b.String() {
		t.Fatalf("both messages should frame the same for foreign readers: %q vs %q", a.String(), b.String())
	}
	if ma.NoFinalNewline || !mb.NoFinalNewline {
		t.Fatalf("NoFinalNewline: %v %v", ma.NoFinalNewline, mb.NoFinalNewline)
	}
}

func TestBodyRejectsDamage(t *testing.T) {
	for name, rec := range map[string]string{
		"no separator": "Subject: x\n\nbody\n\n",
		"no end":       "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nbody\n",
		"no newline":   "From MAILER-DAEMON",
	} {
		if _, err := Decode([]byte(rec), Meta{}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestHashIsOfCanonicalForm(t *testing.T) {
	if Hash([]byte("a\nb\r\n")) != Hash([]byte("a\r\nb\r\n")) {
		t.Fatal("bare LF and CRLF should hash alike")
	}
	if Hash([]byte("a\rb")) == Hash([]byte("a\r\nb")) {
		t.Fatal("bare CR must not be taken for CRLF")
	}
}

func TestLargeMessage(t *testing.T) {
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for b.Len() < 3<<20 {
		b.WriteString("From the start of a line, with >From and a long tail of text here\r\n")
	}
	roundTrip(t, []byte(b.String()), 65536, 100003)
}

func FuzzRoundTrip(f *testing.F) {
	for _, msg := range cases {
		f.Add([]byte(msg), uint16(3))
	}
	f.Fuzz(func(t *testing.T, msg []byte, chunk uint16) {
		roundTrip(t, msg, int(chunk%512)+1)
	})
}

func BenchmarkEncode(b *testing.B) {
	msg := bytes.Repeat([]byte("A line of an ordinary message body, nothing to quote here.\r\n"), 20000)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		enc := NewEncoder(discard{}, EOLCRLF)
		enc.Write(msg)
		enc.Close()
	}
}

func BenchmarkHash(b *testing.B) {
	msg := bytes.Repeat([]byte("A line of an ordinary message body, nothing to quote here.\r\n"), 20000)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		Hash(msg)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
