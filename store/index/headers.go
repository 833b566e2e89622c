package index

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"github.com/lifeboat-mail/lifeboat/store/archive"
)

// maxHeaderRead is how much of a record is read for its headers.
const maxHeaderRead = 32 << 10

// headers are the header texts the index keeps, decoded.
type headers struct{ subject, from, to string }

// readHeaders reads the headers of the record of e from the mbox. It never
// fails: what cannot be read or parsed is left empty.
func readHeaders(mbox io.ReaderAt, e *archive.Entry, buf []byte) headers {
	n := int64(len(buf))
	if e.Length < n {
		n = e.Length
	}
	if n <= 0 {
		return headers{}
	}
	k, _ := mbox.ReadAt(buf[:n], e.Offset) // a short read leaves what was read
	return parseHeaders(buf[:k])
}

// parseHeaders takes an mboxrd record (or its first bytes), skips the
// separator line and parses the header block up to the first empty line.
func parseHeaders(rec []byte) headers {
	if bytes.HasPrefix(rec, []byte("From ")) {
		i := bytes.IndexByte(rec, '\n')
		if i < 0 {
			return headers{}
		}
		rec = rec[i+1:]
	}
	block := headerBlock(rec)

	var h headers
	terminated := append(block[:len(block):len(block)], "\r\n\r\n"...) // a copy: block is in the caller's buffer
	if m, err := mail.ReadMessage(bytes.NewReader(terminated)); err == nil {
		h = headers{m.Header.Get("Subject"), m.Header.Get("From"), m.Header.Get("To")}
	} else {
		h = scanHeaders(block)
	}
	return headers{decode(h.subject), decode(h.from), decode(h.to)}
}

// headerBlock is the part of b before the first empty line, ending with its
// last line break (or with the last complete line when b was cut short).
func headerBlock(b []byte) []byte {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return b[:i]
		}
		line := b[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return b[:i]
		}
		i += j + 1
	}
	return b
}

// scanHeaders is the fallback when net/mail will not parse a header block:
// it takes the first Subject, From and To lines it finds, with their
// continuation lines, and ignores everything else.
func scanHeaders(block []byte) headers {
	var h headers
	var cur *string
	for _, line := range strings.Split(string(block), "\n") {
		line = strings.TrimRight(line, "\r")
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if cur != nil {
				*cur += " " + strings.TrimSpace(line)
			}
			continue
		}
		cur = nil
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var field *string
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "subject":
			field = &h.subject
		case "from":
			field = &h.from
		case "to":
			field = &h.to
		}
		if field != nil && *field == "" {
			*field = strings.TrimSpace(value)
			cur = field
		}
	}
	return h
}

var wordDecoder = mime.WordDecoder{CharsetReader: charsetReader}

// decode turns a raw header value into one line of valid UTF-8: 8-bit bytes
// that are not UTF-8 are taken as Windows-1252, RFC 2047 words are decoded (left
// as they are when their charset is unknown), and runs of white space become
// one space.
func decode(s string) string {
	if !utf8.ValidString(s) {
		s = cp1252(s)
	}
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		s = d
	}
	return strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "\uFFFD")
}

// charsetReader handles, for mime.WordDecoder, the charsets it does not know
// itself: Windows-1252 (and ISO-8859-15, close enough for a list), UTF-8 or
// ASCII under other names, and the rest through go-message's tables (the
// ones of golang.org/x/text).
func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	switch cs {
	case "latin1", "iso8859-1", "iso_8859-1", "windows-1252", "cp1252", "iso-8859-15", "iso8859-15":
		return strings.NewReader(cp1252(string(b))), nil
	}
	if utf8.Valid(b) && (cs == "utf8" || !bytes.ContainsFunc(b, func(r rune) bool { return r >= utf8.RuneSelf })) {
		return bytes.NewReader(b), nil // UTF-8 by another name, or plain ASCII
	}
	if d, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
		return d, nil
	}
	return nil, errUnknownCharset
}

var errUnknownCharset = errors.New("unknown charset")

// cp1252 reads s as Windows-1252, which is what mail labelled Latin-1, and
// most unlabelled 8-bit mail, really holds (the WHATWG encoding standard
// does the same).
func cp1252(s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x80 || c >= 0xa0:
			b.WriteRune(rune(c))
		default:
			b.WriteRune(cp1252High[c-0x80])
		}
	}
	return b.String()
}

// cp1252High maps 0x80..0x9f; the five unassigned bytes keep their C1 code.
var cp1252High = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8d, 'Ž', 0x8f,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9d, 'ž', 'Ÿ',
}
