package health

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
)

// ProbeIMAP checks an IMAP server phase by phase: DNS, TCP, TLS, greeting,
// CAPABILITY and, when login is not nil, LOGIN (or AUTHENTICATE), NOOP and
// LOGOUT. It is bounded by ep.Timeout (default 15 s) and ctx.
func ProbeIMAP(ctx context.Context, ep imapconn.Endpoint, login *Login) Result {
	sec := ep.Security
	if sec == "" {
		sec = imapconn.TLS
	}
	timeout := ep.Timeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	p := newProber(ctx, IMAP, ep.Addr(), timeout)
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
	greeting, err := readLine(br)
	if err != nil {
		return p.fail(err)
	}
	preauth := false
	switch g := strings.ToUpper(string(greeting)); {
	case strings.HasPrefix(g, "* OK"):
	case strings.HasPrefix(g, "* PREAUTH"):
		preauth = true
	case strings.HasPrefix(g, "* BYE"):
		return p.failWith(KindUnreachable, "the server refused the connection: "+strings.TrimSpace(string(greeting[5:])), errors.New(strings.TrimSpace(string(greeting))))
	default:
		return p.failWith(KindOther, "no proper greeting: this is not an IMAP server: "+quote(greeting), fmt.Errorf("not an IMAP greeting: %s", quote(greeting)))
	}
	p.done()

	if sec == imapconn.StartTLS {
		p.begin(PhaseTLS)
		if preauth {
			return p.failWith(KindTLS, "secure connection failed: the server logged us in before STARTTLS (PREAUTH), which an attacker could forge", errors.New("PREAUTH before STARTTLS"))
		}
		if _, err := conn.Write([]byte("LB1 STARTTLS\r\n")); err != nil {
			return p.fail(err)
		}
		for {
			line, err := readLine(br)
			if err != nil {
				return p.fail(err)
			}
			if !bytes.HasPrefix(line, []byte("LB1 ")) {
				continue // untagged data
			}
			if !bytes.HasPrefix(bytes.ToUpper(line), []byte("LB1 OK")) {
				return p.failWith(KindTLS, "secure connection failed: the server refused STARTTLS: "+quote(line[4:]), fmt.Errorf("STARTTLS refused: %s", quote(line)))
			}
			break
		}
		if br.Buffered() > 0 {
			return p.failWith(KindTLS, "secure connection failed: the server sent data before the TLS handshake (possible STARTTLS injection)", errors.New("data after STARTTLS"))
		}
		tc, err := p.handshake(conn, tlsConfig)
		if err != nil {
			return p.fail(err)
		}
		p.done()
		conn, br, greeting = tc, nil, []byte("* OK [lifeboat] TLS established\r\n")
	}

	c := imapclient.New(replay(conn, br, greeting), nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		p.begin(PhaseGreeting)
		return p.fail(err)
	}

	p.begin(PhaseCapability)
	caps, err := c.Capability().Wait()
	if err != nil {
		return p.fail(err)
	}
	for cp := range caps {
		p.res.Capabilities = append(p.res.Capabilities, string(cp))
	}
	sort.Strings(p.res.Capabilities)
	p.done()

	if login != nil {
		p.begin(PhaseLogin)
		if c.State() != imap.ConnStateAuthenticated {
			user := login.Username
			if user == "" {
				user = ep.Username
			}
			if user == "" {
				return p.failWith(KindAuth, "login refused: no user name is configured", errors.New("no user name"))
			}
			if err := mailauth.IMAP(p.ctx, c, ep.Host, ep.Port, user, login.Password, ep.Auth, ep.Renew); err != nil {
				return p.fail(err)
			}
		}
		p.done()
		p.res.LoggedIn = true
		p.begin(PhaseNoop)
		if err := c.Noop().Wait(); err != nil {
			return p.fail(err)
		}
		p.done()
	}

	p.begin(PhaseLogout)
	if err := c.Logout().Wait(); err != nil && p.ctx.Err() == nil {
		_, cause := Classify(IMAP, PhaseLogout, err)
		p.res.Warnings = append(p.res.Warnings, cause)
	}
	p.done()
	return p.ok()
}
