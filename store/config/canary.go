package config

import "time"

// Canary is an account's [account.canary]: a small probe message sent
// through its SMTP now and then and looked for over IMAP, to notice mail
// that is accepted but not delivered.
type Canary struct {
	// Every is how often a canary is sent (at least 1 h).
	Every Duration `toml:"every"`
	// Deadline is how long it may take to arrive (at least 10 s; default
	// 15 min).
	Deadline Duration `toml:"deadline,omitempty"`
	// To names another configured account to send it to (its address, its
	// IMAP); default the account's own.
	To string `toml:"to,omitempty"`
	// KeepRouting keeps the account in the sending route while its
	// canaries go missing (default: it is left out until one arrives).
	KeepRouting bool `toml:"keep_routing,omitempty"`
}

// Canary limits and default.
const (
	MinCanaryEvery    = time.Hour
	MinCanaryDeadline = 10 * time.Second
	DefaultDeadline   = 15 * time.Minute
)

func canaryDefaults(a *Account) {
	if a.Canary != nil && a.Canary.Deadline.Duration == 0 {
		a.Canary.Deadline.Duration = DefaultDeadline
	}
}

func (c *Config) validateCanary(a Account, at func(string) int) error {
	k := a.Canary
	if k == nil {
		return nil
	}
	key := func(s string) int { return at(".canary." + s) }
	switch {
	case a.SMTP == nil:
		return errAt(c.Path, key("every"), "account %q has a canary but no [account.smtp] to send it through; add the SMTP server or remove [account.canary]", a.Name)
	case k.Every.Duration < MinCanaryEvery:
		return errAt(c.Path, key("every"), "account %q: canary every = %q is too often; use at least \"1h\" (a probe message is real mail)", a.Name, k.Every.Duration)
	case k.Deadline.Duration < MinCanaryDeadline:
		return errAt(c.Path, key("deadline"), "account %q: canary deadline = %q is too short; use at least \"10s\" (default \"15m\")", a.Name, k.Deadline.Duration)
	case k.To == a.Name:
		return errAt(c.Path, key("to"), "account %q: canary to names the account itself; leave to out for its own address", a.Name)
	}
	if k.To != "" {
		t, err := c.Account(k.To)
		if err != nil {
			return errAt(c.Path, key("to"), "account %q: canary to = %q is not an account; use the name of another [[account]]", a.Name, k.To)
		}
		if t.Email == "" {
			return errAt(c.Path, key("to"), "account %q: canary to = %q has no email address to send to; set email on that account", a.Name, k.To)
		}
	} else if a.Email == "" {
		return errAt(c.Path, key("to"), "account %q: a canary needs the account's email address; set email", a.Name)
	}
	return nil
}
