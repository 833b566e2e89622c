// Package failover sends queued mail through the first account that can
// take it (README "Sending through the next account when a provider
// fails"): accounts in the configured order, skipping those
// the health model knows are down, classifying every failure
// (sync/smtpsend) and recording every step in the outbox ledger
// (store/outbox) before taking it.
//
// Rules it enforces:
//   - Through an account that does not own the sender's address, From is
//     rewritten to the account's address (display name kept) and Reply-To
//     keeps the original, unless the policy is "keep" or the account lists
//     the address in send_as. Message-ID and threading headers never change.
//   - A recipient refused for good (5.1.x) is reported and not retried
//     elsewhere; the other recipients still get the message.
//   - No reply after the final dot is ambiguous: the message is not sent
//     again until the account's Sent folder has been searched for its
//     Message-ID.
//   - When every account is down, the message stays queued and is retried
//     with backoff (about 1 minute doubling to 1 hour, with jitter); nothing
//     expires silently.
package failover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
	"github.com/lifeboat-mail/lifeboat/sync/smtpsend"
)

// Account is one account that can send.
type Account struct {
	Name   string
	Email  string   // the account's own address
	SendAs []string // addresses it may send as
	SMTP   smtpsend.Endpoint
	// Password returns the SMTP password.
	Password func() (string, error)
	// CheckSent searches the account's Sent folder (Gmail: All Mail) for a
	// Message-ID sent at sentAt (see SentChecker for what its answers
	// mean); nil means the account cannot be checked.
	CheckSent func(ctx context.Context, messageID string, sentAt time.Time) (bool, error)
	// FileSent puts a copy of a message sent through another account
	// into this account's Sent folder and returns the folder (see
	// SentFiler); nil: no copies are filed (Router.FileCopies).
	FileSent func(ctx context.Context, raw []byte, messageID string, sentAt time.Time) (string, error)
}

func (a *Account) owns(addr string) bool {
	if strings.EqualFold(addr, a.Email) {
		return true
	}
	for _, s := range a.SendAs {
		if strings.EqualFold(addr, s) {
			return true
		}
	}
	return false
}

// Health is what the router needs of the health model.
type Health interface {
	// Unusable says why an account may not be tried now (known down,
	// flapping, too slow to send through), or "" when it may.
	Unusable(account string) string
	// Observe feeds the outcome of a real send into the model.
	Observe(account string, ok bool, f *smtpsend.Failure, latency time.Duration)
}

// Notice is something the user should hear about.
type Notice struct {
	ID      string
	Account string
	Text    string
}

// Options configure a Router.
type Options struct {
	Outbox     *outbox.Outbox
	Accounts   []Account // in failover order
	FromPolicy string    // "rewrite" (default) or "keep"
	Health     Health    // nil: every account is tried
	// Archive receives a copy of every sent message in the local folder
	// archive.SentFolder of the account that sent it; nil: no copy.
	Archive *archive.Archive
	Notify  func(Notice)
	Now     func() time.Time
	// FirstRetry and MaxRetry bound the backoff when every account failed
	// (defaults 1 minute and 1 hour).
	FirstRetry, MaxRetry time.Duration
	// Park is how long an account over quota or rate-limited is left out
	// (default 1 hour); LoginBackoff after 454 4.7.0 (default 15 minutes).
	Park, LoginBackoff time.Duration
	// RecipientLimit holds messages to more recipients for confirmation
	// (0: no limit).
	RecipientLimit int
	// AfterStep, if set, runs after each ledger step is durable (crash
	// tests kill the process here).
	AfterStep func(step string)
	// Workers is how many messages RunOnce delivers at once (default 4).
	Workers int
	// FilingInterval is how often Run files copies of failed-over
	// messages in their senders' Sent folders (default 1 minute).
	FilingInterval time.Duration
	// LockWait is how long Deliver, Retry and Drop wait for a message that
	// another process (or worker) is delivering (default 1 minute); RunOnce
	// leaves such messages to it.
	LockWait time.Duration
}

// Router delivers outbox messages.
type Router struct {
	o          Options
	mu         sync.Mutex
	parked     map[string]time.Time
	filingRest map[string]time.Time
	wake       chan struct{}
}

// New returns a router.
func New(o Options) *Router {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FirstRetry == 0 {
		o.FirstRetry = time.Minute
	}
	if o.MaxRetry == 0 {
		o.MaxRetry = time.Hour
	}
	if o.Park == 0 {
		o.Park = time.Hour
	}
	if o.LoginBackoff == 0 {
		o.LoginBackoff = 15 * time.Minute
	}
	if o.FromPolicy == "" {
		o.FromPolicy = "rewrite"
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.LockWait == 0 {
		o.LockWait = time.Minute
	}
	if o.FilingInterval == 0 {
		o.FilingInterval = time.Minute
	}
	return &Router{o: o, parked: map[string]time.Time{}, filingRest: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// MaxAge is how long a message keeps being retried before the user is
// asked whether to go on (it never expires silently).
const MaxAge = 5 * 24 * time.Hour

// Outcome is what one delivery pass did.
type Outcome struct {
	ID       string
	State    outbox.State
	Account  string // who carried it, when sent
	Why      string // in plain words: why that account, or why it waits
	Reply    string
	Rejected map[string]string
}

func (r *Router) notify(id, account, format string, args ...any) {
	if r.o.Notify != nil {
		r.o.Notify(Notice{ID: id, Account: account, Text: fmt.Sprintf(format, args...)})
	}
}

// SetAccounts replaces the accounts and their order (settings changed).
func (r *Router) SetAccounts(accts []Account) {
	r.mu.Lock()
	r.o.Accounts = append([]Account(nil), accts...)
	r.mu.Unlock()
}

func (r *Router) accounts() []Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.o.Accounts
}

// Wake asks a running Run loop to look at the outbox now.
func (r *Router) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx ends, waking up when a retry is due
// or Wake is called. Where an account files copies (Account.FileSent), it
// also runs FileCopies every Options.FilingInterval, beside the deliveries.
func (r *Router) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, a := range r.accounts() {
		if a.FileSent != nil {
			wg.Add(1)
			go func() { defer wg.Done(); r.fileEvery(ctx) }()
			break
		}
	}
	for {
		next, err := r.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.notify("", "", "outbox: %v", err)
		}
		wait := time.Minute
		if !next.IsZero() {
			wait = max(next.Sub(r.o.Now()), 100*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake:
		case <-time.After(wait):
		}
	}
}

// RunOnce makes one delivery pass over every due message, several at a
// time, and returns when the next retry is due (zero: nothing waits).
func (r *Router) RunOnce(ctx context.Context) (time.Time, error) {
	items, err := r.o.Outbox.List()
	if err != nil {
		return time.Time{}, err
	}
	var (
		mu       sync.Mutex
		next     time.Time
		firstErr error
	)
	later := func(nb time.Time) {
		mu.Lock()
		if !nb.IsZero() && (next.IsZero() || nb.Before(next)) {
			next = nb
		}
		mu.Unlock()
	}
	due := make(chan *outbox.Item)
	var wg sync.WaitGroup
	for w := 0; w < r.o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range due {
				out, err := r.deliverSafely(ctx, it.ID, 0)
				if errors.Is(err, outbox.ErrBusy) || errors.Is(err, outbox.ErrNotFound) {
					continue // another process delivers it, or did
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				if out.State == outbox.Queued || out.State == outbox.Ambiguous {
					if it2, err := r.o.Outbox.Get(it.ID); err == nil {
						later(it2.NotBefore())
					}
				}
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		if nb := it.NotBefore(); nb.After(r.o.Now()) {
			later(nb)
			continue
		}
		due <- it
	}
	close(due)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return next, firstErr
}

func (r *Router) step(id string, s outbox.Step) error {
	if s.At.IsZero() {
		s.At = r.o.Now()
	}
	if err := r.o.Outbox.Append(id, s); err != nil {
		return err
	}
	if r.o.AfterStep != nil {
		r.o.AfterStep(s.Step)
	}
	return nil
}

func (r *Router) unusable(account string) string {
	if r.o.Health == nil {
		return ""
	}
	return r.o.Health.Unusable(account)
}

// held reports whether account is held in m (parked, or resting from
// filing) until a time still to come.
func (r *Router) held(m map[string]time.Time, account string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m[account].After(r.o.Now())
}

// hold holds account in m for d.
func (r *Router) hold(m map[string]time.Time, account string, d time.Duration) {
	r.mu.Lock()
	m[account] = r.o.Now().Add(d)
	r.mu.Unlock()
}

func (r *Router) backoff(attempt int) time.Duration {
	d := r.o.FirstRetry
	for i := 1; i < attempt && d < r.o.MaxRetry; i++ {
		d *= 2
	}
	d = min(d, r.o.MaxRetry)
	return d/2 + rand.N(d/2+1) // jitter: half to the whole interval
}

// deliverSafely is Deliver with a panic turned into an error: the message
// stays in the outbox as its ledger left it, and the other workers go on.
func (r *Router) deliverSafely(ctx context.Context, id string, wait time.Duration) (out Outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = Outcome{ID: id}, fmt.Errorf("internal error delivering %s (please report; it stays in the outbox): %v\n%s", id, p, debug.Stack())
		}
	}()
	return r.deliver(ctx, id, wait)
}

// Deliver makes one delivery pass for a message: resolves an ambiguous
// outcome first, then tries the accounts in order. It returns what
// happened; an error means the outbox itself failed (disk), or
// outbox.ErrBusy: another process kept delivering it for LockWait.
func (r *Router) Deliver(ctx context.Context, id string) (Outcome, error) {
	return r.deliver(ctx, id, r.o.LockWait)
}

// Retry is the user's "send it again": it clears a hold (and an ambiguous
// outcome: the user decided) and makes a delivery pass.
func (r *Router) Retry(ctx context.Context, id string) (Outcome, error) {
	unlock, err := r.o.Outbox.Lock(id, r.o.LockWait)
	if err != nil {
		return Outcome{ID: id}, err
	}
	defer unlock()
	if err := r.step(id, outbox.Step{Step: outbox.StepRetry, Reason: outbox.ReasonConfirmed}); err != nil {
		return Outcome{ID: id}, err
	}
	return r.deliverLocked(ctx, id)
}

// Drop is the user's "do not send it": the message moves to dropped/.
func (r *Router) Drop(id string) error {
	unlock, err := r.o.Outbox.Lock(id, r.o.LockWait)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.step(id, outbox.Step{Step: outbox.StepDropped, Reason: "dropped by the user"}); err != nil {
		return err
	}
	return r.o.Outbox.Finish(id)
}

// deliver is Deliver holding the message's lock (waiting up to wait for
// it): one process at a time delivers a message.
func (r *Router) deliver(ctx context.Context, id string, wait time.Duration) (Outcome, error) {
	unlock, err := r.o.Outbox.Lock(id, wait)
	if err != nil {
		return Outcome{ID: id}, err
	}
	defer unlock()
	return r.deliverLocked(ctx, id)
}

func (r *Router) deliverLocked(ctx context.Context, id string) (Outcome, error) {
	it, err := r.o.Outbox.Get(id)
	if err != nil {
		return Outcome{ID: id}, err
	}
	out := Outcome{ID: id, State: it.State()}
	switch it.State() {
	case outbox.Sent:
		// Sent, then interrupted before it was finished: the copy may be
		// missing (adding it again keeps one).
		if s := lastAccepted(it); s != nil {
			if acct := r.account(s.Account); acct != nil {
				r.archiveCopy(acct, id)
			}
		}
		return out, r.o.Outbox.Finish(id)
	case outbox.Failed, outbox.Dropped:
		return out, r.o.Outbox.Finish(id)
	case outbox.NeedsUser:
		if it.Damage != "" {
			out.Why = it.Damage + "; decide with lifeboat outbox retry|drop " + id
		} else if l := it.Last(); l != nil {
			out.Why = l.Reason
		}
		return out, nil
	case outbox.Ambiguous:
		resolved, err := r.resolve(ctx, it, &out)
		if err != nil || !resolved {
			return out, err
		}
		if it, err = r.o.Outbox.Get(id); err != nil {
			return out, err
		}
		if st := it.State(); st == outbox.Sent {
			out.State = st
			return out, r.o.Outbox.Finish(id)
		}
	}
	if age := r.o.Now().Sub(it.QueuedAt); age > MaxAge && !confirmed(it) {
		why := fmt.Sprintf("still not sent after %d days: keep trying with lifeboat outbox retry %s, or drop it", int(age.Hours()/24), id)
		out.State, out.Why = outbox.NeedsUser, why
		r.notify(id, "", "%s", why)
		return out, r.step(id, outbox.Step{Step: outbox.StepNeedsUser, Reason: why})
	}
	if r.o.RecipientLimit > 0 && len(it.To) > r.o.RecipientLimit && !confirmed(it) {
		why := fmt.Sprintf("addressed to %d recipients (more than %d): held until you confirm it (lifeboat outbox retry %s)", len(it.To), r.o.RecipientLimit, id)
		out.State, out.Why = outbox.NeedsUser, why
		r.notify(id, "", "%s", why)
		return out, r.step(id, outbox.Step{Step: outbox.StepNeedsUser, Reason: why})
	}
	return r.attempt(ctx, it, out)
}

func confirmed(it *outbox.Item) bool {
	for _, s := range it.Steps {
		if s.Step == outbox.StepRetry && s.Reason == outbox.ReasonConfirmed {
			return true
		}
	}
	return false
}

// Question is what Lifeboat asks about a message a server may have
// accepted without saying so.
func Question(account, id string, at time.Time, why string) string {
	return fmt.Sprintf("%s may have accepted this message (it sent no answer after the message went out at %s), and %s. "+
		"Send it again? If the recipients did not get it: lifeboat outbox retry %s; if they did: lifeboat outbox drop %s",
		account, at.Local().Format("15:04"), why, id, id)
}

// resolve looks for an ambiguous message in the Sent folder of the account
// that may have accepted it. It returns false while that cannot be known:
// the message then waits for another look, or, when no look can tell, is
// held for the user with a question. Never a blind resend.
func (r *Router) resolve(ctx context.Context, it *outbox.Item, out *Outcome) (bool, error) {
	var acctName string
	var sentAt time.Time
	for i := len(it.Steps) - 1; i >= 0; i-- {
		if s := it.Steps[i]; s.Step == outbox.StepDataSent || s.Step == outbox.StepAmbiguous {
			acctName = s.Account
			if s.Step == outbox.StepDataSent || sentAt.IsZero() {
				sentAt = s.At
			}
			if s.Step == outbox.StepDataSent {
				break
			}
		}
	}
	hold := func(why string) (bool, error) {
		q := Question(acctName, it.ID, sentAt, why)
		out.State, out.Account, out.Why = outbox.NeedsUser, acctName, q
		r.notify(it.ID, acctName, "%s", q)
		return false, r.step(it.ID, outbox.Step{Step: outbox.StepNeedsUser, Account: acctName, Reason: q})
	}
	acct := r.account(acctName)
	if acct == nil || acct.CheckSent == nil {
		return hold("its Sent folder cannot be searched")
	}
	if it.MessageID == "" {
		return hold("the message has no Message-ID to look for")
	}
	found, err := acct.CheckSent(ctx, it.MessageID, sentAt)
	var early *TooEarly
	switch {
	case errors.Is(err, ErrCannotCheck):
		return hold(strings.TrimPrefix(err.Error(), ErrCannotCheck.Error()+": "))
	case errors.As(err, &early):
		out.State, out.Account = outbox.Ambiguous, acctName
		out.Why = fmt.Sprintf("%s did not answer after the message was sent; its Sent folder is searched for it at %s, before any resend",
			acctName, early.Until.Local().Format("15:04:05"))
		return false, r.step(it.ID, outbox.Step{Step: outbox.StepAmbiguous, Account: acctName, Reason: err.Error(), NotBefore: early.Until})
	case err != nil:
		// Cannot look now: wait, never resend blindly.
		nb := r.o.Now().Add(r.backoff(it.Waits() + 1))
		out.State, out.Account = outbox.Ambiguous, acctName
		out.Why = fmt.Sprintf("waiting to check %s's Sent folder for %s: %v", acctName, it.MessageID, err)
		return false, r.step(it.ID, outbox.Step{Step: outbox.StepAmbiguous, Account: acctName, Reason: err.Error(), NotBefore: nb})
	case found:
		out.Account, out.Why = acctName, fmt.Sprintf("found in %s's Sent folder after an unanswered send", acctName)
		if err := r.step(it.ID, outbox.Step{Step: outbox.StepResolved, Account: acctName, Outcome: "accepted", Recipients: it.Pending()}); err != nil {
			return false, err
		}
		r.archiveCopy(acct, it.ID)
		r.notify(it.ID, acctName, "sent through %s (confirmed in its Sent folder)", acctName)
		return true, nil
	}
	out.Why = fmt.Sprintf("not in %s's Sent folder, which holds everything sent through it: sending again", acctName)
	return true, r.step(it.ID, outbox.Step{Step: outbox.StepResolved, Account: acctName, Outcome: "not-found"})
}

func (r *Router) account(name string) *Account {
	accts := r.accounts()
	for i := range accts {
		if accts[i].Name == name {
			return &accts[i]
		}
	}
	return nil
}

func (r *Router) readMessage(id string) ([]byte, error) {
	rc, _, err := r.o.Outbox.Open(id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// attempt tries the accounts in order.
func (r *Router) attempt(ctx context.Context, it *outbox.Item, out Outcome) (Outcome, error) {
	raw, err := r.readMessage(it.ID)
	if err != nil {
		return out, err
	}
	sender := headerFrom(raw)
	if sender == "" {
		sender = it.From
	}
	pending := it.Pending()
	forceRewrite := false
	var reasons []string
	tried, tooBig := 0, 0
	accts := r.accounts()
	if it.Through != "" {
		// The user chose the account: that one only.
		var only []Account
		for _, a := range accts {
			if a.Name == it.Through {
				only = append(only, a)
			}
		}
		if len(only) == 0 {
			reasons = append(reasons, it.Through+": not an account that can send")
		}
		accts = only
	}
	for i := range accts {
		acct := &accts[i]
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if why := r.unusable(acct.Name); why != "" {
			reasons = append(reasons, acct.Name+": "+why+", skipped")
			continue
		}
		if r.held(r.parked, acct.Name) {
			reasons = append(reasons, acct.Name+": resting after a provider limit, skipped")
			continue
		}
		msg, mailFrom := raw, acct.Email
		owner := acct.owns(sender)
		switch {
		case owner && !forceRewrite:
			mailFrom = sender
		case r.o.FromPolicy == "keep" && !forceRewrite:
		default:
			msg = rewriteFrom(raw, acct.Email)
		}
		pw := ""
		if acct.Password != nil {
			if pw, err = acct.Password(); err != nil {
				reasons = append(reasons, acct.Name+": "+err.Error())
				if r.o.Health != nil && failure.Of(err, "") == failure.Auth {
					// An OAuth2 sign-in the provider no longer accepts:
					// needs you, like a refused login.
					r.o.Health.Observe(acct.Name, false, &smtpsend.Failure{Phase: smtpsend.PhaseAuth, Kind: failure.Auth,
						Action: smtpsend.NextAccountNeedsYou, Text: err.Error(), Err: err}, 0)
				}
				continue
			}
		}
		tried++
		if err := r.step(it.ID, outbox.Step{Step: outbox.StepSubmitting, Account: acct.Name, Recipients: pending, Attempt: it.Attempts() + 1}); err != nil {
			return out, err
		}
		hooks := smtpsend.Hooks{BeforeFinalDot: func() error {
			return r.step(it.ID, outbox.Step{Step: outbox.StepDataSent, Account: acct.Name})
		}}
		res := smtpsend.Send(ctx, acct.SMTP, pw, mailFrom, pending, bytes.NewReader(msg), int64(len(msg)), hooks)
		if r.o.Health != nil {
			r.o.Health.Observe(acct.Name, res.Failure == nil || res.Failure.Action == smtpsend.AskUser, res.Failure, res.Total)
		}
		for rcpt, f := range res.Rejected {
			if err := r.step(it.ID, outbox.Step{Step: outbox.StepRejected, Account: acct.Name, Recipient: rcpt, Reason: f.Error()}); err != nil {
				return out, err
			}
			if out.Rejected == nil {
				out.Rejected = map[string]string{}
			}
			out.Rejected[rcpt] = f.Error()
			r.notify(it.ID, acct.Name, "%s was refused for good: %v — the other recipients still get the message", rcpt, f)
		}
		if res.Failure == nil {
			if len(res.Accepted) > 0 {
				if err := r.step(it.ID, outbox.Step{Step: outbox.StepAccepted, Account: acct.Name, Recipients: res.Accepted, Reply: res.Reply}); err != nil {
					return out, err
				}
				r.archiveCopy(acct, it.ID)
				out.Account, out.Reply = acct.Name, res.Reply
				why := "the first account in your order"
				if len(reasons) > 0 {
					why = "because " + strings.Join(reasons, "; ")
				}
				out.Why = why
				r.notify(it.ID, acct.Name, "sent through %s (%s)", acct.Name, why)
			}
			if len(res.Deferred) > 0 {
				var later []string
				for rcpt := range res.Deferred {
					later = append(later, rcpt)
				}
				nb := r.o.Now().Add(r.backoff(it.Waits() + 1))
				if err := r.step(it.ID, outbox.Step{Step: outbox.StepRequeue, Account: acct.Name, Recipients: later}); err != nil {
					return out, err
				}
				if err := r.step(it.ID, outbox.Step{Step: outbox.StepRetry, Account: acct.Name, Reason: "some recipients deferred", NotBefore: nb}); err != nil {
					return out, err
				}
				out.State = outbox.Queued
				return out, nil
			}
			it2, err := r.o.Outbox.Get(it.ID)
			if err != nil {
				return out, err
			}
			out.State = it2.State()
			return out, r.o.Outbox.Finish(it.ID)
		}
		f := res.Failure
		reasons = append(reasons, acct.Name+": "+f.Error())
		switch f.Action {
		case smtpsend.Ambiguous:
			out.State, out.Account = outbox.Ambiguous, acct.Name
			out.Why = fmt.Sprintf("%s did not answer after the message was sent; its Sent folder will be checked before any resend", acct.Name)
			r.notify(it.ID, acct.Name, "%s", out.Why)
			return out, r.step(it.ID, outbox.Step{Step: outbox.StepAmbiguous, Account: acct.Name, Reason: f.Error()})
		case smtpsend.AskUser:
			out.State, out.Why = outbox.NeedsUser, fmt.Sprintf("%s refused the content: %v", acct.Name, f)
			r.notify(it.ID, acct.Name, "%s", out.Why)
			return out, r.step(it.ID, outbox.Step{Step: outbox.StepNeedsUser, Account: acct.Name, Reason: f.Error()})
		case smtpsend.NextAccountPark:
			r.hold(r.parked, acct.Name, r.o.Park)
		case smtpsend.NextAccountBackoff:
			r.hold(r.parked, acct.Name, r.o.LoginBackoff)
		case smtpsend.NextAccountRewriteFrom:
			forceRewrite = true
		case smtpsend.NextAccountIfSize:
			tooBig++
		case smtpsend.NextAccountNeedsYou:
			r.notify(it.ID, acct.Name, "%s refused the login: %v — check its password (lifeboat accounts add)", acct.Name, f)
		case smtpsend.NextAccountAlert:
			r.notify(it.ID, acct.Name, "%s: %v — not sending through it until this is fixed", acct.Name, f)
		}
		if err := r.step(it.ID, outbox.Step{Step: outbox.StepRetry, Account: acct.Name, Reason: f.Error()}); err != nil {
			return out, err
		}
	}
	if tried > 0 && tooBig == tried {
		why := "the message is larger than every account accepts"
		out.State, out.Why = outbox.NeedsUser, why
		r.notify(it.ID, "", "%s", why)
		return out, r.step(it.ID, outbox.Step{Step: outbox.StepNeedsUser, Reason: why + ": " + strings.Join(reasons, "; ")})
	}
	it2, err := r.o.Outbox.Get(it.ID)
	if err != nil {
		return out, err
	}
	if st := it2.State(); st == outbox.Failed || st == outbox.Sent {
		out.State = st
		return out, r.o.Outbox.Finish(it.ID)
	}
	wait := r.backoff(it2.Waits() + 1)
	nb := r.o.Now().Add(wait)
	out.State = outbox.Queued
	out.Why = "no account could take it (" + strings.Join(reasons, "; ") + "); it stays in the outbox and is tried again at " + nb.Format("15:04:05")
	r.notify(it.ID, "", "%s", out.Why)
	return out, r.step(it.ID, outbox.Step{Step: outbox.StepRetry, Reason: "every account failed", NotBefore: nb})
}

// archiveCopy keeps a copy of a sent message in the sending account's local
// folder archive.SentFolder. The archive writes it durably at once and adds
// it to the folder under the account's lock; while a backup holds that
// lock, the copy waits and the backup adds it. A failure is reported, not
// fatal: the message went out.
func (r *Router) archiveCopy(acct *Account, id string) {
	if r.o.Archive == nil {
		return
	}
	raw, err := r.readMessage(id)
	if err == nil {
		var queued bool
		queued, err = r.o.Archive.AddLocal(context.Background(), acct.Name, archive.SentFolder, raw, r.o.Now(), []string{`\Seen`}, 250*time.Millisecond)
		if queued && err == nil {
			r.notify(id, acct.Name, "sent; its copy for the archive waits (another Lifeboat process is writing the archive) and the next backup adds it")
		}
	}
	if err != nil {
		r.notify(id, acct.Name, "sent, but the copy for the archive failed: %v", err)
	}
}

// lastAccepted is the ledger step that recorded the message as sent.
func lastAccepted(it *outbox.Item) *outbox.Step {
	for i := len(it.Steps) - 1; i >= 0; i-- {
		s := &it.Steps[i]
		if s.Step == outbox.StepAccepted || (s.Step == outbox.StepResolved && s.Outcome == "accepted") {
			return s
		}
	}
	return nil
}

// ErrNoAccounts means nothing is configured to send with.
var ErrNoAccounts = errors.New("no account can send: add an [account.smtp] section to an account")
