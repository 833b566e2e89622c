package health

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

func TestMonitorLoginCadenceAndPanics(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	tr := NewTracker(Config{ProbeInterval: 5 * time.Millisecond, LoginInterval: 150 * time.Millisecond},
		Hooks{OnError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }})
	var probes, logins, panics atomic.Int32
	m := NewMonitor(tr, []Target{{
		Account: "bt",
		IMAP:    &imapconn.Endpoint{Host: "127.0.0.1", Port: 1},
		SMTP:    &SMTPEndpoint{Host: "127.0.0.1", Port: 2},
		Credentials: func(_ context.Context, p Protocol) (*Login, error) {
			return &Login{Password: "pw"}, nil
		},
	}})
	fake := func(p Protocol, l *Login) Result {
		n := probes.Add(1)
		if n == 3 {
			panics.Add(1)
			panic("probe exploded")
		}
		r := Result{Protocol: p, Time: time.Now(), OK: true, Total: time.Millisecond,
			Phases: []PhaseTime{{PhaseTCP, time.Millisecond}}}
		if l != nil {
			logins.Add(1)
			r.Login, r.LoggedIn = true, true
			r.Phases = append(r.Phases, PhaseTime{PhaseLogin, time.Millisecond})
		}
		return r
	}
	m.probeIMAP = func(_ context.Context, ep imapconn.Endpoint, l *Login) Result {
		if ep.Timeout != DefaultProbeTimeout {
			t.Errorf("timeout %s", ep.Timeout)
		}
		return fake(IMAP, l)
	}
	m.probeSMTP = func(_ context.Context, _ SMTPEndpoint, l *Login) Result { return fake(SMTP, l) }
	var results atomic.Int32
	m.OnResult = func(string, Result) { results.Add(1) }

	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := m.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run returned %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Run took %s to stop", el)
	}
	n, l := probes.Load(), logins.Load()
	// 400 ms with a login at most every 150 ms per account: 1 to 3 logins.
	if l < 1 || l > 3 || n < 10 {
		t.Fatalf("%d probes, %d logins", n, l)
	}
	if panics.Load() != 1 {
		t.Fatal("no panic injected")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "probe exploded") {
		t.Fatalf("reported %v", reported)
	}
	// Every probe but the one that panicked (and those cut off by the end
	// of Run, which are not observed) reached OnResult.
	if got := results.Load(); tr.State("bt") != Up || got > n-1 || got < n-3 {
		t.Fatalf("state %v, results %d of %d probes", tr.State("bt"), results.Load(), n)
	}
}

func TestClaimLogin(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	tr := NewTracker(Config{Now: clock.Now}, Hooks{})
	m := NewMonitor(tr, nil)
	if ok, _ := m.claimLogin("a"); !ok {
		t.Fatal("first login not allowed")
	}
	clock.Advance(9 * time.Minute)
	if ok, _ := m.claimLogin("a"); ok {
		t.Fatal("second login within 10 min")
	}
	if ok, _ := m.claimLogin("b"); !ok {
		t.Fatal("accounts share a login slot")
	}
	clock.Advance(time.Minute)
	if ok, _ := m.claimLogin("a"); !ok {
		t.Fatal("login not allowed after 10 min")
	}
	// A login in real traffic counts.
	clock.Advance(11 * time.Minute)
	tr.Observe(Observation{Account: "a", Protocol: SMTP, OK: true, LoggedIn: true, Phase: PhaseSend})
	clock.Advance(5 * time.Minute)
	if ok, _ := m.claimLogin("a"); ok {
		t.Fatal("login 5 min after a real one")
	}
	// An unused slot is given back.
	clock.Advance(6 * time.Minute)
	ok, prev := m.claimLogin("a")
	if !ok {
		t.Fatal("not allowed")
	}
	m.releaseLogin("a", prev)
	if ok, _ := m.claimLogin("a"); !ok {
		t.Fatal("released slot not reusable")
	}
}

func TestMonitorThrottledBacksOff(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)}
	tr := NewTracker(Config{Now: clock.Now}, Hooks{})
	tg := Target{Account: "gmail", SMTP: &SMTPEndpoint{Host: "127.0.0.1"},
		Credentials: func(context.Context, Protocol) (*Login, error) { return &Login{Password: "x"}, nil }}
	m := NewMonitor(tr, []Target{tg})
	var logins int
	m.probeSMTP = func(_ context.Context, _ SMTPEndpoint, l *Login) Result {
		if l == nil {
			return Result{Protocol: SMTP, OK: true}
		}
		logins++
		return Result{Protocol: SMTP, Login: true, FailedPhase: PhaseLogin, Kind: KindThrottled,
			Phases: []PhaseTime{{PhaseLogin, time.Millisecond}}, Cause: "login throttled: 454 4.7.0 Too many login attempts"}
	}
	for i := 0; i < 30; i++ { // one probe a minute for 30 min
		m.check(context.Background(), tg, SMTP)
		clock.Advance(time.Minute)
	}
	// Logins at 0, then not before 20 min (twice the interval): 2.
	if logins != 2 {
		t.Fatalf("%d logins in 30 min after throttling", logins)
	}
}

func TestMonitorCredentialsError(t *testing.T) {
	var reported error
	tr := NewTracker(Config{}, Hooks{OnError: func(err error) { reported = err }})
	tg := Target{Account: "a", IMAP: &imapconn.Endpoint{Host: "127.0.0.1"},
		Credentials: func(context.Context, Protocol) (*Login, error) { return nil, errors.New("keyring locked") }}
	m := NewMonitor(tr, []Target{tg})
	var gotLogin bool
	m.probeIMAP = func(_ context.Context, _ imapconn.Endpoint, l *Login) Result {
		gotLogin = l != nil
		return Result{Protocol: IMAP, OK: true}
	}
	m.check(context.Background(), tg, IMAP)
	if gotLogin || reported == nil || !strings.Contains(reported.Error(), "keyring locked") {
		t.Fatalf("login %v, reported %v", gotLogin, reported)
	}
	// The slot was not used: the next probe may log in.
	if ok, _ := m.claimLogin("a"); !ok {
		t.Fatal("login slot consumed without a login")
	}
}

func TestMonitorRealServers(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b, sep := newSMTP(t)
	iep := p.Endpoint()
	var mu sync.Mutex
	var results []Result
	tr := NewTracker(Config{ProbeInterval: 20 * time.Millisecond}, Hooks{OnError: func(err error) { t.Error(err) }})
	m := NewMonitor(tr, []Target{{Account: "demo", IMAP: &iep, SMTP: &sep,
		Credentials: func(_ context.Context, proto Protocol) (*Login, error) {
			if proto == IMAP {
				return &Login{Password: p.Password}, nil
			}
			return &Login{Password: "secret"}, nil
		}}})
	m.OnResult = func(_ string, r Result) { mu.Lock(); results = append(results, r); mu.Unlock() }
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	m.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	loggedIn := 0
	for _, r := range results {
		if !r.OK {
			t.Fatalf("probe failed: %+v", r)
		}
		if r.LoggedIn {
			loggedIn++
		}
	}
	if len(results) < 4 || loggedIn != 1 {
		t.Fatalf("%d probes, %d with login (want exactly 1: one login per account per LoginInterval)", len(results), loggedIn)
	}
	if tr.State("demo") != Up || !tr.Usable("demo") {
		t.Fatalf("state %v", tr.State("demo"))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.datas != 0 {
		t.Fatal("DATA sent")
	}
}

func TestMonitorCheckNow(t *testing.T) {
	tr := NewTracker(Config{ProbeInterval: time.Hour}, Hooks{})
	tg := Target{Account: "a", SMTP: &SMTPEndpoint{Host: "127.0.0.1"}}
	m := NewMonitor(tr, []Target{tg})
	var n atomic.Int32
	m.probeSMTP = func(context.Context, SMTPEndpoint, *Login) Result { n.Add(1); return Result{Protocol: SMTP, OK: true} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	// The first probe comes within a tenth of the interval (capped at 5 s);
	// CheckNow brings it forward.
	time.Sleep(20 * time.Millisecond)
	m.CheckNow("a")
	deadline := time.Now().Add(2 * time.Second)
	for n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n.Load() == 0 {
		t.Fatal("CheckNow did not probe")
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		proto Protocol
		phase Phase
		err   error
		kind  Kind
		cause string
	}{
		{SMTP, PhaseLogin, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "credentials rejected"}, KindAuth, "login refused: 535 5.7.8 credentials rejected"},
		{SMTP, PhaseLogin, &smtp.SMTPError{Code: 534, EnhancedCode: smtp.EnhancedCode{5, 7, 9}, Message: "Application-specific password required"}, KindAuth, "login refused: 534 5.7.9"},
		{SMTP, PhaseLogin, &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many login attempts"}, KindThrottled, "login throttled: 454 4.7.0"},
		{SMTP, PhaseSend, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "closing"}, KindUnreachable, "sending failed: 421 4.4.2 closing"},
		{SMTP, PhaseSend, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 4, 5}, Message: "Daily sending quota exceeded"}, KindThrottled, "550 5.4.5"},
		{SMTP, PhaseSend, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 500}, Message: "rate limited"}, KindThrottled, "slow down"},
		{SMTP, PhaseEnvelope, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "not allowed"}, KindAuth, "sending as yourself refused"},
		{SMTP, PhaseSend, &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "too big"}, KindOther, "sending failed: 552 5.3.4 too big"},
		{IMAP, PhaseLogin, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "bad password"}, KindAuth, "login refused: NO bad password"},
		{IMAP, PhaseLogin, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "try later"}, KindThrottled, "login throttled"},
		{IMAP, PhaseBackup, &imapconn.Error{Kind: imapconn.KindAuth, Err: errors.New("LOGIN failed")}, KindAuth, "login refused: LOGIN failed"},
		{IMAP, PhaseBackup, context.DeadlineExceeded, KindUnreachable, "backup failed"},
		{IMAP, PhaseBackup, errors.New("something odd"), KindOther, "backup failed: something odd"},
	}
	for _, c := range cases {
		kind, cause := Classify(c.proto, c.phase, c.err)
		if kind != c.kind || !strings.Contains(cause, c.cause) {
			t.Errorf("Classify(%s, %s, %v) = %q, %q; want %q, containing %q", c.proto, c.phase, c.err, kind, cause, c.kind, c.cause)
		}
	}
	if k, c := Classify(SMTP, PhaseSend, nil); k != KindNone || c != "" {
		t.Error("nil error classified")
	}
}

// An OAuth2 sign-in the provider refused (consent revoked) is the user's
// to fix: needs you at once, with the cause; and the daily token check
// finds it without any mail traffic.
func TestMonitorRefusedSignInNeedsYou(t *testing.T) {
	signIn := &oauth.SignInError{Account: "work", Reason: "Microsoft no longer accepts its sign-in (invalid_grant)", Advice: "run `lifeboat accounts login work`"}
	tr := NewTracker(Config{}, Hooks{})
	tg := Target{Account: "work", IMAP: &imapconn.Endpoint{Host: "127.0.0.1"},
		Credentials: func(context.Context, Protocol) (*Login, error) { return nil, signIn }}
	m := NewMonitor(tr, []Target{tg})
	m.probeIMAP = func(_ context.Context, _ imapconn.Endpoint, l *Login) Result {
		if l != nil {
			t.Error("a login was tried without credentials")
		}
		return Result{Protocol: IMAP, OK: true}
	}
	m.check(context.Background(), tg, IMAP)
	st, _ := tr.Status("work")
	if tr.State("work") != NeedsYou || !strings.Contains(st.Cause, "accounts login work") {
		t.Fatalf("state %v, status %+v", tr.State("work"), st)
	}

	// The token check: a refusal is needs-you; an unreachable sign-in
	// service is only reported.
	for _, tc := range []struct {
		err  error
		want State
	}{
		{signIn, NeedsYou},
		{&oauth.Error{Provider: "Microsoft", Err: errors.New("connection refused")}, Unknown},
	} {
		var reported error
		tr := NewTracker(Config{TokenCheckInterval: time.Hour}, Hooks{OnError: func(err error) { reported = err }})
		checks := make(chan struct{}, 1)
		tg := Target{Account: "work", TokenCheck: func(context.Context) error {
			select {
			case checks <- struct{}{}:
			default:
			}
			return tc.err
		}}
		m := NewMonitor(tr, []Target{tg})
		m.cfg.TokenCheckInterval = 10 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- m.Run(ctx) }()
		select {
		case <-checks:
		case <-time.After(5 * time.Second):
			t.Fatal("no token check ran")
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-done
		if got := tr.State("work"); got != tc.want {
			t.Errorf("after %v: state %v, want %v", tc.err, got, tc.want)
		}
		if tc.want == Unknown && reported == nil {
			t.Error("an unreachable sign-in service was not reported")
		}
	}
}

// A target's delivery check runs on its schedule and its outcome is taken
// in: undelivered is degraded.
func TestMonitorRunsCanaries(t *testing.T) {
	old := CanaryStart
	CanaryStart = 10 * time.Millisecond
	t.Cleanup(func() { CanaryStart = old })
	tr := NewTracker(Config{}, Hooks{})
	ran := make(chan struct{}, 10)
	tg := Target{Account: "bt", CanaryEvery: 20 * time.Millisecond, Canary: func(context.Context) (Observation, bool) {
		select {
		case ran <- struct{}{}:
		default:
		}
		return Observation{Account: "bt", Protocol: SMTP, Phase: PhaseCanary, Kind: KindUndelivered, Cause: "mail accepted but not delivered"}, true
	}}
	m := NewMonitor(tr, []Target{tg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	for i := 0; i < 2; i++ {
		select {
		case <-ran:
		case <-time.After(5 * time.Second):
			t.Fatalf("delivery check %d did not run", i+1)
		}
	}
	cancel()
	<-done
	if tr.State("bt") != Degraded || tr.UsableFor("bt", SMTP) {
		t.Errorf("after undelivered checks: %v", tr.State("bt"))
	}
}
