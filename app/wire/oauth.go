package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// OAuthProvider is the authorization server an OAuth2 account signs in
// with: its provider's preset (Microsoft with the account's tenant,
// Google), with the configuration's client ID, endpoints and scopes over
// it; "custom" is the configuration alone.
func OAuthProvider(a config.Account) (oauth.Provider, error) {
	o := a.OAuth2
	if o == nil {
		return oauth.Provider{}, fmt.Errorf("account %q has no [account.oauth2] section", a.Name)
	}
	var p oauth.Provider
	switch o.Provider {
	case config.ProviderMicrosoft:
		p = oauth.Microsoft(o.Tenant)
	case config.ProviderGoogle:
		p = oauth.Google()
	default:
		p = oauth.Provider{Name: o.Provider}
		if host := hostOf(o.TokenURL); host != "" {
			p.Name = host
		}
	}
	if o.ClientID != "" {
		p.ClientID, p.ClientSecret = o.ClientID, ""
	}
	if o.ClientSecret != "" {
		p.ClientSecret = o.ClientSecret
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{{&p.AuthURL, o.AuthURL}, {&p.TokenURL, o.TokenURL}, {&p.DeviceURL, o.DeviceURL}, {&p.RevokeURL, o.RevokeURL}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if len(o.Scopes) > 0 {
		p.Scopes = o.Scopes
	}
	return p, nil
}

// LoginAdvice is what a user types to sign an account in (again).
func LoginAdvice(account string) string {
	return fmt.Sprintf("run `lifeboat accounts login %s` (add --device on a machine without a browser), or use Sign in in the Lifeboat window", account)
}

// TokenStore keeps OAuth2 tokens in a secret store (the OS keyring), one
// entry per account (config.OAuth2Key) holding the JSON of the token, so
// that a rotated refresh token replaces the old one in one write. A
// keyring too small for both tokens (Windows, macOS) keeps the refresh
// token alone; the access token is then fetched again by each process.
type TokenStore struct{ Secrets secrets.Store }

func (s TokenStore) Load(account string) (*oauth.Token, error) {
	v, err := s.Secrets.Get(secrets.Service, config.OAuth2Key(account))
	if errors.Is(err, secrets.ErrNotFound) {
		return nil, fmt.Errorf("account %q: %w", account, oauth.ErrNoToken)
	}
	if err != nil {
		return nil, err
	}
	var t oauth.Token
	if err := json.Unmarshal([]byte(v), &t); err != nil {
		return nil, fmt.Errorf("account %q: the keyring's OAuth2 entry is damaged: %w", account, oauth.ErrNoToken)
	}
	return &t, nil
}

func (s TokenStore) Save(account string, t *oauth.Token) error {
	b, _ := json.Marshal(t)
	err := s.Secrets.Set(secrets.Service, config.OAuth2Key(account), string(b))
	if errors.Is(err, secrets.ErrTooBig) && t.AccessToken != "" {
		short := *t
		short.AccessToken, short.Expiry = "", time.Time{}
		b, _ = json.Marshal(&short)
		err = s.Secrets.Set(secrets.Service, config.OAuth2Key(account), string(b))
	}
	if err != nil {
		return fmt.Errorf("cannot keep the sign-in of account %q: %w", account, err)
	}
	return nil
}

func (s TokenStore) Delete(account string) error {
	err := s.Secrets.Delete(secrets.Service, config.OAuth2Key(account))
	if errors.Is(err, secrets.ErrNotFound) {
		return nil
	}
	return err
}

// sources are the token sources of this process, one per secret store and
// account, so that two engines of one process never refresh the same
// account's token at once (with a rotating provider one of them would
// hold a spent refresh token).
var sources struct {
	sync.Mutex
	m map[sourceKey]*oauth.Source
}

type sourceKey struct {
	store   secrets.Store
	account string
	token   string // token endpoint and client: a changed configuration is another source
}

// Tokens is the account's token source.
func (w Wiring) Tokens(a config.Account) (*oauth.Source, error) {
	p, err := OAuthProvider(a)
	if err != nil {
		return nil, err
	}
	if w.Secrets == nil || !reflect.TypeOf(w.Secrets).Comparable() {
		// Not usable as a map key: a source of its own (tests' stores).
		return &oauth.Source{Account: a.Name, Provider: p, Store: TokenStore{w.Secrets}, Advice: LoginAdvice(a.Name)}, nil
	}
	k := sourceKey{store: w.Secrets, account: a.Name, token: p.TokenURL + " " + p.ClientID}
	sources.Lock()
	defer sources.Unlock()
	if sources.m == nil {
		sources.m = map[sourceKey]*oauth.Source{}
	}
	if s, ok := sources.m[k]; ok {
		return s, nil
	}
	s := &oauth.Source{Account: a.Name, Provider: p, Store: TokenStore{w.Secrets}, Advice: LoginAdvice(a.Name)}
	sources.m[k] = s
	return s, nil
}

// tokenTimeout bounds one token request made for an engine.
const tokenTimeout = 60 * time.Second

// accessToken is the account's current access token.
func (w Wiring) accessToken(a config.Account) (string, error) {
	src, err := w.Tokens(a)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
	defer cancel()
	return src.Token(ctx)
}

// token is the endpoints' Token for an OAuth2 account.
func (w Wiring) token(a config.Account) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		src, err := w.Tokens(a)
		if err != nil {
			return "", err
		}
		return src.Token(ctx)
	}
}

// renew is the endpoints' Renew for an OAuth2 account.
func (w Wiring) renew(a config.Account) func(ctx context.Context, stale string) (string, error) {
	return func(ctx context.Context, stale string) (string, error) {
		src, err := w.Tokens(a)
		if err != nil {
			return "", err
		}
		return src.Renew(ctx, stale)
	}
}

func hostOf(u string) string {
	if pu, err := url.Parse(u); err == nil {
		return pu.Hostname()
	}
	return ""
}

// SignedIn keeps the tokens of a new sign-in of account a, replacing
// whatever was there (a sign-in the provider had refused included).
func (w Wiring) SignedIn(a config.Account, t *oauth.Token) error {
	if err := (TokenStore{w.Secrets}).Save(a.Name, t); err != nil {
		return err
	}
	if src, err := w.Tokens(a); err == nil {
		src.Forget()
	}
	return nil
}

// SignOut deletes the account's tokens and, where the provider offers
// revocation (Google), revokes them first. A failed revocation is
// returned after the tokens are deleted.
func (w Wiring) SignOut(ctx context.Context, a config.Account) error {
	st := TokenStore{w.Secrets}
	t, err := st.Load(a.Name)
	if errors.Is(err, oauth.ErrNoToken) {
		return nil
	}
	if err != nil {
		return err
	}
	var rerr error
	if p, perr := OAuthProvider(a); perr == nil && t.Dead == "" {
		rerr = p.Revoke(ctx, t)
	}
	if err := st.Delete(a.Name); err != nil {
		return err
	}
	if src, err := w.Tokens(a); err == nil {
		src.Forget()
	}
	if rerr != nil {
		return fmt.Errorf("the tokens are deleted here, but %s did not confirm their revocation: %w", a.Name, rerr)
	}
	return nil
}

// CheckSignIn signs in to the account's mail servers with the access token
// of a new sign-in, before it is kept: IMAP when IMAP uses OAuth2, SMTP
// (AUTH only, nothing sent) when SMTP does. A token goes only to a server
// that signs in with OAuth2, never as a password. It returns the number of
// IMAP folders (-1 when IMAP was not checked).
func (w Wiring) CheckSignIn(ctx context.Context, a config.Account, token string) (folders int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	folders = -1
	if a.UsesOAuth2() {
		ep := w.IMAP(a)
		ep.Renew, ep.Token = nil, nil // this token, not the keyring's
		if folders, err = CountFolders(ctx, ep, token); err != nil {
			return -1, fmt.Errorf("incoming mail (IMAP): %w", err)
		}
	}
	if a.SMTPUsesOAuth2() {
		r := health.ProbeSMTP(ctx, w.SMTPProbe(a), &health.Login{Username: a.SMTP.Username, Password: token})
		if !r.OK {
			return folders, fmt.Errorf("outgoing mail (SMTP): %s", r.Cause)
		}
	}
	return folders, nil
}

// SignedInObservations are what a successful CheckSignIn tells the health
// model: a real login on each protocol that signs in with OAuth2, so an
// account that needed you is usable again at once, in every process.
func SignedInObservations(a config.Account) []health.Observation {
	var out []health.Observation
	if a.UsesOAuth2() {
		out = append(out, health.Observation{Account: a.Name, Protocol: health.IMAP, OK: true, LoggedIn: true, Phase: health.PhaseLogin})
	}
	if a.SMTPUsesOAuth2() {
		out = append(out, health.Observation{Account: a.Name, Protocol: health.SMTP, OK: true, LoggedIn: true, Phase: health.PhaseLogin})
	}
	return out
}

// CountFolders logs in to ep with secret and counts the folders that can
// hold mail (the check of a new account or sign-in), within a minute.
func CountFolders(ctx context.Context, ep imapconn.Endpoint, secret string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := imapconn.Dial(ctx, ep, secret, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return 0, imapconn.Classify(ep.Addr(), err)
	}
	c.Logout().Wait()
	n := 0
	for _, l := range list {
		if !imapconn.HasAttr(l.Attrs, imap.MailboxAttrNoSelect) {
			n++
		}
	}
	return n, nil
}
