package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const good = `# my mail
archive_dir = "~/Backups/mail"

[[account]]
name = "work"
email = "me@example.com"
include = ["INBOX", "Projects/*"]
exclude = ["Projects/old"]

[account.imap]
host = "imap.example.com"
password_command = "pass show work"

[[account]]
name = "local.test"
[account.imap]
host = "127.0.0.1"
port = 1143
security = "plain"
username = "tester"
tls_ca_file = "ca.pem"
`

func TestParseGood(t *testing.T) {
	home, _ := os.UserHomeDir()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	c, err := Parse(path, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:              path,
		ArchiveDir:        filepath.Join(home, "Backups", "mail"),
		MassDeletePercent: 20,
		MassDeleteMin:     50,
		Accounts: []Account{{
			Name:    "work",
			Email:   "me@example.com",
			Include: []string{"INBOX", "Projects/*"},
			Exclude: []string{"Projects/old"},
			IMAP:    Server{Host: "imap.example.com", Port: 993, Security: TLS, Username: "me@example.com", PasswordCommand: "pass show work"},
		}, {
			Name: "local.test",
			IMAP: Server{Host: "127.0.0.1", Port: 1143, Security: Plain, Username: "tester", TLSCAFile: filepath.Join(dir, "ca.pem")},
		}},
		Failover: Failover{FromPolicy: FromRewrite, ProbeInterval: Duration{time.Minute}, LoginInterval: Duration{10 * time.Minute},
			SlowLatency: Duration{5 * time.Second}, SendBudget: Duration{DefaultSendBudget}, FailuresToDown: 3, SuccessesToUp: 2, RelayListen: DefaultRelayListen, RecipientLimit: DefaultRecipientLimit},
		BackupEvery:   Duration{30 * time.Minute},
		Notifications: "all",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", c, want)
	}
	if got := c.Accounts[0].IMAP.Addr(); got != "imap.example.com:993" {
		t.Errorf("Addr = %q", got)
	}
	if got := (Server{Host: "::1", Port: 143}).Addr(); got != "[::1]:143" {
		t.Errorf("IPv6 Addr = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name, in string
		port     int
		sec      Security
	}{
		{"tls by default", `host = "h"`, 993, TLS},
		{"starttls", `host = "h"` + "\nsecurity = \"starttls\"", 143, STARTTLS},
		{"security is case-insensitive", `host = "h"` + "\nsecurity = \"STARTTLS\"", 143, STARTTLS},
		{"plain on localhost", `host = "localhost"` + "\nsecurity = \"plain\"", 143, Plain},
		{"explicit port kept", `host = "h"` + "\nport = 10993", 10993, TLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("c.toml", []byte("[[account]]\nname = \"a\"\n[account.imap]\nusername = \"u\"\n"+tt.in+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if s := c.Accounts[0].IMAP; s.Port != tt.port || s.Security != tt.sec {
				t.Errorf("got port %d security %q, want %d %q", s.Port, s.Security, tt.port, tt.sec)
			}
		})
	}

	c, err := Parse("c.toml", []byte("[[account]]\nname = \"a\"\n[account.imap]\nhost = \" [::1] \"\nusername = \"u\"\nsecurity = \"plain\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Accounts[0].IMAP.Addr(); got != "[::1]:143" {
		t.Errorf("bracketed IPv6 host: Addr = %q", got)
	}

	c, err = Parse("c.toml", []byte("mass_delete_percent = 0\nmass_delete_min = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MassDeletePercent != 0 || c.MassDeleteMin != 0 {
		t.Errorf("explicit zero thresholds replaced by defaults: %v %v", c.MassDeletePercent, c.MassDeleteMin)
	}
	c, err = Parse("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ArchiveDir != DefaultArchiveDir() || len(c.Accounts) != 0 {
		t.Errorf("empty file: %+v", c)
	}
}

// account builds a one-account file whose [account.imap] holds imap.
func account(imap string) string {
	return "[[account]]\nname = \"work\"\nemail = \"me@example.com\"\n\n[account.imap]\n" + imap + "\n"
}

func TestParseErrors(t *testing.T) {
	const secret = "hunter2-s3cret"
	tests := []struct {
		name, in string
		want     []string // substrings of the error, which starts with "config.toml:"
	}{
		{"syntax error", account(`host = imap.example.com`),
			[]string{"config.toml:6: ", "syntax error", `found "imap" instead`, "double quotes"}},
		{"syntax error in password_command", account("host = \"h\"\npassword_command = echo " + secret),
			[]string{"config.toml:7: ", "syntax error", "(text hidden)"}},
		{"unclosed string", "archive_dir = \"/x\n",
			[]string{"config.toml:1: ", "syntax error"}},
		{"wrong type", account("host = \"h\"\nport = \"993\""),
			[]string{"config.toml:7: ", "account.imap.port", "type"}},
		{"unknown key with suggestion", account(`hots = "imap.example.com"`),
			[]string{`config.toml:6: unknown key "hots" in [account.imap] — did you mean "host"?`}},
		{"unknown key without suggestion", account("host = \"h\"\nflavour = 1"),
			[]string{`config.toml:7: unknown key "flavour" in [account.imap]; remove it (valid keys there: host, port,`}},
		{"unknown table", "[acount]\nname = \"x\"\n",
			[]string{`config.toml:1: unknown key "acount" at the top level — did you mean "account"?`}},
		{"unknown key in inline table", "[[account]]\nname = \"w\"\nimap = { host = \"h\", prot = 1 }\n",
			[]string{`config.toml:3: unknown key "prot" in [account.imap] — did you mean "port"?`}},
		{"unknown top-level key", "archive-dir = \"/x\"\n",
			[]string{`config.toml:1: unknown key "archive-dir" at the top level — did you mean "archive_dir"?`}},
		{"port too big", account("host = \"h\"\nport = 70000"),
			[]string{"config.toml:7: ", "port 70000 is out of range", "1-65535"}},
		{"port zero", account("host = \"h\"\nport = 0"),
			[]string{"config.toml:7: ", "port 0 is out of range"}},
		{"smtp port zero", account("host = \"h\"\n[account.smtp]\nhost = \"s\"\nport = 0"),
			[]string{"config.toml:9: ", "port 0 is out of range", "465 for tls, 587 for starttls"}},
		{"negative port", account("host = \"h\"\nport = -1"),
			[]string{"config.toml:7: ", "port -1 is out of range"}},
		{"missing host", account(`username = "u"`),
			[]string{"config.toml:5: ", `account "work" has no IMAP host`, `add host =`}},
		{"missing imap table", "[[account]]\nname = \"work\"\n",
			[]string{"config.toml:1: ", "has no IMAP host"}},
		{"host with port", account(`host = "imap.example.com:993"`),
			[]string{"config.toml:6: ", "not a bare host name", "port = 993"}},
		{"host with scheme", account(`host = "imaps://imap.example.com"`),
			[]string{"config.toml:6: ", "not a bare host name"}},
		{"missing name", "[[account]]\n[account.imap]\nhost = \"h\"\n",
			[]string{"config.toml:1: ", "account #1 has no name", `name = "work"`}},
		{"duplicate name", account(`host = "h"`) + account(`host = "h2"`),
			[]string{"config.toml:8: ", `account name "work" is used by accounts #1 and #2`, "unique"}},
		{"name with slash", "[[account]]\nname = \"../etc\"\n[account.imap]\nhost = \"h\"\n",
			[]string{"config.toml:2: ", `account name "../etc" is not allowed`, "letters, digits"}},
		{"name too long", "[[account]]\nname = \"" + strings.Repeat("a", 65) + "\"\n[account.imap]\nhost = \"h\"\n",
			[]string{"config.toml:2: ", "is not allowed"}},
		{"bad security", account("host = \"h\"\nsecurity = \"ssl\""),
			[]string{"config.toml:7: ", `security "ssl" is not valid`, `use "tls"`}},
		{"plain to remote host", account("host = \"imap.example.com\"\nsecurity = \"plain\""),
			[]string{"config.toml:7: ", "plaintext IMAP sends your password unencrypted; use tls or starttls"}},
		{"plain to LAN address", account("host = \"192.168.1.2\"\nsecurity = \"plain\""),
			[]string{"config.toml:7: ", "refused"}},
		{"missing username", "[[account]]\nname = \"work\"\n[account.imap]\nhost = \"h\"\n",
			[]string{"config.toml:3: ", "no IMAP username"}},
		{"empty folder pattern", "[[account]]\nname = \"work\"\ninclude = [\"\"]\n[account.imap]\nhost = \"h\"\nusername = \"u\"\n",
			[]string{"config.toml:3: ", "empty folder pattern"}},
		{"mass delete percent", "mass_delete_percent = 120\n",
			[]string{"config.toml:1: ", "mass_delete_percent = 120 is out of range"}},
		{"mass delete min", "mass_delete_min = -1\n",
			[]string{"config.toml:1: ", "mass_delete_min = -1 is negative"}},
		{"password key", account("host = \"h\"\npassword = \"" + secret + "\""),
			[]string{"config.toml:7: ", "password is not allowed in [account.imap]", "OS keyring", "lifeboat accounts add", "password_command"}},
		{"password key at top", "password = \"" + secret + "\"\n",
			[]string{"config.toml:1: ", "password is not allowed at the top level"}},
		{"password in inline table", "[[account]]\nname = \"w\"\nimap = { host = \"h\", password = \"" + secret + "\" }\n",
			[]string{"config.toml:3: ", "password is not allowed"}},
		{"unquoted password (syntax error)", account("host = \"h\"\npassword = " + secret),
			[]string{"config.toml:7: ", "password is not allowed", "OS keyring"}},
		{"mistyped password key, unquoted", account("host = \"h\"\npasword = " + secret),
			[]string{"config.toml:7: ", "syntax error", "(text hidden)"}},
		{"passwd key", account("host = \"h\"\nPASSWD = \"" + secret + "\""),
			[]string{"config.toml:7: ", "password is not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("config.toml", []byte(tt.in))
			if err == nil {
				t.Fatalf("no error; parsed %+v", c)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "config.toml:") {
				t.Errorf("error does not start with the file name: %s", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if strings.Contains(msg, secret) || strings.Contains(msg, "hunter") {
				t.Fatalf("error leaks the password: %s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\n lacks %q", msg, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(account(`host = "h"`)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.Accounts[0].IMAP.Host != "h" {
		t.Errorf("Load: %+v", c)
	}

	tests := []struct {
		name, path string
		is         error
		want       string
	}{
		{"missing", filepath.Join(dir, "nope.toml"), fs.ErrNotExist, "lifeboat accounts add"},
		{"directory", dir, nil, "cannot read the config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want %s: ...%s...", err, tt.path, tt.want)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root can read a mode-000 file")
		}
		p := filepath.Join(dir, "locked.toml")
		if err := os.WriteFile(p, nil, 0); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("got %v", err)
		}
	})
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("LIFEBOAT_CONFIG", "/etc/lb.toml")
	if p, err := DefaultPath(); err != nil || p != "/etc/lb.toml" {
		t.Errorf("with LIFEBOAT_CONFIG: %q, %v", p, err)
	}
	t.Setenv("LIFEBOAT_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	t.Setenv("HOME", "/home/x")
	dir, _ := os.UserConfigDir() // $XDG_CONFIG_HOME on Linux
	want := filepath.Join(dir, "lifeboat", "config.toml")
	if p, err := DefaultPath(); err != nil || p != want {
		t.Errorf("default: %q, %v", p, err)
	}
	if got := DefaultArchiveDir(); got != filepath.Join("/home/x", "Mail", "Lifeboat") {
		t.Errorf("DefaultArchiveDir = %q", got)
	}
}

func TestAccountLookup(t *testing.T) {
	c, err := Parse("/c.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := c.Account("work"); err != nil || a.Name != "work" {
		t.Errorf("Account(work) = %v, %v", a, err)
	}
	_, err = c.Account("home")
	if err == nil || !strings.Contains(err.Error(), `no account named "home"`) || !strings.Contains(err.Error(), "known accounts: work, local.test") {
		t.Errorf("Account(home) error = %v", err)
	}
	_, err = (&Config{Path: "/c.toml"}).Account("home")
	if err == nil || !strings.Contains(err.Error(), "lifeboat accounts add") {
		t.Errorf("no accounts: %v", err)
	}
}

func TestSave(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "config.toml")
	c := &Config{Path: path, ArchiveDir: "/srv/mail", MassDeletePercent: 20, MassDeleteMin: 50}
	c.Accounts = append(c.Accounts, Account{Name: "work", Email: "me@example.com", IMAP: Server{Host: "imap.example.com", PasswordCommand: "pass show work"}})
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]fs.FileMode{dir: 0o700 | fs.ModeDir, path: 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), mode)
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
	}

	// Overwrite: no temporary files left, an invalid config is not written.
	c.Accounts = c.Accounts[:0]
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c.Accounts = append(c.Accounts, Account{Name: "bad/name", IMAP: Server{Host: "h"}})
	if err := c.Save(); err == nil || !strings.Contains(err.Error(), "is not allowed") {
		t.Errorf("Save of invalid config: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %v, want only config.toml", entries)
	}
	if got, err := Load(path); err != nil || len(got.Accounts) != 0 {
		t.Errorf("after failed save: %+v, %v", got, err)
	}
	if err := (&Config{}).Save(); err == nil {
		t.Error("Save without Path succeeded")
	}
}

// TestKnownKeys keeps the suggestion lists in step with the struct tags.
func TestKnownKeys(t *testing.T) {
	tags := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("toml"), ",")
			if name != "-" {
				out = append(out, name)
			}
		}
		return out
	}
	for table, v := range map[string]any{"": Config{}, "account": Account{}, "account.imap": Server{}} {
		got, want := slices.Sorted(slices.Values(knownKeys[table])), slices.Sorted(slices.Values(tags(v)))
		if !slices.Equal(got, want) {
			t.Errorf("knownKeys[%q] = %v, struct tags say %v", table, got, want)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true,
		"localhost.example.com": false, "10.0.0.1": false, "imap.example.com": false, "::": false, "": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}
