package imapconn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// CapGmail is Gmail's IMAP extensions: X-GM-MSGID, X-GM-THRID and
// X-GM-LABELS (https://developers.google.com/gmail/imap/imap-extensions).
// go-imap's client cannot ask for them (nor parse them), so Lifeboat asks
// on a connection of its own (an Appender).
const CapGmail imap.Cap = "X-GM-EXT-1"

// GmailMeta is what Gmail says of one message beyond IMAP: its id, which
// is the same in every folder (label) that shows it, its thread, and its
// labels (system labels such as \Inbox, \Sent, \Starred keep their
// backslash; user labels are decoded from modified UTF-7). Labels is nil
// when the answer did not carry X-GM-LABELS.
type GmailMeta struct {
	UID    uint32
	MsgID  uint64
	ThrID  uint64
	Labels []string
}

// Examine opens mailbox read-only (nothing on the server changes) and
// returns its UIDVALIDITY.
func (a *Appender) Examine(mailbox string) (uint32, error) {
	tag := a.nextTag()
	a.w.WriteString(tag + " EXAMINE " + a.mailbox(mailbox) + "\r\n")
	if err := a.w.Flush(); err != nil {
		return 0, a.dead(err)
	}
	var uv uint64
	a.perLine = true
	defer a.noDeadline()
	r, err := a.wait(tag, nil, func(s string) {
		u := strings.ToUpper(s)
		if i := strings.Index(u, "[UIDVALIDITY "); i >= 0 {
			f := strings.FieldsFunc(s[i+13:], func(r rune) bool { return r == ']' || r == ' ' })
			if len(f) > 0 {
				uv, _ = strconv.ParseUint(f[0], 10, 32)
			}
		}
	})
	if err != nil {
		return 0, a.dead(err)
	}
	if err := r.err(); err != nil {
		return 0, err
	}
	return uint32(uv), nil
}

// GmailMeta asks for X-GM-MSGID, X-GM-THRID and X-GM-LABELS of the
// messages in uids (an IMAP UID set such as "1:*" or "3,7:9") of the
// examined folder, and calls each for every answer, in the server's order.
// An answer it cannot read is passed over and counted in skipped (its
// message is then backed up as any other, without a Gmail id). The read
// deadline is the connection's timeout per response line, so a long
// answer is fine and a server that stops answering is not waited on.
func (a *Appender) GmailMeta(uids string, each func(GmailMeta)) (skipped int, err error) {
	tag := a.nextTag()
	a.w.WriteString(tag + " UID FETCH " + uids + " (UID X-GM-MSGID X-GM-THRID X-GM-LABELS)\r\n")
	if err := a.w.Flush(); err != nil {
		return 0, a.dead(err)
	}
	a.perLine = true
	defer a.noDeadline()
	r, err := a.wait(tag, nil, func(s string) {
		m, ok, err := parseGmailFetch(s)
		if err != nil {
			skipped++
		} else if ok {
			each(m)
		}
	})
	if err != nil {
		return skipped, a.dead(err)
	}
	return skipped, r.err()
}

// noDeadline ends a command's per-line read deadline.
func (a *Appender) noDeadline() {
	a.perLine = false
	a.conn.SetReadDeadline(time.Time{})
}

// dead closes the connection and marks it unusable (after a transport
// error, or a command the server and Lifeboat no longer agree on), and
// returns err.
func (a *Appender) dead(err error) error {
	a.broken = true
	a.conn.Close()
	return err
}

// deadline sets the read deadline before a response line, when a command
// asked for one per line.
func (a *Appender) deadline() {
	if a.perLine && a.timeout > 0 {
		a.conn.SetReadDeadline(time.Now().Add(a.timeout))
	}
}

// parseGmailFetch reads "N FETCH (UID … X-GM-MSGID … X-GM-THRID …
// X-GM-LABELS (…))". ok is false for other untagged data (EXISTS, FLAGS,
// a FETCH without a UID).
func parseGmailFetch(s string) (m GmailMeta, ok bool, err error) {
	num, rest, _ := strings.Cut(s, " ")
	if _, e := strconv.ParseUint(num, 10, 32); e != nil || !strings.HasPrefix(strings.ToUpper(rest), "FETCH ") {
		return m, false, nil
	}
	p := &tokens{s: rest[len("FETCH "):]}
	if !p.open() {
		return m, false, fmt.Errorf("unreadable FETCH response %q", trimLine(s))
	}
	for !p.close() {
		name, err := p.atom()
		if err != nil {
			return m, false, err
		}
		switch strings.ToUpper(name) {
		case "UID":
			n, err := p.number()
			if err != nil {
				return m, false, err
			}
			m.UID = uint32(n)
		case "X-GM-MSGID":
			if m.MsgID, err = p.number(); err != nil {
				return m, false, err
			}
		case "X-GM-THRID":
			if m.ThrID, err = p.number(); err != nil {
				return m, false, err
			}
		case "X-GM-LABELS":
			m.Labels = []string{}
			if !p.open() {
				if v, err := p.astring(); err != nil || v != "" {
					return m, false, errors.New("X-GM-LABELS without a list")
				}
				continue // NIL: none
			}
			for !p.close() {
				l, err := p.astring()
				if err != nil {
					return m, false, err
				}
				if !strings.HasPrefix(l, `\`) {
					l = DecodeMailbox(l)
				}
				m.Labels = append(m.Labels, l)
			}
		default:
			if err := p.skip(); err != nil {
				return m, false, err
			}
		}
	}
	return m, m.UID != 0, nil
}

// tokens reads IMAP response data: atoms, numbers, quoted strings,
// literals (whose bytes line() read inline) and parenthesised lists.
type tokens struct {
	s string
	i int
}

func (p *tokens) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *tokens) open() bool {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		return true
	}
	return false
}

// close consumes ")" if it comes next; at the end of the data it also
// reports true, so a loop over a truncated list ends.
func (p *tokens) close() bool {
	p.space()
	if p.i >= len(p.s) {
		return true
	}
	if p.s[p.i] == ')' {
		p.i++
		return true
	}
	return false
}

func (p *tokens) atom() (string, error) {
	p.space()
	j := p.i
	for j < len(p.s) && !strings.ContainsRune(" ()\"{\r\n", rune(p.s[j])) {
		j++
	}
	if j == p.i {
		return "", fmt.Errorf("unreadable FETCH data at %q", trimLine(p.s[p.i:]))
	}
	a := p.s[p.i:j]
	p.i = j
	return a, nil
}

func (p *tokens) number() (uint64, error) {
	a, err := p.atom()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number in FETCH data: %q", a)
	}
	return n, nil
}

// astring reads an atom, a quoted string or a literal.
func (p *tokens) astring() (string, error) {
	p.space()
	if p.i >= len(p.s) {
		return "", errors.New("FETCH data ends early")
	}
	switch p.s[p.i] {
	case '"':
		var b strings.Builder
		for j := p.i + 1; j < len(p.s); j++ {
			switch c := p.s[j]; c {
			case '\\':
				j++
				if j < len(p.s) {
					b.WriteByte(p.s[j])
				}
			case '"':
				p.i = j + 1
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated quoted string in FETCH data")
	case '{':
		end := strings.Index(p.s[p.i:], "}\r\n")
		if end < 0 {
			return "", errors.New("unreadable literal in FETCH data")
		}
		n, err := strconv.Atoi(strings.TrimSuffix(p.s[p.i+1:p.i+end], "+"))
		start := p.i + end + 3
		if err != nil || n < 0 || start+n > len(p.s) {
			return "", errors.New("unreadable literal in FETCH data")
		}
		p.i = start + n
		return p.s[start : start+n], nil
	}
	a, err := p.atom()
	if err == nil && strings.EqualFold(a, "NIL") {
		return "", nil
	}
	return a, err
}

// skip passes over one value of an item Lifeboat did not ask for.
func (p *tokens) skip() error {
	if p.open() {
		for !p.close() {
			if err := p.skip(); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := p.astring()
	return err
}
