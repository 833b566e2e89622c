package smtpsend

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// Phase is the step of a submission where something happened.
type Phase string

const (
	PhaseConnect  Phase = "connect"  // DNS and TCP
	PhaseTLS      Phase = "tls"      // handshake and certificate
	PhaseGreeting Phase = "greeting" // the server's 220 and EHLO
	PhaseAuth     Phase = "auth"
	PhaseMail     Phase = "mail" // MAIL FROM
	PhaseRcpt     Phase = "rcpt" // RCPT TO
	PhaseData     Phase = "data" // DATA and the message bytes
	PhaseDataEnd  Phase = "data-end"
)

// Action is what the router must do after a failure (PRODUCT.md §5).
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
	if f.Recipient != "" {
		what += " (" + f.Recipient + ")"
	}
	if f.Code != 0 {
		return fmt.Sprintf("%s: %d %s %s", what, f.Code, f.Enhanced, f.Text)
	}
	return fmt.Sprintf("%s: %s", what, f.Text)
}

func (f *Failure) Unwrap() error { return f.Err }

// Temporary reports whether the same message may succeed later through the
// same account (so an all-accounts-down message stays queued).
func (f *Failure) Temporary() bool {
	switch f.Action {
	case AskUser, NextAccountIfSize, NextAccountRewriteFrom:
		return false
	}
	return true
}

func enhanced(e smtp.EnhancedCode) string {
	if e == smtp.EnhancedCodeNotSet || e == smtp.NoEnhancedCode || e[0] <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
}

// classify turns an error at a phase into a Failure with its action.
func classify(phase Phase, err error) *Failure {
	f := &Failure{Phase: phase, Err: err, Text: err.Error()}
	var se *smtp.SMTPError
	var x509Unknown x509.UnknownAuthorityError
	var x509Host x509.HostnameError
	var x509Invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &se):
		f.Code, f.Enhanced, f.Text = se.Code, enhanced(se.EnhancedCode), se.Message
		f.Action = classifyReply(phase, se.Code, f.Enhanced, se.Message)
	case errors.As(err, &x509Unknown), errors.As(err, &x509Host), errors.As(err, &x509Invalid):
		f.Phase, f.Action = PhaseTLS, NextAccountAlert
	case phase == PhaseDataEnd:
		// The final dot may have gone out and no reply came back — also when
		// Lifeboat itself was stopped while waiting (Ctrl-C, SIGTERM): the
		// server may have accepted the message either way.
		f.Action = Ambiguous
	default:
		f.Action = NextAccount
	}
	return f
}

// classifyReply applies the table of PRODUCT.md §5 to an SMTP reply. It
// looks at the enhanced code's class and subject (RFC 3463) first, since
// providers make some 5xx replies relay-specific.
func classifyReply(phase Phase, code int, enh, text string) Action {
	subject := ""
	if i := strings.IndexByte(enh, '.'); i >= 0 {
		subject = enh[i+1:]
	}
	has := func(prefix string) bool { return subject == prefix || strings.HasPrefix(subject, prefix+".") }
	lower := strings.ToLower(text)
	switch {
	case code == 421:
		return NextAccount
	case phase == PhaseAuth && (code == 454 || enh == "4.7.0"):
		return NextAccountBackoff
	case phase == PhaseAuth && (code == 535 || code == 534 || code == 530 || has("7.8") || has("7.9")):
		return NextAccountNeedsYou
	case phase == PhaseAuth:
		return NextAccount
	case strings.Contains(lower, "sendasdenied") || enh == "5.2.252":
		return NextAccountRewriteFrom
	case code == 552 || has("3.4") || has("2.3"):
		if phase == PhaseRcpt && has("2.2") {
			break
		}
		return NextAccountIfSize
	case has("4.5") || (code/100 == 4 && has("7")):
		return NextAccountPark // 5.4.5 quota, 4.7.x rate limits
	case phase == PhaseMail && code/100 == 5 && (has("7") || has("1.7") || has("1.8")):
		return NextAccountRewriteFrom
	case phase == PhaseDataEnd && code/100 == 5 && (has("6") || has("7.1") || has("7")):
		return AskUser
	case phase == PhaseDataEnd && code/100 == 5:
		return AskUser
	}
	return NextAccount
}

// recipientVerdict says what an RCPT failure means for that recipient:
// final (5.1.x, 5.2.1, 5.2.2: the address is wrong or cannot receive; no
// failover) or deferred (4.x.x: deliver to the others, requeue this one). A
// false ok means the failure is about the account, not the recipient.
func recipientVerdict(f *Failure) (final, deferred, ok bool) {
	if f.Code == 421 {
		return false, false, false
	}
	sub := ""
	if i := strings.IndexByte(f.Enhanced, '.'); i >= 0 {
		sub = f.Enhanced[i+1:]
	}
	switch {
	case f.Code/100 == 5 && (strings.HasPrefix(sub, "1.") || sub == "2.1" || sub == "2.2"):
		return true, false, true
	case f.Code/100 == 5 && f.Enhanced == "" && (f.Code == 550 || f.Code == 553 || f.Code == 551):
		return true, false, true // no enhanced code: the classic "no such user"
	case f.Code/100 == 4 && !strings.HasPrefix(sub, "7."):
		return false, true, true
	}
	return false, false, false
}
