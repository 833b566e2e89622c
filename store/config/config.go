// Package config loads, validates and saves Lifeboat's TOML configuration.
//
// What it guarantees:
//
//   - A *Config returned by Load or Parse has every default filled in
//     (archive_dir, IMAP port and security, username, mass-delete thresholds)
//     and has passed validation.
//   - Every error is a single line that names the file, the line when it is
//     known, and what to change.
//   - No error ever contains a password. A key named "password" is refused
//     without echoing its value (passwords live in the OS keyring or come from
//     password_command), and a syntax error quotes the offending text only
//     on lines that set a known key whose value cannot be a secret.
//   - Save replaces the file atomically (temporary file, fsync, rename, fsync
//     of the directory) with mode 0600, creating a missing directory as 0700.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Security is how the IMAP connection is protected.
type Security string

const (
	TLS      Security = "tls"      // implicit TLS, usually port 993
	STARTTLS Security = "starttls" // upgrade with STARTTLS, usually port 143
	Plain    Security = "plain"    // no encryption; refused unless the host is loopback
)

// Default values filled in by Load and Parse.
const (
	DefaultMassDeletePercent = 20
	DefaultMassDeleteMin     = 50
)

// Server is where an account's mail lives.
type Server struct {
	Host            string   `toml:"host"`
	Port            int      `toml:"port,omitempty"`
	Security        Security `toml:"security,omitempty"`
	Username        string   `toml:"username,omitempty"`
	TLSCAFile       string   `toml:"tls_ca_file,omitempty"`
	PasswordCommand string   `toml:"password_command,omitempty"`
	// Auth is how to sign in: "password" (default) or "oauth2" (the
	// account's [account.oauth2]); SMTP inherits the IMAP value.
	Auth string `toml:"auth,omitempty"`
}

// Addr is host:port, suitable for net.Dial.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// Account is one mailbox to back up. Name is safe to use as a path element.
type Account struct {
	Name    string   `toml:"name"`
	Email   string   `toml:"email,omitempty"`
	IMAP    Server   `toml:"imap"`
	Include []string `toml:"include,omitempty"`
	Exclude []string `toml:"exclude,omitempty"`
	// SMTP is the account's outgoing server; nil when it cannot send.
	// Credentials are the IMAP ones unless username or password_command is set.
	SMTP *Server `toml:"smtp,omitempty"`
	// SendAs lists addresses this account may send as (verified aliases):
	// mail from them keeps its From when sent through this account.
	SendAs []string `toml:"send_as,omitempty"`
	// OAuth2 is how the account signs in when auth = "oauth2".
	OAuth2 *OAuth2 `toml:"oauth2,omitempty"`
	// Canary, when set, checks now and then that mail sent through the
	// account arrives.
	Canary *Canary `toml:"canary,omitempty"`
}

// Config is the whole configuration file.
type Config struct {
	Path              string    `toml:"-"`
	ArchiveDir        string    `toml:"archive_dir,omitempty"`
	Accounts          []Account `toml:"account"`
	MassDeletePercent float64   `toml:"mass_delete_percent"`
	MassDeleteMin     int       `toml:"mass_delete_min"`
	// BackupEvery is how often the desktop app backs up (default 30m).
	BackupEvery Duration `toml:"backup_every,omitempty"`
	// Notifications: "all" (default), "problems" (no recovery notices) or
	// "none".
	Notifications string   `toml:"notifications,omitempty"`
	Failover      Failover `toml:"failover,omitempty"`
}

// DefaultPath is $LIFEBOAT_CONFIG when set, else config.toml in the
// "lifeboat" directory of the user's configuration directory.
func DefaultPath() (string, error) {
	if p := os.Getenv("LIFEBOAT_CONFIG"); p != "" {
		return expandHome(p), nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("cannot find your configuration directory (%v); pass --config FILE or set LIFEBOAT_CONFIG", err)
	}
	return filepath.Join(dir, "lifeboat", "config.toml"), nil
}

// DataDir is where Lifeboat keeps its own data (outbox, incident history,
// the demo): $XDG_DATA_HOME/lifeboat, else ~/.local/share/lifeboat.
func DataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "lifeboat")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "lifeboat")
}

// DefaultArchiveDir is ~/Mail/Lifeboat.
func DefaultArchiveDir() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "Mail", "Lifeboat")
}

// Load reads and parses the file at path. A missing file gives an error
// wrapping fs.ErrNotExist.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return Parse(path, data)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w; create it with \"lifeboat accounts add\", or point --config or LIFEBOAT_CONFIG at your config file", path, fs.ErrNotExist)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("%s: cannot read the config file: %w; make it readable by you (chmod 600 %s)", path, fs.ErrPermission, path)
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: cannot read the config file: %v; point --config at a regular, readable file", path, err)
	}
}

// Parse parses data as the contents of the file at path (used in messages and
// to resolve relative paths), fills in defaults and validates the result.
func Parse(path string, data []byte) (*Config, error) {
	c := &Config{Path: path}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, decodeError(path, data, err)
	}
	ix := indexLines(data)
	if err := checkKeys(path, md, ix); err != nil {
		return nil, err
	}
	// port = 0 written explicitly must not silently become the default.
	type port struct {
		Port *int `toml:"port"`
	}
	var ports struct {
		Account []struct {
			IMAP port `toml:"imap"`
			SMTP port `toml:"smtp"`
		} `toml:"account"`
	}
	if _, err := toml.Decode(string(data), &ports); err == nil {
		for i, a := range ports.Account {
			if a.IMAP.Port != nil && *a.IMAP.Port == 0 {
				return nil, errAt(path, ix.line(i, "account.imap.port"), "account %q: port 0 is out of range; use 1-65535 (993 for tls, 143 for starttls), or leave port out", c.Accounts[i].Name)
			}
			if a.SMTP.Port != nil && *a.SMTP.Port == 0 {
				return nil, errAt(path, ix.line(i, "account.smtp.port"), "account %q: port 0 is out of range; use 1-65535 (465 for tls, 587 for starttls), or leave port out", c.Accounts[i].Name)
			}
		}
	}

	if !md.IsDefined("mass_delete_percent") {
		c.MassDeletePercent = DefaultMassDeletePercent
	}
	if !md.IsDefined("mass_delete_min") {
		c.MassDeleteMin = DefaultMassDeleteMin
	}
	if c.ArchiveDir == "" {
		c.ArchiveDir = DefaultArchiveDir()
	}
	c.ArchiveDir = c.resolve(c.ArchiveDir)
	for i := range c.Accounts {
		if f := c.Accounts[i].IMAP.TLSCAFile; f != "" {
			c.Accounts[i].IMAP.TLSCAFile = c.resolve(f)
		}
		if s := c.Accounts[i].SMTP; s != nil && s.TLSCAFile != "" {
			s.TLSCAFile = c.resolve(s.TLSCAFile)
		}
	}
	c.accountDefaults()
	if err := c.validate(ix); err != nil {
		return nil, err
	}
	return c, nil
}

// FillDefaults fills in every default (ports, security, user names,
// [failover]) of a Config built in memory; Load and Parse already do.
func (c *Config) FillDefaults() { c.accountDefaults() }

// accountDefaults fills in security, port and username; it is idempotent.
func (c *Config) accountDefaults() {
	for i := range c.Accounts {
		a := &c.Accounts[i]
		s := &a.IMAP
		normaliseServer(s)
		if s.Port == 0 {
			s.Port = 143
			if s.Security == TLS {
				s.Port = 993
			}
		}
		if s.Username == "" {
			s.Username = a.Email
		}
		smtpDefaults(a)
		authDefaults(a)
		canaryDefaults(a)
	}
	c.Failover.defaults(c.Accounts)
	if c.BackupEvery.Duration == 0 {
		c.BackupEvery.Duration = 30 * time.Minute
	}
	if c.Notifications == "" {
		c.Notifications = "all"
	}
}

// normaliseServer trims the host, unwraps [::1] and lower-cases security
// (default tls).
func normaliseServer(s *Server) {
	s.Host = strings.TrimSpace(s.Host)
	if strings.HasPrefix(s.Host, "[") && strings.HasSuffix(s.Host, "]") {
		s.Host = s.Host[1 : len(s.Host)-1]
	}
	s.Security = Security(strings.ToLower(strings.TrimSpace(string(s.Security))))
	if s.Security == "" {
		s.Security = TLS
	}
}

// resolve expands a leading ~/ and makes a relative path relative to the
// directory holding the config file.
func (c *Config) resolve(p string) string {
	p = expandHome(p)
	if !filepath.IsAbs(p) && c.Path != "" {
		p = filepath.Join(filepath.Dir(c.Path), p)
	}
	return p
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") || (runtime.GOOS == "windows" && strings.HasPrefix(p, `~\`)) {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// Validate checks the configuration as it is in memory. Errors name the file
// but, unlike those from Load and Parse, not the line.
func (c *Config) Validate() error { return c.validate(lineIndex{}) }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (c *Config) validate(ix lineIndex) error {
	switch c.Notifications {
	case "", "all", "problems", "none":
	default:
		return errAt(c.Path, ix.line(-1, "notifications"), "notifications = %q is not valid; use \"all\", \"problems\" or \"none\"", c.Notifications)
	}
	if c.MassDeletePercent < 0 || c.MassDeletePercent > 100 {
		return errAt(c.Path, ix.line(-1, "mass_delete_percent"), "mass_delete_percent = %g is out of range; use a percentage from 0 to 100 (default %d)", c.MassDeletePercent, DefaultMassDeletePercent)
	}
	if c.MassDeleteMin < 0 {
		return errAt(c.Path, ix.line(-1, "mass_delete_min"), "mass_delete_min = %d is negative; use a message count of 0 or more (default %d)", c.MassDeleteMin, DefaultMassDeleteMin)
	}
	seen := map[string]int{}
	for i, a := range c.Accounts {
		at := func(key string) int { return ix.line(i, "account"+key) }
		if a.Name == "" {
			return errAt(c.Path, at(""), "account #%d has no name; add name = \"work\" (letters, digits, '.', '_' or '-')", i+1)
		}
		if !nameRE.MatchString(a.Name) {
			return errAt(c.Path, at(".name"), "account name %q is not allowed; use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (the name is used in file names)", a.Name)
		}
		if j, dup := seen[a.Name]; dup {
			return errAt(c.Path, at(".name"), "account name %q is used by accounts #%d and #%d; give each account a unique name", a.Name, j+1, i+1)
		}
		seen[a.Name] = i
		for _, p := range append(append([]string{}, a.Include...), a.Exclude...) {
			if p == "" {
				return errAt(c.Path, at(".include"), "account %q: include/exclude has an empty folder pattern; remove it (\"*\" means every folder)", a.Name)
			}
		}

		if err := c.validateServer(a.Name, a.IMAP, "imap", at); err != nil {
			return err
		}
		if a.SMTP != nil {
			if err := c.validateServer(a.Name, *a.SMTP, "smtp", at); err != nil {
				return err
			}
		}
		if err := c.validateAuth(a, at); err != nil {
			return err
		}
		if err := c.validateCanary(a, at); err != nil {
			return err
		}
	}
	return c.validateFailover(ix)
}

// validateServer checks an [account.imap] or [account.smtp] section.
func (c *Config) validateServer(name string, s Server, proto string, at func(string) int) error {
	upper, example, ports, port := "IMAP", "imap.example.com", "993 for tls, 143 for starttls", 993
	if proto == "smtp" {
		upper, example, ports, port = "SMTP", "smtp.example.com", "465 for tls, 587 for starttls", 465
	}
	switch {
	case s.Host == "":
		return errAt(c.Path, at("."+proto+".host"), "account %q has no %s host; add host = \"%s\" under [account.%s]", name, upper, example, proto)
	case strings.ContainsAny(s.Host, "/ \t") || (strings.Contains(s.Host, ":") && net.ParseIP(strings.Trim(s.Host, "[]")) == nil):
		return errAt(c.Path, at("."+proto+".host"), "account %q: host %q is not a bare host name; write only the name (e.g. host = \"%s\") and put the port in port = %d", name, s.Host, example, port)
	case s.Security != TLS && s.Security != STARTTLS && s.Security != Plain:
		return errAt(c.Path, at("."+proto+".security"), "account %q: security %q is not valid; use \"tls\" (implicit TLS), \"starttls\" or \"plain\" (loopback only)", name, s.Security)
	case s.Port < 1 || s.Port > 65535:
		return errAt(c.Path, at("."+proto+".port"), "account %q: port %d is out of range; use 1-65535 (%s), or leave port out", name, s.Port, ports)
	case s.Security == Plain && !isLoopback(s.Host):
		return errAt(c.Path, at("."+proto+".security"), "account %q: security = \"plain\" is refused for host %q: plaintext %s sends your password unencrypted; use tls or starttls", name, s.Host, upper)
	case s.Username == "":
		return errAt(c.Path, at("."+proto+".username"), "account %q has no %s username; add username = \"you@example.com\" under [account.%s] (or set email)", name, upper, proto)
	}
	return nil
}

func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Account returns the account called name.
func (c *Config) Account(name string) (*Account, error) {
	var names []string
	for i := range c.Accounts {
		if c.Accounts[i].Name == name {
			return &c.Accounts[i], nil
		}
		names = append(names, c.Accounts[i].Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no account named %q: %s has no accounts yet; add one with \"lifeboat accounts add\"", name, c.Path)
	}
	return nil, fmt.Errorf("no account named %q in %s; known accounts: %s", name, c.Path, strings.Join(names, ", "))
}

// Save validates c and writes it to c.Path atomically with mode 0600.
// Comments in an existing file are not preserved.
func (c *Config) Save() error {
	if c.Path == "" {
		return errors.New("config: cannot save: Config.Path is empty")
	}
	c.accountDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("# Lifeboat configuration, written by lifeboat.\n# Passwords are never stored here: see \"lifeboat accounts add\" or password_command.\n\n")
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("%s: cannot encode the configuration: %v", c.Path, err)
	}
	if err := writeAtomic(c.Path, buf.Bytes()); err != nil {
		return fmt.Errorf("%s: cannot save the configuration: %v; check that its directory is writable", c.Path, err)
	}
	return nil
}

func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if runtime.GOOS == "windows" { // directories cannot be fsynced there
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
