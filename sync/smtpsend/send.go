// Package smtpsend submits one message through one account's SMTP server
// and classifies every failure by phase and by the enhanced status code
// (RFC 3463), so the failover router knows what to do next (README, "Sending
// through the next account when a provider fails"; the table is
// sync/failure.SMTP): try the next account, tell the user, or treat the
// outcome as unknown.
//
// Invariants Dial and Send enforce:
//
//   - TLS is verified and never downgraded: implicit TLS and STARTTLS use
//     sync/tlsutil's configuration (host name and chain checked, TLS 1.2 or
//     later, tls_ca_file as extra trust); a TLS failure is PhaseTLS with
//     NextAccountAlert, and a STARTTLS port that wants TLS first is named as
//     such.
//   - Plaintext is refused unless the host is loopback (it would carry the
//     password unencrypted).
//   - The router's ledger is written through Hooks: BeforeFinalDot is called
//     after every byte of the message is written and before the final "."
//     is sent, so that a crash after it is known to be ambiguous; no reply
//     to the final dot is PhaseDataEnd (Ambiguous), never a failure that
//     would be resent.
package smtpsend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// Endpoint is an SMTP submission server.
type Endpoint struct {
	Host     string
	Port     int
	Security string // "tls" (implicit, 465), "starttls" (587), "plain" (loopback only)
	Username string
	CAFile   string
	// TLSConfig, when set, is used as is (tests).
	TLSConfig *tls.Config
	// Timeout bounds connecting and each command (default 60 s).
	Timeout time.Duration
	// FinalReplyTimeout bounds the wait for the reply to the final dot
	// (default 10 min, as RFC 5321 recommends).
	FinalReplyTimeout time.Duration
	// LocalName is sent in EHLO (default "localhost").
	LocalName string
	// SetupBudget bounds everything before the first MAIL FROM: connect,
	// TLS, greeting, EHLO and AUTH (default DefaultSetupBudget). Nothing
	// has been sent by then, so a slow or silent server is left for the
	// next account at once; after MAIL FROM only the command timeouts
	// apply, so a message is never abandoned half sent.
	SetupBudget time.Duration
	// Auth and Renew: as imapconn.Endpoint's (with OAuth2 the password
	// is an access token).
	Auth  mailauth.Method
	Renew mailauth.Renew
	Token func(ctx context.Context) (string, error)
}

// Addr is host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// Hooks let the caller record progress durably.
type Hooks struct {
	// BeforeFinalDot runs when the whole message is written, before the
	// final dot. An error aborts the submission without the dot.
	BeforeFinalDot func() error
}

// Result is the outcome of one submission attempt.
type Result struct {
	// Accepted recipients: the server took the message for them.
	Accepted []string
	// Rejected recipients: final, no failover (5.1.x, 5.2.1).
	Rejected map[string]*Failure
	// Deferred recipients: 4xx at RCPT; deliver later.
	Deferred map[string]*Failure
	// Reply is the server's reply to the final dot.
	Reply string
	// Failure is set when the message was not accepted for anyone; nil
	// when it was accepted for Accepted (or no recipient was left).
	Failure *Failure
	// MaxSize is the server's SIZE limit from EHLO (0 unknown).
	MaxSize int64
	// Timings of the phases, for the health model.
	Connect, Total time.Duration
}

// tlsConfig is ep's explicit TLSConfig, else sync/tlsutil's verifying
// configuration for ep.Host with ep.CAFile.
func tlsConfig(ep Endpoint) (*tls.Config, error) {
	if ep.TLSConfig != nil {
		return ep.TLSConfig, nil
	}
	return tlsutil.ClientConfig(ep.Host, ep.CAFile)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// greetingTimeout bounds the wait for the first words of a server that is
// to speak first (STARTTLS and plaintext ports).
const greetingTimeout = 20 * time.Second

// DefaultSetupBudget is Endpoint.SetupBudget's default: a blackholed or
// crawling provider costs a send this long, not a minute.
const DefaultSetupBudget = 15 * time.Second

// Dial connects, says EHLO and logs in. The connection is closed when ctx
// ends. An OAuth2 token the server refuses is renewed (ep.Renew) and the
// sign-in tried once more on a new connection.
func Dial(ctx context.Context, ep Endpoint, password string) (*smtp.Client, *Failure) {
	if ep.Auth == mailauth.OAuth2 && ep.Token != nil {
		tok, err := ep.Token(ctx)
		if err != nil {
			return nil, classify(PhaseAuth, err)
		}
		password = tok
	}
	c, f := dial(ctx, ep, password)
	var re *mailauth.RefusedError
	if f == nil || ep.Auth != mailauth.OAuth2 || ep.Renew == nil || !errors.As(f.Err, &re) {
		return c, f
	}
	fresh, err := ep.Renew(ctx, password)
	if err != nil {
		return nil, classify(PhaseAuth, err)
	}
	c, f = dial(ctx, ep, fresh)
	if f != nil && errors.As(f.Err, &re) {
		re.Fresh = true
		f.Text = re.Error()
	}
	return c, f
}

func dial(ctx context.Context, ep Endpoint, password string) (*smtp.Client, *Failure) {
	timeout := ep.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if ep.Security == "plain" && !isLoopback(ep.Host) {
		return nil, &Failure{Phase: PhaseConnect, Kind: failure.TLS, Action: NextAccountAlert, Text: "plaintext SMTP refused: it would send the password unencrypted (allowed only to 127.0.0.1/::1)"}
	}
	cfg, err := tlsConfig(ep)
	if err != nil {
		return nil, &Failure{Phase: PhaseTLS, Kind: failure.TLS, Action: NextAccountAlert, Text: err.Error(), Err: err}
	}
	budget := ep.SetupBudget
	if budget <= 0 {
		budget = DefaultSetupBudget
	}
	dctx, cancel := context.WithTimeout(ctx, min(timeout, budget))
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", ep.Addr())
	if err != nil {
		if dctx.Err() != nil && ctx.Err() == nil {
			err = &overBudget{budget: budget, err: err}
		}
		return nil, classify(PhaseConnect, err)
	}
	var slow atomic.Bool
	setup := time.AfterFunc(budget, func() { slow.Store(true); raw.Close() })
	defer setup.Stop()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(phase Phase, err error) (*smtp.Client, *Failure) {
		stop()
		setup.Stop()
		raw.Close()
		switch {
		case ctx.Err() != nil:
			err = context.Canceled
		case slow.Load():
			err = &overBudget{budget: budget, err: err}
		}
		return nil, classify(phase, err)
	}
	var c *smtp.Client
	switch ep.Security {
	case "tls", "":
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			if dctx.Err() != nil {
				slow.Store(true) // no handshake within the budget: silent, not a certificate problem
			}
			return fail(PhaseTLS, err)
		}
		c = smtp.NewClient(tc)
	case "starttls":
		// go-smtp sets deadlines of its own: a timer bounds the greeting,
		// EHLO and STARTTLS.
		watchdog := time.AfterFunc(min(timeout, greetingTimeout), func() { raw.Close() })
		c, err = smtp.NewClientStartTLS(raw, cfg)
		watchdog.Stop()
		if err != nil {
			var se *smtp.SMTPError
			phase := PhaseTLS
			if errors.As(err, &se) {
				phase = PhaseGreeting
			} else if !slow.Load() && !errors.As(err, new(tls.RecordHeaderError)) && failure.SpeaksTLSFirst(ctx, ep.Addr(), min(timeout, 5*time.Second)) {
				// No greeting came: the port waits for a TLS handshake.
				stop()
				raw.Close()
				return nil, &Failure{Phase: PhaseTLS, Kind: failure.TLS, Action: NextAccountAlert, Text: failure.ErrTLSFirst(ep.Addr()).Error(), Err: err}
			}
			return fail(phase, err)
		}
	default:
		c = smtp.NewClient(raw)
	}
	c.CommandTimeout = timeout
	c.SubmissionTimeout = ep.FinalReplyTimeout
	if c.SubmissionTimeout == 0 {
		c.SubmissionTimeout = 10 * time.Minute
	}
	local := ep.LocalName
	if local == "" {
		local = "localhost"
	}
	if err := c.Hello(local); err != nil {
		if ep.Security == "plain" && !slow.Load() && !errors.As(err, new(*smtp.SMTPError)) && failure.SpeaksTLSFirst(ctx, ep.Addr(), min(timeout, 5*time.Second)) {
			stop()
			raw.Close()
			return nil, &Failure{Phase: PhaseTLS, Kind: failure.TLS, Action: NextAccountAlert, Text: failure.ErrTLSFirst(ep.Addr()).Error(), Err: err}
		}
		return fail(PhaseGreeting, err)
	}
	if ep.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fail(PhaseAuth, errors.New("the server offers no AUTH on this connection"))
		}
		if err := mailauth.SMTP(c, ep.Host, ep.Port, ep.Username, password, ep.Auth); err != nil {
			return fail(PhaseAuth, err)
		}
	}
	if !setup.Stop() {
		return fail(PhaseAuth, errors.New("the connection was closed")) // the budget ran out just now
	}
	return c, nil
}

// overBudget is a server too slow before anything was sent: the
// provider's, for now (the next account is tried at once).
type overBudget struct {
	budget time.Duration
	err    error
}

// Error says what happened in the user's words; the cause underneath (a
// connection closed at the deadline) would only confuse.
func (e *overBudget) Error() string {
	return fmt.Sprintf("no answer within the %s send budget, before anything was sent", e.budget)
}
func (e *overBudget) Unwrap() error             { return e.err }
func (e *overBudget) FailureKind() failure.Kind { return failure.Unreachable }

// Send submits msg (size bytes; CRLF line endings) from `from` to rcpts
// through ep, on a new connection.
func Send(ctx context.Context, ep Endpoint, password, from string, rcpts []string, msg io.Reader, size int64, hooks Hooks) (res Result) {
	start := time.Now()
	res = Result{Rejected: map[string]*Failure{}, Deferred: map[string]*Failure{}}
	c, f := Dial(ctx, ep, password)
	res.Connect = time.Since(start)
	if f != nil {
		res.Failure = f
		return res
	}
	defer c.Close()
	defer func() { res.Total = time.Since(start) }()
	if n, ok := c.MaxMessageSize(); ok {
		res.MaxSize = int64(n)
		if n > 0 && size > int64(n) {
			res.Failure = &Failure{Phase: PhaseMail, Kind: failure.Size, Action: NextAccountIfSize, Code: 552, Enhanced: "5.3.4",
				Text: fmt.Sprintf("the message is %d bytes; this server accepts at most %d", size, n)}
			return res
		}
	}
	if err := c.Mail(from, &smtp.MailOptions{Size: size}); err != nil {
		res.Failure = classify(PhaseMail, err)
		return res
	}
	var ok []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			rf := classify(PhaseRcpt, err)
			rf.Recipient = r
			final, deferred, _ := recipientVerdict(rf)
			switch {
			case final:
				res.Rejected[r] = rf
			case deferred:
				res.Deferred[r] = rf
			default: // the account's problem (421, 5.7.1 relay denied…): fail over
				res.Failure = rf
				return res
			}
			continue
		}
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		c.Reset()
		return res // nothing to send: every recipient rejected or deferred
	}
	w, err := c.Data()
	if err != nil {
		res.Failure = classify(PhaseData, err)
		return res
	}
	if _, err := io.Copy(w, msg); err != nil {
		res.Failure = classify(PhaseData, err)
		return res
	}
	if hooks.BeforeFinalDot != nil {
		if err := hooks.BeforeFinalDot(); err != nil {
			// Abort without the dot: the server discards the message.
			res.Failure = &Failure{Phase: PhaseData, Kind: failure.Other, Action: NextAccount, Text: err.Error(), Err: err}
			return res
		}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		if ctx.Err() != nil {
			err = context.Canceled
		}
		res.Failure = classify(PhaseDataEnd, err) // no reply at all: Ambiguous
		return res
	}
	res.Accepted = ok
	if resp != nil {
		res.Reply = "250 " + resp.StatusText
	}
	c.Quit()
	return res
}
