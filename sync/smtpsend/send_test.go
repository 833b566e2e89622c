package smtpsend

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/smtpsink"
)

var body = []byte("From: jane@a.test\r\nTo: x@b.test, y@b.test\r\nSubject: hi\r\nMessage-ID: <m@a.test>\r\n\r\n.leading dot\r\nhello\r\n")

func endpoint(s *smtpsink.Server, security string) Endpoint {
	return Endpoint{Host: s.Host, Port: s.Port, Security: security, Username: "user1", TLSConfig: s.ClientTLS, Timeout: 5 * time.Second,
		FinalReplyTimeout: 2 * time.Second}
}

func send(t *testing.T, ep Endpoint, password string, rcpts ...string) Result {
	t.Helper()
	if len(rcpts) == 0 {
		rcpts = []string{"x@b.test", "y@b.test"}
	}
	return Send(context.Background(), ep, password, "jane@a.test", rcpts, bytes.NewReader(body), int64(len(body)), Hooks{})
}

func code(c int, e1, e2, e3 int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCode{e1, e2, e3}, Message: msg}
}

func TestSendSecurityModes(t *testing.T) {
	for _, sec := range []string{"tls", "starttls", "plain"} {
		t.Run(sec, func(t *testing.T) {
			s := smtpsink.Start(t, smtpsink.Options{Security: sec})
			res := send(t, endpoint(s, sec), "pass1")
			if res.Failure != nil || len(res.Accepted) != 2 {
				t.Fatalf("%+v %v", res, res.Failure)
			}
			got := s.Messages()
			if len(got) != 1 || !bytes.Equal(got[0].Data, body) || got[0].From != "jane@a.test" || got[0].User != "user1" {
				t.Fatalf("server got %+v", got)
			}
		})
	}
}

// The classification table (sync/failure.SMTP; README, "Sending through the
// next account when a provider fails"), case by case.
func TestClassification(t *testing.T) {
	cases := []struct {
		name   string
		faults smtpsink.Faults
		action Action
		phase  Phase
	}{
		{"421 at MAIL", smtpsink.Faults{Mail: code(421, 4, 3, 2, "Service not available, closing channel")}, NextAccount, PhaseMail},
		{"451 at MAIL", smtpsink.Faults{Mail: code(451, 4, 3, 0, "Local error in processing")}, NextAccount, PhaseMail},
		{"454 4.7.0 at AUTH", smtpsink.Faults{Auth: code(454, 4, 7, 0, "Too many login attempts, please try again later")}, NextAccountBackoff, PhaseAuth},
		{"535 5.7.8 at AUTH", smtpsink.Faults{Auth: code(535, 5, 7, 8, "Username and Password not accepted")}, NextAccountNeedsYou, PhaseAuth},
		{"534 at AUTH", smtpsink.Faults{Auth: code(534, 5, 7, 9, "Application-specific password required")}, NextAccountNeedsYou, PhaseAuth},
		{"send-as denied at MAIL", smtpsink.Faults{Mail: code(550, 5, 7, 60, "Client does not have permissions to send as this sender")}, NextAccountRewriteFrom, PhaseMail},
		{"quota 5.4.5", smtpsink.Faults{Mail: code(550, 5, 4, 5, "Daily user sending quota exceeded")}, NextAccountPark, PhaseMail},
		{"rate 4.7.x", smtpsink.Faults{Mail: code(450, 4, 7, 28, "rate limited")}, NextAccountPark, PhaseMail},
		{"552 size at MAIL", smtpsink.Faults{Mail: code(552, 5, 3, 4, "Message size exceeds fixed limit")}, NextAccountIfSize, PhaseMail},
		{"552 after DATA", smtpsink.Faults{Data: code(552, 5, 3, 4, "Message too big")}, NextAccountIfSize, PhaseDataEnd},
		{"content 5.7.1", smtpsink.Faults{Data: code(554, 5, 7, 1, "Message rejected as spam")}, AskUser, PhaseDataEnd},
		{"content 5.6.0", smtpsink.Faults{Data: code(554, 5, 6, 0, "Message content rejected")}, AskUser, PhaseDataEnd},
		{"SendAsDenied after DATA", smtpsink.Faults{Data: code(554, 5, 2, 252, "SendAsDenied; jane@a.test not allowed to send as x")}, NextAccountRewriteFrom, PhaseDataEnd},
		{"421 after DATA", smtpsink.Faults{Data: code(421, 4, 4, 2, "timeout")}, NextAccount, PhaseDataEnd},
		{"drop after DATA", smtpsink.Faults{DropAfterData: true}, Ambiguous, PhaseDataEnd},
		{"relay denied at RCPT", smtpsink.Faults{Rcpt: map[string]*smtp.SMTPError{"x@b.test": code(554, 5, 7, 1, "Relay access denied")}}, NextAccount, PhaseRcpt},
	}
	s := smtpsink.Start(t, smtpsink.Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.Set(tc.faults)
			res := send(t, endpoint(s, "starttls"), "pass1")
			if res.Failure == nil {
				t.Fatalf("no failure; accepted %v", res.Accepted)
			}
			if res.Failure.Action != tc.action || res.Failure.Phase != tc.phase {
				t.Fatalf("got %s at %s (%v), want %s at %s", res.Failure.Action, res.Failure.Phase, res.Failure, tc.action, tc.phase)
			}
			if len(res.Accepted) != 0 {
				t.Fatal("a failed submission reported accepted recipients")
			}
		})
	}
	s.Set(smtpsink.Faults{})
}

func TestRecipientFailuresDoNotFailOver(t *testing.T) {
	s := smtpsink.Start(t, smtpsink.Options{})
	s.Set(smtpsink.Faults{Rcpt: map[string]*smtp.SMTPError{
		"y@b.test": code(550, 5, 1, 1, "No such user"),
		"z@b.test": code(450, 4, 2, 1, "Mailbox busy, try later"),
	}})
	res := send(t, endpoint(s, "starttls"), "pass1", "x@b.test", "y@b.test", "z@b.test")
	if res.Failure != nil {
		t.Fatalf("a bad recipient failed the whole message: %v", res.Failure)
	}
	if strings.Join(res.Accepted, ",") != "x@b.test" || res.Rejected["y@b.test"] == nil || res.Deferred["z@b.test"] == nil {
		t.Fatalf("accepted %v rejected %v deferred %v", res.Accepted, res.Rejected, res.Deferred)
	}
	if got := s.Messages(); len(got) != 1 || strings.Join(got[0].To, ",") != "x@b.test" {
		t.Fatalf("delivered %+v", got)
	}
	if !strings.Contains(res.Rejected["y@b.test"].Error(), "550 5.1.1 No such user") {
		t.Fatalf("reason: %v", res.Rejected["y@b.test"])
	}
}

func TestConnectionFailures(t *testing.T) {
	// Nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	res := Send(context.Background(), Endpoint{Host: "127.0.0.1", Port: port, Security: "starttls", Timeout: time.Second}, "x", "a@a", []string{"b@b"}, strings.NewReader("x"), 1, Hooks{})
	if res.Failure == nil || res.Failure.Action != NextAccount || res.Failure.Phase != PhaseConnect {
		t.Fatalf("refused: %v", res.Failure)
	}
	// TLS with the wrong host name: next account, alert, never a downgrade.
	s := smtpsink.Start(t, smtpsink.Options{Security: "tls", CertHost: "smtp.other.example"})
	ep := endpoint(s, "tls")
	ep.TLSConfig = s.ClientTLS.Clone()
	ep.TLSConfig.ServerName = "smtp.a.test"
	res = send(t, ep, "pass1")
	if res.Failure == nil || res.Failure.Action != NextAccountAlert || res.Failure.Phase != PhaseTLS {
		t.Fatalf("wrong host name: %v", res.Failure)
	}
	if s.Messages() != nil {
		t.Fatal("a message went out over an unverified connection")
	}
	// Plain to a remote host is refused before connecting.
	res = Send(context.Background(), Endpoint{Host: "192.0.2.1", Port: 25, Security: "plain"}, "x", "a@a", []string{"b@b"}, strings.NewReader("x"), 1, Hooks{})
	if res.Failure == nil || !strings.Contains(res.Failure.Error(), "plaintext SMTP refused") {
		t.Fatalf("plain remote: %v", res.Failure)
	}
	// Wrong password through the real check.
	s2 := smtpsink.Start(t, smtpsink.Options{})
	res = send(t, endpoint(s2, "starttls"), "wrong")
	if res.Failure == nil || res.Failure.Action != NextAccountNeedsYou || strings.Contains(res.Failure.Error(), "wrong") {
		t.Fatalf("wrong password: %v", res.Failure)
	}
}

func TestSizeLimitAnnouncedByEHLO(t *testing.T) {
	s := smtpsink.Start(t, smtpsink.Options{MaxSize: 50})
	res := send(t, endpoint(s, "starttls"), "pass1")
	if res.Failure == nil || res.Failure.Action != NextAccountIfSize || res.MaxSize != 50 {
		t.Fatalf("%v max %d", res.Failure, res.MaxSize)
	}
	if s.Messages() != nil {
		t.Fatal("sent anyway")
	}
}

func TestHookBeforeFinalDot(t *testing.T) {
	s := smtpsink.Start(t, smtpsink.Options{})
	called := false
	res := Send(context.Background(), endpoint(s, "starttls"), "pass1", "jane@a.test", []string{"x@b.test"}, bytes.NewReader(body), int64(len(body)),
		Hooks{BeforeFinalDot: func() error { called = true; return nil }})
	if !called || res.Failure != nil || len(s.Messages()) != 1 {
		t.Fatalf("called %v failure %v", called, res.Failure)
	}
	// A failing hook aborts before the dot: nothing is delivered.
	res = Send(context.Background(), endpoint(s, "starttls"), "pass1", "jane@a.test", []string{"x@b.test"}, bytes.NewReader(body), int64(len(body)),
		Hooks{BeforeFinalDot: func() error { return errors.New("disk full") }})
	if res.Failure == nil || len(s.Messages()) != 1 {
		t.Fatalf("aborted send delivered: %v, %d messages", res.Failure, len(s.Messages()))
	}
}

// security = "starttls" against a port that speaks TLS from the start: a
// clear word, not a bare "unexpected EOF" after a long wait.
func TestStartTLSOnAnImplicitTLSPort(t *testing.T) {
	s := smtpsink.Start(t, smtpsink.Options{Security: "tls"})
	ep := endpoint(s, "starttls")
	ep.Timeout = 2 * time.Second
	start := time.Now()
	res := send(t, ep, "pass1")
	if res.Failure == nil || !strings.Contains(res.Failure.Error(), "speaks TLS from the start") ||
		!strings.Contains(res.Failure.Error(), `use security = "tls"`) || res.Failure.Action != NextAccountAlert {
		t.Fatalf("%+v", res.Failure)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %s", took)
	}
}

// Without an explicit TLSConfig the endpoint's CAFile is what makes a
// self-signed server trusted; a CA file that cannot be used is a TLS
// failure naming the file, before any connection.
func TestCAFile(t *testing.T) {
	s := smtpsink.Start(t, smtpsink.Options{Security: "tls"})
	ep := endpoint(s, "tls")
	ep.TLSConfig = nil
	ep.CAFile = s.CAFile
	if res := send(t, ep, "pass1"); res.Failure != nil || len(res.Accepted) != 2 {
		t.Fatalf("with the CA file: %+v", res)
	}
	ep.CAFile = ""
	if res := send(t, ep, "pass1"); res.Failure == nil || res.Failure.Phase != PhaseTLS || res.Failure.Action != NextAccountAlert {
		t.Fatalf("a self-signed server trusted without the CA file: %+v", res)
	}
	ep.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	conns := s.Connections()
	res := send(t, ep, "pass1")
	if res.Failure == nil || res.Failure.Phase != PhaseTLS || res.Failure.Action != NextAccountAlert || !strings.Contains(res.Failure.Error(), ep.CAFile) {
		t.Fatalf("a missing CA file: %v", res.Failure)
	}
	if s.Connections() != conns {
		t.Fatal("connected with an unusable CA file")
	}
	if len(s.Messages()) != 1 {
		t.Fatalf("%d messages went out, want 1", len(s.Messages()))
	}
}

// A blackholed provider (the port accepts, nothing ever answers) costs a
// send the setup budget, then the next account is tried; nothing was
// sent, so leaving is safe.
func TestSilentServerCostsTheSetupBudget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // never answered
			mu.Unlock()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, sec := range []string{"tls", "starttls", "plain"} {
		ep := Endpoint{Host: "127.0.0.1", Port: port, Security: sec, Username: "u", Timeout: time.Minute, SetupBudget: 300 * time.Millisecond}
		start := time.Now()
		res := Send(context.Background(), ep, "pw", "a@x.test", []string{"b@x.test"}, bytes.NewReader(body), int64(len(body)), Hooks{})
		took := time.Since(start)
		if res.Failure == nil || res.Failure.Action != NextAccount || !strings.Contains(res.Failure.Error(), "before anything was sent") {
			t.Fatalf("%s: %+v", sec, res.Failure)
		}
		if took > 3*time.Second {
			t.Errorf("%s: the silent server cost %v, budget 300 ms", sec, took)
		}
	}
}
