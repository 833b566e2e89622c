package wire

import (
	"bytes"
	"errors"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/bounce"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// BouncedShown is how far back the outbox shows sent messages that bounced.
const BouncedShown = 14 * 24 * time.Hour

// RecentlyBounced lists the sent messages a bounce came back for within
// BouncedShown, oldest first.
func RecentlyBounced(ob *outbox.Outbox) []*outbox.Item {
	done, _ := ob.Done(time.Now().Add(-BouncedShown))
	var out []*outbox.Item
	for _, it := range done {
		if it.State() == outbox.Bounced && time.Since(it.QueuedAt) <= BouncedShown {
			out = append(out, it)
		}
	}
	return out
}

// NextAccount is the account after `after` in the sending order (wrapping
// round), the one a bounced message is offered to go through next; "" when
// there is no other.
func NextAccount(order []string, after string) string {
	for i, name := range order {
		if name == after {
			if len(order) > 1 {
				return order[(i+1)%len(order)]
			}
			return ""
		}
	}
	if len(order) > 0 && order[0] != after {
		return order[0]
	}
	return ""
}

// Bounced is a bounce found for a message Lifeboat sent.
type Bounced struct {
	Item      *outbox.Item
	Recipient string
	Status    string // "5.7.1"; "" when the report did not say
	Reason    string
	Account   string // whose inbox it came to
	Through   string // the account that had accepted the message
}

// Observation is what the bounce tells the health model about the account
// the message went through, when it is the sending side's fault (not an
// unknown or full mailbox at the other end): many of them make it
// degraded for sending.
func (b Bounced) Observation() (health.Observation, bool) {
	st := b.Status
	if b.Through == "" || strings.HasPrefix(st, "5.1.") || st == "5.2.1" || st == "5.2.2" {
		return health.Observation{}, false
	}
	return health.Observation{Account: b.Through, Protocol: health.SMTP, Phase: health.PhaseBounce,
		Cause: b.To() + ": " + b.Reason}, true
}

// To is the recipient the bounce is for, in words.
func (b Bounced) To() string { return RecipientWords(b.Recipient) }

// RecipientWords is a bounced recipient for people: the address, or "a
// recipient" when the report named none.
func RecipientWords(addr string) string {
	if addr == "" {
		return "a recipient"
	}
	return addr
}

// maxBounceSize: bigger messages are not read as bounces (a report that
// returns a whole large message is still read from its first MB).
const maxBounceSize = 4 << 20

// WatchBounces reads the INBOX messages a backup run added for delivery
// status notifications about mail in the outbox (by the returned
// message's Message-ID), and records each in the outbox; it returns the
// ones that are news, each also observed by tr (when not nil; see
// Bounced.Observation). The backup and IDLE Lifeboat already runs bring
// the bounces in: no extra traffic.
func WatchBounces(arch *archive.Archive, ob *outbox.Outbox, res backup.Result, tr *health.Tracker) ([]Bounced, error) {
	newInInbox := 0
	for _, f := range res.Run.Folders {
		if strings.EqualFold(f.Path, "INBOX") {
			newInInbox = f.New
		}
	}
	if newInInbox == 0 || ob == nil {
		return nil, nil
	}
	f := res.Inbox
	if f == nil {
		ids, err := arch.Folders(res.Account)
		if err != nil {
			return nil, err
		}
		var inbox *archive.FolderID
		for i := range ids {
			if strings.EqualFold(ids[i].Name, "INBOX") {
				inbox = &ids[i]
			}
		}
		if inbox == nil {
			return nil, nil
		}
		if f, err = arch.ReadFolder(*inbox); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	entries := f.Entries()
	var out []Bounced
	var buf bytes.Buffer
	for _, e := range entries[max(0, len(entries)-newInInbox):] {
		if e.Length > maxBounceSize {
			continue
		}
		buf.Reset()
		if err := f.WriteOriginal(&buf, e); err != nil {
			continue
		}
		rep, ok := bounce.Parse(buf.Bytes())
		if !ok {
			continue
		}
		rcpts := rep.Recipients
		if len(rcpts) == 0 {
			rcpts = []bounce.Recipient{{Diagnostic: rep.Reason}}
		}
		for _, mid := range rep.MessageIDs {
			for _, rc := range rcpts {
				reason := rc.Diagnostic
				if reason == "" {
					reason = rep.Reason
				}
				it, isNew, err := ob.Bounce(mid, rc.Address, reason, res.Account)
				if errors.Is(err, outbox.ErrNotFound) {
					break // not a message of ours
				}
				if err != nil {
					return out, err
				}
				if !isNew {
					continue
				}
				b := Bounced{Item: it, Recipient: rc.Address, Status: rc.Status, Reason: reason, Account: res.Account, Through: it.AcceptedBy()}
				if o, ok := b.Observation(); ok && tr != nil {
					tr.Observe(o)
				}
				out = append(out, b)
			}
		}
	}
	return out, nil
}
