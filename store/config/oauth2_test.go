package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// The exact shape.
const oauthGood = `[[account]]
name = "work"
email = "jane.doe@nhs.net"
[account.imap]
host = "outlook.office365.com"
port = 993
security = "tls"
username = "jane.doe@nhs.net"
auth = "oauth2"
[account.smtp]
host = "smtp.office365.com"
port = 587
security = "starttls"
[account.oauth2]
provider = "microsoft"
tenant = "organizations"
`

func TestOAuth2Config(t *testing.T) {
	dir := t.TempDir()
	c, err := Parse(filepath.Join(dir, "config.toml"), []byte(oauthGood))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounts[0]
	if !a.UsesOAuth2() || !a.SMTPUsesOAuth2() || a.OAuth2.Provider != "microsoft" || a.OAuth2.Tenant != "organizations" || a.SMTP.Username != "jane.doe@nhs.net" {
		t.Fatalf("%+v %+v", a, a.OAuth2)
	}
	// SMTP with its own password beside OAuth2 IMAP.
	c, err = Parse(filepath.Join(dir, "config.toml"), []byte(strings.Replace(oauthGood, "security = \"starttls\"\n", "security = \"starttls\"\nauth = \"password\"\n", 1)))
	if err != nil || !c.Accounts[0].UsesOAuth2() || c.Accounts[0].SMTPUsesOAuth2() {
		t.Fatalf("smtp auth = password: %v", err)
	}
	// A section without auth means oauth2; saved and read back the same.
	c, err = Parse(filepath.Join(dir, "config.toml"), []byte(strings.Replace(oauthGood, "auth = \"oauth2\"\n", "", 1)))
	if err != nil || !c.Accounts[0].UsesOAuth2() {
		t.Fatalf("no auth key: %v", err)
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	back, err := Load(c.Path)
	if err != nil || !back.Accounts[0].UsesOAuth2() || back.Accounts[0].OAuth2.Tenant != "organizations" {
		t.Fatalf("saved and loaded: %v", err)
	}
}

func TestOAuth2ConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           []string
	}{
		{"bad auth", `auth = "oauth2"`, `auth = "token"`, []string{"config.toml:9:", `auth = "token" is not valid`, `"password"`}},
		{"no section", "[account.oauth2]\nprovider = \"microsoft\"\ntenant = \"organizations\"\n", "", []string{"config.toml:9:", "no [account.oauth2] section"}},
		{"unknown provider", `provider = "microsoft"`, `provider = "yahoo"`, []string{"config.toml:15:", `provider = "yahoo" is not known`}},
		{"no provider", `provider = "microsoft"`, ``, []string{"has no provider"}},
		{"custom without token_url", `provider = "microsoft"
tenant = "organizations"`, `provider = "custom"`, []string{"needs token_url"}},
		{"custom without scopes", `provider = "microsoft"
tenant = "organizations"`, `provider = "custom"
token_url = "https://id.example.com/token"
auth_url = "https://id.example.com/auth"`, []string{"needs scopes"}},
		{"tenant for google", `provider = "microsoft"`, `provider = "google"`, []string{"config.toml:16:", "tenant is for provider = \"microsoft\" only"}},
		{"plain http", `tenant = "organizations"`, `token_url = "http://id.example.com/token"`, []string{"must be an https:// URL"}},
		{"localhost lookalike", `tenant = "organizations"`, `token_url = "http://localhost.evil.example/token"`, []string{"must be an https:// URL"}},
		{"user info", `tenant = "organizations"`, `token_url = "http://127.0.0.1@evil.example/token"`, []string{"must be an https:// URL"}},
		{"loopback lookalike", `tenant = "organizations"`, `token_url = "http://127.0.0.1.nip.io/token"`, []string{"must be an https:// URL"}},
		{"no host", `tenant = "organizations"`, `token_url = "https:///token"`, []string{"must be an https:// URL"}},
		{"microsoft without offline_access", `tenant = "organizations"`, `scopes = ["https://outlook.office.com/IMAP.AccessAsUser.All"]`, []string{"offline_access"}},
		{"password_command too", `auth = "oauth2"`, "auth = \"oauth2\"\npassword_command = \"pass x\"", []string{"password_command does not go with auth = \"oauth2\""}},
		{"section but password", `auth = "oauth2"`, "auth = \"password\"\n", []string{"signs in with a password", `set auth = "oauth2"`}},
		{"unknown key", `tenant = "organizations"`, `tennant = "organizations"`, []string{`unknown key "tennant" in [account.oauth2] — did you mean "tenant"?`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(oauthGood, tc.from, tc.to, 1)
			if tc.name == "section but password" {
				in = strings.Replace(in, "security = \"starttls\"\n", "security = \"starttls\"\nauth = \"password\"\n", 1)
			}
			_, err := Parse(filepath.Join(t.TempDir(), "config.toml"), []byte(in))
			if err == nil {
				t.Fatalf("no error for\n%s", in)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
