package health

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/incidents"
)

// RecentChecks is how many observations per protocol a Snapshot shows.
const RecentChecks = 20

// Hooks are where a Tracker reports.
type Hooks struct {
	// OnEvent is called for every incident event, in order, never with the
	// tracker's lock held (it may call State, Usable, Snapshot; an Observe
	// from inside it is delivered after it returns).
	OnEvent func(incidents.Event)
	// Store, when set, receives every event (Append, fsynced).
	Store *incidents.Store
	// OnError receives failures to record an event and recovered panics
	// (from OnEvent, or from a Monitor's goroutines).
	OnError func(error)
	// OnObserve, when set, hears every observation given to Observe (not
	// to Replay), after the state took it in: where it is shared with the
	// other processes (store/healthlog through app/wire).
	OnObserve func(Observation)
}

// Tracker keeps the health state of every account it has heard of. It is
// safe for concurrent use.
type Tracker struct {
	cfg   Config
	hooks Hooks

	mu       sync.Mutex
	accounts map[string]*account
	pending  []incidents.Event
	draining bool
}

type account struct {
	name      string
	state     State
	since     time.Time // last change of state
	cause     string    // cause of the last change
	flapping  bool
	flapSince time.Time
	changes   []time.Time // state changes within FlapWindow
	lastLogin time.Time   // last real login seen (success or refusal)
	protos    map[Protocol]*protoState
	// undelivered: the last delivery check did not arrive (its cause).
	undelivered      bool
	undeliveredCause string
	bounces          []Check // bounces of the sending side within BounceWindow
}

// notDelivering reports whether mail sent through the account does not
// arrive: its last delivery check did not, or too much came back lately.
func (a *account) notDelivering(now time.Time) bool { return a.undelivered || a.bouncing(now) }

// bouncing reports whether mail sent through the account came back too
// often lately.
func (a *account) bouncing(now time.Time) bool {
	cut := 0
	for cut < len(a.bounces) && now.Sub(a.bounces[cut].Time) > BounceWindow {
		cut++
	}
	a.bounces = a.bounces[cut:]
	return len(a.bounces) >= BounceLimit
}

type protoState struct {
	status     State // Unknown, Up or Down
	fails, oks int   // consecutive
	slow       bool
	authFailed bool
	authCause  string
	last       Observation
	lastOK     time.Time
	warning    string
	warningAt  time.Time
	recent     []Check // ring of RecentChecks
	next       int
}

// NewTracker returns a tracker with cfg (zero fields take the defaults).
func NewTracker(cfg Config, hooks Hooks) *Tracker {
	return &Tracker{cfg: cfg.withDefaults(), hooks: hooks, accounts: map[string]*account{}}
}

// Config is the tracker's configuration with defaults filled in.
func (t *Tracker) Config() Config { return t.cfg }

func (t *Tracker) account(name string) *account {
	a := t.accounts[name]
	if a == nil {
		a = &account{name: name, protos: map[Protocol]*protoState{}}
		t.accounts[name] = a
	}
	return a
}

func (a *account) proto(p Protocol) *protoState {
	ps := a.protos[p]
	if ps == nil {
		ps = &protoState{}
		a.protos[p] = ps
	}
	return ps
}

// Observe takes in one observation and updates the account's state,
// emitting an event for every change.
func (t *Tracker) Observe(o Observation) { t.observe(o, true) }

// Replay takes in an observation another process made (and already
// reported): the state changes as with Observe, but no event is emitted
// and OnObserve is not called.
func (t *Tracker) Replay(o Observation) { t.observe(o, false) }

func (t *Tracker) observe(o Observation, emit bool) Observation {
	t.mu.Lock()
	queued := len(t.pending)
	now := t.cfg.Now()
	if o.Time.IsZero() {
		o.Time = now
	}
	if o.OK {
		o.Kind = KindNone
	} else if o.Kind == KindNone {
		o.Kind = KindOther
	}
	a := t.account(o.Account)
	t.refresh(a, now)
	recovered := false
	switch o.Phase {
	case PhaseBounce:
		a.bounces = append(a.bounces, Check{Time: o.Time, Phase: o.Phase, Kind: o.Kind, Cause: o.Cause})
	case PhaseCanary:
		// A delivery check says nothing of reachability: a track of its own.
		a.undelivered, a.undeliveredCause = !o.OK, o.Cause
		if o.Warning != "" { // arrived, in the junk folder
			p := a.proto(o.Protocol)
			p.warning, p.warningAt = o.Warning, o.Time
		}
	default:
		recovered = t.observeProtocol(a, o)
	}
	if s := t.compute(a); s != a.state {
		t.change(a, s, o, recovered)
	}
	if !emit {
		t.pending = t.pending[:queued]
	}
	t.mu.Unlock()
	t.share(o, emit)
	t.flush()
	return o
}

// observeProtocol takes o into its protocol's track; it reports whether o
// brought the protocol back up.
func (t *Tracker) observeProtocol(a *account, o Observation) (recovered bool) {
	p := a.proto(o.Protocol)
	wasDown := p.status == Down
	if o.OK {
		p.fails = 0
		p.oks++
		p.lastOK = o.Time
		if o.LoggedIn {
			p.authFailed, p.authCause = false, ""
			a.lastLogin = o.Time
		}
		p.slow = o.Latency > t.cfg.SlowLatency
		switch {
		case p.status == Unknown:
			p.status = Up
		case p.status == Down && p.oks >= t.cfg.SuccessesToUp:
			p.status = Up
		}
	} else {
		if o.Kind == KindAuth || o.Phase == PhaseLogin {
			a.lastLogin = o.Time
		}
		if o.Kind == KindAuth {
			// Its own track, without hysteresis: the server answered, so
			// the failure counts neither for nor against reachability.
			p.authFailed, p.authCause = true, o.Cause
		} else {
			p.oks = 0
			p.fails++
			if p.fails >= t.cfg.FailuresToDown {
				p.status = Down
			}
		}
	}
	if o.Warning != "" {
		p.warning, p.warningAt = o.Warning, o.Time
	}
	p.last = o
	c := o.Check()
	if len(p.recent) < RecentChecks {
		p.recent = append(p.recent, c)
	} else {
		p.recent[p.next] = c
		p.next = (p.next + 1) % RecentChecks
	}
	return wasDown && p.status == Up
}

// share hands an observation of this process to OnObserve before its
// events are delivered: whoever hears of a change (a "→ down" printed)
// finds the observation already in the shared log.
func (t *Tracker) share(o Observation, emit bool) {
	if emit && t.hooks.OnObserve != nil {
		t.hooks.OnObserve(o)
	}
}

// compute applies the rules of the package documentation.
func (t *Tracker) compute(a *account) State {
	known, down, slow := 0, 0, false
	for _, p := range a.protos {
		if p.authFailed {
			return NeedsYou
		}
		switch p.status {
		case Up:
			known++
			slow = slow || p.slow
		case Down:
			known++
			down++
		}
	}
	notDelivering := a.notDelivering(t.cfg.Now())
	switch {
	case known == 0 && notDelivering:
		return Degraded
	case known == 0:
		return Unknown
	case down == known:
		return Down
	case down > 0 || slow || notDelivering:
		return Degraded
	}
	return Up
}

// change moves a to state s because of o, queueing the events. recovered
// tells that o brought its protocol back up.
func (t *Tracker) change(a *account, s State, o Observation, recovered bool) {
	cause := t.describe(a, s, o, recovered)
	ev := incidents.Event{Time: o.Time, Account: a.name, Protocol: string(o.Protocol), From: a.state.String(), To: s.String(),
		Phase: string(o.Phase), Cause: cause, Latency: o.Latency}
	a.state, a.since, a.cause = s, o.Time, cause
	t.pending = append(t.pending, ev)

	a.changes = append(a.changes, o.Time)
	cut := 0
	for cut < len(a.changes) && o.Time.Sub(a.changes[cut]) > t.cfg.FlapWindow {
		cut++
	}
	a.changes = a.changes[cut:]
	if !a.flapping && len(a.changes) > t.cfg.FlapChanges {
		a.flapping, a.flapSince = true, o.Time
		t.pending = append(t.pending, incidents.Event{Time: o.Time, Account: a.name, From: s.String(), To: s.String(), Flapping: true,
			Cause: fmt.Sprintf("flapping: the state changed %d times within %s; kept out of the route until stable for %s",
				len(a.changes), words(t.cfg.FlapWindow), words(t.cfg.FlapHold))})
	}
}

// refresh ends flap damping once the account has been stable for FlapHold.
func (t *Tracker) refresh(a *account, now time.Time) {
	if a.flapping && now.Sub(a.since) >= t.cfg.FlapHold {
		a.flapping = false
		t.pending = append(t.pending, incidents.Event{Time: now, Account: a.name, From: a.state.String(), To: a.state.String(), Flapping: true,
			Cause: fmt.Sprintf("stable for %s: no longer flapping", words(now.Sub(a.since).Truncate(time.Second)))})
	}
}

func (t *Tracker) refreshAll() {
	now := t.cfg.Now()
	for _, a := range t.accounts {
		t.refresh(a, now)
	}
}

// describe says in plain words why a moves to s.
func (t *Tracker) describe(a *account, s State, o Observation, recovered bool) string {
	switch s {
	case NeedsYou:
		if p := a.protos[o.Protocol]; p != nil && p.authFailed {
			return label(o.Protocol) + orDefault(p.authCause, "sign-in refused")
		}
		for _, name := range sortedProtocols(a) {
			if p := a.protos[name]; p.authFailed {
				return label(name) + orDefault(p.authCause, "sign-in refused")
			}
		}
	case Down:
		return t.failing(a, o)
	case Degraded:
		if o.Phase == PhaseCanary && a.undelivered {
			return orDefault(a.undeliveredCause, "mail accepted but not delivered")
		}
		if o.Phase == PhaseBounce {
			return fmt.Sprintf("%d messages sent through it bounced within %s (last: %s)", len(a.bounces), words(BounceWindow), o.Cause)
		}
		var downs, ups []string
		for _, name := range sortedProtocols(a) {
			switch p := a.protos[name]; p.status {
			case Down:
				downs = append(downs, t.failing(a, Observation{Protocol: name}))
			case Up:
				ups = append(ups, protoName(name))
			}
		}
		if len(downs) > 0 && len(ups) > 0 {
			return strings.Join(downs, "; ") + " — while " + strings.Join(ups, " and ") + " works"
		}
		for _, name := range sortedProtocols(a) {
			if p := a.protos[name]; p.status == Up && p.slow {
				return fmt.Sprintf("%sslow: answered in %s (limit %s)", label(name), words(p.last.Latency), words(t.cfg.SlowLatency))
			}
		}
	case Up:
		if o.Phase == PhaseCanary {
			return fmt.Sprintf("delivery check arrived (after %s): mail is delivered again", words(o.Latency))
		}
		switch a.state {
		case Unknown:
			return fmt.Sprintf("%sanswering (%s)", label(o.Protocol), words(o.Latency))
		case NeedsYou:
			if o.LoggedIn {
				return label(o.Protocol) + "signed in again"
			}
		case Degraded:
			if !recovered {
				return fmt.Sprintf("%sanswering normally again (%s)", label(o.Protocol), words(o.Latency))
			}
		}
		return fmt.Sprintf("%sworking again: %d successful checks in a row", label(o.Protocol), a.proto(o.Protocol).oks)
	}
	return orDefault(o.Cause, s.Words())
}

// failing describes why the protocol of o is failing.
func (t *Tracker) failing(a *account, o Observation) string {
	p := a.protos[o.Protocol]
	if p == nil || p.fails == 0 {
		// The change came from a success elsewhere (say, NeedsYou ended):
		// name a protocol that is down.
		for _, name := range sortedProtocols(a) {
			if q := a.protos[name]; q.status == Down && q.fails > 0 {
				p, o.Protocol = q, name
				break
			}
		}
		if p == nil || p.fails == 0 {
			return "not answering"
		}
	}
	return fmt.Sprintf("%s%d failures in a row; last: %s", label(o.Protocol), p.fails, orDefault(p.last.Cause, "failed"))
}

// flush delivers queued events in order. Only one goroutine delivers at a
// time; the others leave their events to it.
func (t *Tracker) flush() {
	t.mu.Lock()
	if t.draining {
		t.mu.Unlock()
		return
	}
	t.draining = true
	for {
		evs := t.pending
		t.pending = nil
		if len(evs) == 0 {
			t.draining = false
			t.mu.Unlock()
			return
		}
		t.mu.Unlock()
		for _, ev := range evs {
			t.deliver(ev)
		}
		t.mu.Lock()
	}
}

func (t *Tracker) deliver(ev incidents.Event) {
	if t.hooks.Store != nil {
		if err := t.hooks.Store.Append(ev); err != nil {
			t.report(err)
		}
	}
	if t.hooks.OnEvent != nil {
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.report(fmt.Errorf("health: panic in OnEvent: %v\n%s", v, debug.Stack()))
				}
			}()
			t.hooks.OnEvent(ev)
		}()
	}
}

func (t *Tracker) report(err error) {
	if t.hooks.OnError != nil {
		t.hooks.OnError(err)
	}
}

// State is the account's state (Unknown for an account never observed).
func (t *Tracker) State(account string) State {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.accounts[account]; a != nil {
		return a.state
	}
	return Unknown
}

// Usable reports whether the router may use the account: false when it is
// Down, NeedsYou or flapping.
func (t *Tracker) Usable(account string) bool {
	return t.UsableFor(account, "")
}

// UsableFor is Usable, and also false when protocol p of the account is
// down or its login is refused (an account whose SMTP is down is Degraded,
// hence Usable, but not UsableFor SMTP). An empty p checks the account only.
func (t *Tracker) UsableFor(account string, p Protocol) bool {
	return t.Unusable(account, p) == ""
}

// Unusable is why the account may not be used for protocol p, in plain
// words, or "" when it may (see UsableFor). For SMTP it is also not usable
// while its last check, a recent one, took longer than Config.SendBudget:
// a send would give up on it before MAIL FROM anyway.
func (t *Tracker) Unusable(account string, p Protocol) string {
	t.mu.Lock()
	why := ""
	if a := t.accounts[account]; a != nil {
		now := t.cfg.Now()
		t.refresh(a, now)
		why = t.unusable(a, p, now)
	}
	t.mu.Unlock()
	t.flush()
	return why
}

func (t *Tracker) unusable(a *account, p Protocol, now time.Time) string {
	switch {
	case a.state == Down:
		return "known to be down"
	case a.state == NeedsYou:
		return "needs you: " + a.cause
	case a.flapping:
		return "flapping, left out until it is stable"
	case a.notDelivering(now) && (p == "" || p == SMTP) && (t.cfg.KeepRouting == nil || !t.cfg.KeepRouting(a.name)):
		return "mail sent through it does not arrive (" + orDefault(a.undeliveredCause, "too many bounces") + ")"
	}
	ps := a.protos[p]
	if p == "" || ps == nil {
		return ""
	}
	switch {
	case ps.status == Down:
		return label(p) + "known to be down"
	case ps.authFailed:
		return label(p) + orDefault(ps.authCause, "sign-in refused")
	case p == SMTP && ps.status == Up && ps.last.OK && ps.last.Latency > t.cfg.SendBudget && now.Sub(ps.last.Time) <= t.slowMemory():
		return fmt.Sprintf("too slow: SMTP answered in %s, over the %s send budget", words(ps.last.Latency), words(t.cfg.SendBudget))
	}
	return ""
}

// slowMemory is how long a slow answer keeps an account out of sending
// without a newer check: three probe intervals, at least 5 minutes. After
// that a send tries it again, within the send budget.
func (t *Tracker) slowMemory() time.Duration {
	return max(3*t.cfg.ProbeInterval, 5*time.Minute)
}

// Remove forgets an account (for example when it is removed from the
// configuration). No event is emitted.
func (t *Tracker) Remove(account string) {
	t.mu.Lock()
	delete(t.accounts, account)
	t.mu.Unlock()
}

// lastLogin is when a real login was last seen for the account.
func (t *Tracker) lastLogin(account string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.accounts[account]; a != nil {
		return a.lastLogin
	}
	return time.Time{}
}

// Check is one observation as a Snapshot shows it.
type Check struct {
	Time     time.Time     `json:"time"`
	OK       bool          `json:"ok"`
	LoggedIn bool          `json:"logged_in,omitempty"`
	Latency  time.Duration `json:"latency"`
	Phase    Phase         `json:"phase,omitempty"`
	Kind     Kind          `json:"kind,omitempty"`
	Cause    string        `json:"cause,omitempty"`
	// Warning is set for a delivery check that arrived in the junk folder.
	Warning string `json:"warning,omitempty"`
}

// Check is the observation as a Snapshot shows it.
func (o Observation) Check() Check {
	return Check{Time: o.Time, OK: o.OK, LoggedIn: o.LoggedIn, Latency: o.Latency, Phase: o.Phase, Kind: o.Kind, Cause: o.Cause, Warning: o.Warning}
}

// ProtocolStatus is what is known of one protocol of an account.
type ProtocolStatus struct {
	Protocol Protocol `json:"protocol"`
	// State of this protocol alone: Unknown, Up, Degraded (slow), Down, or
	// NeedsYou (login refused).
	State                State     `json:"state"`
	ConsecutiveFailures  int       `json:"consecutive_failures"`
	ConsecutiveSuccesses int       `json:"consecutive_successes"`
	Last                 Check     `json:"last"`
	LastOK               time.Time `json:"last_ok,omitzero"`
	Warning              string    `json:"warning,omitempty"`
	WarningAt            time.Time `json:"warning_at,omitzero"`
	// Recent holds the last RecentChecks observations, oldest first.
	Recent []Check `json:"recent"`
}

// AccountStatus is what is known of one account.
type AccountStatus struct {
	Account       string           `json:"account"`
	State         State            `json:"state"`
	Since         time.Time        `json:"since,omitzero"` // last change of state
	Cause         string           `json:"cause,omitempty"`
	Flapping      bool             `json:"flapping,omitempty"`
	FlappingSince time.Time        `json:"flapping_since,omitzero"`
	Usable        bool             `json:"usable"`
	Protocols     []ProtocolStatus `json:"protocols"` // sorted by protocol name
}

// Snapshot returns every account's status, sorted by account name.
func (t *Tracker) Snapshot() []AccountStatus {
	t.mu.Lock()
	t.refreshAll()
	out := make([]AccountStatus, 0, len(t.accounts))
	for _, a := range t.accounts {
		out = append(out, a.status())
	}
	t.mu.Unlock()
	t.flush()
	sort.Slice(out, func(i, j int) bool { return out[i].Account < out[j].Account })
	return out
}

// Status returns one account's status (ok false when never observed).
func (t *Tracker) Status(account string) (AccountStatus, bool) {
	t.mu.Lock()
	a := t.accounts[account]
	if a == nil {
		t.mu.Unlock()
		return AccountStatus{Account: account, State: Unknown, Usable: true}, false
	}
	t.refresh(a, t.cfg.Now())
	s := a.status()
	t.mu.Unlock()
	t.flush()
	return s, true
}

func (a *account) status() AccountStatus {
	s := AccountStatus{Account: a.name, State: a.state, Since: a.since, Cause: a.cause, Flapping: a.flapping,
		Usable: a.state != Down && a.state != NeedsYou && !a.flapping}
	if a.flapping {
		s.FlappingSince = a.flapSince
	}
	for _, name := range sortedProtocols(a) {
		p := a.protos[name]
		ps := ProtocolStatus{Protocol: name, State: p.status, ConsecutiveFailures: p.fails, ConsecutiveSuccesses: p.oks,
			LastOK: p.lastOK, Warning: p.warning, WarningAt: p.warningAt}
		switch {
		case p.authFailed:
			ps.State = NeedsYou
		case p.status == Up && p.slow:
			ps.State = Degraded
		}
		ps.Last = Check{Time: p.last.Time, OK: p.last.OK, LoggedIn: p.last.LoggedIn, Latency: p.last.Latency, Phase: p.last.Phase, Kind: p.last.Kind, Cause: p.last.Cause}
		ps.Recent = append(ps.Recent, p.recent[p.next:]...)
		ps.Recent = append(ps.Recent, p.recent[:p.next]...)
		s.Protocols = append(s.Protocols, ps)
	}
	return s
}

func sortedProtocols(a *account) []Protocol {
	out := make([]Protocol, 0, len(a.protos))
	for p := range a.protos {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// protoName is "IMAP", "SMTP", or "the account".
func protoName(p Protocol) string {
	if p == "" {
		return "the account"
	}
	return strings.ToUpper(string(p))
}

// label prefixes a cause with the protocol: "SMTP: ".
func label(p Protocol) string {
	if p == "" {
		return ""
	}
	return strings.ToUpper(string(p)) + ": "
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// words formats a duration for people: "30 min", "2 h", "6.2 s", "120 ms".
func words(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d >= time.Minute:
		return d.Truncate(time.Second).String()
	case d >= time.Second:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Seconds()), ".0") + " s"
	default:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
}
