package mailauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
)

// Renew returns a fresh access token after a server refused stale.
type Renew func(ctx context.Context, stale string) (string, error)

// IMAP signs c in as user with secret: LOGIN for a password; for OAuth2
// the secret is an access token, sent with the mechanism the server
// offers, and sent once more, renewed, when the server refuses it.
func IMAP(ctx context.Context, c *imapclient.Client, host string, port int, user, secret string, m Method, renew Renew) error {
	if m != OAuth2 {
		return c.Login(user, secret).Wait()
	}
	caps := c.Caps()
	return Bearer(ctx, func(mech string) bool { return caps.Has(imap.Cap("AUTH=" + mech)) }, c.Authenticate, host, port, user, secret, renew)
}

// Bearer signs in with an OAuth2 access token: the mechanism chosen from
// what the server offers (has), each attempt run by authenticate (IMAP
// AUTHENTICATE, SMTP AUTH), and, when the server refused the token and
// renew is set, once more with a renewed one on the same connection.
func Bearer(ctx context.Context, has func(mech string) bool, authenticate func(sasl.Client) error, host string, port int, user, secret string, renew Renew) error {
	mech, err := Choose(has)
	if err != nil {
		return err
	}
	try := func(token string) error {
		sc := Client(mech, user, token, host, port)
		return Outcome(sc, authenticate(sc))
	}
	err = try(secret)
	var re *RefusedError
	if err == nil || renew == nil || !errors.As(err, &re) {
		return err
	}
	fresh, rerr := renew(ctx, secret)
	if rerr != nil {
		return rerr
	}
	if err := try(fresh); err != nil {
		if errors.As(err, &re) {
			re.Fresh = true
		}
		return err
	}
	return nil
}

// RefusedError is a server's refusal of a bearer token: it sent an error
// challenge, or answered NO (IMAP) or 535 (SMTP).
type RefusedError struct {
	Mech   string
	Status string // the error challenge's status, if one came
	Fresh  bool   // the token had just been renewed
	Err    error  // the server's final answer
}

func (e *RefusedError) Error() string {
	s := "the server refused the OAuth2 token (" + e.Mech
	if e.Status != "" {
		s += ", status " + e.Status
	}
	s += ")"
	if e.Fresh {
		s += " even freshly renewed"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RefusedError) Unwrap() error { return e.Err }

// FailureKind is Auth: the sign-in, not the server, is at fault.
func (e *RefusedError) FailureKind() failure.Kind { return failure.Auth }

// Outcome turns a failed AUTHENTICATE or AUTH into a *RefusedError when
// it was the token that was refused. A server that sent an error
// challenge refused it, whatever it answered after (go-imap sends an
// empty response as "=", which Dovecot answers with BAD).
func Outcome(sc sasl.Client, err error) error {
	if err == nil {
		return nil
	}
	mech, _, _ := sc.Start()
	if broken(sc) {
		return fmt.Errorf("%s: %w (%v)", mech, errSecondChallenge, err)
	}
	if r := Refused(sc); r != nil {
		return &RefusedError{Mech: mech, Status: r.Status, Err: err}
	}
	var ie *imap.Error
	var se *smtp.SMTPError
	if (errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo && (ie.Code == "" || ie.Code == imap.ResponseCodeAuthenticationFailed)) ||
		(errors.As(err, &se) && se.Code == 535) {
		return &RefusedError{Mech: mech, Err: err}
	}
	return err
}

// ErrNoPasswordMechanism means an SMTP server offers neither PLAIN nor
// LOGIN.
var ErrNoPasswordMechanism error = configError("the server offers neither AUTH PLAIN nor LOGIN (OAuth2 only? set auth = \"oauth2\")")

// SMTP signs c in as user with secret: AUTH PLAIN (else LOGIN) with a
// password, or an OAuth2 access token with the mechanism the server
// offers. It does not try again on the same connection: go-smtp answers
// a refusal with "*", which Postfix takes for a stray command and hangs
// up on; the caller dials again with a renewed token
// (sync/smtpsend.Dial).
func SMTP(c *smtp.Client, host string, port int, user, secret string, m Method) error {
	if m != OAuth2 {
		var client sasl.Client
		switch {
		case c.SupportsAuth(sasl.Plain):
			client = sasl.NewPlainClient("", user, secret)
		case c.SupportsAuth(sasl.Login):
			client = sasl.NewLoginClient(user, secret)
		default:
			return ErrNoPasswordMechanism
		}
		return c.Auth(client)
	}
	return Bearer(context.Background(), c.SupportsAuth, c.Auth, host, port, user, secret, nil)
}
