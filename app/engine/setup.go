package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/discover"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// Setup adds accounts: it finds settings from an address, tests them, and
// saves the account (password in the keyring, settings in the config file).
type Setup struct {
	ConfigPath string
	Secrets    secrets.Store
	Discoverer *discover.Discoverer
}

// AccountSettings is an account as the setup screen edits it.
type AccountSettings struct {
	Name, Email string
	// ArchiveDir, on the first account, sets where the archive goes
	// (default ~/Mail/Lifeboat).
	ArchiveDir string
	IMAP       discover.Server
	SMTP       *discover.Server
	// OAuth2 is the provider that signs the account in ("microsoft",
	// "google"); "" for a password. Tenant is its Microsoft tenant.
	OAuth2, Tenant string
	// ClientID is the OAuth2 client ID when this build has none built in.
	ClientID string
}

// Discover finds settings for an address (see sync/discover).
func (s *Setup) Discover(ctx context.Context, email string) (*discover.Settings, error) {
	d := s.Discoverer
	if d == nil {
		d = &discover.Discoverer{}
	}
	return d.Discover(ctx, email)
}

func toConfig(a AccountSettings) config.Account {
	acct := config.Account{Name: a.Name, Email: a.Email,
		IMAP: config.Server{Host: a.IMAP.Host, Port: a.IMAP.Port, Security: config.Security(a.IMAP.Security), Username: a.IMAP.Username}}
	if a.SMTP != nil && a.SMTP.Host != "" {
		acct.SMTP = &config.Server{Host: a.SMTP.Host, Port: a.SMTP.Port, Security: config.Security(a.SMTP.Security), Username: a.SMTP.Username}
	}
	if a.OAuth2 != "" {
		acct.IMAP.Auth = config.AuthOAuth2
		acct.OAuth2 = &config.OAuth2{Provider: a.OAuth2, Tenant: a.Tenant, ClientID: a.ClientID}
	}
	return acct
}

// Grant is a completed sign-in, not yet saved (its tokens stay in memory
// until SaveSignedIn puts them in the keyring), for the settings it was
// made with.
type Grant struct {
	tok  *oauth.Token
	made AccountSettings
}

// For reports whether the grant was made for these settings (the same
// address, user name, servers and provider).
func (g *Grant) For(a AccountSettings) bool {
	if g == nil {
		return false
	}
	b := g.made
	same := func(x, y *discover.Server) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Email == b.Email && a.IMAP == b.IMAP && same(a.SMTP, b.SMTP) && a.OAuth2 == b.OAuth2 && a.Tenant == b.Tenant && a.ClientID == b.ClientID
}

// ProviderName is who signs the account in ("Microsoft", "Google").
func ProviderName(a AccountSettings) string {
	p, err := wire.OAuthProvider(toConfig(a))
	if err != nil {
		return a.OAuth2
	}
	return p.Name
}

// HasClientID reports whether this build knows a client ID for the
// account's OAuth2 provider (built in, or given in the settings).
func HasClientID(a AccountSettings) bool {
	p, err := wire.OAuthProvider(toConfig(a))
	return err == nil && p.ClientID != ""
}

// SignIn runs the browser sign-in for a new OAuth2 account and checks the
// mail server with the token (IMAP, and SMTP's AUTH when there is one).
func (s *Setup) SignIn(ctx context.Context, a AccountSettings, b oauth.Browser) (*Grant, error) {
	acct := toConfig(a)
	if acct.SMTP != nil && acct.SMTP.Username == "" {
		acct.SMTP.Username = acct.IMAP.Username
	}
	p, err := wire.OAuthProvider(acct)
	if err != nil {
		return nil, err
	}
	b.Hint = acct.IMAP.Username
	tok, err := p.Login(ctx, b)
	if err != nil {
		return nil, err
	}
	w := wire.Wiring{Config: &config.Config{Accounts: []config.Account{acct}}, Secrets: s.Secrets}
	if _, err := w.CheckSignIn(ctx, acct, tok.AccessToken); err != nil {
		return nil, fmt.Errorf("%s signed you in, but the mail server refused it (was it %s?): %v", p.Name, acct.IMAP.Username, err)
	}
	return &Grant{tok: tok, made: a}, nil
}

// SaveSignedIn adds an OAuth2 account with the tokens of its sign-in.
func (s *Setup) SaveSignedIn(a AccountSettings, g *Grant) error {
	if !g.For(a) {
		return errors.New("the sign-in was made for other settings: sign in again")
	}
	return s.save(a, func(acct config.Account) error {
		w := wire.Wiring{Secrets: s.Secrets}
		return w.SignedIn(acct, g.tok)
	})
}

// Test logs in to IMAP and, when there is one, to SMTP (AUTH, nothing is
// sent), and says in plain words what does not work.
func (s *Setup) Test(ctx context.Context, a AccountSettings, password string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	acct := toConfig(a)
	c, err := imapconn.Dial(ctx, wire.IMAPEndpoint(acct.IMAP), password, nil)
	if err != nil {
		return fmt.Errorf("incoming mail (IMAP): %v", err)
	}
	c.Logout().Wait()
	c.Close()
	if acct.SMTP != nil {
		r := health.ProbeSMTP(ctx, wire.SMTPProbeEndpoint(*acct.SMTP), &health.Login{Username: acct.SMTP.Username, Password: password})
		if !r.OK {
			return fmt.Errorf("outgoing mail (SMTP): %s", r.Cause)
		}
	}
	return nil
}

// Save adds the account to the configuration file and its password to the
// keyring. The first account becomes the primary; later ones follow it in
// the failover order.
func (s *Setup) Save(a AccountSettings, password string) error {
	return s.save(a, func(acct config.Account) error {
		if err := s.Secrets.Set(secrets.Service, secrets.KeyFor(acct.Name), password); err != nil {
			return fmt.Errorf("the password could not be stored in the system keyring: %w", err)
		}
		return nil
	})
}

// save adds the account; keep stores its secret once it is valid.
func (s *Setup) save(a AccountSettings, keep func(config.Account) error) error {
	cfg, err := config.Load(s.ConfigPath)
	if errors.Is(err, fs.ErrNotExist) {
		dir := a.ArchiveDir
		if dir == "" {
			dir = config.DefaultArchiveDir()
		}
		cfg, err = &config.Config{Path: s.ConfigPath, ArchiveDir: dir,
			MassDeletePercent: config.DefaultMassDeletePercent, MassDeleteMin: config.DefaultMassDeleteMin}, nil
	}
	if err != nil {
		return err
	}
	if a.Name == "" {
		a.Name = nameFor(a.Email)
	}
	for _, x := range cfg.Accounts {
		if x.Name == a.Name {
			return fmt.Errorf("there is already an account called %q", a.Name)
		}
	}
	acct := toConfig(a)
	cfg.Accounts = append(cfg.Accounts, acct)
	if acct.SMTP != nil && len(cfg.Failover.Order) > 0 {
		cfg.Failover.Order = append(cfg.Failover.Order, acct.Name)
	}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := keep(acct); err != nil {
		return err
	}
	return cfg.Save()
}

// nameFor makes a short account name from an address: jane@btinternet.com
// → "btinternet".
func nameFor(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return "mail"
	}
	name := strings.SplitN(email[at+1:], ".", 2)[0]
	if name == "" {
		return "mail"
	}
	return name
}
