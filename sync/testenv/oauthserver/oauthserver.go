// Package oauthserver is a small OAuth2 authorization server on 127.0.0.1
// for tests: the authorization-code flow with PKCE, the device flow (RFC
// 8628), refresh with rotation, revocation, and token introspection (RFC
// 7662) in the shape Dovecot's oauth2 passdb reads, so a real Dovecot
// accepts the access tokens it issues.
//
// It is strict where real providers are: the PKCE verifier, the redirect
// URI and the client ID are checked, a refresh must repeat the scopes
// (as Microsoft requires), a rotated refresh token stops working, and a
// revoked grant answers invalid_grant.
package oauthserver

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Server is a running authorization server.
type Server struct {
	URL      string // http://127.0.0.1:PORT
	ClientID string
	Scopes   []string
	// User is who "signs in" at the authorization and device endpoints.
	User string

	srv *httptest.Server
	mu  sync.Mutex
	// AccessTTL is the lifetime of access tokens (default 1 h).
	AccessTTL time.Duration
	// Rotate makes every refresh issue a new refresh token (Microsoft does).
	Rotate bool
	// Deny makes the authorization endpoint answer access_denied.
	Deny bool
	// DeviceInterval is the polling interval the device endpoint names (s).
	DeviceInterval int
	// DeviceExpiresIn is the device code's lifetime (s).
	DeviceExpiresIn int
	// DeviceApproveAfter is how many polls answer authorization_pending
	// before the user "approves"; DeviceSlowDown how many of them say
	// slow_down instead; -1 never approves.
	DeviceApproveAfter, DeviceSlowDown int

	codes    map[string]codeGrant
	refresh  map[string]string // refresh token → user
	access   map[string]access
	devices  map[string]*device
	revoked  map[string]bool // users whose grants are revoked
	requests map[string]int  // by kind: "exchange", "refresh", "device-poll", "introspect", "revoke"
	polls    []time.Time
	issued   []string // every access and refresh token ever issued
}

type codeGrant struct{ user, challenge, redirect, scope string }
type access struct {
	user    string
	expires time.Time
}
type device struct {
	user  string
	polls int
}

// Start starts a server for clientID with scopes; stop it with Close.
func Start(clientID string, scopes ...string) *Server {
	s := &Server{ClientID: clientID, Scopes: scopes, User: "user1", AccessTTL: time.Hour, DeviceInterval: 1, DeviceExpiresIn: 60,
		codes: map[string]codeGrant{}, refresh: map[string]string{}, access: map[string]access{}, devices: map[string]*device{},
		revoked: map[string]bool{}, requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", s.authorize)
	mux.HandleFunc("/token", s.token)
	mux.HandleFunc("/device", s.device)
	mux.HandleFunc("/revoke", s.revoke)
	mux.HandleFunc("/introspect", s.introspect)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

func (s *Server) AuthURL() string       { return s.URL + "/authorize" }
func (s *Server) TokenURL() string      { return s.URL + "/token" }
func (s *Server) DeviceURL() string     { return s.URL + "/device" }
func (s *Server) RevokeURL() string     { return s.URL + "/revoke" }
func (s *Server) IntrospectURL() string { return s.URL + "/introspect" }

// Requests counts the requests of a kind: "exchange", "refresh",
// "device-poll", "introspect", "revoke", "authorize".
func (s *Server) Requests(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[kind]
}

// Polls are the times of the device-flow polls.
func (s *Server) Polls() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.polls...)
}

// RevokeUser revokes every grant of user: refreshes answer invalid_grant
// and its access tokens stop being valid.
func (s *Server) RevokeUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[user] = true
	for tok, a := range s.access {
		if a.user == user {
			delete(s.access, tok)
		}
	}
}

// ExpireAccess makes every access token issued so far invalid (as if an
// hour had passed), without telling the clients.
func (s *Server) ExpireAccess() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access = map[string]access{}
}

// Issue makes tokens for user as a sign-in would, for tests that start
// signed in: access token, refresh token, seconds to expiry.
func (s *Server) Issue(user string) (accessToken, refreshToken string, expiresIn int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, rt := s.newAccess(user), "rt-"+random()
	s.refresh[rt] = user
	s.issued = append(s.issued, rt)
	return at, rt, int(s.AccessTTL / time.Second)
}

// Valid reports whether an access token is currently accepted.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.access[token]
	return ok && time.Now().Before(a.expires)
}

func random() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Issued is every access and refresh token the server ever issued, for a
// test to look for them where they must never be.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

func (s *Server) newAccess(user string) string {
	t := "at-" + random()
	s.issued = append(s.issued, t)
	s.access[t] = access{user: user, expires: time.Now().Add(s.AccessTTL)}
	return t
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *Server) issue(w http.ResponseWriter, user, scope, oldRefresh string) {
	at := s.newAccess(user)
	out := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(s.AccessTTL / time.Second), "scope": scope}
	if oldRefresh == "" || s.Rotate {
		rt := "rt-" + random()
		s.refresh[rt] = user
		s.issued = append(s.issued, rt)
		if oldRefresh != "" {
			delete(s.refresh, oldRefresh)
		}
		out["refresh_token"] = rt
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *Server) sameScopes(scope string) bool {
	return strings.Join(strings.Fields(scope), " ") == strings.Join(s.Scopes, " ")
}

// authorize is the user's browser at the sign-in page: it consents at
// once and is redirected back with a code (or access_denied).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests["authorize"]++
	redirect := q.Get("redirect_uri")
	ru, err := url.Parse(redirect)
	if err != nil || ru.Scheme != "http" || !strings.HasPrefix(ru.Host, "127.0.0.1:") {
		http.Error(w, "redirect_uri must be a loopback http URL", http.StatusBadRequest)
		return
	}
	if q.Get("client_id") != s.ClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request (client_id, PKCE S256, state, response_type=code)", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if s.Deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user declined.")
	} else {
		code := "code-" + random()
		s.codes[code] = codeGrant{user: s.User, challenge: q.Get("code_challenge"), redirect: redirect, scope: q.Get("scope")}
		back.Set("code", code)
	}
	http.Redirect(w, r, redirect+"?"+back.Encode(), http.StatusFound)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	f := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Get("client_id") != s.ClientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS700016: unknown application")
		return
	}
	switch f.Get("grant_type") {
	case "authorization_code":
		s.requests["exchange"]++
		g, ok := s.codes[f.Get("code")]
		delete(s.codes, f.Get("code"))
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown or used code")
		case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		case f.Get("redirect_uri") != g.redirect:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
		default:
			s.issue(w, g.user, g.scope, "")
		}
	case "refresh_token":
		s.requests["refresh"]++
		rt := f.Get("refresh_token")
		user, ok := s.refresh[rt]
		switch {
		case !ok || s.revoked[user]:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS70008: the refresh token has expired or was revoked")
		case !s.sameScopes(f.Get("scope")):
			oauthError(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("AADSTS70011: scope %q is not the granted one", f.Get("scope")))
		default:
			s.issue(w, user, strings.Join(s.Scopes, " "), rt)
		}
	case "urn:ietf:params:oauth:grant-type:device_code":
		s.requests["device-poll"]++
		s.polls = append(s.polls, time.Now())
		d, ok := s.devices[f.Get("device_code")]
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "expired_token", "the device code expired")
		default:
			d.polls++
			switch {
			case s.DeviceApproveAfter < 0 || d.polls <= s.DeviceApproveAfter:
				if d.polls <= s.DeviceSlowDown {
					oauthError(w, http.StatusBadRequest, "slow_down", "polling too fast")
				} else {
					oauthError(w, http.StatusBadRequest, "authorization_pending", "waiting for the user")
				}
			default:
				delete(s.devices, f.Get("device_code"))
				s.issue(w, d.user, strings.Join(s.Scopes, " "), "")
			}
		}
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", f.Get("grant_type"))
	}
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	if r.ParseForm() != nil || r.PostForm.Get("client_id") != s.ClientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown application")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	code := "dc-" + random()
	s.devices[code] = &device{user: s.User}
	expires := s.DeviceExpiresIn
	time.AfterFunc(time.Duration(expires)*time.Second, func() {
		s.mu.Lock()
		delete(s.devices, code)
		s.mu.Unlock()
	})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"device_code": code, "user_code": "ABCD-EFGH", "verification_uri": s.URL + "/devicelogin",
		"expires_in": expires, "interval": s.DeviceInterval})
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if r.ParseForm() != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests["revoke"]++
	tok := r.PostForm.Get("token")
	if user, ok := s.refresh[tok]; ok {
		delete(s.refresh, tok)
		for t, a := range s.access {
			if a.user == user {
				delete(s.access, t)
			}
		}
	}
	delete(s.access, tok)
}

// introspect answers Dovecot's oauth2 passdb (introspection_mode = post):
// {"active": true, "username": U} for a valid token.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	tok := r.PostForm.Get("token")
	if tok == "" { // some clients send it as a bearer header
		tok = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests["introspect"]++
	a, ok := s.access[tok]
	w.Header().Set("Content-Type", "application/json")
	if !ok || !time.Now().Before(a.expires) {
		json.NewEncoder(w).Encode(map[string]any{"active": false})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"active": true, "username": a.user})
}
