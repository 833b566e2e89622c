package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/mailstack"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

// cutProxy forwards TCP to a target until it is cut: then it refuses new
// connections and drops the open ones, like a provider going dark.
type cutProxy struct {
	ln        net.Listener
	target    string
	cut       atomic.Bool
	blackhole atomic.Bool  // accept and never answer
	accepted  atomic.Int32 // connections accepted while not cut
	delay     atomic.Int64 // nanoseconds a new connection waits
	mu        sync.Mutex
	conns     []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.cut.Load() {
				c.Close()
				continue
			}
			p.accepted.Add(1)
			if p.blackhole.Load() {
				p.mu.Lock()
				p.conns = append(p.conns, c) // held open, silent
				p.mu.Unlock()
				continue
			}
			if d := time.Duration(p.delay.Load()); d > 0 {
				go func() { time.Sleep(d); p.pipe(c) }() // a slow provider: nothing, then the greeting
				continue
			}
			p.pipe(c)
		}
	}()
	return p
}

// pipe connects c to the target and copies both ways.
func (p *cutProxy) pipe(c net.Conn) {
	if p.cut.Load() {
		c.Close()
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	go func() { io.Copy(c, s); c.Close() }()
}

// Delay makes every new connection wait d before it reaches the server
// (0: no delay).
func (p *cutProxy) Delay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *cutProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *cutProxy) Cut() {
	p.cut.Store(true)
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
}

func (p *cutProxy) Restore() { p.cut.Store(false); p.blackhole.Store(false) }

// Blackhole makes the port accept connections and never answer.
func (p *cutProxy) Blackhole() { p.Cut(); p.blackhole.Store(true); p.cut.Store(false) }

// stack is two private providers, each Postfix delivering into Dovecot by
// LMTP, with Lifeboat configured to send through A, else B, reaching each
// through a proxy that the test can cut.
type stack struct {
	t         *testing.T
	a, b      *mailstack.Provider
	aIMAP     *cutProxy
	aSMTP     *cutProxy
	bIMAP     *cutProxy
	bSMTP     *cutProxy
	bin, cfg  string
	data      string
	relayPort int
	// aSubmission, when set, is the port A's SMTP is reached at instead
	// of aSMTP's.
	aSubmission int
}

func newStack(t *testing.T) *stack {
	t.Helper()
	return newStackWith(t, map[string]string{"jane": "a-secret"})
}

// newStackWith is newStack with provider A's users.
func newStackWith(t *testing.T, aUsers map[string]string) *stack {
	t.Helper()
	s := &stack{t: t, data: t.TempDir()}
	s.a = mailstack.StartT(t, mailstack.Options{Name: "a", Users: aUsers})
	s.b = mailstack.StartT(t, mailstack.Options{Name: "b", Users: map[string]string{"jane": "b-secret", "tom": "tom-secret"}})
	if err := mailstack.Link(s.a, s.b); err != nil {
		t.Fatal(err)
	}
	s.aIMAP, s.aSMTP = newCutProxy(t, s.a.Dovecot.IMAPSAddr), newCutProxy(t, s.a.SubmissionAddr)
	s.bIMAP, s.bSMTP = newCutProxy(t, s.b.Dovecot.IMAPSAddr), newCutProxy(t, s.b.SubmissionAddr)
	s.bin = buildLifeboat(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s.relayPort = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.writeConfig("")
	return s
}

func (s *stack) writeConfig(failoverExtra string) {
	account := func(name string, p *mailstack.Provider, imapProxy, smtpProxy *cutProxy) string {
		smtpPort := smtpProxy.Port()
		if name == "a" && s.aSubmission != 0 {
			smtpPort = s.aSubmission
		}
		return p.AccountConfig(name, "jane", imapProxy.Port(), smtpPort)
	}
	cfg := fmt.Sprintf("archive_dir = %q\n", filepath.Join(s.data, "archive")) +
		account("a", s.a, s.aIMAP, s.aSMTP) + account("b", s.b, s.bIMAP, s.bSMTP) +
		fmt.Sprintf("\n[failover]\norder = [\"a\", \"b\"]\nrelay_listen = \"127.0.0.1:%d\"\n%s", s.relayPort, failoverExtra)
	s.cfg = filepath.Join(s.data, "config.toml")
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin, append([]string{"--config", s.cfg}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+s.data, "LANG=en_US.UTF-8")
	return cmd
}

func (s *stack) run(stdin string, args ...string) (int, string) {
	cmd := s.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return exitCode(err), string(out)
}

func (s *stack) letter(subject string) string {
	return fmt.Sprintf("From: Jane Doe <%s>\r\nTo: Tom <%s>\r\nSubject: %s\r\n\r\nHello Tom.\r\n", s.a.Email("jane"), s.b.Email("tom"), subject)
}

func (s *stack) tomsMail(n int) [][]byte {
	s.t.Helper()
	msgs, err := s.b.WaitForMail("tom", "INBOX", n, 30*time.Second)
	if err != nil {
		s.t.Fatalf("waiting for %d messages for tom: %v\n%s\n%s", n, err, s.a.LogTail(30), s.b.LogTail(30))
	}
	return msgs
}

func header(msg []byte, name string) string {
	for _, line := range strings.Split(string(msg), "\r\n") {
		if line == "" {
			break
		}
		if strings.HasPrefix(strings.ToLower(line), strings.ToLower(name)+":") {
			return strings.TrimSpace(line[len(name)+1:])
		}
	}
	return ""
}

func TestFailoverWithRealProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	s := newStack(t)

	// Both up: the primary carries it, From unchanged.
	code, out := s.run(s.letter("one"), "send")
	if code != 0 || !strings.Contains(out, "Sent through a") {
		t.Fatalf("send with A up: %d\n%s", code, out)
	}
	msgs := s.tomsMail(1)
	if from := header(msgs[0], "From"); !strings.Contains(from, s.a.Email("jane")) || header(msgs[0], "Reply-To") != "" {
		t.Fatalf("through A: From %q", from)
	}

	// A's submission service goes dark: the message goes through B, From
	// rewritten to B's address, Reply-To the original.
	s.aSMTP.Cut()
	start := time.Now()
	code, out = s.run(s.letter("two"), "send")
	if code != 0 || !strings.Contains(out, "Sent through b: because a: ") {
		t.Fatalf("send with A down: %d\n%s", code, out)
	}
	t.Logf("failover send took %s", time.Since(start))
	msgs = s.tomsMail(2)
	last := msgs[1]
	if from := header(last, "From"); !strings.Contains(from, s.b.Email("jane")) || !strings.Contains(from, "Jane Doe") {
		t.Fatalf("through B: From %q", from)
	}
	if rt := header(last, "Reply-To"); !strings.Contains(rt, s.a.Email("jane")) {
		t.Fatalf("through B: Reply-To %q", rt)
	}
	// A copy is in the archive.
	if _, err := os.Stat(filepath.Join(s.data, "archive", "b", "%Lifeboat", "Sent.mbox")); err != nil {
		t.Fatalf("no archive copy: %v", err)
	}

	// Every provider down: the message waits in the outbox, then goes out
	// once B is back.
	s.bSMTP.Cut()
	code, out = s.run(s.letter("three"), "send")
	if code != 0 || !strings.Contains(out, "Not sent yet") {
		t.Fatalf("send with both down: %d\n%s", code, out)
	}
	if code, out = s.run("", "outbox"); code != 0 || !strings.Contains(out, "queued") {
		t.Fatalf("outbox: %s", out)
	}
	s.bSMTP.Restore()
	if code, out = s.run("", "outbox", "retry", strings.Fields(strings.Split(out, "\n")[1])[0]); code != 0 || !strings.Contains(out, "Sent through b") {
		t.Fatalf("retry after B came back: %d\n%s", code, out)
	}
	msgs = s.tomsMail(3)
	if len(msgs) != 3 {
		t.Fatalf("tom has %d messages, want exactly 3", len(msgs))
	}
}

// TestProbesMarkDownAndUp runs `lifeboat monitor` against A behind a proxy:
// cut, it is marked down after 3 failed probes; restored, up after 2.
func TestProbesMarkDownAndUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	s := newStack(t)
	s.writeConfig("probe_interval = \"1s\"\n")
	mon := s.startMonitor("-v")
	waitFor := func(what string, timeout time.Duration) time.Duration {
		t.Helper()
		_, took := mon.waitFor(what, timeout)
		return took
	}
	waitFor(" a: unknown → up", 20*time.Second)
	s.aIMAP.Cut()
	s.aSMTP.Cut()
	took := waitFor("→ down (", 30*time.Second)
	t.Logf("marked down %s after the cut", took)
	if took < 2*time.Second {
		t.Fatalf("down after %s: fewer than 3 failed probes at 1 s intervals", took)
	}
	s.aIMAP.Restore()
	s.aSMTP.Restore()
	took = waitFor("→ up (", 30*time.Second)
	t.Logf("marked up %s after the restore", took)
	inc, err := os.ReadFile(filepath.Join(s.data, "lifeboat", "incidents.log"))
	if err != nil || !strings.Contains(string(inc), `"to":"down"`) {
		t.Fatalf("incident history: %v\n%s", err, inc)
	}
}

// needKeyring skips (fails, in CI) a test outside a D-Bus session: the
// relay's generated password lives in the keyring, and make test runs the
// tests inside .ci/with-keyring.
func needKeyring(t *testing.T) {
	t.Helper()
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		proc.Need(t, "the Secret Service", errors.New("no D-Bus session"), "run the tests through .ci/with-keyring, as make test does")
	}
}

// syncBuffer is a bytes.Buffer that a process and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// startRelay runs `lifeboat relay` until the test ends and returns it, its
// password and its output, once it accepts connections.
func (s *stack) startRelay() (*exec.Cmd, string, *syncBuffer) {
	s.t.Helper()
	code, out := s.run("", "relay", "--show-credentials")
	if code != 0 {
		s.t.Fatalf("%d %s", code, out)
	}
	var password string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "password:") {
			password = strings.TrimSpace(strings.TrimPrefix(l, "password:"))
		}
	}
	relay := s.command("relay")
	relayOut := &syncBuffer{}
	relay.Stdout, relay.Stderr = relayOut, relayOut
	if err := relay.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { relay.Process.Kill(); relay.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", s.relayPort)
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return relay, password, relayOut
}

// swaks is a mail program (swaks) submitting data to the running relay as
// jane, to tom, with the relay's password.
func (s *stack) swaks(password, data string) *exec.Cmd {
	return exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", s.relayPort), "--from", s.a.Email("jane"), "--to", s.b.Email("tom"),
		"--auth", "PLAIN", "--auth-user", "lifeboat", "--auth-password", password, "--timeout", "30", "--data", data)
}

// TestRelayWithRealClients drives `lifeboat relay` with swaks and Python's
// smtplib: auth required, wrong password refused, delivery through the
// providers; a non-loopback address is refused without permission.
func TestRelayWithRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	needKeyring(t)
	for _, tool := range []string{"swaks", "/usr/bin/python3"} {
		proc.NeedProgram(t, tool, "make test installs it")
	}
	s := newStack(t)
	relay, password, relayOut := s.startRelay()
	addr := fmt.Sprintf("127.0.0.1:%d", s.relayPort)
	swaks := func(args ...string) (int, string) {
		base := []string{"--server", addr, "--from", s.a.Email("jane"), "--to", s.b.Email("tom"), "--timeout", "20"}
		out, err := exec.Command("swaks", append(base, args...)...).CombinedOutput()
		return exitCode(err), string(out)
	}
	if code, out := swaks("--header", "Subject: no auth"); code == 0 || !strings.Contains(out, "<** 5") {
		t.Fatalf("unauthenticated mail was accepted (open relay!): %d\n%s", code, out)
	}
	if code, out := swaks("--auth", "PLAIN", "--auth-user", "lifeboat", "--auth-password", "wrong", "--header", "Subject: bad pw"); code == 0 || !strings.Contains(out, "535") {
		t.Fatalf("wrong password accepted: %d\n%s", code, out)
	}
	if code, out := swaks("--auth", "LOGIN", "--auth-user", "lifeboat", "--auth-password", password, "--header", "Subject: via swaks"); code != 0 {
		t.Fatalf("swaks with the right password: %d\n%s\n%s", code, out, relayOut.String())
	}
	py := fmt.Sprintf(`
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = %q
m["To"] = %q
m["Subject"] = "via smtplib"
m.set_content("Hello from Python")
with smtplib.SMTP("127.0.0.1", %d, timeout=20) as s:
    s.login("lifeboat", %q)
    s.send_message(m)
print("sent")
`, s.a.Email("jane"), s.b.Email("tom"), s.relayPort, password)
	if out, err := exec.Command("/usr/bin/python3", "-c", py).CombinedOutput(); err != nil || !strings.Contains(string(out), "sent") {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	msgs := s.tomsMail(2)
	subjects := header(msgs[0], "Subject") + "|" + header(msgs[1], "Subject")
	if !strings.Contains(subjects, "via swaks") || !strings.Contains(subjects, "via smtplib") {
		t.Fatalf("tom got %q", subjects)
	}
	relay.Process.Kill()
	relay.Wait()

	// Beyond loopback without permission: refused before listening.
	s.writeConfig("")
	cfg, _ := os.ReadFile(s.cfg)
	os.WriteFile(s.cfg, bytes.Replace(cfg, []byte("relay_listen = \"127.0.0.1:"), []byte("relay_listen = \"0.0.0.0:"), 1), 0o600)
	if code, out := s.run("", "relay"); code == 0 || !strings.Contains(out, "relay_allow_remote") {
		t.Fatalf("non-loopback relay: %d\n%s", code, out)
	}
}

// A standard mail program with its default settings (msmtp: auth on, TLS
// on) sends through the relay: STARTTLS is offered, the certificate is
// pinned by the fingerprint --show-credentials prints.
func TestRelayWithMsmtpDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	needKeyring(t)
	proc.NeedProgram(t, "msmtp", "make test installs it")
	s := newStack(t)
	code, creds := s.run("", "relay", "--show-credentials")
	if code != 0 || !strings.Contains(creds, "STARTTLS") {
		t.Fatalf("%d %s", code, creds)
	}
	field := func(name string) string {
		for _, l := range strings.Split(creds, "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no %s in:\n%s", name, creds)
		return ""
	}
	fp := strings.TrimPrefix(field("fingerprint"), "SHA256:")
	_, _, _ = s.startRelay()
	rc := filepath.Join(t.TempDir(), "msmtprc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`defaults
auth on
tls on
tls_starttls on
account lifeboat
host 127.0.0.1
port %d
user lifeboat
password %s
tls_fingerprint %s
from %s
account default : lifeboat
`, s.relayPort, field("password"), fp, s.a.Email("jane"))), 0o600)
	msmtp := exec.Command("msmtp", "-C", rc, "-t")
	msmtp.Stdin = strings.NewReader(s.letter("via msmtp"))
	if out, err := msmtp.CombinedOutput(); err != nil {
		t.Fatalf("msmtp with auth on and TLS: %v\n%s", err, out)
	}
	msgs := s.tomsMail(1)
	if header(msgs[0], "Subject") != "via msmtp" {
		t.Fatalf("tom got %q", header(msgs[0], "Subject"))
	}
	// A wrong fingerprint: msmtp refuses to send the password.
	bad := strings.Replace(string(must(os.ReadFile(rc))), fp, strings.Repeat("00:", 31)+"00", 1)
	os.WriteFile(rc, []byte(bad), 0o600)
	msmtp = exec.Command("msmtp", "-C", rc, "-t")
	msmtp.Stdin = strings.NewReader(s.letter("must not go"))
	if out, err := msmtp.CombinedOutput(); err == nil {
		t.Fatalf("msmtp sent with a wrong fingerprint:\n%s", out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
