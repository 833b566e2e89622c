package importer

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// parsed is one message read from a source, with the date its separator
// line (or file) gave.
type parsed struct {
	raw  []byte
	date time.Time
}

// readMbox reads an mbox file message by message, streaming (a message at
// a time is held in memory).
//
// Variants: a message with a Content-Length header (mboxcl2, written by
// mutt and Pine) is exactly that many body bytes, its "From " lines left
// unquoted; if what follows those bytes is not the end of the message (a
// blank line, the next separator or the end of the file), the header lied
// and the message is split at its separator lines instead. Without one, a
// message ends at the next separator line (a "From " line with a date),
// the blank line before it is the format's, and one '>' is taken from
// every line matching ^>+From (mboxrd; for mboxo files this restores the
// "From " lines they quoted).
func readMbox(path string, add func(parsed) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	p := &mboxParser{add: add}
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			if err := p.line(line); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return p.eof()
		}
		if rerr != nil {
			return rerr
		}
	}
}

type mboxParser struct {
	add        func(parsed) error
	in         bool // inside a message
	cur        []byte
	date       time.Time
	headerDone bool
	bodyStart  int
	clLeft     int64  // Content-Length bytes still to come; -1: none
	clDone     bool   // the Content-Length bytes are all read
	tail       []byte // blank lines after them (kept until the next line says whose they are)
}

func isSeparator(line []byte) (time.Time, bool) {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return time.Time{}, false
	}
	_, date, ok := mboxrd.ParseSeparator(line)
	return date, ok
}

func isBlank(line []byte) bool {
	return bytes.Equal(line, []byte("\n")) || bytes.Equal(line, []byte("\r\n"))
}

func (p *mboxParser) start(date time.Time) {
	p.in, p.cur, p.date, p.headerDone, p.bodyStart, p.clLeft, p.clDone, p.tail = true, p.cur[:0], date, false, 0, -1, false, p.tail[:0]
}

func (p *mboxParser) line(line []byte) error {
	if p.in && p.clDone {
		// After a Content-Length body: a blank line or the next
		// separator, or the header lied.
		if date, ok := isSeparator(line); ok {
			if err := p.finishCL(); err != nil {
				return err
			}
			p.start(date)
			return nil
		}
		if isBlank(line) {
			p.tail = append(p.tail, line...)
			return nil
		}
		return p.wrongLength(line)
	}
	if p.in && p.clLeft > 0 {
		p.cur = append(p.cur, line...)
		p.clLeft -= int64(len(line))
		switch {
		case p.clLeft == 0:
			p.clDone = true
		case p.clLeft < 0:
			// The length ends inside a line (a file whose line ends were
			// changed since, say): it does not describe this message.
			return p.wrongLength(nil)
		}
		return nil
	}
	if date, ok := isSeparator(line); ok {
		if err := p.finish(); err != nil {
			return err
		}
		p.start(date)
		return nil
	}
	if !p.in {
		return nil // before the first separator: not mail
	}
	p.cur = append(p.cur, line...)
	if !p.headerDone && isBlank(line) {
		p.headerDone = true
		p.bodyStart = len(p.cur)
		if cl, ok := contentLength(p.cur); ok {
			p.clLeft = cl
			p.clDone = cl == 0
		}
	}
	return nil
}

func (p *mboxParser) eof() error {
	if p.in && p.clLeft > 0 && !p.clDone {
		// The file ends inside the announced body.
		if err := p.wrongLength(nil); err != nil {
			return err
		}
		return p.finish()
	}
	if p.in && p.clDone {
		return p.finishCL()
	}
	return p.finish()
}

// finishCL ends a message whose length its Content-Length gave.
func (p *mboxParser) finishCL() error {
	end := p.bodyStart + int(p.clLeftTotal())
	msg := p.cur[:min(end, len(p.cur))]
	p.in = false
	return p.add(parsed{raw: append([]byte(nil), msg...), date: p.date})
}

func (p *mboxParser) clLeftTotal() int64 {
	cl, _ := contentLength(p.cur[:p.bodyStart])
	return cl
}

// wrongLength: the Content-Length did not fit; the bytes read since the
// message began (and line, if any) are split at separator lines instead.
func (p *mboxParser) wrongLength(line []byte) error {
	buf := append(append(append([]byte(nil), p.cur...), p.tail...), line...)
	date := p.date
	p.in = false
	p.cur = p.cur[:0]
	p.start(date)
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		var l []byte
		if i < 0 {
			l, buf = buf, nil
		} else {
			l, buf = buf[:i+1], buf[i+1:]
		}
		if d, ok := isSeparator(l); ok {
			if err := p.finish(); err != nil {
				return err
			}
			p.start(d)
			p.headerDone = true // no second Content-Length trap
			continue
		}
		p.cur = append(p.cur, l...)
	}
	p.headerDone = true
	return nil
}

// finish ends a message that ran to the next separator.
func (p *mboxParser) finish() error {
	if !p.in {
		return nil
	}
	p.in = false
	msg := p.cur
	switch {
	case bytes.HasSuffix(msg, []byte("\r\n\r\n")):
		msg = msg[:len(msg)-2]
	case bytes.HasSuffix(msg, []byte("\n\n")), bytes.HasSuffix(msg, []byte("\r\n\n")):
		msg = msg[:len(msg)-1]
	}
	if len(bytes.TrimSpace(msg)) == 0 {
		return nil
	}
	return p.add(parsed{raw: unquote(msg), date: p.date})
}

// unquote takes one '>' from every line matching ^>+From .
func unquote(msg []byte) []byte {
	if !bytes.Contains(msg, []byte(">From ")) {
		return append([]byte(nil), msg...)
	}
	out := make([]byte, 0, len(msg))
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		var l []byte
		if i < 0 {
			l, msg = msg, nil
		} else {
			l, msg = msg[:i+1], msg[i+1:]
		}
		if j := bytes.IndexFunc(l, func(r rune) bool { return r != '>' }); j > 0 && bytes.HasPrefix(l[j:], []byte("From ")) {
			l = l[1:]
		}
		out = append(out, l...)
	}
	return out
}

// contentLength reads a Content-Length header from a message's header.
func contentLength(head []byte) (int64, bool) {
	v, ok := headers(head)["content-length"]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
