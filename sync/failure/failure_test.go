package failure

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

// The failure table of README "Sending through the next account when a
// provider fails", row by row, as the SMTP replies providers send.
func TestSMTPTable(t *testing.T) {
	for _, c := range []struct {
		phase Phase
		code  int
		enh   string
		text  string
		want  Kind
	}{
		{PhaseGreeting, 421, "4.3.2", "Service not available", Unreachable},
		{PhaseMail, 421, "", "closing", Unreachable},
		{PhaseAuth, 454, "4.7.0", "Too many login attempts, please try again later", Throttled},
		{PhaseAuth, 535, "5.7.8", "Username and Password not accepted", Auth},
		{PhaseAuth, 534, "5.7.9", "Application-specific password required", Auth},
		{PhaseAuth, 530, "5.7.0", "Authentication required", Auth},
		{PhaseMail, 550, "5.7.60", "SMTP; Client does not have permissions to send as this sender", SendAs},
		{PhaseDataEnd, 554, "5.2.252", "SendAsDenied; jane@x not allowed to send as tom@y", SendAs},
		{PhaseDataEnd, 550, "5.4.5", "Daily user sending quota exceeded", Quota},
		{PhaseMail, 451, "4.7.1", "Rate limit exceeded", Throttled},
		{PhaseRcpt, 550, "5.1.1", "The email account that you tried to reach does not exist", Recipient},
		{PhaseRcpt, 550, "5.2.1", "Mailbox disabled", Recipient},
		{PhaseRcpt, 552, "5.2.2", "Mailbox full", Recipient},
		{PhaseRcpt, 550, "", "No such user", Recipient},
		{PhaseRcpt, 450, "4.2.0", "Mailbox busy", Deferred},
		{PhaseRcpt, 451, "4.7.1", "Greylisted", Throttled},
		{PhaseMail, 552, "5.3.4", "Message size exceeds fixed limit", Size},
		{PhaseDataEnd, 552, "", "Message too large", Size},
		{PhaseDataEnd, 550, "5.7.1", "Message rejected as spam", Content},
		{PhaseDataEnd, 554, "5.6.0", "Message content rejected", Content},
		{PhaseDataEnd, 451, "4.3.0", "Temporary failure", Unreachable},
	} {
		if got := SMTP(c.phase, c.code, ParseCode(c.enh), c.text); got != c.want {
			t.Errorf("%s %d %s %q: %s, want %s", c.phase, c.code, c.enh, c.text, got, c.want)
		}
	}
}

type kinded struct{ k Kind }

func (k kinded) Error() string     { return "kinded" }
func (k kinded) FailureKind() Kind { return k.k }

func TestOf(t *testing.T) {
	for _, c := range []struct {
		err   error
		phase Phase
		want  Kind
	}{
		{nil, "", None},
		{fmt.Errorf("wrapped: %w", kinded{Auth}), PhaseData, Auth},
		{context.Canceled, "", Canceled},
		{&smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}}, PhaseAuth, Auth},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed}, "", Auth},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable}, "", Throttled},
		{&imap.Error{Type: imap.StatusResponseTypeBye, Text: "shutting down"}, "", Unreachable},
		{x509.UnknownAuthorityError{}, "", TLS},
		{&net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, "", Unreachable},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "", Unreachable},
		{io.ErrUnexpectedEOF, "", Unreachable},
		{errors.New("in response-data: unexpected EOF"), "", Unreachable},
		{errors.New("something else"), "", Other},
	} {
		if got := Of(c.err, c.phase); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
	for k, temp := range map[Kind]bool{Unreachable: true, Throttled: true, Quota: true, Deferred: true, Auth: false, TLS: false, Content: false, Ambiguous: false} {
		if k.Temporary() != temp {
			t.Errorf("%s.Temporary() = %v", k, !temp)
		}
	}
}
