// Package smtpsink runs an in-process SMTP submission server (go-smtp) on
// 127.0.0.1 that records what it receives and fails on demand: the fast
// server for unit tests of sending and failover. Integration tests use real
// Postfix instances (sync/testenv/mailstack) instead.
//
// Invariants: a Server listens on 127.0.0.1 only; its certificate, made
// fresh by sync/tlsutil.SelfSigned for each Server, is trusted only through
// ClientTLS or CAFile, so a client without them fails verification as it
// would against a real server; AUTH is refused before TLS unless Security
// is "plain".
package smtpsink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	User string
}

// Faults make the server fail; change them between sends with Set.
type Faults struct {
	Auth *smtp.SMTPError            // reply to AUTH
	Mail *smtp.SMTPError            // reply to MAIL FROM
	Rcpt map[string]*smtp.SMTPError // reply to RCPT TO, by recipient
	Data *smtp.SMTPError            // reply after the final dot
	// DropAfterData reads the whole message, then closes the connection
	// without a reply (the ambiguous case).
	DropAfterData bool
	// AcceptThenDrop stores the message, then closes without a reply
	// (ambiguous, and the message really went out).
	AcceptThenDrop bool
	// RefuseConnections closes every new connection at once.
	RefuseConnections bool
	// DelayFinalReply stores the message, then waits this long before
	// its reply to the final dot.
	DelayFinalReply time.Duration
}

// Options for Start.
type Options struct {
	Security string // "tls", "starttls" (default), "plain"
	Users    map[string]string
	MaxSize  int64
	// CertHost is the name in the server certificate (default 127.0.0.1
	// and localhost); set another to test host-name verification.
	CertHost string
}

// Server is a running test server.
type Server struct {
	Host      string
	Port      int
	ClientTLS *tls.Config // trusts the server certificate
	CAFile    string      // the certificate as PEM (set by Start)

	srv     *smtp.Server
	ln      net.Listener
	certPEM []byte
	mu      sync.Mutex
	faults  Faults
	msgs    []Message
	conns   int
	users   map[string]string
}

// Start runs a server until t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	s.CAFile = filepath.Join(t.TempDir(), "smtpsink-ca.pem")
	if err := os.WriteFile(s.CAFile, s.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// New runs a server until Close.
func New(opts Options) (*Server, error) {
	if opts.Security == "" {
		opts.Security = "starttls"
	}
	if opts.Users == nil {
		opts.Users = map[string]string{"user1": "pass1"}
	}
	cert, certPEM, pool, err := selfSigned(opts.CertHost)
	if err != nil {
		return nil, err
	}
	s := &Server{users: opts.Users, certPEM: certPEM}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		refuse := s.faults.RefuseConnections
		s.mu.Unlock()
		if refuse {
			c.Conn().Close()
			return nil, errors.New("refused")
		}
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = "smtpsink.local"
	s.srv.MaxMessageBytes = opts.MaxSize
	s.srv.AllowInsecureAuth = opts.Security == "plain"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	if opts.Security == "starttls" {
		s.srv.TLSConfig = tlsCfg
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if opts.Security == "tls" {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.ln = ln
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	s.ClientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	go s.srv.Serve(ln)
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Set replaces the faults.
func (s *Server) Set(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Messages returns what the server accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Connections counts the connections the server saw.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (se *session) faults() Faults {
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	return se.s.faults
}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if f := se.faults().Auth; f != nil {
			return f
		}
		if want, ok := se.s.users[user]; !ok || want != pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		se.user = user
		return nil
	}
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.user == "" {
		return smtp.ErrAuthRequired
	}
	if f := se.faults().Mail; f != nil {
		return f
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	for addr, f := range se.faults().Rcpt {
		if strings.EqualFold(addr, to) {
			return f
		}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f := se.faults()
	if f.DropAfterData {
		se.c.Conn().Close()
		return errors.New("dropped")
	}
	if f.Data != nil {
		return f.Data
	}
	se.s.mu.Lock()
	se.s.msgs = append(se.s.msgs, Message{From: se.from, To: append([]string(nil), se.to...), Data: b, User: se.user})
	se.s.mu.Unlock()
	if f.AcceptThenDrop {
		se.c.Conn().Close()
		return errors.New("dropped")
	}
	time.Sleep(f.DelayFinalReply)
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }

// selfSigned makes the server's certificate (sync/tlsutil.SelfSigned) for
// host, default 127.0.0.1, ::1 and localhost, valid for a day: the pair,
// the certificate as PEM, and a pool trusting it.
func selfSigned(host string) (tls.Certificate, []byte, *x509.CertPool, error) {
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	if host != "" {
		hosts = []string{host}
	}
	certPEM, keyPEM, err := tlsutil.SelfSigned("smtpsink", hosts, 24*time.Hour)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return cert, certPEM, pool, nil
}
