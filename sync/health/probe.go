package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// Login asks a probe to sign in for real.
type Login struct {
	// Username defaults to the endpoint's Username.
	Username string
	// Password is the password, or for an endpoint whose Auth is OAuth2
	// the access token.
	Password string
	// Address is the SMTP MAIL FROM and RCPT TO address (the account's own);
	// default the user name when it is an address. Without one, the SMTP
	// probe stops after AUTH.
	Address string
}

// SMTPEndpoint is where and how to submit mail.
type SMTPEndpoint struct {
	Host string
	Port int
	// Security: tls (implicit, 465), starttls (587), plain (loopback only).
	// Empty means tls.
	Security imapconn.Security
	Username string
	// CAFile adds trust for a self-signed server (Proton Bridge, tests).
	CAFile string
	// TLSConfig, when set, is used as is (tests).
	TLSConfig *tls.Config
	// Timeout bounds the whole probe; default 15 s.
	Timeout time.Duration
	// LocalName is the EHLO name; default "localhost".
	LocalName string
	// Auth: as imapconn.Endpoint's. A probe does not renew a refused
	// token: the token it is given is fresh (oauth.Source refreshes ahead
	// of expiry), so a refusal is news.
	Auth mailauth.Method
}

// Addr is host:port.
func (e SMTPEndpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// PhaseTime is how long one phase took.
type PhaseTime struct {
	Phase    Phase         `json:"phase"`
	Duration time.Duration `json:"duration"`
}

// Result is what a probe found.
type Result struct {
	Protocol Protocol      `json:"protocol"`
	Addr     string        `json:"addr"`
	Time     time.Time     `json:"time"`  // when the probe started
	Total    time.Duration `json:"total"` // the whole probe
	// Phases in the order they ran, the failing one included (its time is
	// how long it ran before failing).
	Phases []PhaseTime `json:"phases"`
	// Login is set when a login was asked for; LoggedIn when it succeeded.
	Login    bool `json:"login,omitempty"`
	LoggedIn bool `json:"logged_in,omitempty"`
	OK       bool `json:"ok"`
	// Canceled is set when the caller's context ended (canceled, or its
	// deadline passed; bound a probe with the endpoint's Timeout instead):
	// the result says nothing about the server and must not be observed.
	Canceled    bool   `json:"canceled,omitempty"`
	FailedPhase Phase  `json:"failed_phase,omitempty"`
	Err         error  `json:"-"`
	Kind        Kind   `json:"kind,omitempty"`
	Cause       string `json:"cause,omitempty"` // plain words
	// Capabilities advertised (IMAP CAPABILITY; SMTP EHLO keywords known to
	// Lifeboat, with parameters: "AUTH PLAIN LOGIN", "SIZE 35882577").
	Capabilities []string `json:"capabilities,omitempty"`
	// CertExpires is the earliest expiry in the server's certificate chain.
	CertExpires time.Time `json:"cert_expires,omitzero"`
	// Warnings: a certificate expiring within 14 days, a failed logout.
	Warnings []string `json:"warnings,omitempty"`
}

// Duration is how long phase p took (0 when it did not run).
func (r Result) Duration(p Phase) time.Duration {
	for _, pt := range r.Phases {
		if pt.Phase == p {
			return pt.Duration
		}
	}
	return 0
}

// Ran reports whether phase p ran.
func (r Result) Ran(p Phase) bool {
	for _, pt := range r.Phases {
		if pt.Phase == p {
			return true
		}
	}
	return false
}

// Observation turns the result into the Tracker's input.
func (r Result) Observation(account string) Observation {
	return Observation{Time: r.Time, Account: account, Protocol: r.Protocol, OK: r.OK, LoggedIn: r.OK && r.LoggedIn,
		Latency: r.Total, Phase: r.FailedPhase, Kind: r.Kind, Cause: r.Cause, Warning: strings.Join(r.Warnings, "; ")}
}

// prober runs one probe: it times phases and turns errors into results.
type prober struct {
	res     Result
	parent  context.Context
	ctx     context.Context
	cancel  context.CancelFunc
	timeout time.Duration
	phase   Phase
	t0      time.Time
	conn    net.Conn
}

func newProber(ctx context.Context, proto Protocol, addr string, timeout time.Duration) *prober {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	p := &prober{parent: ctx, timeout: timeout, res: Result{Protocol: proto, Addr: addr, Time: time.Now()}}
	p.ctx, p.cancel = context.WithTimeout(ctx, timeout)
	return p
}

func (p *prober) begin(ph Phase) { p.phase, p.t0 = ph, time.Now() }

func (p *prober) done() {
	p.res.Phases = append(p.res.Phases, PhaseTime{p.phase, time.Since(p.t0)})
	p.phase = ""
}

// close releases the connection; it runs after the result is made.
func (p *prober) close() {
	p.cancel()
	if p.conn != nil {
		p.conn.Close()
	}
}

func (p *prober) ok() Result {
	p.res.OK = true
	p.res.Total = time.Since(p.res.Time)
	return p.res
}

// fail ends the probe with err at the current phase.
func (p *prober) fail(err error) Result {
	switch {
	case ended(p.parent):
		return p.failWith(KindNone, "stopped", context.Canceled)
	case p.ctx.Err() != nil, errors.Is(err, os.ErrDeadlineExceeded):
		return p.failWith(KindUnreachable, fmt.Sprintf("no answer within %s while %s", words(p.timeout), activity(p.res.Protocol, p.phase)),
			fmt.Errorf("%s: timed out after %s: %w", p.phase, p.timeout, context.DeadlineExceeded))
	}
	kind, cause := Classify(p.res.Protocol, p.phase, err)
	return p.failWith(kind, cause, err)
}

func (p *prober) failWith(kind Kind, cause string, err error) Result {
	if p.phase != "" {
		p.res.FailedPhase = p.phase
		p.done()
	}
	if ended(p.parent) {
		p.res.Canceled, kind, cause, err = true, KindNone, "stopped", context.Canceled
	}
	p.res.Kind, p.res.Cause, p.res.Err = kind, cause, err
	p.res.Total = time.Since(p.res.Time)
	return p.res
}

// ended reports whether ctx is done or its deadline has passed (a
// connection deadline can fire a moment before the context's timer).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// remaining is the time left before the probe's deadline.
func (p *prober) remaining() time.Duration {
	d, _ := p.ctx.Deadline()
	return max(time.Until(d), time.Millisecond)
}

// connect runs DNS, TCP and, for implicit TLS, the handshake. On failure it
// returns the finished result.
func (p *prober) connect(host string, port int, sec imapconn.Security, tlsConfig *tls.Config) (net.Conn, *Result) {
	if sec == imapconn.Plain && !imapconn.IsLoopback(host) {
		p.begin(PhaseTLS)
		r := p.failWith(KindTLS, "plaintext refused: it would send your password unencrypted; it is allowed only to 127.0.0.1/::1 (use tls or starttls)",
			errors.New("plaintext connection to a non-loopback host refused"))
		return nil, &r
	}
	var addrs []string
	if ip := net.ParseIP(host); ip != nil {
		addrs = []string{host}
	} else {
		p.begin(PhaseDNS)
		ips, err := net.DefaultResolver.LookupIPAddr(p.ctx, host)
		if err != nil {
			r := p.fail(err)
			return nil, &r
		}
		for _, ip := range ips {
			if sec == imapconn.Plain && !ip.IP.IsLoopback() {
				continue
			}
			addrs = append(addrs, ip.String())
		}
		if len(addrs) == 0 {
			r := p.failWith(KindUnreachable, "cannot look up the host name: no usable address for "+host, fmt.Errorf("no usable address for %s", host))
			return nil, &r
		}
		p.done()
	}
	p.begin(PhaseTCP)
	var d net.Dialer
	var conn net.Conn
	var err error
	for _, a := range addrs {
		if conn, err = d.DialContext(p.ctx, "tcp", net.JoinHostPort(a, strconv.Itoa(port))); err == nil {
			break
		}
	}
	if err != nil {
		r := p.fail(err)
		return nil, &r
	}
	p.done()
	p.conn = conn
	// The protocol libraries set and reset their own deadlines; closing the
	// connection when the probe's time is up bounds them all.
	deadline, _ := p.ctx.Deadline()
	conn.SetDeadline(deadline)
	context.AfterFunc(p.ctx, func() { conn.Close() })
	if sec == imapconn.TLS {
		p.begin(PhaseTLS)
		tc, err := p.handshake(conn, tlsConfig)
		if err != nil {
			r := p.fail(err)
			return nil, &r
		}
		p.done()
		return tc, nil
	}
	return conn, nil
}

// handshake runs a verified TLS handshake on conn and checks the expiry of
// the chain.
func (p *prober) handshake(conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(p.ctx); err != nil {
		return nil, err
	}
	st := tc.ConnectionState()
	chain := st.PeerCertificates
	if len(st.VerifiedChains) > 0 {
		chain = st.VerifiedChains[0]
	}
	var first *x509.Certificate
	for _, c := range chain {
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	if first != nil {
		p.res.CertExpires = first.NotAfter
		if left := time.Until(first.NotAfter); left < CertExpiryWarning {
			name := first.Subject.CommonName
			if name == "" {
				name = cfg.ServerName
			}
			days := int(math.Ceil(left.Hours() / 24))
			p.res.Warnings = append(p.res.Warnings, fmt.Sprintf("the certificate %q of %s expires on %s (in %d days)",
				name, cfg.ServerName, first.NotAfter.UTC().Format("2006-01-02"), days))
		}
	}
	return tc, nil
}

// tlsConfigFor is a copy of the endpoint's explicit configuration (with
// ServerName host when it has none), else sync/tlsutil's verifying
// configuration for host with caFile.
func tlsConfigFor(host, caFile string, given *tls.Config) (*tls.Config, error) {
	if given != nil {
		c := given.Clone()
		if c.ServerName == "" {
			c.ServerName = host
		}
		return c, nil
	}
	return tlsutil.ClientConfig(host, caFile)
}

// readLine reads one line (with its CRLF) of at most the reader's size.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errors.New("line too long")
	}
	if err != nil {
		return nil, err
	}
	return bytes.Clone(line), nil
}

// replayConn is a connection whose first bytes are replayed from pre: the
// greeting the probe has already read (the client library then parses it as
// usual), or a stand-in greeting after STARTTLS.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func replay(conn net.Conn, br *bufio.Reader, pre []byte) net.Conn {
	if br != nil && br.Buffered() > 0 {
		rest, _ := br.Peek(br.Buffered())
		pre = append(bytes.Clone(pre), rest...)
	}
	return replayConn{Conn: conn, r: io.MultiReader(bytes.NewReader(pre), conn)}
}

func quote(b []byte) string {
	s := strings.TrimRight(string(b), "\r\n")
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strconv.Quote(s)
}
