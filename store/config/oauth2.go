package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Sign-in methods (Server.Auth).
const (
	AuthPassword = "password"
	AuthOAuth2   = "oauth2"
)

// OAuth2 providers (OAuth2.Provider).
const (
	ProviderMicrosoft = "microsoft"
	ProviderGoogle    = "google"
	ProviderCustom    = "custom"
)

// OAuth2 is an account's [account.oauth2] section: which authorization
// server signs it in and with which registration. Tokens are never here:
// they live in the OS keyring.
type OAuth2 struct {
	Provider string `toml:"provider"`
	// ClientID overrides the client ID built into Lifeboat.
	ClientID string `toml:"client_id,omitempty"`
	// ClientSecret is a Google "desktop app" client's secret, which Google
	// says is not confidential (it ships in every copy of an app).
	ClientSecret string `toml:"client_secret,omitempty"`
	// Tenant (Microsoft): "common" (default), "consumers",
	// "organizations", or a tenant ID or domain.
	Tenant string `toml:"tenant,omitempty"`
	// Endpoints and scopes: required for "custom", overrides otherwise.
	AuthURL   string   `toml:"auth_url,omitempty"`
	TokenURL  string   `toml:"token_url,omitempty"`
	DeviceURL string   `toml:"device_url,omitempty"`
	RevokeURL string   `toml:"revoke_url,omitempty"`
	Scopes    []string `toml:"scopes,omitempty"`
}

// UsesOAuth2 reports whether the account signs in to IMAP with OAuth2.
func (a Account) UsesOAuth2() bool { return a.IMAP.Auth == AuthOAuth2 }

// SMTPUsesOAuth2 reports whether the account signs in to SMTP with OAuth2
// (as it does to IMAP unless [account.smtp] sets its own auth).
func (a Account) SMTPUsesOAuth2() bool {
	if a.SMTP == nil {
		return false
	}
	if a.SMTP.Auth == "" {
		return a.UsesOAuth2()
	}
	return a.SMTP.Auth == AuthOAuth2
}

// AnyOAuth2 reports whether the account signs in anywhere with OAuth2.
func (a Account) AnyOAuth2() bool { return a.UsesOAuth2() || a.SMTPUsesOAuth2() }

// authDefaults normalises the sign-in methods ("" means password, or for
// SMTP the IMAP method); an [account.oauth2] section without any auth set
// means oauth2.
func authDefaults(a *Account) {
	a.IMAP.Auth = strings.ToLower(strings.TrimSpace(a.IMAP.Auth))
	if a.IMAP.Auth == "" && a.OAuth2 != nil && (a.SMTP == nil || a.SMTP.Auth == "") {
		a.IMAP.Auth = AuthOAuth2
	}
	if a.OAuth2 != nil {
		a.OAuth2.Provider = strings.ToLower(strings.TrimSpace(a.OAuth2.Provider))
	}
	if s := a.SMTP; s != nil {
		s.Auth = strings.ToLower(strings.TrimSpace(s.Auth))
	}
}

func (c *Config) validateAuth(a Account, at func(string) int) error {
	for _, s := range []struct {
		proto string
		srv   *Server
	}{{"imap", &a.IMAP}, {"smtp", a.SMTP}} {
		if s.srv == nil {
			continue
		}
		auth := s.srv.Auth
		if auth == "" && s.proto == "smtp" {
			auth = a.IMAP.Auth
		}
		switch auth {
		case "", AuthPassword:
		case AuthOAuth2:
			if a.OAuth2 == nil {
				return errAt(c.Path, at("."+s.proto+".auth"), "account %q signs in to %s with OAuth2 but has no [account.oauth2] section; add one with provider = \"microsoft\", \"google\" or \"custom\"", a.Name, strings.ToUpper(s.proto))
			}
			if s.srv.PasswordCommand != "" {
				return errAt(c.Path, at("."+s.proto+".password_command"), "account %q: password_command does not go with auth = \"oauth2\" (OAuth2 tokens live in the keyring); remove one of them", a.Name)
			}
		default:
			return errAt(c.Path, at("."+s.proto+".auth"), "account %q: auth = %q is not valid; use \"password\" (default) or \"oauth2\"", a.Name, s.srv.Auth)
		}
	}
	o := a.OAuth2
	if o == nil {
		return nil
	}
	key := func(k string) int { return at(".oauth2." + k) }
	switch o.Provider {
	case ProviderMicrosoft, ProviderGoogle:
	case ProviderCustom:
		switch {
		case o.TokenURL == "":
			return errAt(c.Path, key("token_url"), "account %q: provider = \"custom\" needs token_url (the token endpoint) in [account.oauth2]", a.Name)
		case o.AuthURL == "" && o.DeviceURL == "":
			return errAt(c.Path, key("auth_url"), "account %q: provider = \"custom\" needs auth_url (browser sign-in) or device_url (device sign-in) in [account.oauth2]", a.Name)
		case len(o.Scopes) == 0:
			return errAt(c.Path, key("scopes"), "account %q: provider = \"custom\" needs scopes = [\"...\"] in [account.oauth2]", a.Name)
		}
	case "":
		return errAt(c.Path, key("provider"), "account %q: [account.oauth2] has no provider; add provider = \"microsoft\", \"google\" or \"custom\"", a.Name)
	default:
		return errAt(c.Path, key("provider"), "account %q: provider = %q is not known; use \"microsoft\", \"google\" or \"custom\" (with auth_url, token_url and scopes)", a.Name, o.Provider)
	}
	if o.Tenant != "" && o.Provider != ProviderMicrosoft {
		return errAt(c.Path, key("tenant"), "account %q: tenant is for provider = \"microsoft\" only; remove it", a.Name)
	}
	for _, u := range []struct{ k, v string }{{"auth_url", o.AuthURL}, {"token_url", o.TokenURL}, {"device_url", o.DeviceURL}, {"revoke_url", o.RevokeURL}} {
		if u.v == "" {
			continue
		}
		if !safeURL(u.v) {
			return errAt(c.Path, key(u.k), "account %q: %s must be an https:// URL with a host and no user name in it (http only to 127.0.0.1, ::1 or localhost)", a.Name, u.k)
		}
	}
	if o.Provider == ProviderMicrosoft && len(o.Scopes) > 0 && !slices.Contains(o.Scopes, "offline_access") {
		return errAt(c.Path, key("scopes"), "account %q: Microsoft gives a refresh token only with the scope \"offline_access\"; add it to scopes, or Lifeboat must ask you to sign in every hour", a.Name)
	}
	if !a.AnyOAuth2() {
		return errAt(c.Path, key("provider"), "account %q has an [account.oauth2] section but signs in with a password; set auth = \"oauth2\" under [account.imap], or remove the section", a.Name)
	}
	return nil
}

// safeURL reports whether u may carry tokens: https to a host, or http to
// this machine; never with user information.
func safeURL(u string) bool {
	pu, err := url.Parse(u)
	if err != nil || pu.User != nil || pu.Host == "" {
		return false
	}
	switch pu.Scheme {
	case "https":
		return true
	case "http":
		h := pu.Hostname()
		if h == "localhost" {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

// OAuth2Key is the keyring user under which an account's OAuth2 tokens
// are kept (store/secrets).
func OAuth2Key(account string) string { return fmt.Sprintf("oauth2:%s", account) }
