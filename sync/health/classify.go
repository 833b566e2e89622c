package health

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Classify turns an error seen at phase of protocol p — by a probe or by
// real traffic (go-smtp, go-imap, sync/imapconn, sync/smtpsend and network
// errors) — into a Kind and a cause in plain words, such as (KindAuth,
// "login refused: 535 5.7.8 credentials rejected"). The kind is
// sync/failure's, the one every part of Lifeboat uses: a 535 at AUTH is
// "auth" in a probe and in a real send alike.
func Classify(p Protocol, phase Phase, err error) (Kind, string) {
	if err == nil {
		return KindNone, ""
	}
	var ie *imap.Error
	var kind Kind
	switch k := failure.Of(err, smtpPhase(phase)); {
	case k == failure.Auth:
		kind = KindAuth
	case k == failure.SendAs && phase == PhaseEnvelope:
		kind = KindAuth // the account may not send as itself: an account or licence problem
	case k == failure.Unreachable:
		kind = KindUnreachable
	case k == failure.TLS:
		kind = KindTLS
	case k == failure.Throttled, k == failure.Quota:
		kind = KindThrottled
	case errors.As(err, &ie) && phase == PhaseLogin && ie.Type == imap.StatusResponseTypeNo && ie.Code == "":
		kind = KindAuth // many servers say a plain NO for a bad password
	default:
		kind = KindOther
	}
	return kind, phrase(p, phase, kind) + ": " + plain(err)
}

// smtpPhase is the SMTP phase a probe phase's replies answer.
func smtpPhase(phase Phase) failure.Phase {
	switch phase {
	case PhaseDNS, PhaseTCP:
		return failure.PhaseConnect
	case PhaseTLS:
		return failure.PhaseTLS
	case PhaseGreeting, PhaseCapability:
		return failure.PhaseGreeting
	case PhaseLogin:
		return failure.PhaseAuth
	case PhaseEnvelope:
		return failure.PhaseMail
	}
	return "" // real traffic: its errors say their own kind
}

// phrase is the start of a cause: what went wrong, where.
func phrase(p Protocol, phase Phase, kind Kind) string {
	switch kind {
	case KindAuth:
		if phase == PhaseEnvelope {
			return "sending as yourself refused"
		}
		return "login refused"
	case KindThrottled:
		if phase == PhaseLogin {
			return "login throttled"
		}
		return "the server asks to slow down"
	case KindTLS:
		return "secure connection failed"
	}
	switch phase {
	case PhaseDNS:
		return "cannot look up the host name"
	case PhaseTCP:
		return "cannot connect"
	case PhaseGreeting:
		return "no proper greeting"
	case PhaseCapability:
		if p == SMTP {
			return "EHLO failed"
		}
		return "CAPABILITY failed"
	case PhaseLogin:
		return "login failed"
	case PhaseNoop:
		return "NOOP after login failed"
	case PhaseEnvelope:
		return "MAIL FROM/RCPT TO to yourself failed"
	case PhaseLogout:
		return "logout failed"
	case PhaseSend:
		return "sending failed"
	case PhaseBackup:
		return "backup failed"
	}
	return "failed"
}

// activity is what a phase is doing, for timeouts: "no answer within 15 s
// while waiting for the greeting".
func activity(p Protocol, phase Phase) string {
	switch phase {
	case PhaseDNS:
		return "looking up the host name"
	case PhaseTCP:
		return "connecting"
	case PhaseTLS:
		return "setting up the secure connection"
	case PhaseGreeting:
		return "waiting for the greeting"
	case PhaseCapability:
		if p == SMTP {
			return "waiting for the answer to EHLO"
		}
		return "waiting for the answer to CAPABILITY"
	case PhaseLogin:
		return "logging in"
	case PhaseNoop:
		return "waiting for the answer to NOOP"
	case PhaseEnvelope:
		return "waiting for the answer to MAIL FROM/RCPT TO"
	case PhaseLogout:
		return "logging out"
	}
	return string(phase)
}

// plain says what err means in a few words, without Go's wrapping.
func plain(err error) string {
	var se *smtp.SMTPError
	var ie *imap.Error
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var invalid x509.CertificateInvalidError
	var record tls.RecordHeaderError
	switch {
	case errors.As(err, &se):
		return smtpReply(se)
	case errors.As(err, &ie):
		return strings.TrimPrefix(ie.Error(), "imap: ")
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return "no such host " + dnsErr.Name
		case dnsErr.IsTimeout:
			return "DNS lookup of " + dnsErr.Name + " timed out"
		}
		return dnsErr.Err + " (" + dnsErr.Name + ")"
	case errors.As(err, &unknownCA):
		return "certificate not trusted (signed by an unknown authority)"
	case errors.As(err, &badHost):
		return "certificate is not valid for " + badHost.Host
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "certificate expired or not yet valid"
		}
		return "certificate invalid: " + invalid.Error()
	case errors.As(err, &record):
		return "the server does not speak TLS on this port"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused (nothing listens on that port)"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "network unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "connection closed by the server"
	}
	var ce *imapconn.Error
	if errors.As(err, &ce) && ce.Err != nil {
		return plain(ce.Err)
	}
	return err.Error()
}

// smtpReply is "535 5.7.8 credentials rejected".
func smtpReply(se *smtp.SMTPError) string {
	s := fmt.Sprint(se.Code)
	if ec := se.EnhancedCode; ec[0] > 0 {
		s += fmt.Sprintf(" %d.%d.%d", ec[0], ec[1], ec[2])
	}
	if msg := strings.Join(strings.Fields(se.Message), " "); msg != "" {
		s += " " + msg
	}
	return s
}
