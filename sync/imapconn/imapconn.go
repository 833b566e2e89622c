// Package imapconn opens logged-in IMAP connections and tells, in plain
// words, why one could not be opened: wrong password, server unreachable,
// TLS problem, or the server refusing for another reason.
//
// Invariants Dial enforces:
//
//   - TLS is verified, never downgraded: implicit TLS or STARTTLS use the
//     configuration of sync/tlsutil (host name and chain checked, TLS 1.2 or
//     later, tls_ca_file as extra trust), and a failed handshake or a port
//     that wants TLS first is a KindTLS error, never a retry in plaintext.
//   - Plaintext (Security Plain) is refused unless the host is loopback.
//   - No protocol trace is attached to a connection: it would carry the
//     password.
//   - Dialling, TLS, greeting and login are bounded by Endpoint.Timeout.
//
// Cancellation: go-imap has no contexts, so the connection is dialled with
// the context and closed when the context ends (context.AfterFunc).
package imapconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// Security is how the connection is protected.
type Security string

const (
	TLS      Security = "tls"      // implicit TLS (port 993)
	StartTLS Security = "starttls" // STARTTLS on a plain port (143)
	Plain    Security = "plain"    // no encryption: loopback only
)

// Endpoint is where and how to connect.
type Endpoint struct {
	Host     string
	Port     int
	Security Security
	Username string
	// CAFile adds trust for a self-signed server (Proton Bridge, tests).
	CAFile string
	// TLSConfig, when set, is used as is (tests).
	TLSConfig *tls.Config
	// Timeout bounds dialling, TLS and greeting; default 30 s.
	Timeout time.Duration
	// Auth is how to sign in. With mailauth.OAuth2 the password given to
	// Dial is an access token (XOAUTH2 or OAUTHBEARER, whichever the
	// server offers), and Renew, when set, gives a fresh one to try once
	// after the server refused it.
	Auth  mailauth.Method
	Renew mailauth.Renew
	// Token, when set for OAuth2, gives the current access token at each
	// dial instead of the password argument: a run that lasts longer than
	// a token signs its later connections in with a fresh one.
	Token func(ctx context.Context) (string, error)
}

// secret is what a dial signs in with: ep.Token's current access token
// when there is one, else the password given.
func secret(ctx context.Context, ep Endpoint, password string) (string, error) {
	if ep.Auth == mailauth.OAuth2 && ep.Token != nil {
		return ep.Token(ctx)
	}
	return password, nil
}

// Addr is host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Kind classifies why a connection failed (sync/failure's model).
type Kind = failure.Kind

const (
	KindOther       = failure.Other
	KindAuth        = failure.Auth        // credentials refused: the user must act
	KindUnreachable = failure.Unreachable // DNS, TCP, timeouts, drops: try again later
	KindTLS         = failure.TLS         // certificate or handshake problem: never downgraded
	KindThrottled   = failure.Throttled   // the server asks us to slow down
	KindCanceled    = failure.Canceled    // the caller stopped
)

// Error is a connection or login failure with its kind and advice.
type Error struct {
	Kind   Kind
	Addr   string
	Advice string
	Err    error
}

func (e *Error) Error() string {
	s := ""
	switch e.Kind {
	case KindAuth:
		s = "login refused by " + e.Addr
	case KindUnreachable:
		s = "cannot reach " + e.Addr
	case KindTLS:
		s = "secure connection to " + e.Addr + " failed"
	case KindThrottled:
		s = e.Addr + " asks us to slow down"
	case KindCanceled:
		s = "stopped"
	default:
		s = "IMAP error from " + e.Addr
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Advice != "" {
		s += " — " + e.Advice
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed.
func (e *Error) Temporary() bool { return e.Kind.Temporary() }

// FailureKind makes an Error a failure.Kinded.
func (e *Error) FailureKind() failure.Kind { return e.Kind }

// Classify turns any error from dialling, logging in or a command into an
// *Error (nil stays nil).
func Classify(addr string, err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if errors.As(err, &ce) {
		return err
	}
	e := &Error{Addr: addr, Err: err, Kind: failure.Of(err, "")}
	var tlsRecord tls.RecordHeaderError
	var dnsErr *net.DNSError
	var x509Unknown x509.UnknownAuthorityError
	var x509Host x509.HostnameError
	var x509Invalid x509.CertificateInvalidError
	switch {
	case e.Kind == KindAuth:
		e.Advice = "check the user name and password (many providers need an app password), then run `lifeboat accounts add` again"
	case e.Kind == KindThrottled:
		e.Advice = "Lifeboat will try again later"
	case errors.As(err, &tlsRecord):
		e.Advice = "the server does not speak TLS on this port; check port and security (tls = 993, starttls = 143)"
	case errors.As(err, &x509Unknown), errors.As(err, &x509Host), errors.As(err, &x509Invalid):
		e.Advice = "the server's certificate is not trusted for this host name; check the host, or set tls_ca_file for a self-signed server (Lifeboat never falls back to an unencrypted connection)"
	case errors.As(err, &dnsErr):
		e.Advice = "check the host name and your internet connection"
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Advice = "nothing answers on that port; check host and port, or the provider may be down"
	}
	return e
}

// Dropped marks err as a dropped connection (the caller saw the client
// close), so that Classify treats it as temporary.
func Dropped(addr string, err error) error {
	return &Error{Kind: KindUnreachable, Addr: addr, Err: err}
}

// Options tune Dial.
type Options struct {
	// UnilateralDataHandler is passed to the client.
	UnilateralDataHandler *imapclient.UnilateralDataHandler
}

// Dial connects, checks the greeting and logs in. The connection is closed
// when ctx ends. Plaintext to anything but loopback is refused.
func Dial(ctx context.Context, ep Endpoint, password string, opts *Options) (*imapclient.Client, error) {
	if opts == nil {
		opts = &Options{}
	}
	ep, addr, timeout, tlsConfig, err := prepare(ep)
	if err != nil {
		return nil, err
	}
	if password, err = secret(ctx, ep, password); err != nil {
		return nil, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &net.Dialer{}
	raw, err := d.DialContext(dialCtx, "tcp", addr)
	if err != nil {
		return nil, Classify(addr, err)
	}
	// Bound TLS, greeting and login by the timeout: go-imap sets its own
	// read deadlines, so a timer closes the connection instead.
	var timedOut atomic.Bool
	watchdog := time.AfterFunc(timeout, func() { timedOut.Store(true); raw.Close() })
	defer watchdog.Stop()
	stopCtx := context.AfterFunc(ctx, func() { raw.Close() })
	stop := func() { watchdog.Stop(); stopCtx() }
	var conn net.Conn = raw
	if ep.Security == TLS {
		tc := tls.Client(raw, tlsConfig)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			stop()
			raw.Close()
			return nil, Classify(addr, ctxErr(ctx, err))
		}
		conn = tc
	}
	// No protocol trace is ever attached: it would carry the password.
	copts := &imapclient.Options{TLSConfig: tlsConfig, UnilateralDataHandler: opts.UnilateralDataHandler}
	var c *imapclient.Client
	if ep.Security == StartTLS {
		c, err = imapclient.NewStartTLS(conn, copts)
		if err != nil {
			stop()
			conn.Close()
			if ctx.Err() == nil && !errors.As(err, new(*imap.Error)) && failure.SpeaksTLSFirst(ctx, addr, min(timeout, 5*time.Second)) {
				return nil, &Error{Kind: KindTLS, Addr: addr, Err: failure.ErrTLSFirst(addr)}
			}
			return nil, Classify(addr, ctxErr(ctx, err))
		}
	} else {
		c = imapclient.New(conn, copts)
	}
	fail := func(err error) (*imapclient.Client, error) {
		stop()
		c.Close()
		if timedOut.Load() && ctx.Err() == nil {
			return nil, &Error{Kind: KindUnreachable, Addr: addr, Err: fmt.Errorf("no answer within %s: %w", timeout, err)}
		}
		return nil, Classify(addr, ctxErr(ctx, err))
	}
	if err := c.WaitGreeting(); err != nil {
		if ep.Security != TLS && ctx.Err() == nil && failure.SpeaksTLSFirst(ctx, addr, min(timeout, 5*time.Second)) {
			stop()
			c.Close()
			return nil, &Error{Kind: KindTLS, Addr: addr, Err: failure.ErrTLSFirst(addr)}
		}
		return fail(err)
	}
	if err := mailauth.IMAP(ctx, c, ep.Host, ep.Port, ep.Username, password, ep.Auth, ep.Renew); err != nil {
		return fail(signInError(ep, addr, err))
	}
	// Make sure CAPABILITY is known after login (some servers change it).
	if _, err := c.Capability().Wait(); err != nil {
		return fail(err)
	}
	watchdog.Stop()
	return c, nil
}

// signInError adds advice to a refused sign-in: many servers say a plain
// NO (or AUTHENTICATIONFAILED) for a bad password or token.
func signInError(ep Endpoint, addr string, err error) error {
	var ie *imap.Error
	var re *mailauth.RefusedError
	switch {
	case errors.Is(err, mailauth.ErrNoMechanism):
		return &Error{Kind: KindAuth, Addr: addr, Err: err, Advice: "this server does not take OAuth2 sign-in: set auth = \"password\" in [account.imap]"}
	case errors.As(err, &re) && re.Fresh:
		return &Error{Kind: KindAuth, Addr: addr, Err: err,
			Advice: "check that IMAP is enabled for this mailbox (a Microsoft 365 administrator can turn it off, and Outlook.com may say the account has no licence), then sign in again with `lifeboat accounts login`"}
	case errors.As(err, &re):
		return &Error{Kind: KindAuth, Addr: addr, Err: err, Advice: "sign in again with `lifeboat accounts login`"}
	case ep.Auth == mailauth.OAuth2 || !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || (ie.Code != "" && ie.Code != imap.ResponseCodeAuthenticationFailed):
		return err
	}
	return &Error{Kind: KindAuth, Addr: addr, Err: err,
		Advice: "check the user name and password (many providers need an app password), then run `lifeboat accounts add` again"}
}

// prepare applies an endpoint's defaults (TLS, a 30 s timeout) and the
// rules every connection follows: plaintext only to loopback, a usable CA
// file. Dial and DialAppender both start here.
func prepare(ep Endpoint) (Endpoint, string, time.Duration, *tls.Config, error) {
	addr := ep.Addr()
	if ep.Security == "" {
		ep.Security = TLS
	}
	if ep.Security == Plain && !IsLoopback(ep.Host) {
		return ep, addr, 0, nil, &Error{Kind: KindTLS, Addr: addr, Err: errors.New("plaintext IMAP refused"),
			Advice: "plain sends your password unencrypted; it is allowed only to 127.0.0.1/::1; use tls or starttls"}
	}
	timeout := ep.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	tlsConfig := ep.TLSConfig
	if tlsConfig == nil {
		var err error
		if tlsConfig, err = tlsutil.ClientConfig(ep.Host, ep.CAFile); err != nil {
			return ep, addr, 0, nil, &Error{Kind: KindTLS, Addr: addr, Err: err,
				Advice: "tls_ca_file must name a readable PEM file with the server's certificate or its CA"}
		}
	}
	return ep, addr, timeout, tlsConfig, nil
}

// HasAttr reports whether a LIST reply's attributes include want (IMAP
// attributes are case-insensitive).
func HasAttr(attrs []imap.MailboxAttr, want imap.MailboxAttr) bool {
	for _, a := range attrs {
		if strings.EqualFold(string(a), string(want)) {
			return true
		}
	}
	return false
}

// Closed reports whether a client's connection has ended.
func Closed(c *imapclient.Client) bool {
	select {
	case <-c.Closed():
		return true
	default:
		return false
	}
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Canceled
	}
	return err
}
