package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/mailstack"
)

// The outage drills, timed through the real binary, whole process from
// start to exit:
//   - a blackholed primary (its ports accept and never answer): a one-shot
//     `lifeboat send` with nothing known, and with `lifeboat service`
//     running (which first has to notice);
//   - the delivery check (`lifeboat monitor --once --canary`), healthy and
//     with the primary's Postfix delivering everything into a test mailbox.

// blackhole accepts connections and never answers.
type blackhole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newBlackhole() (*blackhole, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &blackhole{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
		}
	}()
	return b, nil
}

func (b *blackhole) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

func (b *blackhole) Close() {
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
}

// drillConfig is a two-account configuration: a (at the given ports, 0:
// its real ones) then b.
func drillConfig(dir string, a, b *mailstack.Provider, aIMAP, aSMTP int, extraA, failover string) string {
	return fmt.Sprintf("archive_dir = %q\n", filepath.Join(dir, "archive")) + a.AccountConfig("a", "jane", aIMAP, aSMTP) + extraA + b.AccountConfig("b", "jane", 0, 0) +
		"\n[failover]\norder = [\"a\", \"b\"]\n" + failover
}

// lifeboatRun runs the binary with a config and data directory, stdin
// given, and returns its exit code, output and the time from start to exit.
func lifeboatRun(bin, cfg, data, stdin string, args ...string) (int, string, time.Duration) {
	cmd := exec.Command(bin, append([]string{"--config", cfg}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+data)
	cmd.Stdin = strings.NewReader(stdin)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return code, string(out), took
}

type spread struct{ d []time.Duration }

func (s *spread) add(d time.Duration) { s.d = append(s.d, d) }

func (s *spread) String() string {
	if len(s.d) == 0 {
		return "—"
	}
	lo, hi := s.d[0], s.d[0]
	for _, d := range s.d {
		lo, hi = min(lo, d), max(hi, d)
	}
	r := func(d time.Duration) string {
		if d < 10*time.Second {
			return fmt.Sprintf("%.2f", d.Seconds())
		}
		return fmt.Sprintf("%.1f", d.Seconds())
	}
	if len(s.d) == 1 || r(lo) == r(hi) {
		return r(lo) + " s"
	}
	return fmt.Sprintf("%s–%s s (%d runs)", r(lo), r(hi), len(s.d))
}

func drills(dir, bin string, a, b *mailstack.Provider, runs int, add func(what, format string, args ...any)) error {
	letter := func(subject string) string {
		return fmt.Sprintf("From: Jane <%s>\r\nTo: %s\r\nSubject: %s\r\n\r\nHello.\r\n", a.Email("jane"), b.Email("tom"), subject)
	}
	// --- delivery checks ---
	cfg := filepath.Join(dir, "canary.toml")
	os.WriteFile(cfg, []byte(drillConfig(filepath.Join(dir, "canary"), a, b, 0, 0, "[account.canary]\nevery = \"1h\"\ndeadline = \"10s\"\n", "")), 0o600)
	data := filepath.Join(dir, "canary-data")
	var healthy, misrouted spread
	for i := 0; i < runs; i++ {
		code, out, took := lifeboatRun(bin, cfg, data, "", "monitor", "--once", "--canary")
		if code != 0 {
			return fmt.Errorf("healthy delivery check: exit %d\n%s", code, out)
		}
		healthy.add(took)
	}
	if err := a.Misroute("testbox"); err != nil {
		return err
	}
	for i := 0; i < runs; i++ {
		code, out, took := lifeboatRun(bin, cfg, data, "", "monitor", "--once", "--canary")
		if code != 3 {
			a.Misroute("")
			return fmt.Errorf("misrouting not noticed: exit %d\n%s", code, out)
		}
		misrouted.add(took)
	}
	if err := a.Misroute(""); err != nil {
		return err
	}
	add("delivery check, primary healthy: `monitor --once --canary`, probe found in INBOX", "%s", &healthy)
	add("delivery check, primary misrouting (BT drill): noticed, exit 3 (deadline 10 s)", "%s", &misrouted)

	// --- a blackholed primary ---
	imapHole, err := newBlackhole()
	if err != nil {
		return err
	}
	defer imapHole.Close()
	smtpHole, err := newBlackhole()
	if err != nil {
		return err
	}
	defer smtpHole.Close()
	cfg = filepath.Join(dir, "blackhole.toml")
	os.WriteFile(cfg, []byte(drillConfig(filepath.Join(dir, "blackhole"), a, b, imapHole.port(), smtpHole.port(), "", "probe_interval = \"5s\"\n")), 0o600)
	var unknown spread
	for i := 0; i < runs; i++ {
		code, out, took := lifeboatRun(bin, cfg, filepath.Join(dir, fmt.Sprintf("fresh-%d", i)), letter("blackhole, nothing known"), "send")
		if code != 0 || !strings.Contains(out, "Sent through b") {
			return fmt.Errorf("send through a blackholed primary: exit %d\n%s", code, out)
		}
		unknown.add(took)
	}
	add("blackholed primary, nothing running: one-shot `send` until b accepted", "%s", &unknown)

	data = filepath.Join(dir, "service-data")
	svc := exec.Command(bin, "--config", cfg, "service", "--no-relay")
	svc.Env = append(os.Environ(), "XDG_DATA_HOME="+data)
	stdout, _ := svc.StdoutPipe()
	svc.Stderr = svc.Stdout
	start := time.Now()
	if err := svc.Start(); err != nil {
		return err
	}
	defer func() { svc.Process.Kill(); svc.Wait() }()
	noticed := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.Contains(l, " a: ") && strings.Contains(l, "→ down") {
				select {
				case noticed <- time.Since(start):
				default:
				}
			}
		}
	}()
	select {
	case d := <-noticed:
		add("blackholed primary: `lifeboat service` (probes every 5 s, 15 s timeout) marks it down after", "%.1f s", d.Seconds())
	case <-time.After(3 * time.Minute):
		return fmt.Errorf("the service did not mark the blackholed primary down within 3 minutes")
	}
	var known spread
	for i := 0; i < runs; i++ {
		code, out, took := lifeboatRun(bin, cfg, data, letter("blackhole, service knows"), "send")
		if code != 0 || !strings.Contains(out, "Sent through b") {
			return fmt.Errorf("send with the service running: exit %d\n%s", code, out)
		}
		known.add(took)
	}
	add("blackholed primary, `lifeboat service` running: one-shot `send` until b accepted", "%s", &known)
	return nil
}
