package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/failure"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/oauthserver"
)

var scopes = []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"}

func start(t *testing.T) (*oauthserver.Server, Provider) {
	t.Helper()
	s := oauthserver.Start("lifeboat-test", scopes...)
	t.Cleanup(s.Close)
	return s, Provider{Name: "Test", ClientID: "lifeboat-test", AuthURL: s.AuthURL(), TokenURL: s.TokenURL(),
		DeviceURL: s.DeviceURL(), RevokeURL: s.RevokeURL(), Scopes: scopes}
}

// memStore is a Store in memory that counts its writes.
type memStore struct {
	mu     sync.Mutex
	m      map[string]Token
	saves  int
	failOn error
}

func newStore() *memStore { return &memStore{m: map[string]Token{}} }

func (m *memStore) Load(a string) (*Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.m[a]
	if !ok {
		return nil, fmt.Errorf("%s: %w", a, ErrNoToken)
	}
	return &t, nil
}
func (m *memStore) Save(a string, t *Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failOn != nil {
		return m.failOn
	}
	m.saves++
	m.m[a] = *t
	return nil
}
func (m *memStore) Delete(a string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, a)
	return nil
}

// browser plays the user's browser: it follows the authorization URL to
// the loopback redirect, as a real browser does after consent.
func browser(t *testing.T, wg *sync.WaitGroup) Browser {
	return Browser{Open: func(u string) error {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(u)
			if err != nil {
				t.Errorf("browser: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
		return nil
	}}
}

func TestBrowserFlowWithPKCE(t *testing.T) {
	s, p := start(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	var shown string
	b := browser(t, &wg)
	b.Show = func(u string) { shown = u }
	b.Hint = "jane@x.test"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := p.Login(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token: access %t refresh %t expiry %v", tok.AccessToken != "", tok.RefreshToken != "", tok.Expiry)
	}
	if !s.Valid(tok.AccessToken) {
		t.Error("the server does not know the access token")
	}
	for _, want := range []string{"code_challenge_method=S256", "state=", "redirect_uri=http%3A%2F%2F127.0.0.1%3A", "offline_access", "login_hint=jane%40x.test"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the URL shown lacks %q: %s", want, shown)
		}
	}
	type holder struct{ T Token }
	printed := fmt.Sprint(tok) + fmt.Sprintf("%+v %#v %v %+v %s", tok, tok, *tok, holder{*tok}, []*Token{tok})
	if strings.Contains(printed, tok.AccessToken) || strings.Contains(printed, tok.RefreshToken) {
		t.Error("formatting a Token shows a token")
	}
	// The server checks the PKCE verifier: a code is useless without it.
	if _, err := p.Exchange(ctx, "code-stolen", "wrong", "http://127.0.0.1:1/"); !isCode(err, "invalid_grant") {
		t.Errorf("exchange with a wrong verifier: %v", err)
	}
}

func isCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// An answer with another state is refused and the flow goes on waiting
// for the real one; a declined consent is an error that says so.
func TestBrowserFlowRefusesAWrongState(t *testing.T) {
	s, p := start(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	real := browser(t, &wg)
	b := Browser{Show: func(u string) {
		// An attacker's link to the loopback listener with its own code.
		redirect := u[strings.Index(u, "redirect_uri=")+len("redirect_uri="):]
		redirect = strings.ReplaceAll(strings.ReplaceAll(strings.SplitN(redirect, "&", 2)[0], "%3A", ":"), "%2F", "/")
		resp, err := http.Get(redirect + "?code=forged&state=forged")
		if err != nil {
			t.Errorf("forged redirect: %v", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a wrong state got HTTP %d, want 400", resp.StatusCode)
		}
	}, Open: real.Open}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.Login(ctx, b); err != nil {
		t.Fatalf("after a forged answer the real one should still sign in: %v", err)
	}
	if n := s.Requests("exchange"); n != 1 {
		t.Errorf("%d code exchanges, want 1 (the forged code must never be exchanged)", n)
	}
	s.Deny = true
	_, err := p.Login(ctx, real)
	if !isCode(err, "access_denied") || failure.Of(err, "") != failure.Auth {
		t.Errorf("declined: %v", err)
	}
	// Nobody answers: the context ends the wait.
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if _, err := p.Login(short, Browser{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no answer: %v", err)
	}
}

func TestDeviceFlowPendingSlowDownAndSuccess(t *testing.T) {
	slowDownStep = 500 * time.Millisecond
	t.Cleanup(func() { slowDownStep = 5 * time.Second })
	s, p := start(t)
	s.DeviceSlowDown, s.DeviceApproveAfter = 1, 2
	var dc DeviceCode
	tok, err := p.Device(context.Background(), func(d DeviceCode) { dc = d })
	if err != nil {
		t.Fatal(err)
	}
	if dc.Code != "ABCD-EFGH" || !strings.HasSuffix(dc.URL, "/devicelogin") || time.Until(dc.ExpiresAt) < 50*time.Second {
		t.Errorf("shown: %+v", dc)
	}
	if !s.Valid(tok.AccessToken) || tok.RefreshToken == "" {
		t.Error("the device flow gave no working token")
	}
	polls := s.Polls()
	if len(polls) != 3 {
		t.Fatalf("%d polls, want 3 (slow_down, pending, success)", len(polls))
	}
	// 1 s apart at first; after slow_down 0.5 s slower.
	if d := polls[2].Sub(polls[1]); d < 1400*time.Millisecond {
		t.Errorf("after slow_down the next poll came %v later, want ≥ 1.5 s", d)
	}
}

func TestDeviceFlowGivesUpAtExpiry(t *testing.T) {
	s, p := start(t)
	s.DeviceApproveAfter, s.DeviceExpiresIn = -1, 2
	start := time.Now()
	_, err := p.Device(context.Background(), func(DeviceCode) {})
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("err = %v, want the code expired", err)
	}
	if n := len(s.Polls()); n < 1 || n > 3 || time.Since(start) > 6*time.Second {
		t.Errorf("%d polls over %v for a 2 s code", n, time.Since(start))
	}
	p.DeviceURL = ""
	if _, err := p.Device(context.Background(), func(DeviceCode) {}); err == nil || !strings.Contains(err.Error(), "device_url") {
		t.Errorf("without a device endpoint: %v", err)
	}
}

func signedIn(t *testing.T, s *oauthserver.Server, st *memStore, account string, expiresIn time.Duration) {
	at, rt, _ := s.Issue("user1")
	st.Save(account, &Token{AccessToken: at, RefreshToken: rt, Expiry: time.Now().Add(expiresIn)})
	st.saves = 0
}

func TestRefreshBeforeExpiryWithScopesAndRotation(t *testing.T) {
	s, p := start(t)
	s.Rotate = true
	st := newStore()
	signedIn(t, s, st, "work", time.Hour)
	src := &Source{Account: "work", Provider: p, Store: st}
	first, _ := st.Load("work")
	tok, err := src.Token(context.Background())
	if err != nil || tok != first.AccessToken || s.Requests("refresh") != 0 {
		t.Fatalf("a token valid for an hour should be used as is: %v, %d refreshes", err, s.Requests("refresh"))
	}
	// Four minutes before expiry: refreshed, with the scopes (the server
	// refuses a refresh without them), and the rotated refresh token saved.
	src.Now = func() time.Time { return first.Expiry.Add(-4 * time.Minute) }
	tok, err = src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok == first.AccessToken || !s.Valid(tok) || s.Requests("refresh") != 1 {
		t.Fatalf("not refreshed before expiry (%d refreshes)", s.Requests("refresh"))
	}
	saved, _ := st.Load("work")
	if saved.RefreshToken == first.RefreshToken || saved.AccessToken != tok || st.saves != 1 {
		t.Errorf("the rotated refresh token was not saved in one write (%d saves)", st.saves)
	}
	// The old refresh token no longer works at the server: only the saved one.
	if _, err := p.Refresh(context.Background(), first); !isCode(err, "invalid_grant") {
		t.Errorf("old refresh token: %v", err)
	}
	// A refresh without scopes is refused (Microsoft's rule the server plays).
	noScope := p
	noScope.Scopes = nil
	if _, err := noScope.Refresh(context.Background(), saved); !isCode(err, "invalid_scope") {
		t.Errorf("refresh without scopes: %v", err)
	}
}

// A server refused the token (revoked early, clock skew): Renew gets a new
// one once, even though the old one has not expired.
func TestRenewAfterARefusal(t *testing.T) {
	s, p := start(t)
	st := newStore()
	signedIn(t, s, st, "work", time.Hour)
	src := &Source{Account: "work", Provider: p, Store: st}
	stale, _ := src.Token(context.Background())
	s.ExpireAccess()
	fresh, err := src.Renew(context.Background(), stale)
	if err != nil || fresh == stale || !s.Valid(fresh) {
		t.Fatalf("renew: %v (same token: %t)", err, fresh == stale)
	}
	// A second caller with the same stale token gets the fresh one
	// without another refresh.
	again, err := src.Renew(context.Background(), stale)
	if err != nil || again != fresh || s.Requests("refresh") != 1 {
		t.Errorf("second renew: %v, %d refreshes", err, s.Requests("refresh"))
	}
}

func TestInvalidGrantNeedsYouAndNoLoop(t *testing.T) {
	s, p := start(t)
	st := newStore()
	signedIn(t, s, st, "work", time.Minute) // due for a refresh
	src := &Source{Account: "work", Provider: p, Store: st, Advice: "run `lifeboat accounts login work`"}
	s.RevokeUser("user1")
	_, err := src.Token(context.Background())
	var se *SignInError
	if !errors.As(err, &se) || failure.Of(err, "") != failure.Auth {
		t.Fatalf("err = %v, want a SignInError of kind auth", err)
	}
	if !strings.Contains(err.Error(), "sign in again") || !strings.Contains(err.Error(), "lifeboat accounts login work") {
		t.Errorf("the error does not say what to do: %v", err)
	}
	// Later calls, in this process or a new one, fail at once: the
	// provider is not asked again.
	for i := 0; i < 5; i++ {
		if _, err := src.Token(context.Background()); !errors.As(err, &se) {
			t.Fatalf("call %d: %v", i, err)
		}
		other := &Source{Account: "work", Provider: p, Store: st}
		if _, err := other.Renew(context.Background(), "x"); !errors.As(err, &se) {
			t.Fatalf("new process %d: %v", i, err)
		}
	}
	if n := s.Requests("refresh"); n != 1 {
		t.Errorf("%d refresh requests, want 1", n)
	}
	tok, _ := st.Load("work")
	if tok.RefreshToken != "" || tok.AccessToken != "" {
		t.Error("the dead tokens are still stored")
	}
	// Never signed in: the same kind of error.
	if _, err := (&Source{Account: "new", Provider: p, Store: st}).Token(context.Background()); !errors.As(err, &se) {
		t.Errorf("never signed in: %v", err)
	}
}

// The sign-in service is down: a token with minutes left is still used;
// an expired one is an unreachable provider (the outage), never "sign in
// again", and the refresh token stays.
func TestProviderDownIsUnreachableNotNeedsYou(t *testing.T) {
	s, p := start(t)
	st := newStore()
	signedIn(t, s, st, "work", time.Minute)
	old, _ := st.Load("work")
	s.Close()
	src := &Source{Account: "work", Provider: p, Store: st}
	if tok, err := src.Token(context.Background()); err != nil || tok != old.AccessToken {
		t.Fatalf("a token with a minute left, provider down: %v", err)
	}
	src.Now = func() time.Time { return old.Expiry.Add(time.Second) }
	_, err := src.Token(context.Background())
	if failure.Of(err, "") != failure.Unreachable {
		t.Fatalf("err = %v (kind %q), want unreachable", err, failure.Of(err, ""))
	}
	if tok, _ := st.Load("work"); tok.RefreshToken == "" {
		t.Error("a provider outage dropped the refresh token")
	}
}

// A server that refuses even a freshly renewed token (IMAP switched off
// for the mailbox): the next connections do not make the provider issue
// a token each.
func TestRefusedFreshIsNotALoop(t *testing.T) {
	s, p := start(t)
	st := newStore()
	signedIn(t, s, st, "work", time.Hour)
	src := &Source{Account: "work", Provider: p, Store: st}
	tok, _ := src.Token(context.Background())
	fresh, err := src.Renew(context.Background(), tok) // refused: renewed once
	if err != nil || fresh == tok {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // refused again: the same token, no refresh
		if _, err := src.Renew(context.Background(), fresh); !errors.Is(err, ErrRefusedFresh) || failure.Of(err, "") != failure.Auth {
			t.Fatalf("renew of a refused fresh token: %v", err)
		}
	}
	if n := s.Requests("refresh"); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	later := time.Now().Add(RenewedRefusedFor + time.Minute)
	src.Now = func() time.Time { return later }
	if _, err := src.Renew(context.Background(), fresh); err != nil || s.Requests("refresh") != 2 {
		t.Errorf("after %v: %v, %d refreshes", RenewedRefusedFor, err, s.Requests("refresh"))
	}
}

// A keyring that refuses a write after a refresh: the new tokens work now
// and are written at the next call.
func TestSaveFailureAfterRefresh(t *testing.T) {
	s, p := start(t)
	s.Rotate = true
	st := newStore()
	signedIn(t, s, st, "work", time.Minute)
	src := &Source{Account: "work", Provider: p, Store: st}
	st.failOn = errors.New("keyring locked")
	tok, err := src.Token(context.Background())
	if err != nil || !s.Valid(tok) {
		t.Fatalf("refresh with a locked keyring: %v", err)
	}
	st.failOn = nil
	if again, err := src.Token(context.Background()); err != nil || again != tok {
		t.Fatalf("next call: %v", err)
	}
	if saved, _ := st.Load("work"); saved.AccessToken != tok {
		t.Error("the rotated tokens were not written once the keyring took them")
	}
}

func TestRevoke(t *testing.T) {
	s, p := start(t)
	at, rt, _ := s.Issue("user1")
	if err := p.Revoke(context.Background(), &Token{AccessToken: at, RefreshToken: rt}); err != nil {
		t.Fatal(err)
	}
	if s.Valid(at) || s.Requests("revoke") != 1 {
		t.Error("not revoked")
	}
	if _, err := p.Refresh(context.Background(), &Token{RefreshToken: rt}); !isCode(err, "invalid_grant") {
		t.Errorf("refresh after revoke: %v", err)
	}
	p.RevokeURL = ""
	if err := p.Revoke(context.Background(), &Token{RefreshToken: rt}); err != nil || s.Requests("revoke") != 1 {
		t.Errorf("a provider without revocation: %v", err)
	}
}

func TestMissingClientIDSaysHowToRegister(t *testing.T) {
	err := Microsoft("").Check(false)
	if MicrosoftClientID == "" && (err == nil || !strings.Contains(err.Error(), "client_id") || !strings.Contains(err.Error(), "README")) {
		t.Errorf("err = %v", err)
	}
	g := Google()
	g.ClientID = "x"
	if err := g.Check(true); err == nil || !strings.Contains(err.Error(), "without --device") {
		t.Errorf("Google device flow: %v", err)
	}
	if p := Microsoft("organizations"); !strings.Contains(p.TokenURL, "/organizations/oauth2/v2.0/token") {
		t.Errorf("tenant: %s", p.TokenURL)
	}
}

// Two processes share the keyring: one rotated the refresh token after
// the other read it. The other's refresh with the old one is refused, and
// it takes the stored one instead of declaring the account signed out.
func TestRotationByAnotherProcessIsNotASignOut(t *testing.T) {
	s, p := start(t)
	s.Rotate = true
	st := newStore()
	signedIn(t, s, st, "work", time.Minute)
	a := &Source{Account: "work", Provider: p, Store: st}
	b := &Source{Account: "work", Provider: p, Store: st}
	if _, err := b.Token(context.Background()); err != nil { // b reads the token...
		t.Fatal(err)
	}
	old, _ := st.Load("work")
	if err := a.Check(context.Background()); err != nil { // ...a rotates it
		t.Fatal(err)
	}
	b.last = &Token{RefreshToken: old.RefreshToken} // b still holds the old one, expired
	tok, err := b.Token(context.Background())
	if err != nil || !s.Valid(tok) {
		t.Fatalf("b after a's rotation: %v", err)
	}
	if cur, _ := st.Load("work"); cur.Dead != "" || cur.RefreshToken == "" {
		t.Errorf("the account was signed out: %+v", cur.Dead)
	}
}

// A sign-in made by another process (accounts login beside the desktop
// app) counts at once for a source that had seen the account signed out.
func TestSignInElsewhereCountsAtOnce(t *testing.T) {
	s, p := start(t)
	st := newStore()
	src := &Source{Account: "work", Provider: p, Store: st}
	st.Save("work", &Token{Dead: "revoked"})
	var se *SignInError
	if _, err := src.Token(context.Background()); !errors.As(err, &se) {
		t.Fatalf("dead: %v", err)
	}
	signedIn(t, s, st, "work", time.Hour)
	if tok, err := src.Token(context.Background()); err != nil || !s.Valid(tok) {
		t.Fatalf("after a sign-in elsewhere: %v", err)
	}
}

// A token endpoint that hangs, or that answers 200 with nonsense: a
// bounded wait and a clear error, never a stored token thrown away.
func TestTokenEndpointThatHangsOrLies(t *testing.T) {
	var mode atomic.Value
	mode.Store("hang")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "hang":
			io.Copy(io.Discard, r.Body) // the server notices a client gone only once the body is read
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "garbage":
			w.Write([]byte("<html>maintenance</html>"))
		case "empty":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"token_type":"Bearer"}`))
		}
	}))
	t.Cleanup(srv.Close)
	p := Provider{Name: "Test", ClientID: "c", TokenURL: srv.URL, Scopes: scopes}
	st := newStore()
	st.Save("work", &Token{AccessToken: "at-old", RefreshToken: "rt-keep", Expiry: time.Now().Add(-time.Minute)})
	src := &Source{Account: "work", Provider: p, Store: st}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := src.Token(ctx)
	if err == nil || failure.Of(err, "") != failure.Unreachable || time.Since(start) > 5*time.Second {
		t.Fatalf("hanging endpoint: %v (kind %q) after %v", err, failure.Of(err, ""), time.Since(start))
	}
	for _, m := range []string{"garbage", "empty"} {
		mode.Store(m)
		if _, err := src.Token(context.Background()); err == nil {
			t.Errorf("%s: no error", m)
		} else if strings.Contains(err.Error(), "rt-keep") {
			t.Errorf("%s: the error shows the refresh token: %v", m, err)
		}
	}
	if tok, _ := st.Load("work"); tok.RefreshToken != "rt-keep" || tok.Dead != "" {
		t.Errorf("a lying endpoint changed the stored token: %+v", tok.Dead)
	}
}
