package mboxrd

import (
	"bytes"
	"fmt"
	"io"
)

// maxSeparator is the longest separator line: Scan takes no longer line for
// one, and OpenRecord looks no further for the end of one.
const maxSeparator = 256 << 10

const (
	// headChunk is how much OpenRecord reads at first: the separator line
	// and, for most messages, the whole header.
	headChunk = 4 << 10
	// readChunk is how much more Read reads at a time.
	readChunk = 32 << 10
	// copyChunk is how much WriteTo and ReadRecord read at a time; the
	// first read of ReadRecord holds most messages whole, trail included.
	copyChunk = 64 << 10
)

// Record is the original message of one record of an mbox file, given back
// as it is read: the record's framing (the separator line at its start, the
// bytes after the message at its end) is checked, and the encoding is undone
// by a Decoder, one piece of the file at a time. So a reader that wants only
// the start of a message (its header) reads only that much of the file,
// whatever the size of the message.
//
// Read returns io.EOF only after the whole message, and only when the record
// ends with the framing its Meta says; an error that says what is wrong and
// at which byte otherwise (errors.Is(err, ErrBadRecord) for framing, and the
// read error, with the record's offset, for a file that cannot be read).
type Record struct {
	ra      io.ReaderAt
	off     int64 // where the record starts in ra
	meta    Meta
	head    []byte // what OpenRecord read: ra[off : off+len(head)]
	pos     int64  // the next body byte to decode (an offset in ra)
	end     int64  // the end of the body: the trail starts here
	bodyLen int64
	chunk   int
	buf     []byte // for reading the body past head
	dec     Decoder
	out     []byte // decoded; out[rd:] is not read yet
	rd      int
	err     error // set once nothing is left to decode: io.EOF for a sound record
}

// recordError is a record whose bytes are not the framing its Meta says.
type recordError struct{ msg string }

func (e *recordError) Error() string { return e.msg }
func (e *recordError) Unwrap() error { return ErrBadRecord }

func badRecord(format string, args ...any) error {
	return &recordError{fmt.Sprintf(format, args...)}
}

// OpenRecord starts reading the record of length bytes at off in r, whose
// framing m describes (as the folder's log gives it). It reads the separator
// line, and fails when there is none at off; the rest is read and checked
// as the message is read.
func OpenRecord(r io.ReaderAt, off, length int64, m Meta) (*Record, error) {
	return openRecord(r, off, length, m, headChunk, readChunk)
}

// ReadRecord writes the original message of the record of length bytes at
// off in r to w, streaming, after checking that the record is framed as m
// says: a "From " separator line at its start and, after the message,
// exactly the trail of m (Meta.TrailLen, Meta.IsTrail). An error from w is
// returned as it is.
func ReadRecord(w io.Writer, r io.ReaderAt, off, length int64, m Meta) error {
	rec, err := openRecord(r, off, length, m, copyChunk, copyChunk)
	if err != nil {
		return err
	}
	_, err = rec.WriteTo(w)
	return err
}

func openRecord(ra io.ReaderAt, off, length int64, m Meta, first, chunk int) (*Record, error) {
	trail := int64(m.TrailLen())
	if trail < 0 {
		return nil, badRecord("record at byte %d: its framing says %d bytes after the message", off, trail)
	}
	noSep := func() error { return badRecord("no \"From \" separator at byte %d", off) }
	limit := min(length, maxSeparator)
	size := min(limit, int64(first))
	var head []byte
	nl := -1
	for nl < 0 {
		buf := make([]byte, max(size, 0))
		copy(buf, head)
		k, err := ra.ReadAt(buf[len(head):], off+int64(len(head)))
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading the record at byte %d: %w", off, err)
		}
		from := max(len(head)-1, 0)
		head = buf[:len(head)+k]
		if !bytes.HasPrefix(head, []byte(fromWord[:min(len(head), len(fromWord))])) {
			return nil, noSep()
		}
		if i := bytes.IndexByte(head[from:], '\n'); i >= 0 {
			nl = from + i
		} else if int64(len(head)) < size || size >= limit {
			return nil, noSep() // the file or the record ends first, or the line is too long for one
		}
		size = min(2*size, limit)
	}
	bodyLen := length - int64(nl+1) - trail
	if bodyLen < 0 {
		return nil, badRecord("record at byte %d is shorter than its framing", off)
	}
	r := &Record{ra: ra, off: off, meta: m, head: head, pos: off + int64(nl+1), bodyLen: bodyLen, chunk: chunk}
	r.end = r.pos + bodyLen
	r.dec = Decoder{eol: m.EOL, ls: lineStart{active: true}}
	return r, nil
}

// Read reads the original message. The body is decoded straight into p
// when it fits.
func (r *Record) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for r.rd == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		raw := r.next()
		if len(raw) == 0 {
			continue
		}
		out := r.dec.decode(p[:0:len(p)], raw)
		if len(out) == 0 {
			continue // all held: the start of a line that may be >*From
		}
		if &out[0] == &p[0] { // it fitted
			return len(out), nil
		}
		r.out, r.rd = out, copy(p, out) // it did not: out holds it all
		return r.rd, nil
	}
	n := copy(p, r.out[r.rd:])
	r.rd += n
	return n, nil
}

// WriteTo writes the rest of the original message to w (io.Copy uses it).
// An error from w is returned as it is.
func (r *Record) WriteTo(w io.Writer) (int64, error) {
	if r.buf == nil {
		r.chunk = max(r.chunk, copyChunk)
	}
	var n int64
	for {
		if r.rd < len(r.out) {
			k, err := w.Write(r.out[r.rd:])
			n += int64(k)
			r.rd += k
			if err != nil {
				return n, err
			}
		}
		if r.err != nil {
			break
		}
		if raw := r.next(); len(raw) > 0 {
			if r.out == nil { // room for the line breaks that become CRLF
				r.out = make([]byte, 0, len(raw)+len(raw)/16+64)
			}
			r.out, r.rd = r.dec.decode(r.out[:0], raw), 0
		}
	}
	if r.err == io.EOF {
		return n, nil
	}
	return n, r.err
}

// next returns the next piece of the body, to be decoded, once all of out
// has been read. At the end of the body it checks the trail and sets r.err,
// and out to what the decoder held; r.err is set too when the file ends
// before the record does or cannot be read.
func (r *Record) next() []byte {
	if r.pos >= r.end {
		r.finish()
		return nil
	}
	var p []byte
	if in := r.pos - r.off; in < int64(len(r.head)) { // read by OpenRecord already
		p = r.head[in:min(int64(len(r.head)), r.end-r.off)]
	} else {
		if r.buf == nil {
			r.buf = make([]byte, min(int64(r.chunk), r.end-r.pos))
		}
		want := min(int64(len(r.buf)), r.end-r.pos)
		k, err := r.ra.ReadAt(r.buf[:want], r.pos)
		p = r.buf[:k]
		if int64(k) < want {
			if err == nil || err == io.EOF {
				done := r.pos + int64(k) - (r.end - r.bodyLen)
				r.err = badRecord("record at byte %d is cut short: %d of %d bytes", r.off, done, r.bodyLen)
			} else {
				r.err = fmt.Errorf("reading the record at byte %d: %w", r.off, err)
			}
		}
	}
	r.pos += int64(len(p))
	return p
}

// finish ends the message and checks the bytes after it.
func (r *Record) finish() {
	r.out, r.rd = r.dec.end(r.out[:0]), 0
	t := int64(r.meta.TrailLen())
	var tail []byte
	if at := r.end - r.off; at+t <= int64(len(r.head)) {
		tail = r.head[at : at+t]
	} else {
		tail = make([]byte, t)
		if k, err := r.ra.ReadAt(tail, r.end); k < len(tail) {
			if err != nil && err != io.EOF {
				r.err = fmt.Errorf("reading the record at byte %d: %w", r.off, err)
				return
			}
			tail = tail[:k]
		}
	}
	if !r.meta.IsTrail(tail) {
		r.err = badRecord("record at byte %d does not end with the blank line of mbox framing", r.off)
		return
	}
	r.err = io.EOF
}

// IsTrail reports whether b, the bytes of a record after its message, are
// the framing m says: the "\n" or "\n\n" (Meta.NoFinalNewline) that Encoder
// writes, or, for an adopted record, m.Trail line-end bytes (CR or LF: a
// foreign mbox may end its records with CRLF).
func (m Meta) IsTrail(b []byte) bool {
	if len(b) != m.TrailLen() {
		return false
	}
	if !m.Adopted {
		return bytes.Equal(b, []byte("\n\n")[:len(b)])
	}
	return isLineEnds(b)
}

// Framed reports whether the record of length bytes at off in r has the
// framing m describes, a "From " separator line at its start and m's trail
// at its end, without decoding the message between them (the quick check
// repair makes of every logged record).
func Framed(r io.ReaderAt, off, length int64, m Meta) bool {
	if _, err := OpenRecord(r, off, length, m); err != nil {
		return false
	}
	tail := make([]byte, m.TrailLen())
	n, _ := r.ReadAt(tail, off+length-int64(len(tail)))
	return n == len(tail) && m.IsTrail(tail)
}
