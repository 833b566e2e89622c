package index

import (
	"bytes"
	"io"
	"net/mail"
	"strings"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
	"github.com/lifeboat-mail/lifeboat/store/msgtext"
)

// maxHeaderRead is how much of a message is read, at most, for its headers.
const maxHeaderRead = 32 << 10

// headers are the header texts the index keeps, decoded.
type headers struct{ subject, from, to string }

// readHeaders reads the headers of the message of e from the mbox: the
// record is read through mboxrd (its framing and quoting are undone there),
// and only as far as the empty line that ends the header, maxHeaderRead
// (len(buf)) bytes at most. It never fails: what cannot be read or parsed is
// left empty.
func readHeaders(mbox io.ReaderAt, e *archive.Entry, buf []byte) headers {
	rec, err := mboxrd.OpenRecord(mbox, e.Offset, e.Length, e.Meta)
	if err != nil {
		return headers{}
	}
	n := 0
	for n < len(buf) {
		k, err := rec.Read(buf[n:])
		n += k
		if headerEnds(buf[:n], k) || err != nil {
			break // a damaged record leaves what was read
		}
	}
	return parseHeaders(buf[:n])
}

// headerEnds reports whether b, whose last k bytes were just read, holds
// the empty line that ends a header block (see headerBlock).
func headerEnds(b []byte, k int) bool {
	from := max(len(b)-k-2, 0)
	if from == 0 && (bytes.HasPrefix(b, []byte("\n")) || bytes.HasPrefix(b, []byte("\r\n"))) {
		return true
	}
	return bytes.Contains(b[from:], []byte("\n\n")) || bytes.Contains(b[from:], []byte("\n\r\n"))
}

// parseHeaders takes a message (or its first bytes) and parses the header
// block up to the first empty line.
func parseHeaders(msg []byte) headers {
	if bytes.HasPrefix(msg, []byte("From ")) { // an mbox "From " line kept in the message
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			return headers{}
		}
		msg = msg[i+1:]
	}
	block, _ := headerBlock(msg)

	var h headers
	terminated := append(block[:len(block):len(block)], "\r\n\r\n"...) // a copy: block is in the caller's buffer
	if m, err := mail.ReadMessage(bytes.NewReader(terminated)); err == nil {
		h = headers{m.Header.Get("Subject"), m.Header.Get("From"), m.Header.Get("To")}
	} else {
		h = scanHeaders(block)
	}
	return headers{msgtext.HeaderText(h.subject), msgtext.HeaderText(h.from), msgtext.HeaderText(h.to)}
}

// headerBlock is the part of b before the first empty line, ending with its
// last line break; complete says the empty line is in b. When it is not (b
// was cut short), the block ends with the last complete line.
func headerBlock(b []byte) (block []byte, complete bool) {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return b[:i], false
		}
		line := b[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return b[:i], true
		}
		i += j + 1
	}
	return b, false
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
