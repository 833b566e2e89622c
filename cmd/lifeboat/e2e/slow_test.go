package e2e

import (
	"bufio"
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// monitorRun is a `lifeboat monitor` the test started, with its output.
type monitorRun struct {
	t     *testing.T
	lines chan string
	mu    sync.Mutex
	said  bytes.Buffer
	stop  func()
}

// startMonitor runs `lifeboat monitor` (with args) until stop or the end
// of the test.
func (s *stack) startMonitor(args ...string) *monitorRun {
	s.t.Helper()
	cmd := s.command(append([]string{"monitor"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	m := &monitorRun{t: s.t, lines: make(chan string, 1000)}
	var once sync.Once
	m.stop = func() { once.Do(func() { cmd.Process.Kill(); cmd.Wait() }) }
	s.t.Cleanup(m.stop)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m.mu.Lock()
			m.said.WriteString(sc.Text() + "\n")
			m.mu.Unlock()
			m.lines <- sc.Text()
		}
		close(m.lines)
	}()
	return m
}

// waitFor waits for a line about account a that contains what, and returns
// it and how long it took.
func (m *monitorRun) waitFor(what string, timeout time.Duration) (string, time.Duration) {
	m.t.Helper()
	return m.waitForLine(what, timeout, func(l string) bool { return strings.Contains(l, " a: ") && strings.Contains(l, what) })
}

// waitForLine waits for a line that match accepts.
func (m *monitorRun) waitForLine(what string, timeout time.Duration, match func(string) bool) (string, time.Duration) {
	m.t.Helper()
	start := time.Now()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-m.lines:
			if !ok {
				m.t.Fatalf("monitor exited before %q", what)
			}
			if match(l) {
				return l, time.Since(start)
			}
		case <-deadline:
			m.mu.Lock()
			defer m.mu.Unlock()
			m.t.Fatalf("no %q within %s; the monitor said:\n%s", what, timeout, m.said.String())
		}
	}
}

// The slowness drill (the NHSmail reply-all storm made mail slow, not
// down): every connection to the primary waits 3 s before the server
// answers; slow_latency is 1 s and the send budget 2 s.
//   - The running monitor turns the primary degraded at its first slow
//     check, with the cause in words.
//   - A one-shot send reads that from the shared state and goes through
//     the secondary without waiting on the primary.
//   - The delay removed, the primary is up again and carries the next one.
//   - With nothing known (a fresh data directory), a send waits on the slow
//     primary only the send budget, before anything was sent, and the
//     secondary takes it; the primary gets no copy.
func TestSlowPrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	s := newStack(t)
	const settings = "probe_interval = \"1s\"\nslow_latency = \"1s\"\nsend_budget = \"2s\"\n"
	s.writeConfig(settings)
	mon := s.startMonitor("-v")
	mon.waitFor("unknown → up", 40*time.Second)
	s.aIMAP.Delay(3 * time.Second)
	s.aSMTP.Delay(3 * time.Second)
	line, took := mon.waitFor("up → degraded (", 30*time.Second)
	t.Logf("degraded %v after the delay began: %s", took.Round(time.Millisecond), line)
	if !strings.Contains(line, "slow: answered in 3") {
		t.Errorf("the cause does not say it is slow: %s", line)
	}
	// The account turns degraded at the first slow check of either
	// protocol; the send relies on a slow check of SMTP.
	line, _ = mon.waitForLine("a slow SMTP check", 30*time.Second, func(l string) bool {
		return strings.Contains(l, " a smtp: ok (") && phasesTake(l) >= 2*time.Second
	})
	t.Logf("SMTP seen slow: %s", line)

	start := time.Now()
	code, out := s.run(s.letter("while slow"), "send")
	took = time.Since(start)
	if code != 0 || !strings.Contains(out, "Sent through b") || !strings.Contains(out, "a: too slow: SMTP answered in 3") {
		t.Fatalf("send with the primary known slow: exit %d\n%s", code, out)
	}
	t.Logf("one-shot send with the primary known slow: %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the send took %v with the primary known slow", took)
	}
	if msgs := s.tomsMail(1); !strings.Contains(header(msgs[0], "From"), s.b.Email("jane")) {
		t.Fatalf("while slow, From %q: not through the secondary", header(msgs[0], "From"))
	}

	s.aIMAP.Delay(0)
	s.aSMTP.Delay(0)
	_, took = mon.waitFor("degraded → up", 30*time.Second)
	t.Logf("up again %v after the delay ended", took.Round(time.Millisecond))
	if code, out = s.run(s.letter("fast again"), "send"); code != 0 || !strings.Contains(out, "Sent through a") {
		t.Fatalf("send with the primary fast again: exit %d\n%s", code, out)
	}
	if msgs := s.tomsMail(2); !strings.Contains(header(msgs[1], "From"), s.a.Email("jane")) {
		t.Fatalf("fast again, From %q: not through the primary", header(msgs[1], "From"))
	}
	mon.stop()

	// Nothing running and nothing known.
	s.aSMTP.Delay(3 * time.Second)
	s.data = t.TempDir()
	s.writeConfig(settings)
	start = time.Now()
	code, out = s.run(s.letter("slow, unknown"), "send")
	took = time.Since(start)
	if code != 0 || !strings.Contains(out, "Sent through b: because a: too slow: no answer within the 2s send budget, before anything was sent") {
		t.Fatalf("send through a slow primary, nothing known: exit %d\n%s", code, out)
	}
	t.Logf("one-shot send through a slow primary, nothing known: %v\n%s", took.Round(time.Millisecond), out)
	if took < 2*time.Second || took > 12*time.Second {
		t.Errorf("the send took %v: it should wait out the 2 s budget on the primary, and no more", took)
	}
	msgs := s.tomsMail(3)
	if !strings.Contains(header(msgs[2], "From"), s.b.Email("jane")) {
		t.Fatalf("From %q: not through the secondary", header(msgs[2], "From"))
	}
	// The abandoned connection reaches the primary after 3 s; it must
	// carry nothing.
	if msgs, err := s.b.WaitForMail("tom", "INBOX", 4, 5*time.Second); err == nil {
		t.Fatalf("tom has %d messages, want 3: the slow primary sent one too", len(msgs))
	}
}

// phasesTake sums the phase durations of a `monitor -v` line ("… (tcp
// 0s, greeting 3.002s, ehlo 1ms)").
func phasesTake(line string) time.Duration {
	i := strings.LastIndex(line, "(")
	if i < 0 {
		return 0
	}
	var total time.Duration
	for _, part := range strings.Split(strings.TrimSuffix(line[i+1:], ")"), ", ") {
		f := strings.Fields(part)
		if len(f) == 2 {
			if d, err := time.ParseDuration(f[1]); err == nil {
				total += d
			}
		}
	}
	return total
}
