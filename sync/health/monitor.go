package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Target is one account a Monitor watches.
type Target struct {
	Account string
	IMAP    *imapconn.Endpoint // nil: IMAP is not probed
	SMTP    *SMTPEndpoint      // nil: SMTP is not probed
	// Credentials gives the login for a protocol (from the keyring, or a
	// fresh OAuth token) when a real login is due. Nil, or a nil *Login,
	// means connection checks only. An error is reported and the probe
	// runs without login; one that needs the user (an OAuth2 sign-in the
	// provider no longer accepts) is observed as a refused login.
	Credentials func(ctx context.Context, p Protocol) (*Login, error)
	// TokenCheck, when set, runs every Config.TokenCheckInterval (and
	// first after about a minute): an OAuth2 token refresh without mail
	// traffic, so that a revoked consent shows before an outage, not
	// during one. A failure is observed as a refused IMAP login.
	TokenCheck func(ctx context.Context) error
	// Canary, when set, runs every CanaryEvery (first about two minutes
	// after Run starts): a delivery check, whose observation (ok false:
	// undelivered) is taken in; false when it proved nothing.
	Canary      func(ctx context.Context) (Observation, bool)
	CanaryEvery time.Duration
}

// CanaryStart is how long after Run starts a target's first delivery
// check goes out.
var CanaryStart = 2 * time.Minute

// Monitor probes accounts on their interval and feeds a Tracker.
type Monitor struct {
	// OnResult, when set (before Run), receives every probe's result, for
	// example to show phase timings.
	OnResult func(account string, r Result)

	tracker *Tracker
	targets []Target
	cfg     Config

	probeIMAP func(context.Context, imapconn.Endpoint, *Login) Result
	probeSMTP func(context.Context, SMTPEndpoint, *Login) Result

	mu        sync.Mutex
	lastLogin map[string]time.Time // per account: the last login slot taken
	wake      map[string][]chan struct{}
}

// NewMonitor returns a monitor of targets feeding t, with t's Config
// (ProbeInterval, LoginInterval, ProbeTimeout).
func NewMonitor(t *Tracker, targets []Target) *Monitor {
	m := &Monitor{tracker: t, targets: targets, cfg: t.cfg, probeIMAP: ProbeIMAP, probeSMTP: ProbeSMTP,
		lastLogin: map[string]time.Time{}, wake: map[string][]chan struct{}{}}
	for _, tg := range targets {
		for range 2 {
			m.wake[tg.Account] = append(m.wake[tg.Account], make(chan struct{}, 1))
		}
	}
	return m
}

// CheckNow asks for a probe of the account's protocols without waiting for
// the interval (a "Check now" button). Logins still respect LoginInterval.
func (m *Monitor) CheckNow(account string) {
	for _, ch := range m.wake[account] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run probes until ctx ends, then returns ctx's error. Call it once.
func (m *Monitor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, tg := range m.targets {
		wake := m.wake[tg.Account]
		if tg.IMAP != nil {
			wg.Add(1)
			go m.loop(ctx, &wg, tg, IMAP, wake[0])
		}
		if tg.SMTP != nil {
			wg.Add(1)
			go m.loop(ctx, &wg, tg, SMTP, wake[1])
		}
		if tg.TokenCheck != nil {
			wg.Add(1)
			go m.tokenLoop(ctx, &wg, tg)
		}
		if tg.Canary != nil && tg.CanaryEvery > 0 {
			wg.Add(1)
			go m.canaryLoop(ctx, &wg, tg)
		}
	}
	wg.Wait()
	return ctx.Err()
}

func (m *Monitor) loop(ctx context.Context, wg *sync.WaitGroup, tg Target, p Protocol, wake <-chan struct{}) {
	defer wg.Done()
	first := true
	for !m.probeLoop(ctx, tg, p, wake, first) {
		first = false // a panic was recovered: carry on
	}
}

// probeLoop probes on the interval until ctx ends (true) or a panic is
// recovered (false).
func (m *Monitor) probeLoop(ctx context.Context, tg Target, p Protocol, wake <-chan struct{}, first bool) (stopped bool) {
	defer func() {
		if v := recover(); v != nil {
			m.tracker.report(fmt.Errorf("health monitor: panic in the %s loop of %s: %v\n%s", p, tg.Account, v, debug.Stack()))
		}
	}()
	delay := m.cfg.ProbeInterval
	if first {
		delay = time.Duration(rand.Int64N(int64(min(m.cfg.ProbeInterval/10, 5*time.Second)) + 1))
	}
	for {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return true
		case <-timer.C:
		case <-wake:
			timer.Stop()
		}
		m.check(ctx, tg, p)
		// ±10% so that accounts on one provider do not probe in step.
		delay = time.Duration(float64(m.cfg.ProbeInterval) * (0.9 + 0.2*rand.Float64()))
	}
}

// check runs one probe and observes it. A panic is reported, not fatal.
func (m *Monitor) check(ctx context.Context, tg Target, p Protocol) {
	defer func() {
		if v := recover(); v != nil {
			m.tracker.report(fmt.Errorf("health monitor: panic probing %s of %s: %v\n%s", p, tg.Account, v, debug.Stack()))
		}
	}()
	var login *Login
	claimed, prev := m.claimLogin(tg.Account)
	if claimed && tg.Credentials != nil {
		l, err := tg.Credentials(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if o, ok := SignInRefused(tg.Account, p, err); ok {
				// Signing in cannot work until the user acts: say so, and
				// let the connection check below run without a login.
				m.tracker.Observe(o)
			} else {
				m.tracker.report(fmt.Errorf("health monitor: %s credentials of %s: %w", p, tg.Account, err))
			}
		}
		login = l
	}
	var r Result
	switch p {
	case IMAP:
		ep := *tg.IMAP
		if ep.Timeout <= 0 {
			ep.Timeout = m.cfg.ProbeTimeout
		}
		r = m.probeIMAP(ctx, ep, login)
	case SMTP:
		ep := *tg.SMTP
		if ep.Timeout <= 0 {
			ep.Timeout = m.cfg.ProbeTimeout
		}
		r = m.probeSMTP(ctx, ep, login)
	}
	if claimed {
		switch {
		case login == nil || !r.Ran(PhaseLogin):
			// No login happened: the slot stays free.
			m.releaseLogin(tg.Account, prev)
		case r.Kind == KindThrottled && r.FailedPhase == PhaseLogin:
			// "454 4.7.0 Too many login attempts": wait twice as long.
			m.mu.Lock()
			m.lastLogin[tg.Account] = m.cfg.Now().Add(m.cfg.LoginInterval)
			m.mu.Unlock()
		}
	}
	if r.Canceled || ended(ctx) {
		return
	}
	m.tracker.Observe(r.Observation(tg.Account))
	if m.OnResult != nil {
		m.OnResult(tg.Account, r)
	}
}

// SignInRefused is the observation of err, from getting the credentials
// of an account's protocol p, when it means that signing in cannot work
// until the user acts (an OAuth2 grant the provider refused): a refused
// login, needs-you. ok is false for any other error (a keyring that is
// locked, a provider out of reach), which says nothing of the account.
func SignInRefused(account string, p Protocol, err error) (o Observation, ok bool) {
	kind, cause := Classify(p, PhaseLogin, err)
	if kind != KindAuth {
		return Observation{}, false
	}
	return Observation{Account: account, Protocol: p, Phase: PhaseLogin, Kind: kind, Cause: cause}, true
}

// tokenLoop runs the target's token check on its interval.
func (m *Monitor) tokenLoop(ctx context.Context, wg *sync.WaitGroup, tg Target) {
	defer wg.Done()
	delay := min(time.Minute, m.cfg.TokenCheckInterval)
	for {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		err := tg.TokenCheck(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if o, ok := SignInRefused(tg.Account, IMAP, err); ok {
				m.tracker.Observe(o)
			} else {
				m.tracker.report(fmt.Errorf("health monitor: token check of %s: %w", tg.Account, err))
			}
		}
		delay = m.cfg.TokenCheckInterval
	}
}

// canaryLoop runs the target's delivery check on its schedule.
func (m *Monitor) canaryLoop(ctx context.Context, wg *sync.WaitGroup, tg Target) {
	defer wg.Done()
	delay := min(CanaryStart, tg.CanaryEvery)
	for {
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		o, ok := tg.Canary(ctx)
		if ctx.Err() != nil {
			return
		}
		if ok {
			m.tracker.Observe(o)
		}
		delay = tg.CanaryEvery
	}
}

// claimLogin takes the account's login slot when LoginInterval has passed
// since the last login, by a probe or in real traffic.
func (m *Monitor) claimLogin(account string) (ok bool, prev time.Time) {
	seen := m.tracker.lastLogin(account)
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	prev = m.lastLogin[account]
	last := prev
	if seen.After(last) {
		last = seen
	}
	if !last.IsZero() && now.Sub(last) < m.cfg.LoginInterval {
		return false, prev
	}
	m.lastLogin[account] = now
	return true, prev
}

func (m *Monitor) releaseLogin(account string, prev time.Time) {
	m.mu.Lock()
	m.lastLogin[account] = prev
	m.mu.Unlock()
}
