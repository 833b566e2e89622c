// Package mboxrd is Lifeboat's archive codec: it frames one message as an
// mboxrd record (RFC 4155 with reversible ">From " quoting) and gives back
// exactly the bytes it was handed.
//
// A record is
//
//	From MAILER-DAEMON <date, asctime, UTC>\n
//	<message, CRLF turned into LF, lines matching ^>*From  given one more '>'>
//	[\n when the message did not end with a line break]
//	\n
//
// Two changes are made to a message, and both are undone by Decode:
//
//   - Line endings: a message whose every LF is preceded by CR (the IMAP
//     norm) is stored with LF endings (EOL == EOLCRLF). A message holding a
//     bare LF keeps its bytes as they are (EOL == EOLRaw), since turning CRLF
//     into LF would make it ambiguous.
//   - Quoting: every line matching ^>*From  gets one more '>', so no line of a
//     message can be taken for a separator, and the quoting is reversible.
//
// The facts needed to undo them (EOL, NoFinalNewline) are small and go into
// the folder's metadata log beside the record's offset and length. Readers
// that know nothing of that log (mutt, Thunderbird, Python's mailbox) still
// see well-formed mbox.
//
// Identity of a message is the SHA-256 of its canonical form: the original
// bytes with every bare LF written as CRLF (Hash, Canonical).
//
// This package is the one place that knows the framing of a record: it
// writes records (Append, Encoder), reads them back (ReadRecord and
// OpenRecord for a record in a file, at the offset and length its log
// gives; Decode and Body for one in memory), and finds them in mbox bytes
// no log describes (Scan). Invariants it enforces:
//
//   - Exact: Decode(Append(msg)) is msg, byte for byte, for any bytes (the
//     fuzz test holds it to that), and so is what ReadRecord and OpenRecord
//     give back.
//   - No line of a record's body can be taken for a separator (RFC 4155):
//     every line matching ^>*From  gets one more '>', and reading removes
//     one '>' from every line matching ^>+From  and from no other line.
//   - A record is read back only as framed as its Meta says: a "From " line
//     at its start, and exactly the trail of Meta.TrailLen after the
//     message (Meta.IsTrail). Anything else is an error that says at which
//     byte the record is and what is wrong (errors.Is ErrBadRecord); a
//     streaming reader (Record) reports it when it gets there.
package mboxrd

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"
)

// EOL says how a message's line endings were stored.
type EOL uint8

const (
	// EOLCRLF: every LF of the message was preceded by CR; stored as LF.
	EOLCRLF EOL = iota
	// EOLRaw: the message holds a bare LF; its bytes are stored unchanged.
	EOLRaw
)

// Meta is what Decode needs, besides the record, to give back the original.
type Meta struct {
	EOL            EOL
	NoFinalNewline bool // a line break was added after the message
	// Adopted marks a record this package did not frame, or whose framing
	// facts were lost (see Scan): Trail is then the exact number of bytes
	// after the message (0, 1 or 2) and NoFinalNewline is not used.
	Adopted bool
	Trail   int
}

// TrailLen is the number of bytes of a record after the message: the
// blank line that ends every record, plus the line break the encoder added
// to a message that had none.
func (m Meta) TrailLen() int {
	switch {
	case m.Adopted:
		return m.Trail
	case m.NoFinalNewline:
		return 2
	}
	return 1
}

// Sender is the envelope sender written in every separator line: IMAP does
// not tell the envelope sender, and RFC 4155 allows MAILER-DAEMON.
const Sender = "MAILER-DAEMON"

// Separator returns the "From " line (with its LF) opening a record.
func Separator(date time.Time) []byte {
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	return []byte("From " + Sender + " " + date.UTC().Format(time.ANSIC) + "\n")
}

// Detect returns the line-ending mode for a whole message.
func Detect(msg []byte) EOL {
	for i := 0; ; {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			return EOLCRLF
		}
		i += j
		if i == 0 || msg[i-1] != '\r' {
			return EOLRaw
		}
		i++
	}
}

// Scanner detects the line-ending mode of a message streamed in pieces.
type Scanner struct {
	prevCR bool
	bareLF bool
}

// Write records the pieces of a message; it never fails.
func (s *Scanner) Write(p []byte) (int, error) {
	for i := 0; !s.bareLF; i++ {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if (i == 0 && !s.prevCR) || (i > 0 && p[i-1] != '\r') {
			s.bareLF = true
		}
	}
	if len(p) > 0 {
		s.prevCR = p[len(p)-1] == '\r'
	}
	return len(p), nil
}

// EOL is the mode for everything written so far.
func (s *Scanner) EOL() EOL {
	if s.bareLF {
		return EOLRaw
	}
	return EOLCRLF
}

// lineStart tracks, at the start of a line, how much of the pattern >*From
// has been seen: the number of '>' and then how many bytes of "From ".
type lineStart struct {
	active bool // at a line start and still matching
	gts    int
	from   int // bytes of "From " matched
}

const fromWord = "From "

// Encoder writes the body of one record (everything after the separator and
// before the final blank line) to w, streaming.
type Encoder struct {
	w      io.Writer
	eol    EOL
	ls     lineStart
	pendCR bool // EOLCRLF: a CR that may be the first half of CRLF
	lastLF bool // the last byte emitted was LF
	any    bool
	n      int64
	out    []byte
	err    error
}

// NewEncoder starts a record body in the given mode. Close must be called.
func NewEncoder(w io.Writer, eol EOL) *Encoder {
	return &Encoder{w: w, eol: eol, ls: lineStart{active: true}, out: (*outBufs.Get().(*[]byte))[:0]}
}

// outBufs holds the encoders' output buffers: one per message appended
// was 64 KB of garbage each (1.3 GB for 20,000 messages, and the time to
// clear and collect it).
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64*1024); return &b }}

func (e *Encoder) emit(b ...byte) {
	e.out = append(e.out, b...)
	e.any = true
	e.lastLF = b[len(b)-1] == '\n'
}

func (e *Encoder) flushOut() {
	if e.err == nil && len(e.out) > 0 {
		var n int
		n, e.err = e.w.Write(e.out)
		e.n += int64(n)
	}
	e.out = e.out[:0]
}

// flushLineStart emits the bytes held while matching >*From .
func (e *Encoder) flushLineStart(matched bool) {
	if matched {
		e.out = append(e.out, '>')
	}
	for i := 0; i < e.ls.gts; i++ {
		e.out = append(e.out, '>')
	}
	e.out = append(e.out, fromWord[:e.ls.from]...)
	if e.ls.gts > 0 || e.ls.from > 0 || matched {
		e.any = true
		e.lastLF = false
	}
	e.ls = lineStart{}
}

// step feeds one byte of the message (after line-ending handling) through
// the quoting state machine.
func (e *Encoder) step(c byte) {
	if e.ls.active {
		switch {
		case e.ls.from == 0 && c == '>':
			e.ls.gts++
			return
		case c == fromWord[e.ls.from]:
			e.ls.from++
			if e.ls.from == len(fromWord) {
				e.flushLineStart(true)
			}
			return
		default:
			e.flushLineStart(false)
		}
	}
	e.emit(c)
	if c == '\n' {
		e.ls = lineStart{active: true}
	}
}

// Write encodes a piece of the message.
func (e *Encoder) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	for i := 0; i < len(p); {
		// Fast path: copy a run of ordinary bytes in one go.
		if !e.ls.active && !e.pendCR {
			j := bytes.IndexByte(p[i:], '\n')
			if e.eol == EOLCRLF {
				k := bytes.IndexByte(p[i:], '\r')
				if k >= 0 && (j < 0 || k < j) {
					j = k
				}
			}
			if j < 0 {
				e.out = append(e.out, p[i:]...)
				e.any, e.lastLF = true, false
				break
			}
			if j > 0 {
				e.out = append(e.out, p[i:i+j]...)
				e.any, e.lastLF = true, false
				i += j
			}
		}
		c := p[i]
		i++
		if e.eol == EOLCRLF {
			if e.pendCR {
				e.pendCR = false
				if c == '\n' {
					e.step('\n')
					continue
				}
				e.step('\r')
			}
			if c == '\r' {
				e.pendCR = true
				continue
			}
		}
		e.step(c)
		if len(e.out) >= 64*1024 {
			e.flushOut()
		}
	}
	if len(e.out) >= 32*1024 {
		e.flushOut()
	}
	return len(p), e.err
}

// Close finishes the record body: it writes a final line break when the
// message had none and the blank line that ends every record. It returns
// what Decode will need and the number of bytes written since NewEncoder.
func (e *Encoder) Close() (Meta, int64, error) {
	if e.pendCR {
		e.pendCR = false
		e.step('\r')
	}
	if e.ls.active && (e.ls.gts > 0 || e.ls.from > 0) {
		e.flushLineStart(false)
	}
	meta := Meta{EOL: e.eol}
	if !e.any || !e.lastLF {
		meta.NoFinalNewline = true
		e.out = append(e.out, '\n')
	}
	e.out = append(e.out, '\n')
	e.flushOut()
	if cap(e.out) <= 256*1024 { // a buffer a huge line grew is let go
		out := e.out[:0]
		outBufs.Put(&out)
	}
	e.out = nil // a Write after Close must not touch the pooled buffer
	return meta, e.n, e.err
}

// Append writes a whole record for msg (separator, body, blank line) to w
// and returns its Meta and length in bytes.
func Append(w io.Writer, msg []byte, date time.Time) (Meta, int64, error) {
	sep := Separator(date)
	if _, err := w.Write(sep); err != nil {
		return Meta{}, 0, err
	}
	enc := NewEncoder(w, Detect(msg))
	enc.Write(msg)
	meta, n, err := enc.Close()
	return meta, n + int64(len(sep)), err
}

// Decoder undoes an Encoder: it is handed a record body (without the
// separator line, the final blank line and the added line break; see Body,
// and Record, which reads records from files with it) and writes the
// original message to w.
type Decoder struct {
	w   io.Writer
	eol EOL
	ls  lineStart
	out []byte
	n   int64
	err error
}

// NewDecoder starts decoding one record body.
func NewDecoder(w io.Writer, eol EOL) *Decoder {
	return &Decoder{w: w, eol: eol, ls: lineStart{active: true}, out: make([]byte, 0, 64*1024)}
}

// flushLineStart appends to dst the bytes held while matching >*From .
func (d *Decoder) flushLineStart(dst []byte, matched bool) []byte {
	g := d.ls.gts
	if matched {
		g-- // the '>' the encoder added
	}
	for i := 0; i < g; i++ {
		dst = append(dst, '>')
	}
	dst = append(dst, fromWord[:d.ls.from]...)
	d.ls = lineStart{}
	return dst
}

func (d *Decoder) flushOut() {
	if d.err == nil && len(d.out) > 0 {
		var n int
		n, d.err = d.w.Write(d.out)
		d.n += int64(n)
	}
	d.out = d.out[:0]
}

// decode appends the decoding of p, a piece of a record body, to dst. The
// start of a line that may still turn out to be >*From  is held until the
// next piece or end.
func (d *Decoder) decode(dst, p []byte) []byte {
	for i := 0; i < len(p); {
		if !d.ls.active {
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				dst = append(dst, p[i:]...)
				break
			}
			dst = append(dst, p[i:i+j]...)
			i += j
		}
		c := p[i]
		i++
		if d.ls.active {
			switch {
			case d.ls.from == 0 && c == '>':
				d.ls.gts++
				continue
			case c == fromWord[d.ls.from]:
				d.ls.from++
				if d.ls.from == len(fromWord) {
					dst = d.flushLineStart(dst, d.ls.gts > 0)
				}
				continue
			default:
				dst = d.flushLineStart(dst, false)
			}
		}
		if c == '\n' {
			if d.eol == EOLCRLF {
				dst = append(dst, '\r')
			}
			d.ls = lineStart{active: true}
		}
		dst = append(dst, c)
	}
	return dst
}

// end appends to dst what decode holds at the end of the body.
func (d *Decoder) end(dst []byte) []byte {
	if d.ls.active && (d.ls.gts > 0 || d.ls.from > 0) {
		dst = d.flushLineStart(dst, false)
	}
	return dst
}

// Write decodes a piece of a record body.
func (d *Decoder) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	for i := 0; i < len(p); i += 32 * 1024 {
		d.out = d.decode(d.out, p[i:min(i+32*1024, len(p))])
		if len(d.out) >= 64*1024 {
			d.flushOut()
		}
	}
	if len(d.out) >= 32*1024 {
		d.flushOut()
	}
	return len(p), d.err
}

// Close flushes what is held and returns the number of bytes written.
func (d *Decoder) Close() (int64, error) {
	d.out = d.end(d.out)
	d.flushOut()
	return d.n, d.err
}

// ErrBadRecord means bytes that should hold a record do not.
var ErrBadRecord = errors.New("not an mboxrd record")

// Body returns the part of a whole record that Decoder takes: without the
// separator line, the final blank line and any line break the encoder added.
func Body(record []byte, meta Meta) ([]byte, error) {
	if !bytes.HasPrefix(record, []byte("From ")) {
		return nil, fmt.Errorf("%w: no \"From \" separator at its start", ErrBadRecord)
	}
	nl := bytes.IndexByte(record, '\n')
	if nl < 0 {
		return nil, fmt.Errorf("%w: separator line not ended", ErrBadRecord)
	}
	body := record[nl+1:]
	trail := meta.TrailLen()
	if trail < 0 || len(body) < trail || !meta.IsTrail(body[len(body)-trail:]) ||
		// Every record of ours ends with a line break and a blank line.
		(!meta.Adopted && !bytes.HasSuffix(body, []byte("\n\n"))) {
		return nil, fmt.Errorf("%w: missing the blank line that ends a record", ErrBadRecord)
	}
	return body[:len(body)-trail], nil
}

// isLineEnds reports whether b holds only CR and LF bytes.
func isLineEnds(b []byte) bool {
	for _, c := range b {
		if c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// Decode gives back the original message from a whole record.
func Decode(record []byte, meta Meta) ([]byte, error) {
	body, err := Body(record, meta)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(body) + len(body)/32)
	d := NewDecoder(&out, meta.EOL)
	d.Write(body)
	if _, err := d.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Canonicalizer writes the canonical form of a message (every bare LF as
// CRLF) to w, streaming.
type Canonicalizer struct {
	w      io.Writer
	prevCR bool
	buf    []byte
}

// NewCanonicalizer returns a writer producing the canonical form on w.
func NewCanonicalizer(w io.Writer) *Canonicalizer { return &Canonicalizer{w: w} }

// Write converts a piece of a message.
func (c *Canonicalizer) Write(p []byte) (int, error) {
	c.buf = c.buf[:0]
	start := 0
	for i := 0; i < len(p); {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		before := c.prevCR
		if i > 0 {
			before = p[i-1] == '\r'
		}
		if !before {
			c.buf = append(c.buf, p[start:i]...)
			c.buf = append(c.buf, '\r')
			start = i
		}
		i++
	}
	if len(p) > 0 {
		c.prevCR = p[len(p)-1] == '\r'
	}
	if start == 0 && len(c.buf) == 0 {
		return c.w.Write(p)
	}
	c.buf = append(c.buf, p[start:]...)
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Hasher computes a message's identity while it streams past.
type Hasher struct {
	h hash.Hash
	c *Canonicalizer
}

// NewHasher returns a Hasher; Write the message to it, then call Sum.
func NewHasher() *Hasher {
	h := sha256.New()
	return &Hasher{h: h, c: NewCanonicalizer(h)}
}

func (h *Hasher) Write(p []byte) (int, error) { return h.c.Write(p) }

// Sum returns the SHA-256 of the canonical form written so far.
func (h *Hasher) Sum() [32]byte {
	var s [32]byte
	h.h.Sum(s[:0])
	return s
}

// Hash returns the identity of a whole message.
func Hash(msg []byte) [32]byte {
	h := NewHasher()
	h.Write(msg)
	return h.Sum()
}

// Canonical returns the canonical form of msg.
func Canonical(msg []byte) []byte {
	var b bytes.Buffer
	NewCanonicalizer(&b).Write(msg)
	return b.Bytes()
}
