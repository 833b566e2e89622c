// Package relay is Lifeboat's local submission server: mail programs
// (Thunderbird, Outlook, Apple Mail) send through it, and Lifeboat routes
// the mail through the first provider that can take it.
//
// Guarantees:
//   - Never an open relay: every MAIL FROM needs a successful AUTH with the
//     credentials Lifeboat generated (PLAIN or LOGIN).
//   - "250" is answered only after the message is fsynced into the outbox
//     (store/outbox): an acknowledged message survives a crash.
//   - It listens on loopback unless the configuration explicitly allows
//     more. It always offers STARTTLS (its own certificate, whose
//     fingerprint "lifeboat relay --show-credentials" prints); beyond
//     loopback it refuses AUTH without it.
//   - Password guessing is slowed down: after 5 failed logins from one
//     address, or 20 from all of them, within a minute, further attempts
//     are refused until the minute has passed, and a connection is closed
//     after its third failure.
package relay

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
)

// Options configure a relay.
type Options struct {
	Addr        string // default 127.0.0.1:1587
	AllowRemote bool   // listen beyond loopback
	Username    string // default "lifeboat"
	Password    string // required
	Outbox      *outbox.Outbox
	// Queued is called after a message is durably queued (to wake the
	// router).
	Queued func(id string)
	// MaxMessageBytes default 50 MB.
	MaxMessageBytes int64
	// TLS, when set, is offered with STARTTLS (required beyond loopback).
	TLS *tlsConfig
	// AuthFailureDelay slows password guessing (default 1 s).
	AuthFailureDelay time.Duration
	// Limits on failed logins within AuthWindow (default 1 minute): per
	// source address (default 5) and overall (default 20); beyond them
	// AUTH is refused (454 4.7.0) without the password being looked at,
	// until the window has passed. A connection is closed after
	// AuthFailuresPerConn (default 3) failures.
	AuthWindow            time.Duration
	AuthFailuresPerSource int
	AuthFailures          int
	AuthFailuresPerConn   int
	now                   func() time.Time
}

type tlsConfig = TLSConfig

// Relay is a running relay.
type Relay struct {
	Addr    string
	srv     *smtp.Server
	ln      net.Listener
	o       Options
	mu      sync.Mutex
	n       int
	checked int
	guard   guard
}

// ErrRemote means a non-loopback address was asked for without permission.
var ErrRemote = errors.New("the relay listens beyond this computer only with relay_allow_remote = true")

func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start listens and serves until Close.
func Start(o Options) (*Relay, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:1587"
	}
	if o.Username == "" {
		o.Username = "lifeboat"
	}
	if o.Password == "" {
		return nil, errors.New("relay: no password set")
	}
	if o.Outbox == nil {
		return nil, errors.New("relay: no outbox")
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 50 << 20
	}
	if o.AuthFailureDelay == 0 {
		o.AuthFailureDelay = time.Second
	}
	if o.AuthWindow == 0 {
		o.AuthWindow = time.Minute
	}
	if o.AuthFailuresPerSource == 0 {
		o.AuthFailuresPerSource = 5
	}
	if o.AuthFailures == 0 {
		o.AuthFailures = 20
	}
	if o.AuthFailuresPerConn == 0 {
		o.AuthFailuresPerConn = 3
	}
	if o.now == nil {
		o.now = time.Now
	}
	loopback := isLoopbackAddr(o.Addr)
	if !loopback && !o.AllowRemote {
		return nil, ErrRemote
	}
	if !loopback && o.TLS == nil {
		return nil, errors.New("relay: listening beyond loopback needs TLS")
	}
	r := &Relay{o: o, guard: guard{window: o.AuthWindow, perSource: o.AuthFailuresPerSource, all: o.AuthFailures, now: o.now,
		bySource: map[string][]time.Time{}, inflightBy: map[string]int{}}}
	r.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		raw, _ := c.Conn().(*hangupConn)
		return &session{r: r, conn: c, raw: raw}, nil
	}))
	r.srv.Domain = "lifeboat.local"
	r.srv.MaxMessageBytes = o.MaxMessageBytes
	r.srv.MaxRecipients = 1000
	r.srv.AllowInsecureAuth = loopback
	r.srv.ReadTimeout = 5 * time.Minute
	r.srv.WriteTimeout = 5 * time.Minute
	if o.TLS != nil {
		r.srv.TLSConfig = o.TLS.Config
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("relay: cannot listen on %s: %w (another program may use the port; set relay_listen)", o.Addr, err)
	}
	r.ln = hangupListener{ln}
	r.Addr = ln.Addr().String()
	go r.srv.Serve(r.ln)
	return r, nil
}

// Close stops the relay.
func (r *Relay) Close() error { return r.srv.Close() }

// Checked counts the passwords the relay compared (every AUTH that got as
// far as a user name and password), for tests of the limits.
func (r *Relay) Checked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checked
}

// guard counts failed logins in a sliding window, per source and overall.
type guard struct {
	mu         sync.Mutex
	window     time.Duration
	perSource  int
	all        int
	now        func() time.Time
	bySource   map[string][]time.Time
	recent     []time.Time
	inflight   int
	inflightBy map[string]int
}

func (g *guard) prune(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= g.window {
		i++
	}
	return ts[i:]
}

// begin reports whether a password from src may be looked at now: fewer
// failures in the window, plus checks under way, than the limits. A true
// must be followed by end.
func (g *guard) begin(src string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.recent = g.prune(g.recent, now)
	g.bySource[src] = g.prune(g.bySource[src], now)
	if len(g.recent)+g.inflight >= g.all || len(g.bySource[src])+g.inflightBy[src] >= g.perSource {
		if len(g.bySource[src]) == 0 {
			delete(g.bySource, src)
		}
		return false
	}
	g.inflight++
	g.inflightBy[src]++
	return true
}

// end records the outcome of a check begin allowed.
func (g *guard) end(src string, failed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflightBy[src]--; g.inflightBy[src] == 0 {
		delete(g.inflightBy, src)
	}
	if failed {
		now := g.now()
		g.recent = append(g.recent, now)
		g.bySource[src] = append(g.bySource[src], now)
	}
}

// Accepted counts the messages queued through this relay.
func (r *Relay) Accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

type session struct {
	r        *Relay
	conn     *smtp.Conn
	raw      *hangupConn // the connection under TLS, if any
	authed   bool
	failures int
	from     string
	to       []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

// source is the client's address, without its port.
func (s *session) source() string {
	host, _, err := net.SplitHostPort(s.conn.Conn().RemoteAddr().String())
	if err != nil {
		return s.conn.Conn().RemoteAddr().String()
	}
	return host
}

func (s *session) check(user, pass string) error {
	src := s.source()
	if !s.r.guard.begin(src) {
		return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
			Message: "Too many failed logins recently; try again in a minute (the password was not checked)"}
	}
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.r.o.Username)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.r.o.Password)) == 1
	s.r.guard.end(src, !okUser || !okPass)
	s.r.mu.Lock()
	s.r.checked++
	s.r.mu.Unlock()
	if !okUser || !okPass {
		s.failures++
		time.Sleep(s.r.o.AuthFailureDelay)
		if s.failures >= s.r.o.AuthFailuresPerConn {
			s.hangUp()
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many failed logins; closing the connection"}
		}
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid (use the user name and password shown by lifeboat relay)"}
	}
	s.authed = true
	return nil
}

// hangUp closes the connection as soon as the reply being written is out
// (go-smtp writes it after the session's method returns).
func (s *session) hangUp() {
	if s.raw != nil {
		s.raw.hangup.Store(true)
	}
}

// hangupConn is a connection that can be told to close right after its
// next write: the server's last reply reaches the client, then nothing.
type hangupConn struct {
	net.Conn
	hangup atomic.Bool
}

func (c *hangupConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.hangup.Load() {
		c.Conn.Close()
	}
	return n, err
}

type hangupListener struct{ net.Listener }

func (l hangupListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &hangupConn{Conn: c}, nil
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.failures >= s.r.o.AuthFailuresPerConn {
		s.hangUp()
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many failed logins; closing the connection"}
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authorization identity not allowed"}
			}
			return s.check(user, pass)
		}), nil
	case sasl.Login:
		return &loginServer{check: s.check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	p, err := failover.Prepare(raw, s.from, s.to, "")
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	env, err := s.r.o.Outbox.Enqueue(outbox.Envelope{From: p.From, To: p.To, MessageID: p.MessageID, Via: "relay"}, bytes.NewReader(p.Raw))
	if err != nil {
		// Not durable: the client must keep the message and retry.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Cannot queue the message right now: " + err.Error()}
	}
	s.r.mu.Lock()
	s.r.n++
	s.r.mu.Unlock()
	if s.r.o.Queued != nil {
		s.r.o.Queued(env.ID)
	}
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (a de-facto standard that
// Outlook and some phones still use): it asks for the user name, then the
// password.
type loginServer struct {
	check    func(user, pass string) error
	user     string
	gotUser  bool
	started  bool
	finished bool
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch {
	case !l.started:
		l.started = true
		if len(response) > 0 { // initial response carries the user name
			l.user, l.gotUser = string(response), true
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case !l.gotUser:
		l.user, l.gotUser = string(response), true
		return []byte("Password:"), false, nil
	case !l.finished:
		l.finished = true
		return nil, true, l.check(strings.TrimSpace(l.user), string(response))
	}
	return nil, true, errors.New("unexpected AUTH LOGIN response")
}
