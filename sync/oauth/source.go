package oauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// ErrNoToken is what a Store's Load returns (wrapped) for an account that
// holds no token.
var ErrNoToken = errors.New("no OAuth2 token stored")

// Store keeps an account's tokens (the OS keyring in the product). Save
// replaces what was there in one write.
type Store interface {
	Load(account string) (*Token, error)
	Save(account string, t *Token) error
	Delete(account string) error
}

// Early is how long before its expiry an access token is refreshed.
const Early = 5 * time.Minute

// Source hands out an account's access token, refreshing it shortly
// before it expires and, once, after a server refused it. It is safe for
// concurrent use; one refresh runs at a time.
type Source struct {
	Account  string
	Provider Provider
	Store    Store
	// Advice ends a SignInError: how to sign in again.
	Advice string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	mu   sync.Mutex
	last *Token
}

func (s *Source) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Token returns a valid access token.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.load()
	if err != nil {
		return "", err
	}
	if t.AccessToken != "" && (t.Expiry.IsZero() || s.now().Add(Early).Before(t.Expiry)) {
		return t.AccessToken, nil
	}
	t, err = s.refresh(ctx, t)
	if err != nil {
		return "", err
	}
	return t.AccessToken, nil
}

// Renew returns a fresh access token after a server refused stale: a new
// one from the provider, unless the stored one is already another (a
// refresh by someone else since).
func (s *Source) Renew(ctx context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = nil // read the store again: another process may have refreshed
	t, err := s.load()
	if err != nil {
		return "", err
	}
	if t.AccessToken != "" && t.AccessToken != stale && s.now().Add(Early).Before(t.Expiry) {
		return t.AccessToken, nil
	}
	t, err = s.refresh(ctx, t)
	if err != nil {
		return "", err
	}
	return t.AccessToken, nil
}

// Check refreshes the token now, without mail traffic: the daily check
// that a revoked consent shows before an outage, not during one.
func (s *Source) Check(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.load()
	if err != nil {
		return err
	}
	_, err = s.refresh(ctx, t)
	return err
}

func (s *Source) load() (*Token, error) {
	if s.last != nil && s.last.Dead == "" {
		return s.last, nil
	}
	// Nothing usable remembered: read the Store (a sign-in made by another
	// process since, "lifeboat accounts login" beside the desktop app,
	// counts at once).
	t, err := s.Store.Load(s.Account)
	if errors.Is(err, ErrNoToken) {
		reason := "it has not signed in with " + s.Provider.Name + " yet"
		if !strings.HasSuffix(err.Error(), ErrNoToken.Error()) || strings.Contains(err.Error(), "damaged") {
			reason = err.Error()
		}
		return nil, &SignInError{Account: s.Account, Reason: reason, Advice: s.Advice, Err: err, First: true}
	}
	if err != nil {
		return nil, err
	}
	if t.Dead != "" {
		return nil, &SignInError{Account: s.Account, Reason: t.Dead, Advice: s.Advice}
	}
	if t.RefreshToken == "" && t.AccessToken == "" {
		return nil, &SignInError{Account: s.Account, Reason: "no token is stored", Advice: s.Advice}
	}
	s.last = t
	return t, nil
}

// refresh gets a new access token and stores it with the (possibly
// rotated) refresh token. A refused grant replaces the stored tokens with
// the reason (Token.Dead): every later call, in this process or another,
// fails at once with a SignInError, without asking the provider, until
// the user signs in again.
func (s *Source) refresh(ctx context.Context, t *Token) (*Token, error) {
	if t.RefreshToken == "" {
		return nil, &SignInError{Account: s.Account, Reason: "its access has expired and " + s.Provider.Name + " gave no refresh token", Advice: s.Advice}
	}
	nt, err := s.Provider.Refresh(ctx, t)
	var e *Error
	if errors.As(err, &e) && e.Code == "invalid_grant" {
		// Another process (the desktop app beside a command) may have
		// rotated the refresh token since it was read: use the stored one.
		if cur, lerr := s.Store.Load(s.Account); lerr == nil && cur.Dead == "" && cur.RefreshToken != "" && cur.RefreshToken != t.RefreshToken {
			if cur.AccessToken != "" && s.now().Add(Early).Before(cur.Expiry) {
				s.last = cur
				return cur, nil
			}
			t = cur
			nt, err = s.Provider.Refresh(ctx, t)
		}
	}
	if err != nil {
		if errors.As(err, &e) && (e.Code == "invalid_grant" || e.Code == "interaction_required" || e.Code == "consent_required") {
			reason := s.Provider.Name + " no longer accepts its sign-in (" + e.Code + ")"
			dead := &Token{Dead: reason}
			s.last = dead
			if serr := s.Store.Save(s.Account, dead); serr != nil {
				_ = s.Store.Delete(s.Account)
			}
			return nil, &SignInError{Account: s.Account, Reason: reason, Advice: s.Advice, Err: err}
		}
		return nil, err
	}
	if err := s.Store.Save(s.Account, nt); err != nil {
		// The provider may have rotated the refresh token: without it saved
		// the next run must sign in again; say so now.
		s.last = nt
		return nt, err
	}
	s.last = nt
	return nt, nil
}

// Forget drops what the source remembers, so the next call reads the
// Store: after a new sign-in saved fresh tokens there.
func (s *Source) Forget() {
	s.mu.Lock()
	s.last = nil
	s.mu.Unlock()
}
