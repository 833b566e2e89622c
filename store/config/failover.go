package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Duration is a time.Duration written as a string in TOML ("90s", "10m").
type Duration struct{ time.Duration }

// UnmarshalText parses "90s", "10m", "1h30m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like \"60s\", \"10m\" or \"1h\"", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// From policies for mail sent through an account that is not the sender's.
const (
	FromRewrite = "rewrite" // From = the sending account's address (display name kept), Reply-To = the original
	FromKeep    = "keep"    // keep From (only sensible when every account may send as every address)
)

// Failover configures outage detection and sending through the next account.
type Failover struct {
	// Order is the accounts to send through, first choice first.
	Order      []string `toml:"order,omitempty"`
	FromPolicy string   `toml:"from_policy,omitempty"`
	// Probes.
	ProbeInterval Duration `toml:"probe_interval,omitempty"`
	LoginInterval Duration `toml:"login_interval,omitempty"`
	SlowLatency   Duration `toml:"slow_latency,omitempty"`
	// SendBudget bounds a send's connect, TLS, greeting, EHLO and AUTH:
	// an account slower than this before anything was sent is left for
	// the next one.
	SendBudget     Duration `toml:"send_budget,omitempty"`
	FailuresToDown int      `toml:"failures_to_down,omitempty"`
	SuccessesToUp  int      `toml:"successes_to_up,omitempty"`
	// The local submission relay for mail programs.
	RelayListen string `toml:"relay_listen,omitempty"`
	// RelayAllowRemote must be set to listen beyond loopback.
	RelayAllowRemote bool `toml:"relay_allow_remote,omitempty"`
	// RelayPasswordCommand prints the relay's password (instead of the
	// keyring, for computers without one).
	RelayPasswordCommand string `toml:"relay_password_command,omitempty"`
	// FileInSent: after a failover, a copy of what went out through
	// another account goes into the sender's own account's Sent folder
	// (over IMAP) once that account is back.
	FileInSent bool `toml:"file_in_sent,omitempty"`
	// RecipientLimit holds a message to more recipients than this for
	// confirmation (reply-all storms); 0 means the default, -1 no limit.
	RecipientLimit int `toml:"recipient_limit,omitempty"`
}

// Defaults for [failover].
const (
	DefaultRelayListen    = "127.0.0.1:1587"
	DefaultRecipientLimit = 100
	DefaultSendBudget     = 15 * time.Second
)

func (f *Failover) defaults(accounts []Account) {
	if len(f.Order) == 0 {
		for _, a := range accounts {
			if a.SMTP != nil {
				f.Order = append(f.Order, a.Name)
			}
		}
	}
	if f.FromPolicy == "" {
		f.FromPolicy = FromRewrite
	}
	if f.ProbeInterval.Duration == 0 {
		f.ProbeInterval.Duration = time.Minute
	}
	if f.LoginInterval.Duration == 0 {
		f.LoginInterval.Duration = 10 * time.Minute
	}
	if f.SlowLatency.Duration == 0 {
		f.SlowLatency.Duration = 5 * time.Second
	}
	if f.SendBudget.Duration == 0 {
		f.SendBudget.Duration = DefaultSendBudget
	}
	if f.FailuresToDown == 0 {
		f.FailuresToDown = 3
	}
	if f.SuccessesToUp == 0 {
		f.SuccessesToUp = 2
	}
	if f.RelayListen == "" {
		f.RelayListen = DefaultRelayListen
	}
	if f.RecipientLimit == 0 {
		f.RecipientLimit = DefaultRecipientLimit
	}
}

func smtpDefaults(a *Account) {
	s := a.SMTP
	if s == nil {
		return
	}
	normaliseServer(s)
	if s.Port == 0 {
		switch s.Security {
		case TLS:
			s.Port = 465
		case STARTTLS:
			s.Port = 587
		default:
			s.Port = 25
		}
	}
	if s.Username == "" {
		s.Username = a.IMAP.Username
	}
}

func (c *Config) validateFailover(ix lineIndex) error {
	f := c.Failover
	at := func(key string) int { return ix.line(-1, "failover."+key) }
	for _, name := range f.Order {
		a, err := c.Account(name)
		if err != nil {
			return errAt(c.Path, at("order"), "failover order names %q, which is not an account; use the names of [[account]] entries", name)
		}
		if a.SMTP == nil {
			return errAt(c.Path, at("order"), "failover order names %q, which has no [account.smtp] section; add host, port and security for its outgoing server", name)
		}
	}
	if f.FromPolicy != FromRewrite && f.FromPolicy != FromKeep {
		return errAt(c.Path, at("from_policy"), "from_policy %q is not valid; use \"rewrite\" (the default: From becomes the sending account's address, Reply-To keeps yours) or \"keep\"", f.FromPolicy)
	}
	if f.FailuresToDown < 1 || f.SuccessesToUp < 1 {
		return errAt(c.Path, at("failures_to_down"), "failures_to_down and successes_to_up must be 1 or more (defaults 3 and 2)")
	}
	if f.ProbeInterval.Duration < time.Second {
		return errAt(c.Path, at("probe_interval"), "probe_interval %s is too short; use 1s or more (default 60s)", f.ProbeInterval.Duration)
	}
	if f.SendBudget.Duration < time.Second || f.SendBudget.Duration > 5*time.Minute {
		return errAt(c.Path, at("send_budget"), "send_budget %s is out of range; use between 1s and 5m (default 15s)", f.SendBudget.Duration)
	}
	host, port, err := net.SplitHostPort(f.RelayListen)
	if err != nil || port == "" {
		return errAt(c.Path, at("relay_listen"), "relay_listen %q is not host:port; use e.g. \"127.0.0.1:1587\"", f.RelayListen)
	}
	if !isLoopback(host) && !f.RelayAllowRemote {
		return errAt(c.Path, at("relay_listen"), "relay_listen %q is not a loopback address; the relay listens beyond this computer only with relay_allow_remote = true", f.RelayListen)
	}
	return nil
}

// SMTPAccounts returns the accounts that can send, in failover order.
func (c *Config) SMTPAccounts() []Account {
	var out []Account
	for _, name := range c.Failover.Order {
		if a, err := c.Account(name); err == nil && a.SMTP != nil {
			out = append(out, *a)
		}
	}
	return out
}
