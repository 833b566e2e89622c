package mailstack

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

const deliveryTimeout = 20 * time.Second

func token() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func message(from, to, subject string, bodyLines ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n", from, to, subject)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s@mailstack.test>\r\n\r\n", time.Now().Format(time.RFC1123Z), token())
	for _, l := range bodyLines {
		b.WriteString(l + "\r\n")
	}
	return []byte(b.String())
}

// dialMode says how a go-smtp client connects.
type dialMode int

const (
	plain    dialMode = iota // no TLS (port 25 style)
	startTLS                 // STARTTLS (submission)
	implicit                 // TLS from the start (submissions)
)

func dial(t *testing.T, p *Provider, addr string, mode dialMode) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	switch mode {
	case plain:
		c, err = smtp.Dial(addr)
	case startTLS:
		c, err = smtp.DialStartTLS(addr, p.TLSConfig.Clone())
	case implicit:
		c, err = smtp.DialTLS(addr, p.TLSConfig.Clone())
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// send submits msg over a fresh connection, authenticating with auth when
// not nil.
func send(t *testing.T, p *Provider, addr string, mode dialMode, auth sasl.Client, from string, to []string, msg []byte) error {
	t.Helper()
	c := dial(t, p, addr, mode)
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

// wantSMTPError checks that err is an SMTP reply with code and enhanced
// code (e.g. "5.7.1") and a message containing text.
func wantSMTPError(t *testing.T, what string, err error, code int, enhanced, text string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Errorf("%s: want SMTP %d %s, got %v", what, code, enhanced, err)
		return
	}
	gotEnh := fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	if se.Code != code || gotEnh != enhanced || !strings.Contains(se.Message, text) {
		t.Errorf("%s: want %d %s %q, got %d %s %q", what, code, enhanced, text, se.Code, gotEnh, se.Message)
	}
}

func needSwaks(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("swaks")
	if err == nil {
		err = exec.Command("perl", "-MNet::SSLeay", "-e1").Run()
	}
	proc.Need(t, "swaks with TLS (Net::SSLeay)", err, "make test installs it")
	return path
}

func containsAll(t *testing.T, what string, msg []byte, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !bytes.Contains(msg, []byte(p)) {
			t.Errorf("%s: %q missing in\n%s", what, p, msg)
		}
	}
}

// Mail crosses between linked providers in both directions, submitted by a
// real client (swaks) and by go-smtp, over STARTTLS and implicit TLS, with
// AUTH PLAIN and LOGIN; a provider also delivers to its own users.
func TestCrossProviderDelivery(t *testing.T) {
	t.Parallel()
	swaks := needSwaks(t)
	t0 := time.Now()
	a := StartT(t, Options{Name: "a", Users: map[string]string{"user1": "pass1", "user2": "pass2"}})
	t1 := time.Now()
	b := StartT(t, Options{Name: "b"})
	t2 := time.Now()
	if err := Link(a, b); err != nil {
		t.Fatal(err)
	}
	t.Logf("start a %v, start b %v, link %v", t1.Sub(t0), t2.Sub(t1), time.Since(t2))
	if a.Domain != "a.test" || b.Domain != "b.test" || a.Email("user1") != "user1@a.test" || a.Password("user2@a.test") != "pass2" || a.Password("user1@b.test") != "" {
		t.Fatalf("names: %q %q %q %q", a.Domain, b.Domain, a.Email("user1"), a.Password("user2@a.test"))
	}

	// A -> B with swaks: STARTTLS verified against CAFile, AUTH PLAIN.
	tok := token()
	out, err := exec.Command(swaks,
		"--server", a.SubmissionAddr, "--tls", "--tls-verify", "--tls-ca-path", a.CAFile,
		"--auth", "PLAIN", "--auth-user", a.Email("user1"), "--auth-password", a.Password("user1"),
		"--from", a.Email("user1"), "--to", b.Email("user1"),
		"--header", "Subject: swaks "+tok, "--body", "body "+tok,
	).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("235 2.7.0 Authentication successful")) || !bytes.Contains(out, []byte("250 2.0.0 Ok: queued")) {
		t.Errorf("swaks transcript:\n%s", out)
	}
	t3 := time.Now()
	msgs, err := b.WaitForMail("user1", "INBOX", 1, deliveryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A->B delivered %v after submission", time.Since(t3))
	if len(msgs) != 1 {
		t.Fatalf("B's INBOX holds %d messages", len(msgs))
	}
	containsAll(t, "A->B", msgs[0], "Subject: swaks "+tok, "body "+tok, "Delivered-To: user1@b.test",
		"by mail.a.test (Postfix) with ESMTPSA", "by mail.b.test (Postfix) with ESMTPS")

	// B -> A with go-smtp: STARTTLS, AUTH LOGIN.
	tok2 := token()
	msg := message(b.Email("user1"), a.Email("user1"), "go "+tok2, "body "+tok2)
	if err := send(t, b, b.SubmissionAddr, startTLS, sasl.NewLoginClient(b.Email("user1"), b.Password("user1")),
		b.Email("user1"), []string{a.Email("user1")}, msg); err != nil {
		t.Fatalf("B->A: %v", err)
	}
	// A -> A (own domain, LMTP), implicit TLS, AUTH PLAIN, as user2.
	tok3 := token()
	msg3 := message(a.Email("user2"), a.Email("user1"), "local "+tok3, "body "+tok3)
	if err := send(t, a, a.SubmissionsAddr, implicit, sasl.NewPlainClient("", a.Email("user2"), a.Password("user2")),
		a.Email("user2"), []string{a.Email("user1")}, msg3); err != nil {
		t.Fatalf("A->A: %v", err)
	}
	msgs, err = a.WaitForMail("user1", "INBOX", 2, deliveryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	all := bytes.Join(msgs, []byte("\n----\n"))
	containsAll(t, "A's INBOX", all, "Subject: go "+tok2, "Subject: local "+tok3, "by mail.b.test (Postfix) with ESMTPSA")
	if n, _ := b.WaitForMail("user1", "INBOX", 0, time.Second); len(n) != 1 {
		t.Errorf("B's INBOX holds %d messages, want still 1", len(n))
	}

	// Mail to a domain no provider serves is refused at RCPT: there is no
	// route to it (no DNS).
	err = send(t, a, a.SubmissionAddr, startTLS, sasl.NewPlainClient("", a.Email("user2"), "pass2"),
		a.Email("user2"), []string{"nobody@nowhere.test"}, message(a.Email("user2"), "nobody@nowhere.test", "lost", "x"))
	wantSMTPError(t, "to nowhere.test", err, 550, "5.4.4", "no route to this domain")
}

// A provider refuses: wrong passwords (535), relaying without AUTH on
// every port (554 5.7.1), AUTH before STARTTLS, unknown local users.
func TestRefusals(t *testing.T) {
	t.Parallel()
	swaks := needSwaks(t)
	a := StartT(t, Options{Name: "ref", Domain: "ref.example.test"})
	if a.Email("user1") != "user1@ref.example.test" {
		t.Fatalf("Email: %q", a.Email("user1"))
	}
	user, pass := a.Email("user1"), a.Password("user1")

	// Wrong password, with swaks and with go-smtp.
	out, err := exec.Command(swaks,
		"--server", a.SubmissionAddr, "--tls", "--tls-verify", "--tls-ca-path", a.CAFile,
		"--auth", "LOGIN", "--auth-user", user, "--auth-password", "wrong",
		"--from", user, "--to", "user1@b.test",
	).CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("535 5.7.8")) {
		t.Errorf("swaks with a wrong password: %v\n%s", err, out)
	}
	// go-smtp answers a failed AUTH with "*", on which Postfix hangs up:
	// one connection per attempt.
	for _, tc := range []struct{ what, user, pass string }{
		{"wrong password", user, "wrong"},
		{"unknown user", "ghost@ref.example.test", pass},
		{"local part as login", "user1", pass}, // logins are full addresses
	} {
		c := dial(t, a, a.SubmissionsAddr, implicit)
		wantSMTPError(t, "AUTH PLAIN "+tc.what, c.Auth(sasl.NewPlainClient("", tc.user, tc.pass)), 535, "5.7.8", "authentication failed")
	}
	if err := dial(t, a, a.SubmissionsAddr, implicit).Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Errorf("right password: %v", err)
	}

	// No AUTH offered before STARTTLS on the submission port.
	c := dial(t, a, a.SubmissionAddr, plain)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("submission port offers AUTH before STARTTLS")
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("submission port offers no STARTTLS")
	}
	// ...nor on the port-25 listener at all, even after STARTTLS.
	c = dial(t, a, a.SMTPAddr, startTLS)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("SMTP port offers AUTH")
	}

	msg := message("someone@elsewhere.test", "user1@b.test", "relay", "x")
	// Relaying without AUTH: port 25, and submission after STARTTLS.
	wantSMTPError(t, "port 25 relay", send(t, a, a.SMTPAddr, plain, nil, "someone@elsewhere.test", []string{"user1@b.test"}, msg),
		554, "5.7.1", "Relay access denied")
	wantSMTPError(t, "submission relay without AUTH", send(t, a, a.SubmissionAddr, startTLS, nil, "someone@elsewhere.test", []string{"user1@b.test"}, msg),
		554, "5.7.1", "Relay access denied")
	wantSMTPError(t, "submissions relay without AUTH", send(t, a, a.SubmissionsAddr, implicit, nil, "someone@elsewhere.test", []string{"user1@b.test"}, msg),
		554, "5.7.1", "Relay access denied")
	// Submission without AUTH refuses even local recipients.
	wantSMTPError(t, "submission local without AUTH", send(t, a, a.SubmissionAddr, startTLS, nil, "someone@elsewhere.test", []string{user}, msg),
		554, "5.7.1", "Access denied")
	// Port 25: unknown local user.
	wantSMTPError(t, "unknown user", send(t, a, a.SMTPAddr, plain, nil, "someone@elsewhere.test", []string{"ghost@ref.example.test"}, msg),
		550, "5.1.1", "User unknown")

	// Port 25 takes mail for its own users without AUTH (inbound mail).
	tok := token()
	if err := send(t, a, a.SMTPAddr, plain, nil, "someone@elsewhere.test", []string{user},
		message("someone@elsewhere.test", user, "inbound "+tok, "x")); err != nil {
		t.Fatalf("inbound on port 25: %v", err)
	}
	// Without EnforceSender an authenticated user may send as anyone.
	if err := send(t, a, a.SubmissionAddr, startTLS, sasl.NewPlainClient("", user, pass), "boss@elsewhere.test", []string{user},
		message("boss@elsewhere.test", user, "spoof "+tok, "x")); err != nil {
		t.Fatalf("MAIL FROM another address without EnforceSender: %v", err)
	}
	msgs, err := a.WaitForMail("user1", "INBOX", 2, deliveryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	containsAll(t, "INBOX", bytes.Join(msgs, nil), "Subject: inbound "+tok, "Subject: spoof "+tok)
}

// EnforceSender: 553 5.7.1 for a MAIL FROM the user does not own;
// MessageSizeLimit: advertised in EHLO SIZE and enforced (552 5.3.4).
func TestEnforceSenderAndSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 20000
	a := StartT(t, Options{Name: "strict", Users: map[string]string{"user1": "pass1", "user2": "pass2"}, EnforceSender: true, MessageSizeLimit: limit})
	user, pass := a.Email("user1"), a.Password("user1")
	auth := func() sasl.Client { return sasl.NewPlainClient("", user, pass) }
	small := message(user, a.Email("user2"), "small", "x")

	for _, from := range []string{a.Email("user2"), "boss@elsewhere.test", "USER2@strict.test"} {
		err := send(t, a, a.SubmissionAddr, startTLS, auth(), from, []string{a.Email("user2")}, small)
		wantSMTPError(t, "MAIL FROM "+from, err, 553, "5.7.1", "not owned by user "+user)
	}
	err := send(t, a, a.SubmissionsAddr, implicit, auth(), a.Email("user2"), []string{a.Email("user2")}, small)
	wantSMTPError(t, "submissions MAIL FROM user2", err, 553, "5.7.1", "Sender address rejected")
	if err := send(t, a, a.SubmissionAddr, startTLS, auth(), user, []string{a.Email("user2")}, small); err != nil {
		t.Fatalf("own address: %v", err)
	}

	c := dial(t, a, a.SubmissionAddr, startTLS)
	if size, ok := c.MaxMessageSize(); !ok || size != limit {
		t.Errorf("EHLO SIZE %d, %v; want %d", size, ok, limit)
	}
	big := message(user, a.Email("user2"), "big", strings.Repeat(strings.Repeat("x", 76)+"\r\n"+"", limit/78+100))
	if len(big) <= limit {
		t.Fatalf("test message only %d bytes", len(big))
	}
	// Declared with MAIL FROM SIZE=: refused up front.
	c = dial(t, a, a.SubmissionAddr, startTLS)
	if err := c.Auth(auth()); err != nil {
		t.Fatal(err)
	}
	wantSMTPError(t, "MAIL FROM SIZE=", c.Mail(user, &smtp.MailOptions{Size: int64(len(big))}), 552, "5.3.4", "Message size exceeds fixed limit")
	// Undeclared: refused after DATA.
	err = send(t, a, a.SubmissionAddr, startTLS, auth(), user, []string{a.Email("user2")}, big)
	wantSMTPError(t, "oversized DATA", err, 552, "5.3.4", "message file too big")

	msgs, err := a.WaitForMail("user2", "INBOX", 1, deliveryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Contains(msgs[0], []byte("Subject: small")) {
		t.Errorf("user2's INBOX: %d messages", len(msgs))
	}
}

// StopSMTP takes only Postfix down (SMTP ports refuse connections, IMAP
// works, the other provider queues mail for it); StartSMTP brings it back
// on the same ports and the queued mail arrives.
func TestStopSMTPAndStartSMTP(t *testing.T) {
	t.Parallel()
	a := StartT(t, Options{Name: "up"})
	b := StartT(t, Options{Name: "down"})
	if err := Link(a, b); err != nil {
		t.Fatal(err)
	}
	oldPID := b.PostfixPID()
	t0 := time.Now()
	if err := b.StopSMTP(); err != nil {
		t.Fatal(err)
	}
	t.Logf("StopSMTP took %v", time.Since(t0))
	if b.PostfixPID() != 0 || proc.GroupExists(oldPID) {
		t.Errorf("Postfix still running after StopSMTP (pid %d)", oldPID)
	}
	for _, addr := range []string{b.SubmissionAddr, b.SubmissionsAddr, b.SMTPAddr} {
		_, err := smtp.Dial(addr)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s after StopSMTP: %v, want connection refused", addr, err)
		}
	}
	if _, err := b.WaitForMail("user1", "INBOX", 0, 5*time.Second); err != nil {
		t.Errorf("IMAP while SMTP is down: %v", err)
	}
	if err := b.StopSMTP(); err != nil {
		t.Errorf("second StopSMTP: %v", err)
	}

	// A accepts mail for B and keeps it queued.
	tok := token()
	if err := send(t, a, a.SubmissionAddr, startTLS, sasl.NewPlainClient("", a.Email("user1"), a.Password("user1")),
		a.Email("user1"), []string{b.Email("user1")}, message(a.Email("user1"), b.Email("user1"), "queued "+tok, "x")); err != nil {
		t.Fatalf("submit to A while B is down: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // A's first delivery attempt fails
	t1 := time.Now()
	if err := b.StartSMTP(); err != nil {
		t.Fatal(err)
	}
	t.Logf("StartSMTP took %v", time.Since(t1))
	if pid := b.PostfixPID(); pid == 0 || pid == oldPID {
		t.Errorf("PostfixPID after StartSMTP: %d (before: %d)", pid, oldPID)
	}
	if err := send(t, b, b.SubmissionAddr, startTLS, sasl.NewPlainClient("", b.Email("user1"), b.Password("user1")),
		b.Email("user1"), []string{b.Email("user1")}, message(b.Email("user1"), b.Email("user1"), "back "+tok, "x")); err != nil {
		t.Fatalf("submission after StartSMTP: %v", err)
	}
	// A retries by itself within its 1–2 s backoff. Under a loaded test
	// run its queue manager was once seen not to come back to the message
	// for 20 s; then it is asked to (postqueue -f), and the retry is still
	// A's own delivery of what it kept queued.
	msgs, err := b.WaitForMail("user1", "INBOX", 2, deliveryTimeout/2)
	if err != nil {
		t.Logf("not there after %v: flushing A's queue", deliveryTimeout/2)
		if ferr := a.FlushQueue(); ferr != nil {
			t.Fatal(ferr)
		}
		if msgs, err = b.WaitForMail("user1", "INBOX", 2, deliveryTimeout); err != nil {
			t.Fatalf("%v\n%s", err, a.LogTail(20))
		}
	}
	t.Logf("queued mail arrived %v after StartSMTP", time.Since(t1))
	containsAll(t, "B's INBOX", bytes.Join(msgs, nil), "Subject: queued "+tok, "Subject: back "+tok)
	if !strings.Contains(tailFile(a.PostfixLog, 200), "status=deferred") {
		t.Errorf("A's log shows no deferred delivery attempt:\n%s", tailFile(a.PostfixLog, 30))
	}
}

// instanceProcesses lists the live processes of p: Postfix's (process group
// of master, or MAIL_CONFIG pointing at its configuration) and Dovecot's.
func instanceProcesses(t *testing.T, p *Provider, postfixPID, dovecotPID int) []string {
	t.Helper()
	procs, ok := proc.List()
	if !ok {
		t.Skip("no /proc")
	}
	var found []string
	for _, st := range procs {
		if st.Dead() {
			continue
		}
		dir := filepath.Join("/proc", strconv.Itoa(st.PID))
		env, _ := os.ReadFile(filepath.Join(dir, "environ"))
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		cmd := strings.TrimSpace(string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		if st.PGrp == postfixPID || st.PGrp == dovecotPID ||
			bytes.Contains(env, []byte("MAIL_CONFIG="+p.ConfigDir+"\x00")) ||
			strings.Contains(cmd, p.RuntimeDir) ||
			strings.HasSuffix(cmd, "kill -TERM "+strconv.Itoa(postfixPID)) { // the watchdog
			found = append(found, fmt.Sprintf("%d[%s %s]", st.PID, st.State, cmd))
		}
	}
	return found
}

func TestStopLeavesNothing(t *testing.T) {
	t.Parallel()
	proc.Need(t, "mailstack: Postfix+Dovecot", Available(), installHint)
	dir := t.TempDir()
	p, err := Start(Options{Dir: dir, Name: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.Stop()
		}
	})
	// Busy daemons: an open SMTP session, a logged-in IMAP session, and a
	// delivered message (cleanup, qmgr, lmtp, dovecot lmtp).
	c := dial(t, p, p.SubmissionAddr, startTLS)
	if err := c.Auth(sasl.NewPlainClient("", p.Email("user1"), p.Password("user1"))); err != nil {
		t.Fatal(err)
	}
	if err := send(t, p, p.SubmissionAddr, startTLS, sasl.NewPlainClient("", p.Email("user1"), "pass1"),
		p.Email("user1"), []string{p.Email("user1")}, message(p.Email("user1"), p.Email("user1"), "hi", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitForMail("user1", "INBOX", 1, deliveryTimeout); err != nil {
		t.Fatal(err)
	}
	imapc, err := p.Dovecot.Dial(p.Email("user1"))
	if err != nil {
		t.Fatal(err)
	}
	defer imapc.Close()
	postfixPID, dovecotPID := p.PostfixPID(), p.Dovecot.PID()
	if filePID, err := readPID(filepath.Join(p.RuntimeDir, "queue", "pid", "master.pid")); err != nil || filePID != postfixPID {
		t.Errorf("master.pid: %d, %v; PostfixPID %d", filePID, err, postfixPID)
	}
	procs := instanceProcesses(t, p, postfixPID, dovecotPID)
	t.Logf("%d instance processes: %v", len(procs), procs)
	if len(procs) < 8 {
		t.Errorf("expected Postfix's master, smtpd, qmgr... and Dovecot's: %v", procs)
	}

	t0 := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	t.Logf("Stop took %v", time.Since(t0))
	if left := instanceProcesses(t, p, postfixPID, dovecotPID); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	if _, err := os.Stat(p.RuntimeDir); !os.IsNotExist(err) {
		t.Errorf("RuntimeDir %s still there: %v", p.RuntimeDir, err)
	}
	for _, f := range []string{"postfix.log", "dovecot.log"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || len(b) == 0 {
			t.Errorf("%s after Stop: %d bytes, %v", f, len(b), err)
		}
	}
	if !strings.Contains(p.LogTail(100), "saved mail to INBOX") {
		t.Errorf("LogTail after Stop lacks Dovecot's delivery:\n%s", p.LogTail(100))
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := p.StartSMTP(); err == nil {
		t.Error("StartSMTP after Stop succeeded")
	}
}

func TestOptionsRejected(t *testing.T) {
	t.Parallel()
	proc.Need(t, "mailstack: Postfix+Dovecot", Available(), installHint)
	dir := t.TempDir()
	for _, o := range []Options{
		{},
		{Dir: dir, Name: "bad name"},
		{Dir: dir, Domain: "nodot"},
		{Dir: dir, Users: map[string]string{"a@b": "x"}},
		{Dir: dir, Users: map[string]string{"u": "has:colon"}},
	} {
		if p, err := Start(o); err == nil {
			p.Stop()
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
}

// Not parallel: replaces the package's availability check.
func TestStartTWithoutStack(t *testing.T) {
	saved := available
	t.Cleanup(func() { available = saved })
	available = func() error { return errors.New("postfix not found") }
	for _, tc := range []struct {
		ci       string
		wantSkip bool
	}{{"", true}, {"false", true}, {"true", false}, {"1", false}} {
		t.Setenv("CI", tc.ci)
		f := proc.Run(t, func(tb testing.TB) { StartT(tb, Options{}) })
		if f.Returned {
			t.Errorf("CI=%q: StartT returned without the stack", tc.ci)
		}
		if tc.wantSkip && (f.Skip == "" || f.Fatal != "") || !tc.wantSkip && (f.Fatal == "" || f.Skip != "") {
			t.Errorf("CI=%q: skip %q, fatal %q", tc.ci, f.Skip, f.Fatal)
		}
	}
}

func BenchmarkStartStop(b *testing.B) {
	proc.Need(b, "mailstack: Postfix+Dovecot", Available(), installHint)
	var start, stop time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p, err := Start(Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := p.Stop(); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		stop += time.Since(t1)
	}
	b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms/op")
	b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "stop-ms/op")
}

// StartSMTP reports a port taken while Postfix was down, and works once it
// is free again.
func TestStartSMTPPortTaken(t *testing.T) {
	t.Parallel()
	p := StartT(t, Options{Name: "taken"})
	if err := p.StopSMTP(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", p.SubmissionAddr)
	if err != nil {
		t.Fatal(err)
	}
	err = p.StartSMTP()
	l.Close()
	if !errors.Is(err, errAddrInUse) {
		t.Fatalf("StartSMTP with a taken port: %v", err)
	}
	if p.PostfixPID() != 0 {
		t.Fatal("PostfixPID set after a failed StartSMTP")
	}
	if err := p.StartSMTP(); err != nil {
		t.Fatalf("StartSMTP once the port is free: %v", err)
	}
	if err := greet(p.SubmissionAddr, false, p.TLSConfig); err != nil {
		t.Fatal(err)
	}
}
