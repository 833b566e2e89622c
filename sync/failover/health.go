package failover

import (
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/smtpsend"
)

// TrackerHealth makes a health tracker the router's Health: an account is
// tried unless its SMTP is known down (or needs the user, flaps, or was too
// slow at its last check), and every real send is an observation of that
// account's SMTP.
func TrackerHealth(t *health.Tracker) Health { return trackerHealth{t} }

type trackerHealth struct{ t *health.Tracker }

func (h trackerHealth) Unusable(account string) string { return h.t.Unusable(account, health.SMTP) }

func (h trackerHealth) Observe(account string, ok bool, f *smtpsend.Failure, latency time.Duration) {
	o := health.Observation{Account: account, Protocol: health.SMTP, OK: ok, LoggedIn: ok, Latency: latency, Phase: health.PhaseSend}
	if f != nil && !ok {
		o.Kind, o.Cause = health.Classify(health.SMTP, health.PhaseSend, f)
		switch f.Phase {
		case smtpsend.PhaseMail, smtpsend.PhaseRcpt, smtpsend.PhaseData, smtpsend.PhaseDataEnd:
			o.LoggedIn = true // the login itself worked
		}
	}
	h.t.Observe(o)
}
