package health

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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Classify turns an error seen at phase of protocol p — by a probe or by
// real traffic (go-smtp, go-imap, sync/imapconn and network errors) — into a
// Kind and a cause in plain words, such as (KindAuth, "login refused: 535
// 5.7.8 credentials rejected"). SMTP replies are judged by their enhanced
// status code (RFC 3463) as well as their basic code.
func Classify(p Protocol, phase Phase, err error) (Kind, string) {
	if err == nil {
		return KindNone, ""
	}
	var kind Kind
	var se *smtp.SMTPError
	var ie *imap.Error
	switch {
	case errors.As(err, &se):
		kind = smtpKind(phase, se)
	case errors.As(err, &ie) && phase == PhaseLogin && ie.Type == imap.StatusResponseTypeNo && ie.Code == "":
		// Many servers say a plain NO for a bad password.
		kind = KindAuth
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		kind = KindUnreachable
	default:
		var ce *imapconn.Error
		if !errors.As(imapconn.Classify("", err), &ce) {
			kind = KindOther
			break
		}
		kind = fromImapconn(ce.Kind)
	}
	return kind, phrase(p, phase, kind) + ": " + plain(err)
}

func fromImapconn(k imapconn.Kind) Kind {
	switch k {
	case imapconn.KindAuth:
		return KindAuth
	case imapconn.KindUnreachable:
		return KindUnreachable
	case imapconn.KindTLS:
		return KindTLS
	case imapconn.KindThrottled:
		return KindThrottled
	}
	return KindOther
}

// smtpKind classifies an SMTP reply by its code and enhanced code.
func smtpKind(phase Phase, se *smtp.SMTPError) Kind {
	ec := se.EnhancedCode
	hasEC := ec[0] > 0
	switch {
	case se.Code == 421:
		return KindUnreachable // service not available, closing
	case hasEC && ec[0] == 4 && ec[1] == 7, se.Code == 454 && phase == PhaseLogin,
		ec == smtp.EnhancedCode{5, 4, 5}:
		return KindThrottled // 454 4.7.0 too many login attempts, rate limits, quota
	case phase == PhaseLogin && (se.Code == 535 || se.Code == 534 || se.Code == 530 || (hasEC && ec[0] == 5 && ec[1] == 7)):
		return KindAuth // 535 5.7.8 credentials rejected, 534 5.7.9 web login/app password required
	case phase == PhaseEnvelope && hasEC && ec[0] == 5 && ec[1] == 7:
		return KindAuth // the account may not send as itself: account or licence problem
	}
	return KindOther
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
