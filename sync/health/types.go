package health

import (
	"fmt"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/failure"
)

// State is an account's health.
type State int

const (
	Unknown  State = iota // nothing known yet: "Checking…"
	Up                    // "Operational"
	Degraded              // slow, or one of IMAP/SMTP failing
	Down                  // "Outage"
	NeedsYou              // credentials rejected, token revoked, account problem
)

var stateNames = [...]string{"unknown", "up", "degraded", "down", "needs-you"}
var stateWords = [...]string{"Checking…", "Operational", "Degraded", "Outage", "Needs your attention"}

// String is the state's stable name: "unknown", "up", "degraded", "down",
// "needs-you" (used in the incident history and on the command line).
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("state(%d)", int(s))
	}
	return stateNames[s]
}

// Words is the state in the words a status page uses: "Checking…",
// "Operational", "Degraded", "Outage", "Needs your attention".
func (s State) Words() string {
	if s < 0 || int(s) >= len(stateWords) {
		return s.String()
	}
	return stateWords[s]
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name written by MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseState is the inverse of String.
func ParseState(name string) (State, error) {
	for i, n := range stateNames {
		if n == name {
			return State(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown health state %q", name)
}

// Protocol is what an observation is about.
type Protocol string

const (
	IMAP Protocol = "imap"
	SMTP Protocol = "smtp"
)

// Phase is a step of a connection or of real traffic.
type Phase string

const (
	PhaseDNS        Phase = "dns"
	PhaseTCP        Phase = "tcp"
	PhaseTLS        Phase = "tls" // implicit TLS handshake, or STARTTLS (SMTP: with the EHLO before it) and its handshake
	PhaseGreeting   Phase = "greeting"
	PhaseCapability Phase = "capability" // IMAP CAPABILITY, SMTP EHLO
	PhaseLogin      Phase = "login"      // IMAP LOGIN/AUTHENTICATE, SMTP AUTH
	PhaseNoop       Phase = "noop"       // IMAP NOOP after login
	PhaseEnvelope   Phase = "envelope"   // SMTP MAIL FROM:<self>, RCPT TO:<self>, RSET
	PhaseLogout     Phase = "logout"     // IMAP LOGOUT, SMTP QUIT
	PhaseSend       Phase = "send"       // real traffic: sending a message
	PhaseBackup     Phase = "backup"     // real traffic: a backup run
	// PhaseCanary is a delivery check (sync/canary): OK when the probe
	// arrived; a failure of KindUndelivered when it did not.
	PhaseCanary Phase = "canary"
	// PhaseBounce is a bounce that came back for mail sent through the
	// account for a reason of the sending side (not an unknown
	// recipient): many within BounceWindow make it degraded for sending.
	PhaseBounce Phase = "bounce"
)

// Bounces within BounceWindow that make an account degraded for sending.
const (
	BounceLimit  = 3
	BounceWindow = time.Hour
)

// Kind classifies a failure: the kinds of sync/failure that matter to an
// account's health (Classify maps the others onto these).
type Kind = failure.Kind

const (
	KindNone        = failure.None
	KindAuth        = failure.Auth        // credentials rejected, token revoked, account or licence problem: the user must act
	KindUnreachable = failure.Unreachable // DNS, TCP, timeouts, drops, 421
	KindTLS         = failure.TLS         // certificate or handshake problem; never downgraded
	KindThrottled   = failure.Throttled   // the server asks us to slow down (454 4.7.0, 4.7.x, quotas)
	KindOther       = failure.Other
	// KindUndelivered: mail was accepted and did not arrive (a canary).
	KindUndelivered Kind = "undelivered"
)

// Observation is one thing seen about an account: a probe, a send, a backup.
type Observation struct {
	Time    time.Time // zero: the tracker's Now
	Account string
	// Protocol is IMAP or SMTP; real traffic too should say which (a
	// backup is IMAP, a send SMTP). "" is followed as a protocol of its own.
	Protocol Protocol
	OK       bool
	// LoggedIn is set on a success that included a real login (a login
	// probe, a send, a backup). Only such a success ends NeedsYou.
	LoggedIn bool
	Latency  time.Duration
	Phase    Phase // where it failed (or, for real traffic, what it was)
	Kind     Kind  // why it failed; ignored when OK
	Cause    string
	// Warning is something to show without changing the state, such as a
	// certificate about to expire.
	Warning string
}

// Config holds the thresholds. Zero fields take the defaults.
type Config struct {
	FailuresToDown int           // consecutive failures before a protocol is down (3)
	SuccessesToUp  int           // consecutive successes before a down protocol is up (2)
	SlowLatency    time.Duration // a success slower than this makes the account degraded (5 s)
	// SendBudget is how long a send may take before MAIL FROM (15 s): an
	// SMTP whose last check took longer is not used for sending.
	SendBudget    time.Duration
	ProbeInterval time.Duration // how often the Monitor probes (60 s)
	LoginInterval time.Duration // real logins at most this often per account (10 min)
	FlapChanges   int           // more state changes than this within FlapWindow is flapping (4)
	FlapWindow    time.Duration // (30 min)
	FlapHold      time.Duration // a flapping account is usable again after this long without a change (10 min)
	// ProbeTimeout bounds each Monitor probe (15 s) when the endpoint sets
	// no Timeout.
	ProbeTimeout time.Duration
	// TokenCheckInterval is how often a target's TokenCheck runs (24 h).
	TokenCheckInterval time.Duration
	// KeepRouting, when set and true for an account, keeps it in the route
	// while its delivery checks fail (default: left out until one arrives).
	KeepRouting func(account string) bool
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Defaults.
const (
	DefaultFailuresToDown = 3
	DefaultSuccessesToUp  = 2
	DefaultSlowLatency    = 5 * time.Second
	DefaultSendBudget     = 15 * time.Second
	DefaultProbeInterval  = 60 * time.Second
	DefaultLoginInterval  = 10 * time.Minute
	DefaultFlapChanges    = 4
	DefaultFlapWindow     = 30 * time.Minute
	DefaultFlapHold       = 10 * time.Minute
	DefaultProbeTimeout   = 15 * time.Second
	DefaultTokenCheck     = 24 * time.Hour
	// CertExpiryWarning is how close to expiry a certificate gets a warning.
	CertExpiryWarning = 14 * 24 * time.Hour
)

// DefaultConfig is Config with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.FailuresToDown <= 0 {
		c.FailuresToDown = DefaultFailuresToDown
	}
	if c.SuccessesToUp <= 0 {
		c.SuccessesToUp = DefaultSuccessesToUp
	}
	if c.SlowLatency <= 0 {
		c.SlowLatency = DefaultSlowLatency
	}
	if c.SendBudget <= 0 {
		c.SendBudget = DefaultSendBudget
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	if c.LoginInterval <= 0 {
		c.LoginInterval = DefaultLoginInterval
	}
	if c.FlapChanges <= 0 {
		c.FlapChanges = DefaultFlapChanges
	}
	if c.FlapWindow <= 0 {
		c.FlapWindow = DefaultFlapWindow
	}
	if c.FlapHold <= 0 {
		c.FlapHold = DefaultFlapHold
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.TokenCheckInterval <= 0 {
		c.TokenCheckInterval = DefaultTokenCheck
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
