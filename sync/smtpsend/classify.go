package smtpsend

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
)

// Phase is the step of a submission where something happened.
type Phase = failure.Phase

const (
	PhaseConnect  = failure.PhaseConnect  // DNS and TCP
	PhaseTLS      = failure.PhaseTLS      // handshake and certificate
	PhaseGreeting = failure.PhaseGreeting // the server's 220 and EHLO
	PhaseAuth     = failure.PhaseAuth
	PhaseMail     = failure.PhaseMail // MAIL FROM
	PhaseRcpt     = failure.PhaseRcpt // RCPT TO
	PhaseData     = failure.PhaseData // DATA and the message bytes
	PhaseDataEnd  = failure.PhaseDataEnd
)

// Action is what the router must do after a failure (README, "Sending
// through the next account when a provider fails").
type Action int

const (
	// NextAccount: an outage (DNS, TCP, timeout, 421, drop before DATA,
	// temporary errors): try the next account now; this one is suspect.
	NextAccount Action = iota
	// NextAccountAlert: the certificate is invalid: next account, tell the
	// user; never downgrade.
	NextAccountAlert
	// NextAccountBackoff: AUTH answered 454 4.7.0 (too many logins).
	NextAccountBackoff
	// NextAccountNeedsYou: credentials refused (535 5.7.8, 534, 530).
	NextAccountNeedsYou
	// NextAccountRewriteFrom: this account may not send as this From
	// (MAIL FROM 5.7.x, Microsoft's SendAsDenied).
	NextAccountRewriteFrom
	// NextAccountPark: quota or rate limits (5.4.5, 4.7.x): next account,
	// and leave this one out for a while.
	NextAccountPark
	// NextAccountIfSize: the message is too big here (552, 5.3.4): only an
	// account whose SIZE allows it may be tried.
	NextAccountIfSize
	// AskUser: the content was refused (5.6.x, 5.7.1 after DATA).
	AskUser
	// Ambiguous: no reply after the final dot: the server may have accepted
	// the message. Look in that account's Sent folder before any resend.
	Ambiguous
)

var actionNames = map[Action]string{
	NextAccount: "next account", NextAccountAlert: "next account, alert", NextAccountBackoff: "next account, back off",
	NextAccountNeedsYou: "next account, needs you", NextAccountRewriteFrom: "next account, From rewritten",
	NextAccountPark: "next account, park this one", NextAccountIfSize: "next account if its size limit allows",
	AskUser: "ask the user", Ambiguous: "ambiguous: check Sent before resending",
}

func (a Action) String() string { return actionNames[a] }

// Failure is why a submission (or one recipient) did not go through.
type Failure struct {
	Phase     Phase
	Kind      failure.Kind // why (sync/failure); Action follows from it
	Action    Action
	Code      int    // SMTP reply code, 0 when none
	Enhanced  string // "5.1.1", "" when none
	Text      string // the server's words, or the local error
	Recipient string // for per-recipient failures
	Err       error
}

func (f *Failure) Error() string {
	what := map[Phase]string{PhaseConnect: "cannot connect", PhaseTLS: "secure connection failed",
		PhaseGreeting: "server refused the session", PhaseAuth: "login refused", PhaseMail: "sender refused",
		PhaseRcpt: "recipient refused", PhaseData: "message refused", PhaseDataEnd: "message refused"}[f.Phase]
	if f.Action == Ambiguous {
		what = "no answer after the message was sent"
	}
	if errors.As(f.Err, new(*overBudget)) {
		what = "too slow"
	}
	if f.Recipient != "" {
		what += " (" + f.Recipient + ")"
	}
	if f.Code != 0 {
		return fmt.Sprintf("%s: %d %s %s", what, f.Code, f.Enhanced, f.Text)
	}
	return fmt.Sprintf("%s: %s", what, f.Text)
}

func (f *Failure) Unwrap() error { return f.Err }

// FailureKind makes a Failure a failure.Kinded: the health model reads the
// kind the sender found (a 535 at AUTH is "auth", whatever phase the
// observation is filed under).
func (f *Failure) FailureKind() failure.Kind { return f.Kind }

// Temporary reports whether the same message may succeed later through the
// same account (so an all-accounts-down message stays queued).
func (f *Failure) Temporary() bool {
	switch f.Action {
	case AskUser, NextAccountIfSize, NextAccountRewriteFrom:
		return false
	}
	return true
}

// classify turns an error at a phase into a Failure with its kind and action.
func classify(phase Phase, err error) *Failure {
	f := &Failure{Phase: phase, Err: err, Text: err.Error()}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		f.Code, f.Enhanced, f.Text = se.Code, failure.CodeOf(se.EnhancedCode).String(), se.Message
	}
	f.Kind = failure.Of(err, phase)
	if phase == PhaseDataEnd && se == nil {
		// The final dot may have gone out and no reply came back — also
		// when Lifeboat itself was stopped while waiting (Ctrl-C, SIGTERM):
		// the server may have accepted the message either way.
		f.Kind = failure.Ambiguous
	}
	if f.Kind == failure.TLS {
		f.Phase = PhaseTLS
	}
	f.Action = actionFor(f.Kind, phase)
	return f
}

// actionFor is what the router does after a failure of a kind (README,
// "Sending through the next account when a provider fails").
func actionFor(k failure.Kind, phase Phase) Action {
	switch k {
	case failure.TLS:
		return NextAccountAlert
	case failure.Auth:
		return NextAccountNeedsYou
	case failure.Throttled:
		if phase == PhaseAuth {
			return NextAccountBackoff
		}
		return NextAccountPark
	case failure.Quota:
		return NextAccountPark
	case failure.SendAs:
		return NextAccountRewriteFrom
	case failure.Size:
		return NextAccountIfSize
	case failure.Content:
		return AskUser
	case failure.Ambiguous:
		return Ambiguous
	}
	return NextAccount
}

// recipientVerdict says what an RCPT failure means for that recipient:
// final (5.1.x, 5.2.1, 5.2.2: the address is wrong or cannot receive; no
// failover) or deferred (4.x.x: deliver to the others, requeue this one). A
// false ok means the failure is about the account, not the recipient.
func recipientVerdict(f *Failure) (final, deferred, ok bool) {
	switch f.Kind {
	case failure.Recipient:
		return true, false, true
	case failure.Deferred:
		return false, true, true
	}
	return false, false, false
}
