package oauth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/failure"
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
	// unsaved: last holds tokens the Store refused to keep (tried again).
	unsaved bool
	// renewed is the token the last Renew handed out, at renewedAt: when
	// a server refuses that one too, renewing again within
	// RenewedRefusedFor would only repeat the refusal.
	renewed   string
	renewedAt time.Time
}

// RenewedRefusedFor is how long a freshly renewed token the server also
// refused keeps Renew from asking the provider again (IMAP switched off
// for the mailbox, a licence problem): one refresh per connection
// attempt would be a loop of failing requests.
const RenewedRefusedFor = 15 * time.Minute

// ErrRefusedFresh means the mail server refused a token renewed moments
// before: signing in again will not help until the account's mail
// access is fixed (failure kind Auth: needs you).
var ErrRefusedFresh = refusedFresh("the mail server refused a freshly renewed OAuth2 token: check that IMAP/SMTP access is enabled for this mailbox (a Microsoft 365 administrator can turn it off; Outlook.com may say the account has no licence), then sign in again")

type refusedFresh string

func (e refusedFresh) Error() string             { return string(e) }
func (e refusedFresh) FailureKind() failure.Kind { return failure.Auth }

func (s *Source) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Token returns a valid access token. When a refresh fails for a reason
// other than a refused grant (the provider is down, say) and the current
// token has not expired yet, that one is returned.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.load()
	if err != nil {
		return "", err
	}
	if t.AccessToken != "" && s.now().Add(Early).Before(t.Expiry) {
		return t.AccessToken, nil
	}
	nt, err := s.refresh(ctx, t)
	if err != nil {
		var se *SignInError
		if !errors.As(err, &se) && t.AccessToken != "" && s.now().Before(t.Expiry) {
			return t.AccessToken, nil // still good for a few minutes
		}
		return "", err
	}
	return nt.AccessToken, nil
}

// Renew returns a fresh access token after a server refused stale: a new
// one from the provider, unless the stored one is already another (a
// refresh by someone else since). When stale is the token the last Renew
// gave, less than RenewedRefusedFor ago, the server refuses fresh tokens
// too: ErrRefusedFresh, without asking the provider.
func (s *Source) Renew(ctx context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stale != "" && stale == s.renewed && s.now().Sub(s.renewedAt) < RenewedRefusedFor {
		return "", ErrRefusedFresh
	}
	if !s.unsaved {
		s.last = nil // read the store again: another process may have refreshed
	}
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
	s.renewed, s.renewedAt = t.AccessToken, s.now()
	return t.AccessToken, nil
}

// Check refreshes the token now, without mail traffic: the daily check
// that a revoked consent shows before an outage, not during one. A grant
// without a refresh token cannot be checked this way: nil while its
// access token lasts.
func (s *Source) Check(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.load()
	if err != nil {
		return err
	}
	if t.RefreshToken == "" && t.AccessToken != "" && s.now().Before(t.Expiry) {
		return nil
	}
	_, err = s.refresh(ctx, t)
	return err
}

func (s *Source) load() (*Token, error) {
	if s.unsaved && s.last != nil {
		if s.Store.Save(s.Account, s.last) == nil {
			s.unsaved = false
		}
		return s.last, nil
	}
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
			s.last, s.unsaved = dead, false
			// Mark the stored grant dead only if it is still the refused
			// one: another process may have stored a good one meanwhile.
			if cur, lerr := s.Store.Load(s.Account); lerr == nil && cur.RefreshToken == t.RefreshToken {
				if serr := s.Store.Save(s.Account, dead); serr != nil {
					_ = s.Store.Delete(s.Account)
				}
			}
			return nil, &SignInError{Account: s.Account, Reason: reason, Advice: s.Advice, Err: err}
		}
		return nil, err
	}
	s.last = nt
	// The provider may have rotated the refresh token: a Store that did
	// not take it is asked again at the next call; meanwhile the tokens in
	// hand work.
	s.unsaved = s.Store.Save(s.Account, nt) != nil
	return nt, nil
}

// Forget drops what the source remembers, so the next call reads the
// Store: after a new sign-in saved fresh tokens there.
func (s *Source) Forget() {
	s.mu.Lock()
	s.last, s.unsaved, s.renewed = nil, false, ""
	s.mu.Unlock()
}
