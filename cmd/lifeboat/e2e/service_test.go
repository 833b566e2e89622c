package e2e

import (
	"bufio"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// `lifeboat service`, as an office server runs it: backups happen on
// schedule, a message handed to its relay is delivered through the
// providers, lifeboat status shows what it last did, SIGTERM stops it
// cleanly with nothing lost; `service install` writes a unit that runs
// this binary with this configuration.
func TestService(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	needKeyring(t)
	s := newStack(t)
	s.writeConfig("")
	cfg, _ := os.ReadFile(s.cfg)
	os.WriteFile(s.cfg, []byte("backup_every = \"2s\"\n"+string(cfg)), 0o600)
	if _, err := s.a.Dovecot.Append(s.a.Email("jane"), "INBOX", []byte("Subject: office mail\r\n\r\nkeep\r\n"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	svc := s.command("service")
	stdout, _ := svc.StdoutPipe()
	svc.Stderr = svc.Stdout
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { svc.Process.Kill(); svc.Wait() }()
	var mu sync.Mutex
	var log strings.Builder
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(what string, n int) {
		t.Helper()
		deadline := time.After(40 * time.Second)
		for n > 0 {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the service exited before %q", what)
				}
				if strings.Contains(l, what) {
					n--
				}
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("no %q from the service:\n%s", what, log.String())
			}
		}
	}
	waitLine("relay: listening on", 1)
	waitLine("backup: a: ok", 2) // on schedule, again and again
	// Mail handed to the relay goes out.
	_, creds := s.run("", "relay", "--show-credentials")
	var password string
	for _, l := range strings.Split(creds, "\n") {
		if strings.HasPrefix(l, "password:") {
			password = strings.TrimSpace(strings.TrimPrefix(l, "password:"))
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", s.relayPort)
	relaySend := func() error { // a mail program on this machine (no STARTTLS: loopback)
		c, err := smtp.Dial(addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Auth(smtp.PlainAuth("", "lifeboat", password, "127.0.0.1")); err != nil {
			return err
		}
		if err := c.Mail(s.a.Email("jane")); err != nil {
			return err
		}
		if err := c.Rcpt(s.b.Email("tom")); err != nil {
			return err
		}
		w, err := c.Data()
		if err != nil {
			return err
		}
		w.Write([]byte(s.letter("through the service")))
		if err := w.Close(); err != nil {
			return err
		}
		return c.Quit()
	}
	if err := relaySend(); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if msgs := s.tomsMail(1); !strings.Contains(string(msgs[0]), "through the service") {
		t.Fatalf("tom got %q", msgs[0])
	}
	code, out := s.run("", "status")
	if !strings.Contains(out, "Service: running since") || !strings.Contains(out, "last activity") {
		t.Errorf("status (exit %d) does not show the service:\n%s", code, out)
	}
	// Every line: time, component, message.
	mu.Lock()
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		f := strings.SplitN(l, " ", 3)
		if len(f) < 3 || !strings.HasSuffix(f[1], ":") {
			t.Errorf("not the service's line format: %q", l)
			continue
		}
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
			t.Errorf("not the service's line format: %q", l)
		}
	}
	mu.Unlock()
	svc.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- svc.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not stop within 30 s of SIGTERM")
	}
	mu.Lock()
	if !strings.Contains(log.String(), "service: stopped") {
		t.Errorf("no clean stop in the log:\n%s", log.String())
	}
	mu.Unlock()
	if _, out = s.run("", "status"); !strings.Contains(out, "Service: stopped at") {
		t.Errorf("status after the stop:\n%s", out)
	}
	if code, out = s.run("", "verify"); code != 0 || !strings.Contains(out, "every one intact") {
		t.Errorf("verify after the stop: exit %d\n%s", code, out)
	}

	// The unit.
	cmd := s.command("service", "install")
	cmd.Env = append(cmd.Env, "XDG_CONFIG_HOME="+s.data)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("service install: %v\n%s", err, b)
	}
	unit, err := os.ReadFile(filepath.Join(s.data, "systemd", "user", "lifeboat.service"))
	if err != nil {
		t.Fatalf("no unit: %v\n%s", err, b)
	}
	if !strings.Contains(string(unit), "ExecStart="+s.bin+" --config "+s.cfg+" service") || !strings.Contains(string(unit), "WantedBy=default.target") {
		t.Errorf("unit:\n%s", unit)
	}
	if !strings.Contains(string(b), "systemctl --user enable --now lifeboat") {
		t.Errorf("install said:\n%s", b)
	}
}
