package health

import (
	"context"
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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// --- test servers -----------------------------------------------------------

type testCert struct {
	tls    tls.Certificate
	caFile string
}

// newCert makes a self-signed certificate (sync/tlsutil.SelfSigned) for
// 127.0.0.1 and localhost that expires after validFor.
func newCert(t *testing.T, validFor time.Duration) testCert {
	t.Helper()
	certPEM, keyPEM, err := tlsutil.SelfSigned("lifeboat test server", []string{"127.0.0.1", "::1", "localhost"}, validFor)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return testCert{tls: pair, caFile: caFile}
}

func (c testCert) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.tls}, MinVersion: tls.VersionTLS12}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func port(t *testing.T, ln net.Listener) int {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(p)
	return n
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// startIMAP serves an in-memory IMAP server on ln; starttls enables
// STARTTLS with that configuration.
func startIMAP(t *testing.T, ln net.Listener, starttls *tls.Config) {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("jane@example.org", "secret")
	mem.AddUser(user)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		TLSConfig:    starttls,
		InsecureAuth: true,
		Logger:       nopLogger{},
	})
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

type smtpBackend struct {
	mu      sync.Mutex
	user    string
	pass    string
	authErr error // returned by AUTH instead of checking the password
	mailErr error // returned by MAIL FROM
	mails   []string
	rcpts   []string
	resets  int
	datas   int
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

type smtpSession struct {
	b      *smtpBackend
	authed bool
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if s.b.authErr != nil {
			return s.b.authErr
		}
		if user != s.b.user || pass != s.b.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	if s.b.mailErr != nil {
		return s.b.mailErr
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.mails = append(s.b.mails, from)
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.rcpts = append(s.b.rcpts, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	s.b.mu.Lock()
	s.b.datas++
	s.b.mu.Unlock()
	io.Copy(io.Discard, r)
	return errors.New("the probe must never send DATA")
}

func (s *smtpSession) Reset() {
	s.b.mu.Lock()
	s.b.resets++
	s.b.mu.Unlock()
}

func (s *smtpSession) Logout() error { return nil }

// startSMTP serves b on ln; starttls enables STARTTLS.
func startSMTP(t *testing.T, ln net.Listener, b *smtpBackend, starttls *tls.Config) {
	t.Helper()
	srv := smtp.NewServer(b)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.TLSConfig = starttls
	srv.ErrorLog = nopLogger{}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func newSMTP(t *testing.T) (*smtpBackend, SMTPEndpoint) {
	b := &smtpBackend{user: "jane@example.org", pass: "secret"}
	ln := listen(t)
	startSMTP(t, ln, b, nil)
	return b, SMTPEndpoint{Host: "127.0.0.1", Port: port(t, ln), Security: imapconn.Plain, Username: "jane@example.org", Timeout: 5 * time.Second}
}

// silent accepts connections and never says a word.
func silent(t *testing.T) int {
	ln := listen(t)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return port(t, ln)
}

// closedPort is a port nothing listens on.
func closedPort(t *testing.T) int {
	ln := listen(t)
	p := port(t, ln)
	ln.Close()
	return p
}

func phases(r Result) string {
	var s []string
	for _, p := range r.Phases {
		s = append(s, string(p.Phase))
	}
	return strings.Join(s, ",")
}

func wantPhases(t *testing.T, r Result, want string) {
	t.Helper()
	if got := phases(r); got != want {
		t.Fatalf("phases %s, want %s (result %+v)", got, want, r)
	}
	for _, p := range r.Phases {
		if p.Duration <= 0 {
			t.Errorf("phase %s has no duration", p.Phase)
		}
	}
}

func wantFail(t *testing.T, r Result, phase Phase, kind Kind, cause string) {
	t.Helper()
	if r.OK || r.FailedPhase != phase || r.Kind != kind || !strings.Contains(r.Cause, cause) || r.Err == nil {
		t.Fatalf("got ok=%v phase=%q kind=%q cause=%q err=%v; want phase %q kind %q cause containing %q",
			r.OK, r.FailedPhase, r.Kind, r.Cause, r.Err, phase, kind, cause)
	}
}

// --- IMAP -------------------------------------------------------------------

func TestProbeIMAPSuccess(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := ProbeIMAP(context.Background(), p.Endpoint(), &Login{Password: p.Password})
	if !r.OK || !r.LoggedIn || r.Err != nil {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "tcp,greeting,capability,login,noop,logout")
	if r.Total < r.Duration(PhaseLogin) || r.Duration(PhaseDNS) != 0 {
		t.Fatalf("timings %+v", r)
	}
	if !contains(r.Capabilities, "IMAP4rev1") {
		t.Errorf("capabilities %v", r.Capabilities)
	}
	o := r.Observation("demo")
	if !o.OK || !o.LoggedIn || o.Protocol != IMAP || o.Latency != r.Total {
		t.Errorf("observation %+v", o)
	}

	// Without login: connection checks only.
	r = ProbeIMAP(context.Background(), p.Endpoint(), nil)
	if !r.OK || r.LoggedIn || r.Login {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "tcp,greeting,capability,logout")
	if r.Observation("demo").LoggedIn {
		t.Fatal("a connection check must not count as a login")
	}
}

func TestProbeIMAPDNS(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ep := p.Endpoint()
	ep.Host = "localhost"
	r := ProbeIMAP(context.Background(), ep, nil)
	if !r.OK {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "dns,tcp,greeting,capability,logout")
}

func TestProbeIMAPWrongPassword(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := ProbeIMAP(context.Background(), p.Endpoint(), &Login{Password: "wrong"})
	wantFail(t, r, PhaseLogin, KindAuth, "login refused: NO [AUTHENTICATIONFAILED]")
	wantPhases(t, r, "tcp,greeting,capability,login")
	if strings.Contains(r.Cause, "wrong") || strings.Contains(r.Err.Error(), "wrong") {
		t.Fatal("the password leaked into the cause")
	}
}

func TestProbeIMAPNothingListening(t *testing.T) {
	ep := imapconn.Endpoint{Host: "127.0.0.1", Port: closedPort(t), Security: imapconn.Plain, Username: "x"}
	r := ProbeIMAP(context.Background(), ep, &Login{Password: "x"})
	wantFail(t, r, PhaseTCP, KindUnreachable, "cannot connect: connection refused")
	if r.Ran(PhaseLogin) {
		t.Fatal("login phase ran")
	}
}

func TestProbeIMAPNoGreeting(t *testing.T) {
	ep := imapconn.Endpoint{Host: "127.0.0.1", Port: silent(t), Security: imapconn.Plain, Timeout: 300 * time.Millisecond}
	start := time.Now()
	r := ProbeIMAP(context.Background(), ep, nil)
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("probe took %s", el)
	}
	wantFail(t, r, PhaseGreeting, KindUnreachable, "no answer within 300 ms while waiting for the greeting")
	if d := r.Duration(PhaseGreeting); d < 250*time.Millisecond {
		t.Fatalf("greeting phase %s", d)
	}
}

func TestProbeIMAPUntrustedCert(t *testing.T) {
	cert := newCert(t, 365*24*time.Hour)
	ln := tls.NewListener(listen(t), cert.serverConfig())
	startIMAP(t, ln, nil)
	ep := imapconn.Endpoint{Host: "127.0.0.1", Port: port(t, ln), Security: imapconn.TLS, Username: "jane@example.org", Timeout: 5 * time.Second}
	r := ProbeIMAP(context.Background(), ep, &Login{Password: "secret"})
	wantFail(t, r, PhaseTLS, KindTLS, "secure connection failed: certificate not trusted")
	wantPhases(t, r, "tcp,tls")
}

func TestProbeIMAPTLSExpiringSoon(t *testing.T) {
	cert := newCert(t, 5*24*time.Hour)
	ln := tls.NewListener(listen(t), cert.serverConfig())
	startIMAP(t, ln, nil)
	ep := imapconn.Endpoint{Host: "127.0.0.1", Port: port(t, ln), Security: imapconn.TLS, Username: "jane@example.org", CAFile: cert.caFile, Timeout: 5 * time.Second}
	r := ProbeIMAP(context.Background(), ep, &Login{Password: "secret"})
	if !r.OK || !r.LoggedIn {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "tcp,tls,greeting,capability,login,noop,logout")
	if r.CertExpires.IsZero() || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "(in 5 days)") {
		t.Fatalf("warnings %q, expiry %v", r.Warnings, r.CertExpires)
	}
	if o := r.Observation("x"); o.Warning == "" {
		t.Fatal("warning not passed on")
	}
	// A certificate far from expiry gives no warning.
	cert = newCert(t, 90*24*time.Hour)
	ln = tls.NewListener(listen(t), cert.serverConfig())
	startIMAP(t, ln, nil)
	ep.Port, ep.CAFile = port(t, ln), cert.caFile
	if r := ProbeIMAP(context.Background(), ep, nil); !r.OK || len(r.Warnings) != 0 {
		t.Fatalf("result %+v", r)
	}
}

func TestProbeIMAPStartTLS(t *testing.T) {
	cert := newCert(t, 365*24*time.Hour)
	ln := listen(t)
	startIMAP(t, ln, cert.serverConfig())
	ep := imapconn.Endpoint{Host: "127.0.0.1", Port: port(t, ln), Security: imapconn.StartTLS, Username: "jane@example.org", CAFile: cert.caFile, Timeout: 5 * time.Second}
	r := ProbeIMAP(context.Background(), ep, &Login{Password: "secret"})
	if !r.OK || !r.LoggedIn {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "tcp,greeting,tls,capability,login,noop,logout")
	if contains(r.Capabilities, "STARTTLS") {
		t.Errorf("capabilities after STARTTLS still offer it: %v", r.Capabilities)
	}
	// Without trust in the certificate the handshake fails.
	ep.CAFile = ""
	r = ProbeIMAP(context.Background(), ep, &Login{Password: "secret"})
	wantFail(t, r, PhaseTLS, KindTLS, "certificate not trusted")
}

func TestProbeIMAPStartTLSNotOffered(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ep := p.Endpoint()
	ep.Security = imapconn.StartTLS
	r := ProbeIMAP(context.Background(), ep, &Login{Password: p.Password})
	wantFail(t, r, PhaseTLS, KindTLS, "refused STARTTLS")
}

func TestProbePlaintextRefused(t *testing.T) {
	r := ProbeIMAP(context.Background(), imapconn.Endpoint{Host: "192.0.2.1", Port: 143, Security: imapconn.Plain}, nil)
	wantFail(t, r, PhaseTLS, KindTLS, "plaintext refused")
	r = ProbeSMTP(context.Background(), SMTPEndpoint{Host: "mail.example.org", Port: 25, Security: imapconn.Plain}, nil)
	wantFail(t, r, PhaseTLS, KindTLS, "plaintext refused")
	if r.Ran(PhaseDNS) || r.Ran(PhaseTCP) {
		t.Fatal("connected anyway")
	}
}

// A tls_ca_file that cannot be used fails the probe at TLS, naming the
// file, before any connection.
func TestProbeCAFileUnusable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "bridge.pem")
	r := ProbeIMAP(context.Background(), imapconn.Endpoint{Host: "192.0.2.1", Port: 993, CAFile: missing}, nil)
	wantFail(t, r, PhaseTLS, KindTLS, missing)
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = ProbeSMTP(context.Background(), SMTPEndpoint{Host: "192.0.2.1", Port: 465, CAFile: empty}, nil)
	wantFail(t, r, PhaseTLS, KindTLS, empty+" holds no PEM certificate")
	if r.Ran(PhaseDNS) || r.Ran(PhaseTCP) {
		t.Fatal("connected anyway")
	}
}

func TestProbeCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	ep := imapconn.Endpoint{Host: "127.0.0.1", Port: silent(t), Security: imapconn.Plain, Timeout: 5 * time.Second}
	start := time.Now()
	r := ProbeIMAP(ctx, ep, nil)
	if !r.Canceled || r.OK || r.Kind != KindNone || time.Since(start) > 2*time.Second {
		t.Fatalf("result %+v", r)
	}
}

func TestProbeWrongProtocol(t *testing.T) {
	// An IMAP probe pointed at an SMTP port, and the reverse.
	_, sep := newSMTP(t)
	r := ProbeIMAP(context.Background(), imapconn.Endpoint{Host: "127.0.0.1", Port: sep.Port, Security: imapconn.Plain}, nil)
	wantFail(t, r, PhaseGreeting, KindOther, "not an IMAP server")
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	iep := p.Endpoint()
	r = ProbeSMTP(context.Background(), SMTPEndpoint{Host: "127.0.0.1", Port: iep.Port, Security: imapconn.Plain}, nil)
	wantFail(t, r, PhaseGreeting, KindOther, "not an SMTP server")
}

// --- SMTP -------------------------------------------------------------------

func TestProbeSMTPSuccess(t *testing.T) {
	b, ep := newSMTP(t)
	r := ProbeSMTP(context.Background(), ep, &Login{Password: "secret"})
	if !r.OK || !r.LoggedIn {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "tcp,greeting,capability,login,envelope,logout")
	if !contains(r.Capabilities, "AUTH PLAIN") {
		t.Errorf("capabilities %v", r.Capabilities)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.mails) != 1 || b.mails[0] != "jane@example.org" || len(b.rcpts) != 1 || b.rcpts[0] != "jane@example.org" {
		t.Fatalf("MAIL %v RCPT %v", b.mails, b.rcpts)
	}
	if b.resets == 0 {
		t.Error("no RSET")
	}
	if b.datas != 0 {
		t.Fatal("DATA was sent")
	}
}

func TestProbeSMTPNoLogin(t *testing.T) {
	b, ep := newSMTP(t)
	r := ProbeSMTP(context.Background(), ep, nil)
	if !r.OK || r.LoggedIn {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "tcp,greeting,capability,logout")
	if len(b.mails) != 0 {
		t.Fatal("MAIL without login")
	}
	// A login without an address stops after AUTH.
	ep.Username = "jane"
	b.user = "jane"
	r = ProbeSMTP(context.Background(), ep, &Login{Password: "secret"})
	wantPhases(t, r, "tcp,greeting,capability,login,logout")
}

func TestProbeSMTPWrongPassword(t *testing.T) {
	_, ep := newSMTP(t)
	r := ProbeSMTP(context.Background(), ep, &Login{Password: "wrong"})
	wantFail(t, r, PhaseLogin, KindAuth, "login refused: 535 5.7.8 Authentication failed")
	o := r.Observation("bt")
	if o.OK || o.Kind != KindAuth || o.Phase != PhaseLogin {
		t.Fatalf("observation %+v", o)
	}
}

func TestProbeSMTPThrottled(t *testing.T) {
	b, ep := newSMTP(t)
	b.authErr = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many login attempts, please try again later."}
	r := ProbeSMTP(context.Background(), ep, &Login{Password: "secret"})
	wantFail(t, r, PhaseLogin, KindThrottled, "login throttled: 454 4.7.0 Too many login attempts")
}

func TestProbeSMTPSendAsDenied(t *testing.T) {
	b, ep := newSMTP(t)
	b.mailErr = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 60}, Message: "SendAsDenied; jane@example.org not allowed to send"}
	r := ProbeSMTP(context.Background(), ep, &Login{Password: "secret"})
	wantFail(t, r, PhaseEnvelope, KindAuth, "sending as yourself refused: 550 5.7.60 SendAsDenied")
}

func TestProbeSMTPNothingListening(t *testing.T) {
	r := ProbeSMTP(context.Background(), SMTPEndpoint{Host: "127.0.0.1", Port: closedPort(t), Security: imapconn.Plain}, nil)
	wantFail(t, r, PhaseTCP, KindUnreachable, "connection refused")
}

func TestProbeSMTPNoGreeting(t *testing.T) {
	ep := SMTPEndpoint{Host: "127.0.0.1", Port: silent(t), Security: imapconn.Plain, Timeout: 300 * time.Millisecond}
	start := time.Now()
	r := ProbeSMTP(context.Background(), ep, &Login{Password: "x"})
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("probe took %s", el)
	}
	wantFail(t, r, PhaseGreeting, KindUnreachable, "no answer within 300 ms while waiting for the greeting")
}

func TestProbeSMTPGreeting421(t *testing.T) {
	ln := listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("421-4.3.2 Service not available\r\n421 4.3.2 try later\r\n"))
			c.Close()
		}
	}()
	defer ln.Close()
	r := ProbeSMTP(context.Background(), SMTPEndpoint{Host: "127.0.0.1", Port: port(t, ln), Security: imapconn.Plain}, nil)
	wantFail(t, r, PhaseGreeting, KindUnreachable, "no proper greeting: 421 4.3.2 Service not available try later")
}

func TestProbeSMTPUntrustedCert(t *testing.T) {
	cert := newCert(t, 365*24*time.Hour)
	b := &smtpBackend{user: "jane@example.org", pass: "secret"}
	ln := tls.NewListener(listen(t), cert.serverConfig())
	startSMTP(t, ln, b, nil)
	ep := SMTPEndpoint{Host: "127.0.0.1", Port: port(t, ln), Security: imapconn.TLS, Username: "jane@example.org", Timeout: 5 * time.Second}
	r := ProbeSMTP(context.Background(), ep, &Login{Password: "secret"})
	wantFail(t, r, PhaseTLS, KindTLS, "certificate not trusted")
	// Trusted, it works.
	ep.CAFile = cert.caFile
	r = ProbeSMTP(context.Background(), ep, &Login{Password: "secret"})
	if !r.OK {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "tcp,tls,greeting,capability,login,envelope,logout")
}

func TestProbeSMTPWrongHostName(t *testing.T) {
	cert := newCert(t, 365*24*time.Hour)
	ln := tls.NewListener(listen(t), cert.serverConfig())
	startSMTP(t, ln, &smtpBackend{}, nil)
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, cert.tls.Certificate[0]))
	ep := SMTPEndpoint{Host: "127.0.0.1", Port: port(t, ln), Security: imapconn.TLS, Timeout: 5 * time.Second,
		TLSConfig: &tls.Config{ServerName: "smtp.example.org", RootCAs: pool}}
	r := ProbeSMTP(context.Background(), ep, nil)
	wantFail(t, r, PhaseTLS, KindTLS, "certificate is not valid for smtp.example.org")
}

func TestProbeSMTPStartTLS(t *testing.T) {
	cert := newCert(t, 10*24*time.Hour)
	b := &smtpBackend{user: "jane@example.org", pass: "secret"}
	ln := listen(t)
	startSMTP(t, ln, b, cert.serverConfig())
	ep := SMTPEndpoint{Host: "localhost", Port: port(t, ln), Security: imapconn.StartTLS, Username: "jane@example.org", CAFile: cert.caFile, Timeout: 5 * time.Second}
	r := ProbeSMTP(context.Background(), ep, &Login{Password: "secret"})
	if !r.OK || !r.LoggedIn {
		t.Fatalf("result %+v", r)
	}
	wantPhases(t, r, "dns,tcp,greeting,tls,capability,login,envelope,logout")
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "in 10 days") {
		t.Fatalf("warnings %q", r.Warnings)
	}
	// A server without STARTTLS is refused, never used in plaintext.
	_, plainEP := newSMTP(t)
	plainEP.Security = imapconn.StartTLS
	r = ProbeSMTP(context.Background(), plainEP, &Login{Password: "secret"})
	wantFail(t, r, PhaseTLS, KindTLS, "does not offer STARTTLS")
}

func TestProbeFeedsTracker(t *testing.T) {
	_, ep := newSMTP(t)
	tr := NewTracker(Config{}, Hooks{})
	for i := 0; i < 3; i++ {
		tr.Observe(ProbeSMTP(context.Background(), ep, &Login{Password: "wrong"}).Observation("acct"))
	}
	if tr.State("acct") != NeedsYou {
		t.Fatalf("state %v", tr.State("acct"))
	}
	tr.Observe(ProbeSMTP(context.Background(), ep, nil).Observation("acct"))
	if tr.State("acct") != NeedsYou {
		t.Fatal("a connection check ended NeedsYou")
	}
	tr.Observe(ProbeSMTP(context.Background(), ep, &Login{Password: "secret"}).Observation("acct"))
	if tr.State("acct") != Up {
		t.Fatalf("state %v after a good login", tr.State("acct"))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
