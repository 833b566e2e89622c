package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/failure"
)

var defaultClient = &http.Client{Timeout: 30 * time.Second}

// Token is what a sign-in yields.
type Token struct {
	AccessToken  string    `json:"a,omitempty"`
	RefreshToken string    `json:"r"`
	Expiry       time.Time `json:"e,omitzero"` // of the access token; zero: unknown
	Scope        string    `json:"s,omitempty"`
	// Dead, when set, says why the provider refused this grant: the
	// account must sign in again (no tokens are kept).
	Dead string `json:"d,omitempty"`
}

// String never shows the tokens (a value or a pointer, with any verb of
// the fmt package that uses it).
func (t Token) String() string { return "oauth.Token{…}" }

// GoString never shows the tokens.
func (t Token) GoString() string { return t.String() }

// Format never shows the tokens, whatever the verb.
func (t Token) Format(f fmt.State, verb rune) { fmt.Fprint(f, t.String()) }

// Error is a failure of the authorization server or of reaching it. Its
// text is the server's error code and description (never a token).
type Error struct {
	Provider    string
	Code        string // "invalid_grant", "slow_down", …; "" for network and HTTP errors
	Description string
	HTTPStatus  int
	Err         error // the network error, if any
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("cannot reach %s's sign-in service: %v", e.Provider, e.Err)
	case e.Code != "" && e.Description != "":
		return fmt.Sprintf("%s's sign-in service said %s: %s", e.Provider, e.Code, e.Description)
	case e.Code != "":
		return fmt.Sprintf("%s's sign-in service said %s", e.Provider, e.Code)
	}
	return fmt.Sprintf("%s's sign-in service answered HTTP %d", e.Provider, e.HTTPStatus)
}

func (e *Error) Unwrap() error { return e.Err }

// FailureKind: network errors, 5xx and throttling are the provider's,
// for now; refused grants and clients need the user.
func (e *Error) FailureKind() failure.Kind {
	switch {
	case e.Err != nil, e.HTTPStatus >= 500:
		return failure.Unreachable
	case e.HTTPStatus == http.StatusTooManyRequests, e.Code == "temporarily_unavailable":
		return failure.Throttled
	case e.Code == "invalid_grant", e.Code == "invalid_client", e.Code == "unauthorized_client", e.Code == "access_denied", e.Code == "interaction_required", e.Code == "consent_required":
		return failure.Auth
	}
	return failure.Other
}

// SignInError means the account must be signed in (again): it never was,
// or the provider no longer accepts its grant.
type SignInError struct {
	Account string
	Reason  string // why, for the user
	Advice  string // what to do: "run `lifeboat accounts login work`"
	Err     error  // the provider's answer, if any
	// First: the account never signed in here (no token stored).
	First bool
}

func (e *SignInError) Error() string {
	verb := "sign in again"
	if e.First {
		verb = "sign in"
	}
	s := fmt.Sprintf("account %q must %s: %s", e.Account, verb, e.Reason)
	if e.Advice != "" {
		s += "; " + e.Advice
	}
	return s
}

func (e *SignInError) Unwrap() error { return e.Err }

// FailureKind is Auth: the user must act (health: needs-you).
func (e *SignInError) FailureKind() failure.Kind { return failure.Auth }

// tokenReply is a token endpoint's answer, success or error (RFC 6749 §5).
type tokenReply struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	Scope        string          `json:"scope"`
	Error        string          `json:"error"`
	Description  string          `json:"error_description"`
}

// post sends form to endpoint and decodes the JSON answer into out; an
// OAuth2 error answer is an *Error.
func (p Provider) post(ctx context.Context, endpoint string, form url.Values, out any) error {
	if p.ClientSecret != "" && form.Get("client_secret") == "" {
		form.Set("client_secret", p.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return &Error{Provider: p.Name, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := p.client().Do(req)
	if err != nil {
		return &Error{Provider: p.Name, Err: scrub(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &Error{Provider: p.Name, Err: err}
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &e)
	if e.Error != "" || resp.StatusCode/100 != 2 {
		return &Error{Provider: p.Name, Code: e.Error, Description: oneLine(e.Description), HTTPStatus: resp.StatusCode}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return &Error{Provider: p.Name, HTTPStatus: resp.StatusCode, Code: "unreadable_answer", Description: "not the JSON document OAuth2 prescribes"}
		}
	}
	return nil
}

// scrub keeps a URL error's cause but not its URL's query (none of ours
// carries a token, but a custom token_url might carry a key).
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// seconds reads a number of seconds that a server may send as a JSON
// number (900, 900.0) or a string ("900").
func seconds(raw json.RawMessage) int {
	f, _ := strconv.ParseFloat(strings.Trim(string(raw), `"`), 64)
	return int(f)
}

// token turns a successful answer into a Token (old supplies the refresh
// token and scope a refresh answer may leave out).
func (r *tokenReply) token(now time.Time, old *Token) (*Token, error) {
	if r.AccessToken == "" {
		return nil, errors.New("the sign-in service sent no access token")
	}
	t := &Token{AccessToken: r.AccessToken, RefreshToken: r.RefreshToken, Scope: r.Scope}
	n := seconds(r.ExpiresIn)
	if n <= 0 {
		n = 3600 // not said (RFC 6749 only recommends it): assume the usual hour
	}
	t.Expiry = now.Add(time.Duration(n) * time.Second)
	if old != nil {
		if t.RefreshToken == "" {
			t.RefreshToken = old.RefreshToken
		}
		if t.Scope == "" {
			t.Scope = old.Scope
		}
	}
	return t, nil
}

// Exchange trades an authorization code for tokens (with the PKCE
// verifier and the redirect URI the code was issued for).
func (p Provider) Exchange(ctx context.Context, code, verifier, redirectURI string) (*Token, error) {
	var r tokenReply
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {p.ClientID},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	if err := p.post(ctx, p.TokenURL, form, &r); err != nil {
		return nil, err
	}
	return r.token(time.Now(), nil)
}

// Refresh gets a new access token with t's refresh token, asking for the
// same scopes.
func (p Provider) Refresh(ctx context.Context, t *Token) (*Token, error) {
	var r tokenReply
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.RefreshToken}, "client_id": {p.ClientID}}
	if s := p.scope(); s != "" {
		form.Set("scope", s)
	}
	if err := p.post(ctx, p.TokenURL, form, &r); err != nil {
		return nil, err
	}
	return r.token(time.Now(), t)
}

// Revoke asks the provider to revoke t's grant (RFC 7009), where it
// offers revocation; nil when it does not.
func (p Provider) Revoke(ctx context.Context, t *Token) error {
	if p.RevokeURL == "" || t == nil {
		return nil
	}
	tok := t.RefreshToken
	if tok == "" {
		tok = t.AccessToken
	}
	err := p.post(ctx, p.RevokeURL, url.Values{"token": {tok}}, nil)
	var e *Error
	if errors.As(err, &e) && e.Code == "invalid_token" {
		return nil // already revoked or expired: the goal is met
	}
	return err
}
