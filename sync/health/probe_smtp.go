package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
)

// smtpExtensions are the EHLO keywords a Result lists.
var smtpExtensions = []string{"AUTH", "SIZE", "PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
	"CHUNKING", "BINARYMIME", "DSN", "REQUIRETLS", "STARTTLS"}

// ProbeSMTP checks an SMTP submission server phase by phase: DNS, TCP, TLS
// (implicit, or STARTTLS), greeting, EHLO and, when login is not nil, AUTH,
// MAIL FROM:<self>, RCPT TO:<self>, RSET and QUIT. DATA is never sent. It is
// bounded by ep.Timeout (default 15 s) and ctx.
func ProbeSMTP(ctx context.Context, ep SMTPEndpoint, login *Login) Result {
	sec := ep.Security
	if sec == "" {
		sec = imapconn.TLS
	}
	name := ep.LocalName
	if name == "" {
		name = "localhost"
	}
	p := newProber(ctx, SMTP, ep.Addr(), ep.Timeout)
	defer p.close()
	p.res.Login = login != nil
	tlsConfig, err := tlsConfigFor(ep.Host, ep.CAFile, ep.TLSConfig)
	if err != nil {
		p.begin(PhaseTLS)
		return p.failWith(KindTLS, "secure connection failed: "+err.Error(), err)
	}
	conn, res := p.connect(ep.Host, ep.Port, sec, tlsConfig)
	if res != nil {
		return *res
	}

	p.begin(PhaseGreeting)
	br := bufio.NewReaderSize(conn, 4096)
	code, lines, greeting, err := readSMTPReply(br)
	switch {
	case errors.Is(err, errMalformed):
		return p.failWith(KindOther, "no proper greeting: this is not an SMTP server: "+quote(greeting), err)
	case err != nil:
		return p.fail(err)
	case code != 220:
		return p.fail(replyError(code, lines))
	}
	p.done()

	if sec == imapconn.StartTLS {
		p.begin(PhaseTLS)
		if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", name); err != nil {
			return p.fail(err)
		}
		code, lines, _, err := readSMTPReply(br)
		if err != nil {
			return p.fail(err)
		}
		if code != 250 {
			se := replyError(code, lines)
			return p.failWith(KindTLS, "secure connection failed: EHLO refused before STARTTLS: "+smtpReply(se), se)
		}
		offered := false
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
				offered = true
			}
		}
		if !offered {
			return p.failWith(KindTLS, "secure connection failed: the server does not offer STARTTLS (Lifeboat never sends a password unencrypted)", errors.New("STARTTLS not offered"))
		}
		if _, err := conn.Write([]byte("STARTTLS\r\n")); err != nil {
			return p.fail(err)
		}
		code, lines, _, err = readSMTPReply(br)
		if err != nil {
			return p.fail(err)
		}
		if code != 220 {
			se := replyError(code, lines)
			return p.failWith(KindTLS, "secure connection failed: the server refused STARTTLS: "+smtpReply(se), se)
		}
		if br.Buffered() > 0 {
			return p.failWith(KindTLS, "secure connection failed: the server sent data before the TLS handshake (possible STARTTLS injection)", errors.New("data after STARTTLS"))
		}
		tc, err := p.handshake(conn, tlsConfig)
		if err != nil {
			return p.fail(err)
		}
		p.done()
		conn, br, greeting = tc, nil, []byte("220 lifeboat TLS established\r\n")
	}

	c := smtp.NewClient(replay(conn, br, greeting))
	defer c.Close()
	c.CommandTimeout = p.remaining()
	c.SubmissionTimeout = p.remaining()

	p.begin(PhaseCapability)
	if err := c.Hello(name); err != nil {
		return p.fail(err)
	}
	for _, ext := range smtpExtensions {
		if ok, param := c.Extension(ext); ok {
			p.res.Capabilities = append(p.res.Capabilities, strings.TrimSpace(ext+" "+param))
		}
	}
	p.done()

	if login != nil {
		user := login.Username
		if user == "" {
			user = ep.Username
		}
		p.begin(PhaseLogin)
		if user == "" {
			return p.failWith(KindAuth, "login refused: no user name is configured", errors.New("no user name"))
		}
		if err := mailauth.SMTP(c, ep.Host, ep.Port, user, login.Password, ep.Auth); err != nil {
			if errors.Is(err, mailauth.ErrNoPasswordMechanism) {
				if ok, mechs := c.Extension("AUTH"); ok {
					return p.failWith(KindAuth, "login refused: the server accepts only "+mechs+" sign-in, not a password (OAuth needed?)", err)
				}
				return p.failWith(KindOther, "login failed: the server offers no sign-in (AUTH) on this connection", errors.New("AUTH not offered"))
			}
			return p.fail(err)
		}
		p.done()
		p.res.LoggedIn = true

		addr := login.Address
		if addr == "" && strings.Contains(user, "@") {
			addr = user
		}
		if addr != "" {
			p.begin(PhaseEnvelope)
			if err := c.Mail(addr, nil); err != nil {
				return p.fail(err)
			}
			if err := c.Rcpt(addr, nil); err != nil {
				return p.fail(err)
			}
			if err := c.Reset(); err != nil {
				return p.fail(err)
			}
			p.done()
		}
	}

	p.begin(PhaseLogout)
	if err := c.Quit(); err != nil && p.ctx.Err() == nil {
		_, cause := Classify(SMTP, PhaseLogout, err)
		p.res.Warnings = append(p.res.Warnings, cause)
	}
	p.done()
	return p.ok()
}

var errMalformed = errors.New("malformed SMTP reply")

// replyError makes an *smtp.SMTPError of a reply read by readSMTPReply,
// with its enhanced status code when it has one.
func replyError(code int, lines []string) *smtp.SMTPError {
	se := &smtp.SMTPError{Code: code, Message: strings.Join(lines, "\n")}
	if f := strings.SplitN(se.Message, " ", 2); len(f) == 2 {
		var ec smtp.EnhancedCode
		if n, _ := fmt.Sscanf(f[0], "%d.%d.%d", &ec[0], &ec[1], &ec[2]); n == 3 && ec[0] == code/100 {
			se.EnhancedCode, se.Message = ec, strings.ReplaceAll(f[1], "\n"+f[0]+" ", "\n")
		}
	}
	return se
}

// readSMTPReply reads one (possibly multi-line) reply: its code, the text
// of each line, and the raw bytes. A malformed reply gives code 0 and an
// error with the bytes read so far.
func readSMTPReply(br *bufio.Reader) (code int, lines []string, raw []byte, err error) {
	for i := 0; i < 100; i++ {
		line, err := readLine(br)
		if err != nil {
			return 0, lines, raw, err
		}
		raw = append(raw, line...)
		s := strings.TrimRight(string(line), "\r\n")
		if len(s) < 3 {
			return 0, lines, raw, fmt.Errorf("%w %s", errMalformed, quote(line))
		}
		c, err := strconv.Atoi(s[:3])
		if err != nil || c < 100 || (code != 0 && c != code) {
			return 0, lines, raw, fmt.Errorf("%w %s", errMalformed, quote(line))
		}
		code = c
		text := ""
		if len(s) > 4 {
			text = s[4:]
		}
		lines = append(lines, text)
		if len(s) == 3 || s[3] == ' ' {
			return code, lines, raw, nil
		}
		if s[3] != '-' {
			return 0, lines, raw, fmt.Errorf("%w %s", errMalformed, quote(line))
		}
	}
	return 0, lines, raw, fmt.Errorf("%w: too many lines", errMalformed)
}
