package imapconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
)

// Appender is a connection that only appends: MULTIAPPEND (RFC 3502), one
// command for many messages, which go-imap's client does not speak. A
// server saves a MULTIAPPEND's messages in one transaction (Dovecot: one
// index and uidlist update instead of one per message), all of them or
// none. It speaks just enough IMAP for that: greeting, STARTTLS, LOGIN,
// CAPABILITY, STATUS, APPEND, LOGOUT. It is not safe for concurrent use.
type Appender struct {
	addr     string
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	caps     map[string]bool
	tag      int
	stopCtx  func() bool
	timeout  time.Duration
	literalP bool
	broken   bool // the connection was closed: dial a new one
	perLine  bool // the running command sets a read deadline per line
}

// AppendMsg is one message of a MULTIAPPEND: its flags, INTERNALDATE (zero:
// the server's now), exact size, and a function writing exactly Size bytes.
type AppendMsg struct {
	Flags []string
	Date  time.Time
	Size  int64
	Write func(io.Writer) error
}

// DialAppender connects and logs in as Dial does (same security rules,
// same error classification).
func DialAppender(ctx context.Context, ep Endpoint, password string) (*Appender, error) {
	ep, addr, timeout, tlsConfig, err := prepare(ep)
	if err != nil {
		return nil, err
	}
	if password, err = secret(ctx, ep, password); err != nil {
		return nil, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dialCtx, "tcp", addr)
	if err != nil {
		return nil, Classify(addr, ctxErr(ctx, err))
	}
	a := &Appender{addr: addr, conn: raw, timeout: timeout}
	a.stopCtx = context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(err error) (*Appender, error) {
		a.stopCtx()
		raw.Close()
		return nil, Classify(addr, ctxErr(ctx, err))
	}
	raw.SetDeadline(time.Now().Add(timeout))
	if ep.Security == TLS {
		tc := tls.Client(raw, tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return fail(err)
		}
		a.conn = tc
	}
	a.r, a.w = bufio.NewReaderSize(a.conn, 32<<10), bufio.NewWriterSize(a.conn, 256<<10)
	greeting, err := a.line()
	if err != nil {
		return fail(err)
	}
	if !strings.HasPrefix(greeting, "* OK") && !strings.HasPrefix(greeting, "* PREAUTH") {
		return fail(fmt.Errorf("unexpected greeting %q", trimLine(greeting)))
	}
	if ep.Security == StartTLS {
		if _, err := a.simple("STARTTLS"); err != nil {
			return fail(err)
		}
		tc := tls.Client(raw, tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			return fail(err)
		}
		a.conn = tc
		a.r, a.w = bufio.NewReaderSize(a.conn, 32<<10), bufio.NewWriterSize(a.conn, 256<<10)
	}
	if !strings.HasPrefix(greeting, "* PREAUTH") {
		// No protocol trace is ever kept: it would carry the password.
		if err := a.signIn(ctx, ep, password); err != nil {
			return fail(signInError(ep, addr, err))
		}
	}
	if err := a.capability(); err != nil {
		return fail(err)
	}
	raw.SetDeadline(time.Time{})
	return a, nil
}

// Broken reports whether the connection is no longer usable (a command
// was cut short, or the server answered before it had all of it).
func (a *Appender) Broken() bool { return a.broken }

// mailbox is a folder name as this server reads it: UTF-8 for IMAP4rev2
// (as go-imap's client sends it there), else modified UTF-7.
func (a *Appender) mailbox(name string) string {
	if a.caps["IMAP4REV2"] {
		return quote(name)
	}
	return quote(EncodeMailbox(name))
}

// Has reports whether the server announced a capability (after login).
func (a *Appender) Has(c imap.Cap) bool { return a.caps[strings.ToUpper(string(c))] }

// Close logs out and closes the connection.
func (a *Appender) Close() error {
	a.conn.SetDeadline(time.Now().Add(5 * time.Second))
	a.simple("LOGOUT")
	a.stopCtx()
	return a.conn.Close()
}

func (a *Appender) nextTag() string {
	a.tag++
	return "M" + strconv.Itoa(a.tag)
}

// line reads one response line, with the literals it announces.
func (a *Appender) line() (string, error) {
	var b strings.Builder
	for {
		a.deadline()
		s, err := a.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		b.WriteString(s)
		t := strings.TrimRight(s, "\r\n")
		if !strings.HasSuffix(t, "}") {
			return b.String(), nil
		}
		i := strings.LastIndexByte(t, '{')
		n, err := strconv.ParseInt(strings.TrimSuffix(t[i+1:len(t)-1], "+"), 10, 64)
		if i < 0 || err != nil {
			return b.String(), nil
		}
		if _, err := io.CopyN(&b, a.r, n); err != nil {
			return "", err
		}
	}
}

func trimLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// result is a tagged reply: its status, code, code arguments and text.
type result struct {
	status, code, args, text string
}

func (r result) err() error {
	if r.status == "OK" {
		return nil
	}
	t := imap.StatusResponseTypeNo
	if r.status == "BAD" {
		t = imap.StatusResponseTypeBad
	}
	return &imap.Error{Type: t, Code: imap.ResponseCode(r.code), Text: r.text}
}

func parseTagged(line, tag string) result {
	rest := strings.TrimRight(strings.TrimPrefix(line, tag+" "), "\r\n")
	var r result
	r.status, rest, _ = strings.Cut(rest, " ")
	r.status = strings.ToUpper(r.status)
	if strings.HasPrefix(rest, "[") {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			code := rest[1:end]
			r.code, r.args, _ = strings.Cut(code, " ")
			r.code = strings.ToUpper(r.code)
			rest = strings.TrimSpace(rest[end+1:])
		}
	}
	r.text = rest
	return r
}

// wait reads responses until the tagged reply to tag. Continuation
// requests are passed to cont (nil: unexpected); untagged data is noted
// only for CAPABILITY and STATUS (into untagged), and BYE ends the wait.
func (a *Appender) wait(tag string, cont chan<- struct{}, untagged func(string)) (result, error) {
	for {
		line, err := a.line()
		if err != nil {
			return result{}, err
		}
		switch {
		case strings.HasPrefix(line, tag+" "):
			return parseTagged(line, tag), nil
		case strings.HasPrefix(line, "+"):
			if cont == nil {
				return result{}, fmt.Errorf("unexpected continuation request %q", trimLine(line))
			}
			// One waits at a time (a synchronising literal); a server that
			// sends more than were asked for is not waited on for them.
			select {
			case cont <- struct{}{}:
			default:
			}
		case strings.HasPrefix(strings.ToUpper(line), "* BYE"):
			return result{}, fmt.Errorf("the server closed the connection: %s", trimLine(line[5:]))
		case untagged != nil && strings.HasPrefix(line, "* "):
			untagged(strings.TrimRight(line[2:], "\r\n"))
		}
	}
}

// simple sends a command without literals and waits for its reply.
func (a *Appender) simple(command string) (result, error) {
	tag := a.nextTag()
	a.w.WriteString(tag + " " + command + "\r\n")
	if err := a.w.Flush(); err != nil {
		return result{}, err
	}
	r, err := a.wait(tag, nil, nil)
	if err != nil {
		return r, err
	}
	return r, r.err()
}

func (a *Appender) capability() error {
	tag := a.nextTag()
	a.w.WriteString(tag + " CAPABILITY\r\n")
	if err := a.w.Flush(); err != nil {
		return err
	}
	caps := map[string]bool{}
	r, err := a.wait(tag, nil, func(s string) {
		if f := strings.Fields(s); len(f) > 0 && strings.EqualFold(f[0], "CAPABILITY") {
			for _, c := range f[1:] {
				caps[strings.ToUpper(c)] = true
			}
		}
	})
	if err != nil {
		return err
	}
	if err := r.err(); err != nil {
		return err
	}
	a.caps = caps
	a.literalP = caps["LITERAL+"]
	return nil
}

// signIn signs in as ep says: LOGIN with a password (AUTHENTICATE PLAIN
// where LOGIN is disabled), or an OAuth2 token, renewed once if refused.
func (a *Appender) signIn(ctx context.Context, ep Endpoint, secret string) error {
	if ep.Auth != mailauth.OAuth2 {
		return a.login(ep.Username, secret)
	}
	if err := a.capability(); err != nil {
		return err
	}
	return mailauth.Bearer(ctx, func(m string) bool { return a.caps["AUTH="+m] }, a.authenticate, ep.Host, ep.Port, ep.Username, secret, ep.Renew)
}

// authenticate runs AUTHENTICATE with a SASL client: the initial response
// inline where SASL-IR allows, else after the server's "+"; each
// challenge answered by the client.
func (a *Appender) authenticate(sc sasl.Client) error {
	mech, ir, err := sc.Start()
	if err != nil {
		return err
	}
	tag := a.nextTag()
	if ir != nil && a.caps["SASL-IR"] {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		a.w.WriteString(tag + " AUTHENTICATE " + mech + " " + enc + "\r\n")
		ir = nil
	} else {
		a.w.WriteString(tag + " AUTHENTICATE " + mech + "\r\n")
	}
	for {
		if err := a.w.Flush(); err != nil {
			return err
		}
		line, err := a.line()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "+") {
			if strings.HasPrefix(line, "*") {
				continue // untagged data
			}
			return parseTagged(line, tag).err()
		}
		var resp []byte
		if ir != nil {
			resp, ir = ir, nil
		} else {
			ch, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(line, "+")))
			if err != nil {
				return fmt.Errorf("unreadable AUTHENTICATE challenge: %w", err)
			}
			if resp, err = sc.Next(ch); err != nil {
				a.w.WriteString("*\r\n") // cancel (RFC 3501 §6.2.2)
				continue
			}
		}
		a.w.WriteString(base64.StdEncoding.EncodeToString(resp) + "\r\n")
	}
}

// login sends LOGIN with quoted strings, or literals for what quoting
// cannot carry; where LOGIN is disabled, AUTHENTICATE PLAIN.
func (a *Appender) login(user, password string) error {
	if err := a.capability(); err != nil {
		return err
	}
	if a.caps["LOGINDISABLED"] {
		return a.authenticate(sasl.NewPlainClient("", user, password))
	}
	tag := a.nextTag()
	a.w.WriteString(tag + " LOGIN ")
	if err := a.astring(user, tag); err != nil {
		return err
	}
	a.w.WriteString(" ")
	if err := a.astring(password, tag); err != nil {
		return err
	}
	a.w.WriteString("\r\n")
	if err := a.w.Flush(); err != nil {
		return err
	}
	r, err := a.wait(tag, nil, nil)
	if err != nil {
		return err
	}
	return r.err()
}

// astring writes s quoted when it can be, else as a literal (synchronising:
// before login LITERAL+ may not be offered).
func (a *Appender) astring(s, tag string) error {
	if quotable(s) {
		a.w.WriteString(quote(s))
		return nil
	}
	a.w.WriteString("{" + strconv.Itoa(len(s)) + "}\r\n")
	if err := a.w.Flush(); err != nil {
		return err
	}
	line, err := a.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+") {
		return parseTagged(line, tag).err()
	}
	a.w.WriteString(s)
	return nil
}

func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func quote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}

// UIDNext asks the server for a folder's UIDNEXT (STATUS).
func (a *Appender) UIDNext(mailbox string) (uint32, error) {
	tag := a.nextTag()
	a.w.WriteString(tag + " STATUS " + a.mailbox(mailbox) + " (UIDNEXT)\r\n")
	if err := a.w.Flush(); err != nil {
		return 0, err
	}
	var next uint64
	r, err := a.wait(tag, nil, func(s string) {
		u := strings.ToUpper(s)
		if i := strings.Index(u, "UIDNEXT "); strings.HasPrefix(u, "STATUS ") && i > 0 {
			f := strings.FieldsFunc(s[i+8:], func(r rune) bool { return r == ' ' || r == ')' })
			if len(f) > 0 {
				next, _ = strconv.ParseUint(f[0], 10, 32)
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if err := r.err(); err != nil {
		return 0, err
	}
	return uint32(next), nil
}

// MultiAppend appends msgs to mailbox in one command. On success it
// returns the UIDVALIDITY and UIDs the server assigned, in order (nil
// without UIDPLUS). A NO means none was appended (RFC 3502); the error is
// an *imap.Error with the server's code and words. With other errors the
// connection is unusable and what the server saved is unknown.
func (a *Appender) MultiAppend(mailbox string, msgs []AppendMsg) (uidValidity uint32, uids []uint32, err error) {
	tag := a.nextTag()
	cont := make(chan struct{}, 1)
	done := make(chan appendReply, 1)
	go func() {
		r, err := a.wait(tag, cont, nil)
		done <- appendReply{r, err}
	}()
	// Writing while the reply is read: a server that answers early (a NO
	// instead of a synchronising literal's continuation) must not leave us
	// blocked.
	early, werr := a.writeAppend(tag, mailbox, msgs, cont, done)
	var rep appendReply
	switch {
	case early != nil:
		rep = *early
		if rep.err == nil && rep.r.status == "OK" {
			rep.err = errors.New("the server accepted an APPEND it had not received in full")
		}
		if rep.err == nil {
			// The command ended early; the rest of what we meant to send
			// would be read as commands: this connection is done.
			a.dead(nil)
		}
	case werr != nil:
		a.dead(nil) // a literal cut short: the server waits for the rest
		rep = <-done
		return 0, nil, werr
	default:
		a.conn.SetReadDeadline(time.Now().Add(10 * time.Minute))
		rep = <-done
		a.conn.SetReadDeadline(time.Time{})
	}
	if rep.err != nil {
		a.broken = true
		return 0, nil, rep.err
	}
	if err := rep.r.err(); err != nil {
		return 0, nil, err
	}
	if rep.r.code == "APPENDUID" && a.caps["UIDPLUS"] {
		uv, set, _ := strings.Cut(rep.r.args, " ")
		v, _ := strconv.ParseUint(uv, 10, 32)
		uids = parseUIDSet(set)
		if len(uids) != len(msgs) {
			uids = nil // a server that miscounts: trust no UID
		}
		return uint32(v), uids, nil
	}
	return 0, nil, nil
}

type appendReply struct {
	r   result
	err error
}

func (a *Appender) writeAppend(tag, mailbox string, msgs []AppendMsg, cont <-chan struct{}, done <-chan appendReply) (*appendReply, error) {
	a.w.WriteString(tag + " APPEND " + a.mailbox(mailbox))
	for _, m := range msgs {
		a.w.WriteString(" ")
		if len(m.Flags) > 0 {
			a.w.WriteString("(" + strings.Join(m.Flags, " ") + ") ")
		}
		if !m.Date.IsZero() {
			a.w.WriteString(`"` + m.Date.Format("_2-Jan-2006 15:04:05 -0700") + `" `)
		}
		n := strconv.FormatInt(m.Size, 10)
		a.conn.SetWriteDeadline(time.Now().Add(2 * time.Minute))
		if a.literalP {
			a.w.WriteString("{" + n + "+}\r\n")
		} else {
			a.w.WriteString("{" + n + "}\r\n")
			if err := a.w.Flush(); err != nil {
				return nil, err
			}
			select {
			case <-cont:
			case rep := <-done:
				return &rep, nil
			}
		}
		cw := &countWriter{w: a.w}
		if err := m.Write(cw); err != nil {
			return nil, err
		}
		if cw.n != m.Size {
			return nil, fmt.Errorf("a message gave %d bytes, %d were announced", cw.n, m.Size)
		}
	}
	a.w.WriteString("\r\n")
	err := a.w.Flush()
	a.conn.SetWriteDeadline(time.Time{})
	return nil, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// parseUIDSet expands "3:5,9" to 3 4 5 9 (in the order given).
func parseUIDSet(s string) []uint32 {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil
			}
		}
		if b < a {
			a, b = b, a
		}
		if b-a > 1<<20 {
			return nil
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out
}

// DecodeMailbox decodes a modified UTF-7 folder name (RFC 3501 5.1.3);
// what is not valid modified UTF-7 is returned as it came.
func DecodeMailbox(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			b.WriteByte(s[i])
			continue
		}
		end := strings.IndexByte(s[i:], '-')
		if end < 0 {
			return s
		}
		enc := s[i+1 : i+end]
		i += end
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := base64.RawStdEncoding.DecodeString(strings.ReplaceAll(enc, ",", "/"))
		if err != nil || len(raw)%2 != 0 {
			return s
		}
		u := make([]uint16, len(raw)/2)
		for j := range u {
			u[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		b.WriteString(string(utf16.Decode(u)))
	}
	return b.String()
}

// EncodeMailbox encodes a folder name in modified UTF-7 (RFC 3501 5.1.3).
func EncodeMailbox(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		buf := make([]byte, 0, 2*len(u))
		for _, c := range u {
			buf = append(buf, byte(c>>8), byte(c))
		}
		b.WriteByte('&')
		b.WriteString(strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(buf), "/", ","))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, c := range s {
		if c >= 0x20 && c <= 0x7e {
			flush()
			b.WriteRune(c)
			if c == '&' {
				b.WriteByte('-')
			}
			continue
		}
		run = append(run, c)
	}
	flush()
	return b.String()
}
