// Package mailauth signs in to IMAP and SMTP servers with an OAuth2 bearer
// token: the SASL mechanisms XOAUTH2 (Google's and Microsoft's) and
// OAUTHBEARER (RFC 7628), and the choice between them from what a server
// advertises.
//
// A refused token makes the server send an error challenge (a JSON
// document) before its final NO or 535; these clients answer it as the
// mechanisms require, so the command ends with the server's own refusal
// (which sync/failure reads as an authentication failure) and the
// connection stays usable for one more try with a fresh token. The token
// is never part of an error.
package mailauth

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/lifeboat-mail/lifeboat/sync/failure"
)

// Mechanism names.
const (
	XOAuth2     = "XOAUTH2"
	OAuthBearer = "OAUTHBEARER"
)

// Method is how an account signs in.
type Method string

const (
	Password Method = ""       // LOGIN, AUTH PLAIN or LOGIN with a password
	OAuth2   Method = "oauth2" // a bearer token with XOAUTH2 or OAUTHBEARER
)

// ErrNoMechanism means the server advertises neither OAuth2 mechanism.
var ErrNoMechanism error = configError("the server offers no OAuth2 sign-in (neither XOAUTH2 nor OAUTHBEARER)")

// configError is a sign-in that cannot work as configured: the user must
// change the configuration (failure kind Auth, health needs-you).
type configError string

func (e configError) Error() string             { return string(e) }
func (e configError) FailureKind() failure.Kind { return failure.Auth }

// Choose picks the mechanism for a server from whether it advertises a
// mechanism (has): OAUTHBEARER, the standard, when offered, else XOAUTH2,
// else ErrNoMechanism.
func Choose(has func(mech string) bool) (string, error) {
	switch {
	case has(OAuthBearer):
		return OAuthBearer, nil
	case has(XOAuth2):
		return XOAuth2, nil
	}
	return "", ErrNoMechanism
}

// Client returns the SASL client of mechanism mech (XOAuth2 or
// OAuthBearer) for user with an access token; host and port are what
// OAUTHBEARER tells the server it connected to.
func Client(mech, user, token, host string, port int) sasl.Client {
	if mech == XOAuth2 {
		return &xoauth2{user: user, token: token}
	}
	return &oauthBearer{user: user, token: token, host: host, port: port}
}

// Refusal is what a server's error challenge said (RFC 7628 §3.2.2):
// its status ("invalid_token", "401") and the scope it wants.
type Refusal struct {
	Status string `json:"status"`
	Scope  string `json:"scope"`
}

// Refused is the refusal a client saw, if any (after a failed sign-in).
func Refused(c sasl.Client) *Refusal {
	switch c := c.(type) {
	case *xoauth2:
		return c.refused
	case *oauthBearer:
		return c.refused
	}
	return nil
}

// errSecondChallenge: the server challenged again after its error
// challenge, which neither mechanism allows; the exchange is broken.
var errSecondChallenge = errors.New("the server sent a second challenge after its refusal")

// broken reports whether the client gave up mid-exchange (the connection
// may still be inside the AUTHENTICATE command: not for another try).
func broken(c sasl.Client) bool {
	switch c := c.(type) {
	case *xoauth2:
		return c.broken
	case *oauthBearer:
		return c.broken
	}
	return false
}

func parse(challenge []byte) *Refusal {
	r := &Refusal{}
	if json.Unmarshal(challenge, r) != nil {
		r.Status = "unreadable error challenge"
	}
	return r
}

// xoauth2 is Google's XOAUTH2: "user=U^Aauth=Bearer T^A^A"; to an error
// challenge the client answers with an empty response.
type xoauth2 struct {
	user, token string
	refused     *Refusal
	broken      bool
}

func (x *xoauth2) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	if x.refused != nil {
		x.broken = true
		return nil, errSecondChallenge
	}
	x.refused = parse(challenge)
	return []byte{}, nil
}

// oauthBearer is RFC 7628's OAUTHBEARER; to an error challenge the client
// answers with a single ^A (§3.2.3).
type oauthBearer struct {
	user, token, host string
	port              int
	refused           *Refusal
	broken            bool
}

func (o *oauthBearer) Start() (string, []byte, error) {
	var b strings.Builder
	b.WriteString("n,")
	if o.user != "" {
		b.WriteString("a=" + saslName(o.user))
	}
	b.WriteString(",")
	if o.host != "" {
		b.WriteString("\x01host=" + o.host)
	}
	if o.port != 0 {
		b.WriteString("\x01port=" + strconv.Itoa(o.port))
	}
	b.WriteString("\x01auth=Bearer " + o.token + "\x01\x01")
	return OAuthBearer, []byte(b.String()), nil
}

func (o *oauthBearer) Next(challenge []byte) ([]byte, error) {
	if o.refused != nil {
		o.broken = true
		return nil, errSecondChallenge
	}
	o.refused = parse(challenge)
	return []byte{0x01}, nil
}

// saslName escapes "," and "=" in an authorization identity (RFC 5801).
func saslName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}
