package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
	"github.com/lifeboat-mail/lifeboat/sync/providers"
)

func (c *command) accounts(args []string) error {
	if len(args) == 0 {
		return usagef("accounts needs one of: add, login, list, test, remove")
	}
	switch args[0] {
	case "add":
		return c.accountsAdd(args[1:])
	case "login":
		return c.accountsLogin(args[1:])
	case "list":
		return c.accountsList(args[1:])
	case "test":
		return c.accountsTest(args[1:])
	case "remove", "rm":
		return c.accountsRemove(args[1:])
	}
	return usagef("unknown accounts command %q (add, login, list, test, remove)", args[0])
}

// loadOrNewConfig loads the configuration, or starts an empty one when the
// file does not exist yet.
func (c *command) loadOrNewConfig() (*config.Config, error) {
	cfg, err := c.loadConfig()
	if errors.Is(err, fs.ErrNotExist) {
		path, perr := c.configPath()
		if perr != nil {
			return nil, perr
		}
		return &config.Config{Path: path, ArchiveDir: config.DefaultArchiveDir(),
			MassDeletePercent: config.DefaultMassDeletePercent, MassDeleteMin: config.DefaultMassDeleteMin}, nil
	}
	return cfg, err
}

type prompter struct {
	c  *command
	br *bufio.Reader
}

// ask prompts for a value on a terminal; def is used for an empty answer.
func (p *prompter) ask(question, def string) (string, error) {
	if def != "" {
		fmt.Fprintf(p.c.env.Stdout, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(p.c.env.Stdout, "%s: ", question)
	}
	line, err := p.br.ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no answer for %q", question)
	}
	if v := strings.TrimSpace(line); v != "" {
		return v, nil
	}
	return def, nil
}

func (c *command) accountsAdd(args []string) error {
	fs := c.flags("accounts add")
	email := fs.String("email", "", "email address")
	host := fs.String("host", "", "IMAP server host name")
	port := fs.Int("port", 0, "IMAP port (993 for tls, 143 for starttls)")
	security := fs.String("security", "", "tls | starttls | plain (plain only to 127.0.0.1)")
	username := fs.String("username", "", "login name (default: the email address)")
	caFile := fs.String("tls-ca-file", "", "extra CA certificate for a self-signed server")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	noTest := fs.Bool("no-test", false, "save without logging in first")
	auth := fs.String("auth", "", "password | oauth2 (default: oauth2 for Outlook.com, Microsoft 365 and NHSmail, and for Gmail when a client ID is known)")
	provider := fs.String("provider", "", "OAuth2 provider when the address does not say: microsoft | google")
	clientID := fs.String("client-id", "", "OAuth2 client ID (default: the one built into this Lifeboat)")
	tenant := fs.String("tenant", "", "Microsoft tenant: common, consumers, organizations or a tenant ID")
	device := fs.Bool("device", false, "OAuth2: sign in on another device with a code")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("accounts add takes one NAME")
	}
	interactive := c.env.Terminal && !*pwStdin
	p := &prompter{c: c, br: bufio.NewReader(c.env.Stdin)}
	name := ""
	if len(pos) == 1 {
		name = pos[0]
	}
	if *email == "" && interactive {
		if *email, err = p.ask("Email address", ""); err != nil {
			return err
		}
	}
	preset, known := providers.ForEmail(*email)
	if known {
		fmt.Fprintf(c.env.Stdout, "Settings for %s filled in from Lifeboat's provider list.\n", preset.Name)
		if preset.Advice != "" {
			fmt.Fprintf(c.env.Stdout, "Note: %s\n", preset.Advice)
		}
		if *host == "" {
			*host = preset.Host
		}
		if *port == 0 {
			*port = preset.Port
		}
		if *security == "" {
			*security = preset.Security
		}
		if *username == "" {
			*username = preset.Username(*email)
		}
	}
	if name == "" {
		def := ""
		if at := strings.IndexByte(*email, '@'); at > 0 {
			def = strings.SplitN((*email)[at+1:], ".", 2)[0]
		}
		if interactive {
			if name, err = p.ask("Short name for this account (used in folder names and commands)", def); err != nil {
				return err
			}
		} else {
			name = def
		}
	}
	if interactive && *host == "" {
		if *host, err = p.ask("IMAP server", ""); err != nil {
			return err
		}
	}
	if interactive && !known {
		if *security == "" {
			if *security, err = p.ask("Security (tls, starttls)", "tls"); err != nil {
				return err
			}
		}
		if *port == 0 {
			def := "993"
			if *security == "starttls" {
				def = "143"
			}
			ps, err := p.ask("Port", def)
			if err != nil {
				return err
			}
			if *port, err = strconv.Atoi(ps); err != nil {
				return usagef("port %q is not a number", ps)
			}
		}
	}
	if *security == "" {
		*security = string(config.TLS)
	}
	if *port == 0 {
		*port = 993
		if *security != string(config.TLS) {
			*port = 143
		}
	}
	if *username == "" {
		*username = *email
	}
	if name == "" || *host == "" {
		return usagef("accounts add needs at least a NAME (or --email) and --host when not run on a terminal")
	}
	cfg, err := c.loadOrNewConfig()
	if err != nil {
		return err
	}
	for _, a := range cfg.Accounts {
		if a.Name == name {
			return usagef("an account named %q already exists; remove it first or choose another name", name)
		}
	}
	acct := config.Account{Name: name, Email: *email, IMAP: config.Server{Host: *host, Port: *port,
		Security: config.Security(*security), Username: *username, TLSCAFile: *caFile}}
	if *provider == "" && known {
		*provider = preset.OAuth2
	}
	if *auth == "" {
		*auth = config.AuthPassword
		if *provider == config.ProviderMicrosoft || (*provider == config.ProviderGoogle && (*clientID != "" || oauth.GoogleClientID != "")) {
			*auth = config.AuthOAuth2
		}
	}
	if *auth == config.AuthOAuth2 {
		if *provider == "" {
			return usagef("--auth oauth2 needs --provider microsoft or google for %s (or write a custom [account.oauth2] section in the config file)", *email)
		}
		if *tenant == "" && known && *provider == preset.OAuth2 {
			*tenant = preset.Tenant
		}
		acct.IMAP.Auth = config.AuthOAuth2
		acct.OAuth2 = &config.OAuth2{Provider: *provider, ClientID: *clientID, Tenant: *tenant}
		if known && preset.SMTPHost != "" {
			acct.SMTP = &config.Server{Host: preset.SMTPHost, Port: preset.SMTPPort, Security: config.Security(preset.SMTPSecurity)}
		}
	} else if *auth != config.AuthPassword {
		return usagef("--auth %q: use password or oauth2", *auth)
	}
	cfg.Accounts = append(cfg.Accounts, acct)
	// Validate before asking for the password.
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	acct = cfg.Accounts[len(cfg.Accounts)-1]
	if acct.UsesOAuth2() {
		if err := c.signIn(cfg, acct, *device, !*noTest); err != nil {
			return fmt.Errorf("%w\nNothing was saved in the config file", err)
		}
		if err := cfg.Save(); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "Account %q saved in %s.\nBack it up now with: lifeboat backup --account %s\n", name, cfg.Path, name)
		return nil
	}

	var password string
	switch {
	case *pwStdin:
		line, err := bufio.NewReader(c.env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("--password-stdin: nothing on standard input")
		}
		password = strings.TrimRight(line, "\r\n")
	case c.env.ReadPassword != nil && c.env.Terminal:
		if password, err = c.env.ReadPassword(fmt.Sprintf("Password for %s (not shown): ", acct.IMAP.Username)); err != nil {
			return err
		}
	default:
		return usagef("no password: run on a terminal, or pass --password-stdin")
	}
	if password == "" {
		return usagef("the password is empty")
	}
	if !*noTest {
		fmt.Fprintf(c.env.Stdout, "Logging in to %s as %s… ", acct.IMAP.Addr(), acct.IMAP.Username)
		n, err := testLogin(c.ctx, acct, password)
		if err != nil {
			fmt.Fprintln(c.env.Stdout, "failed.")
			return fmt.Errorf("%v\nNothing was saved. Fix the settings and run \"lifeboat accounts add\" again (or add --no-test)", err)
		}
		fmt.Fprintf(c.env.Stdout, "ok, %s.\n", plural(n, "folder", "folders"))
	}
	if err := c.env.Secrets.Set(secrets.Service, secrets.KeyFor(name), password); err != nil {
		return fmt.Errorf("cannot store the password in the system keyring: %w", err)
	}
	if !*noTest {
		// A new password that works: an account that needed you is usable
		// again at once, in every process.
		c.tracker(cfg).Observe(health.Observation{Account: name, Protocol: health.IMAP, OK: true, LoggedIn: true, Phase: health.PhaseLogin})
	}
	if err := cfg.Save(); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "Account %q saved in %s; its password is in the system keyring.\nBack it up now with: lifeboat backup --account %s\n", name, cfg.Path, name)
	return nil
}

// testLogin logs in with a password and counts the folders.
func testLogin(ctx context.Context, a config.Account, password string) (int, error) {
	return wire.CountFolders(ctx, wire.IMAPEndpoint(a.IMAP), password)
}

func (c *command) accountsList(args []string) error {
	if len(args) > 0 {
		return usagef("accounts list takes no arguments")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if len(cfg.Accounts) == 0 {
		fmt.Fprintln(c.env.Stdout, "No accounts. Add one with: lifeboat accounts add")
		return nil
	}
	for _, a := range cfg.Accounts {
		pw := "password in keyring"
		if a.AnyOAuth2() {
			pw = c.signInState(a)
		} else if a.IMAP.PasswordCommand != "" {
			pw = "password from password_command"
		} else if _, err := c.env.Secrets.Get(secrets.Service, secrets.KeyFor(a.Name)); errors.Is(err, secrets.ErrNotFound) {
			pw = "NO PASSWORD STORED (run: lifeboat accounts add again)"
		} else if err != nil {
			pw = "keyring unavailable"
		}
		fmt.Fprintf(c.env.Stdout, "%-12s %-32s %s (%s) as %s — %s\n", a.Name, a.Email, a.IMAP.Addr(), a.IMAP.Security, a.IMAP.Username, pw)
	}
	return nil
}

func (c *command) accountsTest(args []string) error {
	if len(args) != 1 {
		return usagef("accounts test needs one account NAME")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	a, err := cfg.Account(args[0])
	if err != nil {
		return usageError{err.Error()}
	}
	w := c.wiring(cfg)
	pw, err := w.AccountPassword(*a, false)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "Logging in to %s (%s) as %s… ", a.IMAP.Addr(), a.IMAP.Security, a.IMAP.Username)
	n, err := wire.CountFolders(c.ctx, w.IMAP(*a), pw)
	if err != nil {
		fmt.Fprintln(c.env.Stdout, "failed.")
		var ce *imapconn.Error
		if errors.As(err, &ce) {
			what := map[imapconn.Kind]string{imapconn.KindAuth: "wrong user name or password", imapconn.KindUnreachable: "server unreachable",
				imapconn.KindTLS: "TLS problem", imapconn.KindThrottled: "server is throttling", imapconn.KindCanceled: "stopped"}[ce.Kind]
			if what == "" {
				what = "server error"
			}
			return fmt.Errorf("%s: %v", what, err)
		}
		return err
	}
	fmt.Fprintf(c.env.Stdout, "ok: logged in, %s.\n", plural(n, "folder", "folders"))
	c.tracker(cfg).Observe(health.Observation{Account: a.Name, Protocol: health.IMAP, OK: true, LoggedIn: true, Phase: health.PhaseLogin})
	return nil
}

func (c *command) accountsRemove(args []string) error {
	if len(args) != 1 {
		return usagef("accounts remove needs one account NAME")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	found, err := cfg.Account(args[0])
	if err != nil {
		return usageError{err.Error()}
	}
	removed := *found
	w := c.wiring(cfg)
	var kept []config.Account
	for _, a := range cfg.Accounts {
		if a.Name != args[0] {
			kept = append(kept, a)
		}
	}
	cfg.Accounts = kept
	// Out of the sending order too, or the file would not load again.
	var order []string
	for _, n := range cfg.Failover.Order {
		if n != args[0] {
			order = append(order, n)
		}
	}
	cfg.Failover.Order = order
	if err := cfg.Save(); err != nil {
		return err
	}
	if removed.AnyOAuth2() {
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		err := w.SignOut(ctx, removed)
		cancel()
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "lifeboat: %v\n", err)
		}
	}
	if err := c.env.Secrets.Delete(secrets.Service, secrets.KeyFor(args[0])); err != nil && !errors.Is(err, secrets.ErrNotFound) {
		fmt.Fprintf(c.env.Stderr, "lifeboat: the password could not be removed from the keyring: %v\n", err)
	}
	fmt.Fprintf(c.env.Stdout, "Account %q removed. Its archive stays in %s.\n", args[0], cfg.ArchiveDir)
	return nil
}
