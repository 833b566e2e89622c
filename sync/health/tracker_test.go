package health

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/incidents"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t      *testing.T
	clock  *fakeClock
	tr     *Tracker
	mu     sync.Mutex
	events []incidents.Event
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, clock: &fakeClock{t: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}}
	cfg.Now = h.clock.Now
	h.tr = NewTracker(cfg, Hooks{
		OnEvent: func(e incidents.Event) { h.mu.Lock(); h.events = append(h.events, e); h.mu.Unlock() },
		OnError: func(err error) { t.Errorf("OnError: %v", err) },
	})
	return h
}

// ok observes a success one minute after the previous observation.
func (h *harness) ok(p Protocol, latency time.Duration) {
	h.clock.Advance(time.Minute)
	h.tr.Observe(Observation{Account: "bt", Protocol: p, OK: true, Latency: latency})
}

func (h *harness) login(p Protocol) {
	h.clock.Advance(time.Minute)
	h.tr.Observe(Observation{Account: "bt", Protocol: p, OK: true, LoggedIn: true, Latency: 300 * time.Millisecond, Phase: PhaseLogin})
}

func (h *harness) fail(p Protocol, kind Kind, cause string) {
	h.clock.Advance(time.Minute)
	phase := PhaseTCP
	if kind == KindAuth {
		phase = PhaseLogin
	}
	h.tr.Observe(Observation{Account: "bt", Protocol: p, Kind: kind, Phase: phase, Cause: cause, Latency: 40 * time.Millisecond})
}

func (h *harness) want(s State) {
	h.t.Helper()
	if got := h.tr.State("bt"); got != s {
		h.t.Fatalf("state %v, want %v (events %s)", got, s, h.dump())
	}
}

func (h *harness) dump() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, e := range h.events {
		b.WriteString("\n  " + e.From + " → " + e.To + ": " + e.Cause)
	}
	return b.String()
}

func (h *harness) last() incidents.Event {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		h.t.Fatal("no event")
	}
	return h.events[len(h.events)-1]
}

func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

const refused = "cannot connect: connection refused (nothing listens on that port)"

func TestThreeFailuresDown(t *testing.T) {
	h := newHarness(t, Config{})
	h.want(Unknown)
	h.ok(SMTP, 100*time.Millisecond)
	h.want(Up)
	h.fail(SMTP, KindUnreachable, refused)
	h.want(Up)
	h.fail(SMTP, KindUnreachable, refused)
	h.want(Up)
	h.fail(SMTP, KindUnreachable, refused)
	h.want(Down)
	e := h.last()
	if e.From != "up" || e.To != "down" || e.Protocol != "smtp" || e.Phase != "tcp" {
		t.Errorf("event %+v", e)
	}
	if want := "SMTP: 3 failures in a row; last: " + refused; e.Cause != want {
		t.Errorf("cause %q, want %q", e.Cause, want)
	}
	if !e.Time.Equal(h.clock.Now()) {
		t.Errorf("event time %v, want %v", e.Time, h.clock.Now())
	}
	if h.tr.Usable("bt") {
		t.Error("down account is usable")
	}
}

func TestSingleFailureDoesNotFlip(t *testing.T) {
	h := newHarness(t, Config{})
	h.ok(IMAP, 0)
	for i := 0; i < 5; i++ {
		h.fail(IMAP, KindUnreachable, refused)
		h.fail(IMAP, KindUnreachable, refused)
		h.ok(IMAP, 0) // resets the count
	}
	h.want(Up)
	if n := h.count(); n != 1 {
		t.Fatalf("%d events, want 1 (unknown → up): %s", n, h.dump())
	}
}

func TestFailuresFromUnknown(t *testing.T) {
	h := newHarness(t, Config{})
	h.fail(IMAP, KindUnreachable, refused)
	h.fail(IMAP, KindUnreachable, refused)
	h.want(Unknown)
	h.fail(IMAP, KindUnreachable, refused)
	h.want(Down)
	if e := h.last(); e.From != "unknown" || e.To != "down" {
		t.Fatalf("event %+v", e)
	}
}

func TestTwoSuccessesUp(t *testing.T) {
	h := newHarness(t, Config{})
	for i := 0; i < 3; i++ {
		h.fail(SMTP, KindUnreachable, refused)
	}
	h.want(Down)
	h.ok(SMTP, 0)
	h.want(Down)
	h.fail(SMTP, KindUnreachable, refused) // back to zero
	h.ok(SMTP, 0)
	h.want(Down)
	h.ok(SMTP, 0)
	h.want(Up)
	e := h.last()
	if e.From != "down" || e.To != "up" || !strings.Contains(e.Cause, "SMTP: working again: 2 successful checks in a row") {
		t.Fatalf("event %+v", e)
	}
	if !h.tr.Usable("bt") {
		t.Fatal("up account not usable")
	}
}

func TestCustomThresholds(t *testing.T) {
	h := newHarness(t, Config{FailuresToDown: 1, SuccessesToUp: 3})
	h.ok(SMTP, 0)
	h.fail(SMTP, KindUnreachable, refused)
	h.want(Down)
	h.ok(SMTP, 0)
	h.ok(SMTP, 0)
	h.want(Down)
	h.ok(SMTP, 0)
	h.want(Up)
}

func TestAuthNeedsYou(t *testing.T) {
	h := newHarness(t, Config{})
	h.login(SMTP)
	h.want(Up)
	h.fail(SMTP, KindAuth, "login refused: 535 5.7.8 credentials rejected")
	h.want(NeedsYou) // at once, no hysteresis
	e := h.last()
	if e.To != "needs-you" || e.Cause != "SMTP: login refused: 535 5.7.8 credentials rejected" || e.Phase != "login" {
		t.Fatalf("event %+v", e)
	}
	if h.tr.Usable("bt") {
		t.Fatal("needs-you account is usable")
	}
	// Connection checks without login do not end it, nor does IMAP.
	h.ok(SMTP, 0)
	h.ok(SMTP, 0)
	h.ok(SMTP, 0)
	h.login(IMAP)
	h.want(NeedsYou)
	// Failures while in NeedsYou do not move it either.
	for i := 0; i < 3; i++ {
		h.fail(SMTP, KindUnreachable, refused)
	}
	h.want(NeedsYou)
	h.ok(SMTP, 0)
	h.ok(SMTP, 0)
	// One successful login ends it, without hysteresis.
	h.login(SMTP)
	h.want(Up)
	if e := h.last(); e.From != "needs-you" || e.Cause != "SMTP: signed in again" {
		t.Fatalf("event %+v", e)
	}
}

func TestAuthFromUnknown(t *testing.T) {
	h := newHarness(t, Config{})
	for i := 0; i < 5; i++ {
		h.fail(IMAP, KindAuth, "login refused: NO [AUTHENTICATIONFAILED] Authentication failed")
		h.want(NeedsYou)
	}
	if h.count() != 1 {
		t.Fatalf("repeated auth failures gave events: %s", h.dump())
	}
	// Auth failures do not count toward down: one good login is enough.
	h.login(IMAP)
	h.want(Up)
}

func TestNeedsYouEndsIntoDown(t *testing.T) {
	// The password is fixed while SMTP is down: the account is then down.
	h := newHarness(t, Config{})
	h.fail(IMAP, KindAuth, "login refused")
	for i := 0; i < 3; i++ {
		h.fail(SMTP, KindUnreachable, refused)
	}
	h.want(NeedsYou)
	h.login(IMAP)
	h.want(Degraded)
	if e := h.last(); !strings.Contains(e.Cause, "SMTP: 3 failures in a row") || !strings.Contains(e.Cause, "while IMAP works") {
		t.Fatalf("cause %q", e.Cause)
	}
}

func TestSlowDegraded(t *testing.T) {
	h := newHarness(t, Config{})
	h.ok(IMAP, 200*time.Millisecond)
	h.want(Up)
	h.ok(IMAP, 6200*time.Millisecond)
	h.want(Degraded)
	if e := h.last(); e.Cause != "IMAP: slow: answered in 6.2 s (limit 5 s)" || e.Latency != 6200*time.Millisecond {
		t.Fatalf("event %+v", e)
	}
	if !h.tr.Usable("bt") {
		t.Fatal("degraded account must stay usable")
	}
	h.ok(IMAP, 5*time.Second) // at the threshold is not slow
	h.want(Up)
	if e := h.last(); e.Cause != "IMAP: answering normally again (5 s)" {
		t.Fatalf("cause %q", e.Cause)
	}
}

func TestSlowThresholdConfigurable(t *testing.T) {
	h := newHarness(t, Config{SlowLatency: time.Second})
	h.ok(SMTP, 1500*time.Millisecond)
	h.want(Degraded)
}

func TestOneProtocolDownDegraded(t *testing.T) {
	h := newHarness(t, Config{})
	h.ok(SMTP, 0)
	h.ok(IMAP, 0)
	for i := 0; i < 3; i++ {
		h.fail(IMAP, KindUnreachable, refused)
		h.ok(SMTP, 0)
	}
	h.want(Degraded)
	e := h.last()
	if want := "IMAP: 3 failures in a row; last: " + refused + " — while SMTP works"; e.Cause != want {
		t.Fatalf("cause %q, want %q", e.Cause, want)
	}
	if !h.tr.Usable("bt") || !h.tr.UsableFor("bt", SMTP) || h.tr.UsableFor("bt", IMAP) {
		t.Fatal("IMAP down, SMTP up: the account (and SMTP) must be usable, IMAP not")
	}
	for i := 0; i < 3; i++ {
		h.fail(SMTP, KindUnreachable, refused)
	}
	h.want(Down)
	h.ok(IMAP, 0)
	h.ok(IMAP, 0)
	h.want(Degraded)
	h.ok(SMTP, 0)
	h.ok(SMTP, 0)
	h.want(Up)
}

func TestFlapping(t *testing.T) {
	h := newHarness(t, Config{})
	down := func() {
		for i := 0; i < 3; i++ {
			h.fail(SMTP, KindUnreachable, refused)
		}
	}
	up := func() { h.ok(SMTP, 0); h.ok(SMTP, 0) }
	up()   // 1: unknown → up
	down() // 2
	up()   // 3
	down() // 4
	h.want(Down)
	up() // 5 changes within 12 minutes: flapping
	h.want(Up)
	if h.tr.Usable("bt") {
		t.Fatal("flapping account is usable")
	}
	e := h.last()
	if !e.Flapping || e.From != "up" || e.To != "up" || !strings.Contains(e.Cause, "flapping: the state changed 5 times within 30 min") {
		t.Fatalf("flap event %+v", e)
	}
	st, _ := h.tr.Status("bt")
	if !st.Flapping || st.Usable {
		t.Fatalf("status %+v", st)
	}
	h.clock.Advance(9 * time.Minute)
	if h.tr.Usable("bt") {
		t.Fatal("usable before the hold time")
	}
	// A change during the hold starts it again.
	down()
	h.clock.Advance(8 * time.Minute)
	if h.tr.Usable("bt") {
		t.Fatal("down and flapping account usable")
	}
	up()
	h.clock.Advance(9 * time.Minute)
	if h.tr.Usable("bt") {
		t.Fatal("usable 9 min after the last change")
	}
	n := h.count()
	h.clock.Advance(time.Minute)
	if !h.tr.Usable("bt") {
		t.Fatal("not usable after 10 min stable")
	}
	if h.count() != n+1 {
		t.Fatalf("no event at the end of flapping: %s", h.dump())
	}
	if e := h.last(); !e.Flapping || !strings.Contains(e.Cause, "no longer flapping") {
		t.Fatalf("end event %+v", e)
	}
	if h.tr.Usable("bt") != true || h.count() != n+1 {
		t.Fatal("end of flapping reported twice")
	}
}

func TestFlapWindow(t *testing.T) {
	// Five changes spread over more than the window are not flapping.
	h := newHarness(t, Config{FailuresToDown: 1, SuccessesToUp: 1})
	for i := 0; i < 6; i++ {
		h.fail(SMTP, KindUnreachable, refused)
		h.clock.Advance(10 * time.Minute)
		h.ok(SMTP, 0)
		h.clock.Advance(10 * time.Minute)
	}
	if !h.tr.Usable("bt") {
		t.Fatalf("slow changes counted as flapping: %s", h.dump())
	}
}

func TestEventsToStore(t *testing.T) {
	store, err := incidents.Open(filepath.Join(t.TempDir(), "incidents.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clock := &fakeClock{t: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	tr := NewTracker(Config{Now: clock.Now}, Hooks{Store: store})
	tr.Observe(Observation{Account: "gmail", Protocol: IMAP, OK: true, Latency: 80 * time.Millisecond})
	clock.Advance(time.Minute)
	tr.Observe(Observation{Account: "gmail", Protocol: IMAP, Kind: KindAuth, Phase: PhaseLogin, Cause: "login refused: NO [AUTHENTICATIONFAILED] Invalid credentials"})
	got, err := store.Recent(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].To != "up" || got[1].To != "needs-you" || got[1].Account != "gmail" ||
		got[1].Cause != "IMAP: login refused: NO [AUTHENTICATIONFAILED] Invalid credentials" || !got[1].Time.Equal(clock.Now()) {
		t.Fatalf("stored %+v", got)
	}
}

func TestSnapshot(t *testing.T) {
	h := newHarness(t, Config{})
	h.ok(IMAP, 120*time.Millisecond)
	h.fail(SMTP, KindUnreachable, refused)
	h.tr.Observe(Observation{Account: "gmail", Protocol: SMTP, OK: true, LoggedIn: true, Latency: 7 * time.Second, Phase: PhaseSend,
		Warning: "certificate expires in 3 days"})
	snap := h.tr.Snapshot()
	if len(snap) != 2 || snap[0].Account != "bt" || snap[1].Account != "gmail" {
		t.Fatalf("snapshot %+v", snap)
	}
	bt := snap[0]
	if bt.State != Up || !bt.Usable || bt.Since.IsZero() || len(bt.Protocols) != 2 {
		t.Fatalf("bt %+v", bt)
	}
	imapSt, smtpSt := bt.Protocols[0], bt.Protocols[1]
	if imapSt.Protocol != IMAP || imapSt.State != Up || imapSt.Last.Latency != 120*time.Millisecond || len(imapSt.Recent) != 1 {
		t.Fatalf("imap %+v", imapSt)
	}
	if smtpSt.State != Unknown || smtpSt.ConsecutiveFailures != 1 || smtpSt.Last.Cause != refused || smtpSt.Last.OK {
		t.Fatalf("smtp %+v", smtpSt)
	}
	gm := snap[1]
	if gm.State != Degraded || gm.Protocols[0].State != Degraded || gm.Protocols[0].Warning == "" {
		t.Fatalf("gmail %+v", gm)
	}
	if _, err := json.Marshal(snap); err != nil {
		t.Fatal(err)
	}
	// The strip of recent checks keeps the last RecentChecks, oldest first.
	for i := 0; i < RecentChecks+5; i++ {
		h.ok(IMAP, time.Duration(i)*time.Millisecond)
	}
	st, _ := h.tr.Status("bt")
	rec := st.Protocols[0].Recent
	if len(rec) != RecentChecks || rec[0].Latency != 5*time.Millisecond || rec[len(rec)-1].Latency != time.Duration(RecentChecks+4)*time.Millisecond {
		t.Fatalf("recent %v", rec)
	}
	if _, ok := h.tr.Status("nobody"); ok {
		t.Fatal("status of an unknown account")
	}
}

func TestUnknownAccountUsable(t *testing.T) {
	tr := NewTracker(Config{}, Hooks{})
	if !tr.Usable("never-seen") || !tr.UsableFor("never-seen", SMTP) || tr.State("never-seen") != Unknown {
		t.Fatal("an account never observed must be usable and unknown")
	}
}

func TestOnEventReentrant(t *testing.T) {
	var tr *Tracker
	var seen []State
	tr = NewTracker(Config{}, Hooks{OnEvent: func(e incidents.Event) {
		seen = append(seen, tr.State(e.Account))
		if e.To == "up" {
			// An observation from inside the callback is delivered after.
			tr.Observe(Observation{Account: e.Account, Protocol: SMTP, Kind: KindAuth, Cause: "login refused"})
		}
	}})
	tr.Observe(Observation{Account: "a", Protocol: SMTP, OK: true})
	if len(seen) != 2 || seen[1] != NeedsYou {
		t.Fatalf("seen %v", seen)
	}
}

func TestOnEventPanicReported(t *testing.T) {
	var reported error
	tr := NewTracker(Config{}, Hooks{OnEvent: func(incidents.Event) { panic("boom") }, OnError: func(err error) { reported = err }})
	tr.Observe(Observation{Account: "a", Protocol: SMTP, OK: true})
	if reported == nil || !strings.Contains(reported.Error(), "boom") {
		t.Fatalf("reported %v", reported)
	}
	if tr.State("a") != Up {
		t.Fatal("state lost")
	}
}

func TestConcurrentObserve(t *testing.T) {
	var mu sync.Mutex
	n := 0
	tr := NewTracker(Config{}, Hooks{OnEvent: func(incidents.Event) { mu.Lock(); n++; mu.Unlock() }})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				tr.Observe(Observation{Account: "a", Protocol: SMTP, OK: i%4 == 0})
				tr.Usable("a")
				tr.Snapshot()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if n == 0 {
		t.Fatal("no events")
	}
}

func TestStateNames(t *testing.T) {
	want := map[State][2]string{Unknown: {"unknown", "Checking…"}, Up: {"up", "Operational"}, Degraded: {"degraded", "Degraded"},
		Down: {"down", "Outage"}, NeedsYou: {"needs-you", "Needs your attention"}}
	for s, w := range want {
		if s.String() != w[0] || s.Words() != w[1] {
			t.Errorf("%d: %q %q", int(s), s.String(), s.Words())
		}
		p, err := ParseState(w[0])
		if err != nil || p != s {
			t.Errorf("ParseState(%q) = %v, %v", w[0], p, err)
		}
		b, _ := json.Marshal(s)
		var back State
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("JSON round trip of %v: %s %v", s, b, err)
		}
	}
	if _, err := ParseState("sideways"); err == nil {
		t.Error("ParseState accepted nonsense")
	}
}

func TestDefaults(t *testing.T) {
	c := DefaultConfig()
	if c.FailuresToDown != 3 || c.SuccessesToUp != 2 || c.SlowLatency != 5*time.Second || c.ProbeInterval != time.Minute ||
		c.LoginInterval != 10*time.Minute || c.FlapChanges != 4 || c.FlapWindow != 30*time.Minute || c.FlapHold != 10*time.Minute ||
		c.ProbeTimeout != 15*time.Second || c.Now == nil {
		t.Fatalf("defaults %+v", c)
	}
}

// A delivery check that did not arrive: degraded with the cause in plain
// words, out of the sending route (unless kept), back when one arrives.
func TestUndeliveredCanary(t *testing.T) {
	var events []incidents.Event
	keep := map[string]bool{"kept": true}
	tr := NewTracker(Config{KeepRouting: func(a string) bool { return keep[a] }}, Hooks{OnEvent: func(e incidents.Event) { events = append(events, e) }})
	for _, acct := range []string{"bt", "kept"} {
		for i := 0; i < 2; i++ {
			tr.Observe(Observation{Account: acct, Protocol: SMTP, OK: true, LoggedIn: true})
			tr.Observe(Observation{Account: acct, Protocol: IMAP, OK: true, LoggedIn: true})
		}
		tr.Observe(Observation{Account: acct, Protocol: SMTP, Phase: PhaseCanary, Kind: KindUndelivered,
			Cause: "mail accepted but not delivered: a test message sent through " + acct + " at 10:00 was not in its mailbox 15m later"})
	}
	if tr.State("bt") != Degraded || tr.UsableFor("bt", SMTP) || tr.Usable("bt") {
		t.Fatalf("bt after a missing canary: %v, usable %t", tr.State("bt"), tr.UsableFor("bt", SMTP))
	}
	if !tr.UsableFor("bt", IMAP) {
		t.Error("a missing canary took IMAP (reading, backing up) out too")
	}
	if !tr.UsableFor("kept", SMTP) {
		t.Error("keep_routing did not keep the account in the route")
	}
	last := events[len(events)-1]
	if last.To != "degraded" || !strings.Contains(last.Cause, "accepted but not delivered") {
		t.Fatalf("event %+v", last)
	}
	// Probes keep succeeding: still degraded until a canary arrives.
	tr.Observe(Observation{Account: "bt", Protocol: SMTP, OK: true, LoggedIn: true})
	if tr.State("bt") != Degraded {
		t.Fatal("a probe success ended the undelivered state")
	}
	tr.Observe(Observation{Account: "bt", Protocol: SMTP, Phase: PhaseCanary, OK: true, Latency: 3 * time.Second})
	if tr.State("bt") != Up || !tr.UsableFor("bt", SMTP) {
		t.Fatalf("after a canary arrived: %v", tr.State("bt"))
	}
	if c := events[len(events)-1].Cause; !strings.Contains(c, "delivery check arrived") {
		t.Errorf("recovery cause %q", c)
	}
}

// Mail sent through an account comes back again and again (a blocklist,
// a policy): degraded for sending once BounceLimit bounces came within
// BounceWindow; usable again when they age out.
func TestBouncesDegradeSending(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tr := NewTracker(Config{Now: clock}, Hooks{})
	tr.Observe(Observation{Account: "bt", Protocol: SMTP, OK: true, LoggedIn: true})
	tr.Observe(Observation{Account: "bt", Protocol: SMTP, OK: true, LoggedIn: true})
	for i := 0; i < BounceLimit; i++ {
		if !tr.UsableFor("bt", SMTP) {
			t.Fatalf("not usable after %d bounces", i)
		}
		tr.Observe(Observation{Account: "bt", Protocol: SMTP, Phase: PhaseBounce, Cause: "x@y: 554 5.7.1 blocked"})
	}
	if tr.State("bt") != Degraded || tr.UsableFor("bt", SMTP) {
		t.Fatalf("after %d bounces: %v", BounceLimit, tr.State("bt"))
	}
	now = now.Add(BounceWindow + time.Minute)
	if !tr.UsableFor("bt", SMTP) {
		t.Error("still out of the route after the bounces aged out")
	}
}

// A delivery check that arrived in the junk folder is a warning on the
// account's SMTP, not a change of state.
func TestCanaryInJunkWarns(t *testing.T) {
	tr := NewTracker(Config{}, Hooks{})
	tr.Observe(Observation{Account: "bt", Protocol: SMTP, OK: true, LoggedIn: true})
	tr.Observe(Observation{Account: "bt", Protocol: SMTP, Phase: PhaseCanary, OK: true, Warning: "mail sent through bt arrived in \"Junk\""})
	st, _ := tr.Status("bt")
	var warned bool
	for _, p := range st.Protocols {
		warned = warned || (p.Protocol == SMTP && strings.Contains(p.Warning, "Junk"))
	}
	if !warned || tr.State("bt") != Up {
		t.Fatalf("state %v, status %+v", tr.State("bt"), st)
	}
}

// The NHS case: SMTP that answers, but slower than a send may wait before
// MAIL FROM, is degraded at its first slow check and not used for sending
// while that is its latest news; one fast answer brings it back, and an
// old slow answer alone does not keep it out.
func TestTooSlowToSendThrough(t *testing.T) {
	h := newHarness(t, Config{SlowLatency: time.Second, SendBudget: 2 * time.Second, ProbeInterval: time.Minute})
	h.ok(SMTP, 200*time.Millisecond)
	h.ok(IMAP, 200*time.Millisecond)
	h.want(Up)
	h.ok(SMTP, 1500*time.Millisecond) // slow, within the budget: still sent through
	h.want(Degraded)
	if why := h.tr.Unusable("bt", SMTP); why != "" {
		t.Fatalf("slow but within the send budget: unusable (%s)", why)
	}
	h.ok(SMTP, 3*time.Second)
	why := h.tr.Unusable("bt", SMTP)
	if want := "too slow: SMTP answered in 3 s, over the 2 s send budget"; why != want {
		t.Fatalf("Unusable = %q, want %q", why, want)
	}
	if h.tr.UsableFor("bt", SMTP) || !h.tr.UsableFor("bt", IMAP) || !h.tr.Usable("bt") {
		t.Fatal("too slow to send through: SMTP must be unusable, IMAP and the account usable")
	}
	h.clock.Advance(6 * time.Minute) // nothing newer for 5 minutes: tried again
	if !h.tr.UsableFor("bt", SMTP) {
		t.Fatal("a slow answer 6 minutes old still keeps the account out of sending")
	}
	h.ok(SMTP, 3*time.Second)
	h.ok(SMTP, 100*time.Millisecond)
	h.ok(IMAP, 100*time.Millisecond)
	h.want(Up)
	if !h.tr.UsableFor("bt", SMTP) {
		t.Fatal("fast again, yet not usable for sending")
	}
}
