// Package oauth signs a mail account in with OAuth2 (RFC 6749) and keeps
// its access token fresh: the authorization-code flow with PKCE (RFC 7636)
// through the system browser and a loopback redirect, the device flow (RFC
// 8628) for machines without a browser, refresh, revocation, and the
// providers' presets (Microsoft, Google).
//
// Invariants:
//   - Tokens go only to the Store (the OS keyring in the product) and to the
//     server they are for; no error, log line or report contains one.
//   - A refresh repeats the scopes (Microsoft refuses a refresh without
//     them) and a rotated refresh token replaces the old one in one Store
//     write.
//   - A refused grant (invalid_grant: consent revoked, password changed,
//     account deleted) ends in a *SignInError, whose failure kind is
//     Auth (needs-you), and the dead refresh token is dropped, so later
//     calls fail at once without asking the provider again: no loop of
//     failing logins. Only a new sign-in clears it.
//
// The token endpoint is spoken by hand rather than through
// golang.org/x/oauth2: that library's refresh cannot send scopes, and one
// small client here gives the exchange, the device poll and the refresh
// the same error handling (invalid_grant → sign in again, 5xx and network
// errors → the provider is unreachable).
package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Provider is an OAuth2 authorization server and this application's
// registration with it.
type Provider struct {
	// Name is shown in messages: "Microsoft", "Google", or the host.
	Name string
	// ClientID is the application's public client ID; ClientSecret is
	// the "secret" of a Google desktop client (not a secret, Google says:
	// it ships in every copy), empty for public clients.
	ClientID, ClientSecret string
	AuthURL                string // authorization endpoint (browser flow)
	TokenURL               string // token endpoint
	DeviceURL              string // device authorization endpoint (RFC 8628); "" when none
	RevokeURL              string // revocation endpoint (RFC 7009); "" when none
	Scopes                 []string
	// AuthParams are added to the authorization URL (Google:
	// access_type=offline and prompt=consent, for a refresh token).
	AuthParams url.Values
	// HTTPClient does the requests; default one with a 30 s timeout.
	HTTPClient *http.Client
}

// Build-time default client IDs (go build -ldflags "-X
// github.com/lifeboat-mail/lifeboat/sync/oauth.MicrosoftClientID=…"):
// public client IDs of this build's own registrations. Empty in a plain
// build: the configuration's client_id is then required. Never another
// application's ID.
var (
	MicrosoftClientID string
	GoogleClientID    string
	// GoogleClientSecret goes with GoogleClientID (a desktop client's).
	GoogleClientSecret string
)

// Microsoft scopes for IMAP and SMTP, and a refresh token.
var MicrosoftScopes = []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"}

// GoogleScopes gives IMAP and SMTP (Gmail has one scope for both).
var GoogleScopes = []string{"https://mail.google.com/"}

// Microsoft is the Microsoft identity platform (Outlook.com, Microsoft
// 365) for a tenant: "common" (default), "consumers", "organizations" or a
// tenant ID or domain.
func Microsoft(tenant string) Provider {
	if tenant == "" {
		tenant = "common"
	}
	base := "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0/"
	return Provider{Name: "Microsoft", ClientID: MicrosoftClientID, AuthURL: base + "authorize", TokenURL: base + "token",
		DeviceURL: base + "devicecode", Scopes: MicrosoftScopes}
}

// Google is Google's OAuth2 (Gmail, Google Workspace). Its device flow
// does not allow Gmail's scope, so it has no DeviceURL.
func Google() Provider {
	return Provider{Name: "Google", ClientID: GoogleClientID, ClientSecret: GoogleClientSecret,
		AuthURL: "https://accounts.google.com/o/oauth2/v2/auth", TokenURL: "https://oauth2.googleapis.com/token",
		RevokeURL: "https://oauth2.googleapis.com/revoke", Scopes: GoogleScopes,
		AuthParams: url.Values{"access_type": {"offline"}, "prompt": {"consent"}}}
}

// Check says what is missing for a sign-in, as advice.
func (p Provider) Check(device bool) error {
	switch {
	case p.ClientID == "":
		return fmt.Errorf("no OAuth2 client ID for %s in this build of Lifeboat: register one (README, \"Registering an OAuth2 client\") and set client_id in [account.oauth2]", p.Name)
	case p.TokenURL == "":
		return fmt.Errorf("no token_url for %s: set it in [account.oauth2]", p.Name)
	case device && p.DeviceURL == "":
		if p.Name == "Google" {
			return errors.New("the device flow of Google does not allow Gmail's scope: sign in with the browser (without --device)")
		}
		return fmt.Errorf("no device_url for %s: set it in [account.oauth2], or sign in with the browser (without --device)", p.Name)
	case !device && p.AuthURL == "":
		return fmt.Errorf("no auth_url for %s: set it in [account.oauth2], or sign in with --device", p.Name)
	}
	return nil
}

func (p Provider) scope() string { return strings.Join(p.Scopes, " ") }

func (p Provider) client() *http.Client {
	if p.HTTPClient != nil {
		return p.HTTPClient
	}
	return defaultClient
}
