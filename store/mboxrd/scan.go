package mboxrd

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strings"
	"time"
)

// Found is a record found by Scan in mbox bytes that no log describes.
type Found struct {
	Offset, Length int64
	Sender         string    // from the separator line
	Date           time.Time // from the separator line; zero when it holds none Scan knows
	// Meta is the most likely reading of the record's framing; Alts are
	// other readings of the same bytes (a message of ours may or may not
	// have ended with a line break; a CR before a line end may be the
	// message's own or stand for a CRLF of a message stored with LF).
	Meta Meta
	Alts []Meta
	// Ours: the separator is the one this package writes.
	Ours bool
	// Unterminated: the record does not end with a line break, so another
	// record cannot follow it as it is (only the last record of a file).
	Unterminated bool
	// Blank: the record ends with a blank line, as every record of ours does.
	Blank bool
}

// Scan splits r[from:to) into records and calls fn for each, in order. It
// returns how many bytes at from came before the first separator line (not
// part of any record).
//
// It is for bytes Lifeboat has no log for: its own records after the log
// was lost, or a file another program wrote (mutt, Thunderbird, Python's
// mailbox, a Takeout export). A separator is a line "From <sender> <date>"
// whose date reads as a date (mboxcl2 files leave body lines starting
// "From " unquoted; requiring a date keeps those inside their message).
// Framing is read back from the bytes: the blank line (LF or CRLF) that
// ends a record is not part of its message, and a record holding CRLF is
// kept byte for byte (EOLRaw) while one with only LF gets CRLF back
// (EOLCRLF), which gives the same identity (Hash) for a record without CR.
func Scan(r io.ReaderAt, from, to int64, fn func(Found) error) (lead int64, err error) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, from, to-from), maxSeparator)
	var (
		pos       = from
		cur       *Found
		crlf      bool    // the current record's body holds CRLF
		tail      [4]byte // last bytes of the current record
		tailN     int
		bodyBytes int64
		lineStart = true
		prevCR    bool
	)
	finish := func(end int64) error {
		if cur == nil {
			lead = end - from
			return nil
		}
		cur.Length = end - cur.Offset
		frameRecord(cur, crlf, tail[4-min(tailN, 4):], bodyBytes)
		f := *cur
		cur = nil
		return fn(f)
	}
	for {
		line, rerr := br.ReadSlice('\n')
		if len(line) > 0 {
			if lineStart && bytes.HasPrefix(line, []byte("From ")) && rerr != bufio.ErrBufferFull {
				if sender, date, ok := ParseSeparator(line); ok {
					if err := finish(pos); err != nil {
						return lead, err
					}
					cur = &Found{Offset: pos, Sender: sender, Date: date, Ours: sender == Sender && isOurDate(line)}
					crlf, tailN, bodyBytes, prevCR = false, 0, 0, false
					pos += int64(len(line))
					lineStart = true
					continue
				}
			}
			if cur != nil {
				if !crlf {
					if prevCR && line[0] == '\n' {
						crlf = true
					} else if bytes.Contains(line, []byte("\r\n")) {
						crlf = true
					}
				}
				prevCR = line[len(line)-1] == '\r'
				for _, c := range line[max(0, len(line)-4):] {
					copy(tail[:], tail[1:])
					tail[3] = c
					tailN++
				}
				bodyBytes += int64(len(line))
			}
			pos += int64(len(line))
			lineStart = line[len(line)-1] == '\n'
		}
		if rerr == io.EOF {
			return lead, finish(pos)
		}
		if rerr != nil && rerr != bufio.ErrBufferFull {
			return lead, rerr
		}
	}
}

// frameRecord works out a found record's framing from the last bytes of
// its body (everything after the separator line).
func frameRecord(f *Found, crlf bool, tail []byte, bodyBytes int64) {
	f.Meta = Meta{Adopted: true, EOL: EOLCRLF}
	if crlf {
		f.Meta.EOL = EOLRaw
	}
	ends := func(s string) bool { return bytes.HasSuffix(tail, []byte(s)) }
	switch {
	case ends("\r\n\r\n"):
		f.Meta.Trail, f.Blank = 2, true
	case ends("\n\n"):
		f.Meta.Trail, f.Blank = 1, true
		// The message ended with a line break, or had none and the
		// encoder added one: the same bytes. The first is far more common.
		if bodyBytes == 2 || (len(tail) >= 3 && tail[len(tail)-3] != '\n') {
			alt := f.Meta
			alt.Trail = 2
			f.Alts = append(f.Alts, alt)
		}
	case ends("\n"):
		f.Meta.Trail = 0
	default:
		f.Meta.Trail, f.Unterminated = 0, true
	}
	if crlf {
		for _, m := range append([]Meta{f.Meta}, f.Alts...) {
			m.EOL = EOLCRLF
			f.Alts = append(f.Alts, m)
		}
	}
}

// isOurDate reports whether a separator line is exactly as Separator writes
// it: the sender, then an asctime date in UTC.
func isOurDate(line []byte) bool {
	s := strings.TrimRight(string(line), "\r\n")
	rest, ok := strings.CutPrefix(s, "From "+Sender+" ")
	if !ok {
		return false
	}
	_, err := time.Parse(time.ANSIC, rest)
	return err == nil
}

var separatorLayouts = []string{
	time.ANSIC,                        // Mon Jan _2 15:04:05 2006 (RFC 4155, ours)
	"Mon Jan _2 15:04:05 -0700 2006",  // Google Takeout
	"Mon Jan _2 15:04:05 MST 2006",    // some MTAs
	"Mon Jan _2 15:04:05 2006 -0700",  // qmail, others
	"Mon Jan _2 15:04:05 2006 MST",    //
	"Mon Jan _2 15:04 2006",           // no seconds
	"Mon, _2 Jan 2006 15:04:05 -0700", // RFC 5322 dates, seen in hand-made files
	"Mon Jan 02 15:04:05 2006",        //
}

// looseDate: something like a time of day and a year, for dates none of the
// layouts read.
var looseDate = regexp.MustCompile(`\b\d{1,2}:\d{2}(:\d{2})?\b.*\b(19|20)\d{2}\b|\b(19|20)\d{2}\b.*\b\d{1,2}:\d{2}\b`)

// ParseSeparator reads an mbox separator line ("From sender date"); ok is
// false when the line is not one. The date is zero when it is present but
// in a form none of the known layouts read.
func ParseSeparator(line []byte) (sender string, date time.Time, ok bool) {
	s := strings.TrimRight(string(line), "\r\n")
	rest, found := strings.CutPrefix(s, "From ")
	if !found {
		return "", time.Time{}, false
	}
	rest = strings.TrimLeft(rest, " ")
	sender, when, _ := strings.Cut(rest, " ")
	when = strings.TrimSpace(when)
	if sender == "" || when == "" {
		return "", time.Time{}, false
	}
	for _, layout := range separatorLayouts {
		if t, err := time.Parse(layout, when); err == nil {
			return sender, t.UTC(), true
		}
	}
	if looseDate.MatchString(when) && len(when) < 80 {
		return sender, time.Time{}, true
	}
	return "", time.Time{}, false
}
