// Package failure is Lifeboat's one model of why talking to a mail server
// failed. Every failure has a Kind, and what to do follows from the kind:
// try again later, try another account, tell the user, never downgrade.
// The IMAP connection (sync/imapconn), the SMTP sender (sync/smtpsend) and
// the health model (sync/health) all classify through Of, SMTP and IMAP
// here, so they cannot disagree about what an error means.
//
// SMTP replies are judged by their enhanced status code (RFC 3463: class,
// subject, detail) before their basic code (RFC 5321), since providers make
// some 5xx replies relay-specific; the table is SMTP below.
package failure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

// Kind is why something failed.
type Kind string

const (
	None        Kind = ""
	Unreachable Kind = "unreachable" // DNS, TCP, timeouts, drops, SMTP 421, IMAP BYE: the server, for now
	TLS         Kind = "tls"         // certificate or handshake: never downgraded to plaintext
	Auth        Kind = "auth"        // credentials refused, account or licence problem: the user must act
	Throttled   Kind = "throttled"   // too many logins (454 4.7.0), rate limits (4.7.x), IMAP [LIMIT] [INUSE] [UNAVAILABLE]
	Quota       Kind = "quota"       // the account's sending quota is used up (5.4.5, Gmail's daily limit)
	SendAs      Kind = "send-as"     // the account may not send with this sender (MAIL FROM 5.7.x, SendAsDenied)
	Size        Kind = "size"        // the message is too big for this server (552, 5.3.4, 5.2.3)
	Content     Kind = "content"     // refused for what the message says (5.6.x, 5.7.x after the final dot)
	Recipient   Kind = "recipient"   // this recipient, for good (5.1.x, 5.2.1, 5.2.2 at RCPT)
	Deferred    Kind = "deferred"    // this recipient, not now (4.x.x at RCPT)
	Ambiguous   Kind = "ambiguous"   // no answer after the final dot: the message may have been accepted
	Canceled    Kind = "canceled"    // Lifeboat itself stopped
	Other       Kind = "other"
)

// Temporary reports whether the same thing may succeed later through the
// same server without anyone changing anything.
func (k Kind) Temporary() bool {
	switch k {
	case Unreachable, Throttled, Quota, Deferred:
		return true
	}
	return false
}

// Kinded is an error that knows its kind (imapconn.Error, smtpsend.Failure).
type Kinded interface {
	error
	FailureKind() Kind
}

// Phase is the step of an SMTP session a reply answers.
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

// Code is an enhanced status code (RFC 3463 §2): class.subject.detail.
type Code struct{ Class, Subject, Detail int }

// String is "5.7.8", or "" for no code.
func (c Code) String() string {
	if c.Class == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", c.Class, c.Subject, c.Detail)
}

// ParseCode reads "5.7.8" ("" and anything else: no code).
func ParseCode(s string) Code {
	var c Code
	if n, _ := fmt.Sscanf(s, "%d.%d.%d", &c.Class, &c.Subject, &c.Detail); n != 3 || c.Class < 2 || c.Class > 5 {
		return Code{}
	}
	return c
}

// CodeOf is go-smtp's enhanced code as a Code.
func CodeOf(e smtp.EnhancedCode) Code {
	if e == smtp.EnhancedCodeNotSet || e == smtp.NoEnhancedCode || e[0] <= 0 {
		return Code{}
	}
	return Code{e[0], e[1], e[2]}
}

// SMTP classifies an SMTP reply at a phase, by its basic and enhanced codes
// (RFC 5321 §4.2, RFC 3463); README "Sending through the next account when
// a provider fails" lists what each class makes the router do.
func SMTP(phase Phase, code int, enh Code, text string) Kind {
	lower := strings.ToLower(text)
	subj := func(s, d int) bool { return enh.Subject == s && (d < 0 || enh.Detail == d) }
	switch {
	case code == 421: // RFC 5321 §3.8: service not available, closing the channel
		return Unreachable
	case phase == PhaseAuth:
		switch {
		case code == 454 || (enh.Class == 4 && subj(7, 0)): // RFC 4954 §6: temporary authentication failure
			return Throttled
		case code == 535 || code == 534 || code == 530 || subj(7, 8) || subj(7, 9) || (enh.Class == 5 && subj(7, -1)):
			return Auth // 5.7.8 credentials invalid, 5.7.9 mechanism too weak / app password needed, 5.7.0 auth required
		}
		if code/100 == 4 {
			return Unreachable
		}
		return Other
	case phase == PhaseRcpt && code/100 == 5 && (subj(1, -1) || subj(2, 1) || subj(2, 2)):
		return Recipient // 5.1.x bad address, 5.2.1 mailbox disabled, 5.2.2 mailbox full (RFC 3463 §3.2, §3.3)
	case phase == PhaseRcpt && code/100 == 5 && enh.Class == 0 && (code == 550 || code == 551 || code == 553):
		return Recipient // the classic "no such user", without an enhanced code
	case strings.Contains(lower, "sendasdenied") || enh == (Code{5, 2, 252}):
		return SendAs // Microsoft 365: not allowed to send as this address
	case code == 552 || subj(3, 4) || subj(2, 3):
		return Size // RFC 3463 §3.4 message too big for system, §3.3 message length exceeds limit
	case subj(4, 5) && enh.Class == 5:
		return Quota // 5.4.5: the daily sending limit (Gmail)
	case enh.Class == 4 && (subj(7, -1) || subj(4, 5)):
		return Throttled // rate limits, temporary quota
	case phase == PhaseRcpt && code/100 == 4 && !subj(7, -1):
		return Deferred // that recipient, later
	case phase == PhaseMail && code/100 == 5 && (subj(7, -1) || subj(1, 7) || subj(1, 8)):
		return SendAs // the sender address is not this account's to use
	case phase == PhaseDataEnd && code/100 == 5:
		return Content // 5.6.x media, 5.7.x policy (spam, virus)
	case code/100 == 4:
		return Unreachable
	}
	return Other
}

// IMAP classifies an IMAP status response (RFC 5530 response codes).
func IMAP(e *imap.Error) Kind {
	switch e.Code {
	case imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeAuthorizationFailed, imap.ResponseCodeExpired,
		imap.ResponseCodePrivacyRequired, imap.ResponseCodeContactAdmin:
		return Auth
	case imap.ResponseCodeLimit, imap.ResponseCodeInUse, imap.ResponseCodeUnavailable:
		return Throttled
	}
	if e.Type == imap.StatusResponseTypeBye {
		return Unreachable
	}
	return Other
}

// Of classifies any error seen talking to a server: one that knows its
// kind, an SMTP reply (at phase), an IMAP response, or a network, TLS or
// context error.
func Of(err error, phase Phase) Kind {
	if err == nil {
		return None
	}
	var k Kinded
	var se *smtp.SMTPError
	var ie *imap.Error
	var x509Unknown x509.UnknownAuthorityError
	var x509Host x509.HostnameError
	var x509Invalid x509.CertificateInvalidError
	var tlsRecord tls.RecordHeaderError
	var netErr net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &k):
		return k.FailureKind()
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.As(err, &se):
		return SMTP(phase, se.Code, CodeOf(se.EnhancedCode), se.Message)
	case errors.As(err, &ie):
		return IMAP(ie)
	case errors.As(err, &x509Unknown), errors.As(err, &x509Host), errors.As(err, &x509Invalid), errors.As(err, &tlsRecord):
		return TLS
	case errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED):
		return Unreachable
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return Unreachable
	case strings.Contains(err.Error(), "tls:"):
		return TLS
	case dropped(err.Error()):
		// Libraries report some I/O errors as text only ("in
		// response-data: unexpected EOF").
		return Unreachable
	}
	return Other
}

func dropped(msg string) bool {
	for _, s := range []string{"EOF", "connection closed", "closed network connection", "connection reset", "broken pipe", "i/o timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// SpeaksTLSFirst reports whether the server at addr starts with a TLS
// handshake (implicit TLS, as on ports 465 and 993): the explanation of a
// greeting that never came on a connection set up for STARTTLS or
// plaintext. Only the handshake is done, with no certificate check, since
// nothing is sent over it; the probe gives up after timeout.
func SpeaksTLSFirst(ctx context.Context, addr string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // a protocol probe, not a connection to use
	return tc.HandshakeContext(ctx) == nil
}

// ErrTLSFirst explains the mistake SpeaksTLSFirst finds.
func ErrTLSFirst(addr string) error {
	return fmt.Errorf("%s speaks TLS from the start (implicit TLS, as on ports 465 and 993), not STARTTLS: use security = \"tls\" for it", addr)
}
