package wire

import (
	"fmt"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/canary"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// CanaryProbe is the account's delivery check: sent through its SMTP, to
// its own address or the canary's `to` account, looked for with that
// account's IMAP.
func (w Wiring) CanaryProbe(a config.Account) (canary.Probe, error) {
	if a.Canary == nil || a.SMTP == nil {
		return canary.Probe{}, fmt.Errorf("account %q: %w", a.Name, canary.ErrNotConfigured)
	}
	target := a
	if a.Canary.To != "" {
		t, err := w.Config.Account(a.Canary.To)
		if err != nil {
			return canary.Probe{}, err
		}
		target = *t
	}
	to := target.Email
	return canary.Probe{Account: a.Name, SMTP: w.SMTP(a), From: sender(a), To: to,
		Password: func() (string, error) { return w.AccountPassword(a, true) },
		IMAP:     w.IMAP(target), IMAPPassword: func() (string, error) { return w.AccountPassword(target, false) },
		Deadline: a.Canary.Deadline.Duration}, nil
}

// CanaryObservation is what a delivery check tells the health model: ok
// (in the inbox, or in junk with a warning), undelivered, or — when it
// could not be sent — a failed send; nothing when the mailbox could not be
// read (the check proves nothing either way).
func CanaryObservation(r canary.Result) (health.Observation, bool) {
	o := health.Observation{Account: r.Account, Protocol: health.SMTP, Phase: health.PhaseCanary, Latency: r.Latency, Cause: r.Cause}
	switch r.Outcome {
	case canary.Delivered:
		o.OK = true
	case canary.Junk:
		o.OK, o.Warning = true, r.Cause
	case canary.Missing:
		o.Kind = health.KindUndelivered
	case canary.NotSent:
		o.Phase = health.PhaseSend
		o.Kind, o.Cause = health.Classify(health.SMTP, health.PhaseSend, r.Err)
	default:
		return o, false
	}
	return o, true
}
