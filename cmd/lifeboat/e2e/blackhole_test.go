package e2e

import (
	"strings"
	"testing"
	"time"
)

// The blackhole drill: the primary's ports accept and never answer.
//   - After a `lifeboat monitor` saw the primary go down, a one-shot
//     `lifeboat send` knows it from the shared health state: it does not
//     even connect to the primary, and the message goes through the
//     secondary at once.
//   - Without anything running (a fresh data directory), the send waits
//     on the silent primary at most the setup budget (15 s), then the
//     secondary takes it.
func TestBlackholedPrimary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	s := newStack(t)
	s.writeConfig("probe_interval = \"1s\"\n")
	mon := s.startMonitor()
	wait := func(what string) { t.Helper(); mon.waitFor(what, 40*time.Second) }
	wait("unknown → up")
	s.aIMAP.Cut() // the monitor sees A fail...
	s.aSMTP.Cut()
	wait("→ down (")
	s.aIMAP.Blackhole() // ...and now A swallows connections
	s.aSMTP.Blackhole()
	// The monitor's own probes would connect too: it stops, what it saw
	// stays in the shared health state.
	mon.stop()
	before := s.aSMTP.accepted.Load()
	start := time.Now()
	code, out := s.run(s.letter("known down"), "send")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	if n := s.aSMTP.accepted.Load() - before; n != 0 {
		t.Errorf("the send connected %d times to the primary the monitor knows is down", n)
	}
	msgs := s.tomsMail(1)
	if !strings.Contains(string(msgs[0]), "known down") {
		t.Fatalf("tom got %q", msgs[0])
	}
	t.Logf("one-shot send with the primary known down: %v", took)
	if took > 10*time.Second {
		t.Errorf("the send took %v with the primary known down", took)
	}

	// Nobody running and nothing known: a fresh data directory.
	s.data = t.TempDir()
	s.writeConfig("")
	start = time.Now()
	code, out = s.run(s.letter("unknown blackhole"), "send")
	took = time.Since(start)
	if code != 0 {
		t.Fatalf("send with nothing known: exit %d\n%s", code, out)
	}
	s.tomsMail(2)
	t.Logf("one-shot send through a blackholed primary, nothing known: %v", took)
	if took > 25*time.Second {
		t.Errorf("the send waited %v on the silent primary (budget 15 s)", took)
	}
}
