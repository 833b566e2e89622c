package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Browser is how the browser flow reaches the user.
type Browser struct {
	// Open opens url in the system browser; an error (no browser) is not
	// fatal: the URL is also given to Show.
	Open func(url string) error
	// Show hands the URL to the user to paste (printed, or a field to copy
	// in the desktop app). Called once, before waiting.
	Show func(url string)
	// Hint, when set, is the account to sign in (login_hint): the
	// provider's page offers it rather than whoever the browser is
	// signed in as.
	Hint string
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Login runs the authorization-code flow with PKCE (S256): a listener on
// 127.0.0.1 (a random port) receives the browser's redirect, its state is
// checked, and the code is exchanged for tokens. It waits until ctx ends.
func (p Provider) Login(ctx context.Context, b Browser) (*Token, error) {
	if err := p.Check(false); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cannot listen on 127.0.0.1 for the browser's answer: %w", err)
	}
	redirect := "http://" + ln.Addr().String() + "/"
	verifier := random(48)
	sum := sha256.Sum256([]byte(verifier))
	state := random(24)
	q := url.Values{"response_type": {"code"}, "client_id": {p.ClientID}, "redirect_uri": {redirect},
		"scope": {p.scope()}, "state": {state}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	for k, v := range p.AuthParams {
		q[k] = v
	}
	if b.Hint != "" {
		q.Set("login_hint", b.Hint)
	}
	authURL := p.AuthURL
	if u, err := url.Parse(authURL); err == nil && u.RawQuery != "" {
		authURL += "&" + q.Encode()
	} else {
		authURL += "?" + q.Encode()
	}

	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		if r.URL.Path != "/" || (v.Get("code") == "" && v.Get("error") == "") {
			http.NotFound(w, r) // a favicon, a stray visitor
			return
		}
		var res result
		switch {
		case subtle.ConstantTimeCompare([]byte(v.Get("state")), []byte(state)) != 1:
			// Not the answer to this sign-in (another tab, a forged link):
			// refuse it and go on waiting.
			page(w, http.StatusBadRequest, "This sign-in link is not the one Lifeboat is waiting for", "Start the sign-in again from Lifeboat.")
			return
		case v.Get("error") != "":
			res.err = &Error{Provider: p.Name, Code: v.Get("error"), Description: oneLine(v.Get("error_description"))}
			page(w, http.StatusOK, "Sign-in not completed", html.EscapeString(res.err.Error()))
		default:
			res.code = v.Get("code")
			page(w, http.StatusOK, "Signed in", "Lifeboat has your sign-in. You can close this tab.")
		}
		select {
		case got <- res:
		default:
		}
	})}
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-served
	}()

	if b.Show != nil {
		b.Show(authURL)
	}
	if b.Open != nil {
		_ = b.Open(authURL)
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the browser: %w", ctx.Err())
	case res := <-got:
		if res.err != nil {
			return nil, res.err
		}
		return p.Exchange(ctx, res.code, verifier, redirect)
	}
}

func page(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>Lifeboat: %s</title><body style=\"font-family:sans-serif;margin:3em\"><h1>%s</h1><p>%s</p>", title, title, body)
}

// DeviceCode is what the user needs to finish a device sign-in elsewhere.
type DeviceCode struct {
	URL       string    // where to go: verification_uri
	Code      string    // what to type there: user_code
	ExpiresAt time.Time // when the code stops working
}

type deviceReply struct {
	DeviceCode      string          `json:"device_code"`
	UserCode        string          `json:"user_code"`
	VerificationURI string          `json:"verification_uri"`
	VerificationURL string          `json:"verification_url"` // Google's name
	ExpiresIn       json.RawMessage `json:"expires_in"`
	Interval        json.RawMessage `json:"interval"`
}

// Device runs the device flow (RFC 8628): show gets the URL and code, then
// the token endpoint is polled at the server's interval (5 s when it
// names none), 5 s slower after each slow_down, until the user finishes,
// refuses, or the code expires.
func (p Provider) Device(ctx context.Context, show func(DeviceCode)) (*Token, error) {
	if err := p.Check(true); err != nil {
		return nil, err
	}
	var d deviceReply
	form := url.Values{"client_id": {p.ClientID}, "scope": {p.scope()}}
	if err := p.post(ctx, p.DeviceURL, form, &d); err != nil {
		return nil, err
	}
	if d.VerificationURI == "" {
		d.VerificationURI = d.VerificationURL
	}
	if d.DeviceCode == "" || d.UserCode == "" || d.VerificationURI == "" {
		return nil, &Error{Provider: p.Name, Code: "unreadable_answer", Description: "the device authorization answer lacks its code or URL"}
	}
	expires := seconds(d.ExpiresIn)
	if expires <= 0 {
		expires = 900
	}
	interval := time.Duration(seconds(d.Interval)) * time.Second
	if interval <= 0 {
		interval = 5 * time.Second
	}
	deadline := time.Now().Add(time.Duration(expires) * time.Second)
	show(DeviceCode{URL: d.VerificationURI, Code: d.UserCode, ExpiresAt: deadline})
	poll := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.DeviceCode}, "client_id": {p.ClientID}}
	for {
		wait := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, ctx.Err()
		case <-wait.C:
		}
		if !time.Now().Before(deadline) {
			return nil, errors.New("the sign-in code expired before it was used: run the sign-in again")
		}
		var r tokenReply
		err := p.post(ctx, p.TokenURL, poll, &r)
		var e *Error
		switch {
		case err == nil:
			return r.token(time.Now(), nil)
		case errors.As(err, &e) && e.Code == "authorization_pending":
		case errors.As(err, &e) && e.Code == "slow_down":
			interval += slowDownStep
		case errors.As(err, &e) && e.Code == "expired_token":
			return nil, errors.New("the sign-in code expired before it was used: run the sign-in again")
		case errors.As(err, &e) && e.Code == "access_denied":
			return nil, fmt.Errorf("the sign-in was declined: %w", err)
		default:
			return nil, err
		}
	}
}

// slowDownStep is how much slower polling gets after a slow_down (RFC
// 8628 §3.5: 5 s; shorter in tests).
var slowDownStep = 5 * time.Second
