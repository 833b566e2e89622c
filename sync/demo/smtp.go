package demo

import (
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTP is a demo provider's submission server: plaintext on 127.0.0.1, AUTH
// PLAIN with one user, every message it accepts kept in memory. (Tests that
// need failures on demand use sync/testenv/smtpsink.)
type SMTP struct {
	Addr string
	srv  *smtp.Server
	mu   sync.Mutex
	msgs [][]byte
}

// StartSMTP runs a demo submission server for user until Close.
func StartSMTP(user, password string) (*SMTP, error) {
	s := &SMTP{}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{s: s, user: user, password: password}, nil
	}))
	s.srv.Domain = "demo.lifeboat"
	s.srv.AllowInsecureAuth = true // loopback only
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = ln.Addr().String()
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *SMTP) Close() error { return s.srv.Close() }

// Messages returns what the server accepted so far.
func (s *SMTP) Messages() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.msgs...)
}

type smtpSession struct {
	s              *SMTP
	user, password string
	authed         bool
}

func (se *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.user || pass != se.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		se.authed = true
		return nil
	}), nil
}

func (se *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !se.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (se *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (se *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.s.mu.Lock()
	se.s.msgs = append(se.s.msgs, b)
	se.s.mu.Unlock()
	return nil
}

func (se *smtpSession) Reset()        {}
func (se *smtpSession) Logout() error { return nil }
