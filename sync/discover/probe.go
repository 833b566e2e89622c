package discover

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

type guessCand struct {
	proto, host, security string
	port                  int
}

func (c guessCand) String() string {
	return fmt.Sprintf("%s %s:%d (%s)", c.proto, c.host, c.port, c.security)
}

// Step 6: guesses. imap.<domain>, mail.<domain> and <domain> for IMAP,
// smtp.<domain>, mail.<domain> and <domain> for SMTP; implicit TLS (993, 465)
// before STARTTLS (143, 587). A guess counts only if the server greets and its
// TLS (implicit or after STARTTLS) verifies for the host name.
func (r *run) guess(ctx context.Context) *Settings {
	d := r.domain
	r.step("guesses (imap., smtp., mail." + d + ")")
	hosts := []string{"imap." + d, "smtp." + d, "mail." + d, d}
	resolved := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			addrs, err := r.d.resolver().LookupHost(ctx, h)
			if err == nil && len(addrs) == 0 {
				err = errors.New("no addresses")
			}
			resolved[i] = err
		})
	}
	wg.Wait()
	ok := map[string]bool{}
	for i, h := range hosts {
		if err := resolved[i]; err != nil {
			if isNotFound(err) {
				r.note("guess %s: no such host", h)
			} else {
				r.note("guess %s: %v", h, err)
			}
			continue
		}
		ok[h] = true
	}
	cands := func(proto string, hosts []string, tlsPort, starttlsPort int) []guessCand {
		var cs []guessCand
		for _, sec := range []string{"tls", "starttls"} {
			for _, h := range hosts {
				if !ok[h] {
					continue
				}
				port := tlsPort
				if sec == "starttls" {
					port = starttlsPort
				}
				cs = append(cs, guessCand{proto: proto, host: h, security: sec, port: port})
			}
		}
		return cs
	}
	imapC := cands("imap", []string{"imap." + d, "mail." + d, d}, 993, 143)
	smtpC := cands("smtp", []string{"smtp." + d, "mail." + d, d}, 465, 587)
	if len(imapC) == 0 {
		return nil
	}
	try := func(cs []guessCand) (int, []error) {
		i, _, errs := firstOK(ctx, len(cs), func(ctx context.Context, i int) (struct{}, error) {
			return struct{}{}, r.d.probe(ctx, cs[i])
		})
		return i, errs
	}
	var si int
	var serrs []error
	wg.Go(func() { si, serrs = try(smtpC) })
	ii, ierrs := try(imapC)
	wg.Wait()
	for j, err := range ierrs {
		r.note("guess %v: %v", imapC[j], err)
	}
	for j, err := range serrs {
		r.note("guess %v: %v", smtpC[j], err)
	}
	if ii < 0 {
		return nil
	}
	c := imapC[ii]
	r.note("guess %v: answers", c)
	s := &Settings{
		Provider: d,
		IMAP:     Server{Host: c.host, Port: c.port, Security: c.security, Username: r.email},
		Source:   SourceGuess,
		Advice:   "These settings were guessed from the server names; the user name is assumed to be the full address.",
	}
	if si >= 0 {
		c := smtpC[si]
		r.note("guess %v: answers", c)
		s.SMTP = &Server{Host: c.host, Port: c.port, Security: c.security, Username: r.email}
	}
	return s
}

func (d *Discoverer) tlsConfig(host string) *tls.Config {
	var c *tls.Config
	if d.TLSConfig != nil {
		c = d.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	c.ServerName = host
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// probe checks that c's server greets as IMAP ("* OK") or SMTP ("220") and
// that its TLS verifies, then says goodbye. Nothing is sent before TLS but
// the STARTTLS command (and SMTP's EHLO).
func (d *Discoverer) probe(ctx context.Context, c guessCand) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := d.dial(ctx, "tcp", net.JoinHostPort(c.host, strconv.Itoa(c.port)))
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	var rw net.Conn = conn
	if c.security == "tls" {
		if rw, err = d.handshake(ctx, conn, c.host); err != nil {
			return err
		}
	}
	br := bufio.NewReaderSize(rw, 4096)
	switch c.proto {
	case "imap":
		line, err := readLine(br)
		if err != nil {
			return err
		}
		if !hasPrefixFold(line, "* OK") {
			return fmt.Errorf("not an IMAP greeting: %q", clip(line))
		}
		if c.security == "starttls" {
			if _, err := send(rw, "L1 STARTTLS\r\n"); err != nil {
				return err
			}
			for i := 0; ; i++ {
				if line, err = readLine(br); err != nil {
					return err
				}
				if strings.HasPrefix(line, "L1 ") || i > 20 {
					break
				}
			}
			if !hasPrefixFold(line, "L1 OK") {
				return fmt.Errorf("STARTTLS refused: %q", clip(line))
			}
			if br.Buffered() > 0 {
				return errors.New("data sent before the TLS handshake (refused)")
			}
			if rw, err = d.handshake(ctx, conn, c.host); err != nil {
				return err
			}
		}
		send(rw, "L2 LOGOUT\r\n")
	case "smtp":
		code, lines, err := readReply(br)
		if err != nil {
			return err
		}
		if code != 220 {
			return fmt.Errorf("not an SMTP greeting: %q", clip(strings.Join(lines, " ")))
		}
		if c.security == "starttls" {
			if _, err := send(rw, "EHLO localhost\r\n"); err != nil {
				return err
			}
			code, lines, err := readReply(br)
			if err != nil {
				return err
			}
			offered := false
			for _, l := range lines[1:] {
				if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
					offered = true
				}
			}
			if code != 250 || !offered {
				return errors.New("STARTTLS not offered")
			}
			if _, err := send(rw, "STARTTLS\r\n"); err != nil {
				return err
			}
			if code, lines, err = readReply(br); err != nil {
				return err
			}
			if code != 220 {
				return fmt.Errorf("STARTTLS refused: %q", clip(strings.Join(lines, " ")))
			}
			if br.Buffered() > 0 {
				return errors.New("data sent before the TLS handshake (refused)")
			}
			if rw, err = d.handshake(ctx, conn, c.host); err != nil {
				return err
			}
		}
		send(rw, "QUIT\r\n")
	}
	return nil
}

func (d *Discoverer) handshake(ctx context.Context, conn net.Conn, host string) (net.Conn, error) {
	tc := tls.Client(conn, d.tlsConfig(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return tc, nil
}

func send(w net.Conn, s string) (int, error) { return w.Write([]byte(s)) }

func readLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("line too long")
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// readReply reads an SMTP reply: its code and the text of each line.
func readReply(br *bufio.Reader) (int, []string, error) {
	var lines []string
	code := 0
	for i := 0; i < 100; i++ {
		line, err := readLine(br)
		if err != nil {
			return 0, nil, err
		}
		if len(line) < 3 {
			return 0, nil, fmt.Errorf("not an SMTP reply: %q", clip(line))
		}
		n, err := strconv.Atoi(line[:3])
		if err != nil || (code != 0 && n != code) {
			return 0, nil, fmt.Errorf("not an SMTP reply: %q", clip(line))
		}
		code = n
		lines = append(lines, strings.TrimSpace(line[min(4, len(line)):]))
		if len(line) == 3 || line[3] == ' ' {
			return code, lines, nil
		}
		if line[3] != '-' {
			return 0, nil, fmt.Errorf("not an SMTP reply: %q", clip(line))
		}
	}
	return 0, nil, errors.New("SMTP reply too long")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func clip(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}
