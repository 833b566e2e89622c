package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/discover"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/smtpsink"
)

func TestSetupTestAndSave(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true, Email: "jane@bt.test", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	smtp := smtpsink.Start(t, smtpsink.Options{Security: "plain", Users: map[string]string{"jane@bt.test": "s3cret"}})
	ep := p.Endpoint()
	a := AccountSettings{Email: "jane@bt.test",
		IMAP: discover.Server{Host: ep.Host, Port: ep.Port, Security: "plain", Username: "jane@bt.test"},
		SMTP: &discover.Server{Host: smtp.Host, Port: smtp.Port, Security: "plain", Username: "jane@bt.test"}}
	store := secrets.NewMemory()
	s := &Setup{ConfigPath: filepath.Join(t.TempDir(), "lifeboat", "config.toml"), Secrets: store}
	if err := s.Test(context.Background(), a, "wrong"); err == nil || !strings.Contains(err.Error(), "incoming mail (IMAP)") {
		t.Fatalf("wrong password: %v", err)
	}
	if err := s.Test(context.Background(), a, "s3cret"); err != nil {
		t.Fatalf("good settings: %v", err)
	}
	if err := s.Save(a, "s3cret"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(s.ConfigPath)
	if err != nil || len(cfg.Accounts) != 1 || cfg.Accounts[0].Name != "bt" || cfg.Accounts[0].SMTP == nil || cfg.Failover.Order[0] != "bt" {
		t.Fatalf("saved config: %+v %v", cfg, err)
	}
	raw, _ := os.ReadFile(s.ConfigPath)
	if strings.Contains(string(raw), "s3cret") {
		t.Fatal("the password reached the config file")
	}
	if pw, _ := store.Get(secrets.Service, secrets.KeyFor("bt")); pw != "s3cret" {
		t.Fatal("the password is not in the keyring")
	}
	if err := s.Save(a, "s3cret"); err == nil {
		t.Fatal("the same account was saved twice")
	}
}

// A sign-in is saved only with the settings it was made for; then the
// account is an OAuth2 one and its tokens are in the keyring, not the file.
func TestSaveSignedIn(t *testing.T) {
	a := AccountSettings{Email: "jane@outlook.com", OAuth2: "microsoft", Tenant: "consumers", ClientID: "cid",
		IMAP: discover.Server{Host: "outlook.office365.com", Port: 993, Security: "tls", Username: "jane@outlook.com"},
		SMTP: &discover.Server{Host: "smtp-mail.outlook.com", Port: 587, Security: "starttls", Username: "jane@outlook.com"}}
	store := secrets.NewMemory()
	s := &Setup{ConfigPath: filepath.Join(t.TempDir(), "lifeboat", "config.toml"), Secrets: store}
	g := &Grant{tok: &oauth.Token{AccessToken: "at-SECRET", RefreshToken: "rt-SECRET", Expiry: time.Now().Add(time.Hour)}, made: a}
	other := a
	other.Email, other.IMAP.Username = "john@outlook.com", "john@outlook.com"
	if err := s.SaveSignedIn(other, g); err == nil || !strings.Contains(err.Error(), "sign in again") {
		t.Fatalf("a grant saved for other settings: %v", err)
	}
	if err := s.SaveSignedIn(a, g); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(s.ConfigPath)
	if err != nil || !cfg.Accounts[0].UsesOAuth2() || !cfg.Accounts[0].SMTPUsesOAuth2() || cfg.Accounts[0].OAuth2.ClientID != "cid" {
		t.Fatalf("%v %+v", err, cfg.Accounts)
	}
	raw, _ := os.ReadFile(s.ConfigPath)
	if strings.Contains(string(raw), "SECRET") {
		t.Error("a token reached the config file")
	}
	if v, err := store.Get(secrets.Service, config.OAuth2Key(cfg.Accounts[0].Name)); err != nil || !strings.Contains(v, "rt-SECRET") {
		t.Errorf("keyring: %v", err)
	}
}
