package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const canaryBase = `[[account]]
name = "bt"
email = "jane@btinternet.com"
[account.imap]
host = "mail.btinternet.com"
[account.smtp]
host = "mail.btinternet.com"
[account.canary]
every = "24h"
%s
[[account]]
name = "gmail"
email = "jane@gmail.com"
[account.imap]
host = "imap.gmail.com"
`

func TestCanaryConfig(t *testing.T) {
	parse := func(extra string) (*Config, error) {
		return Parse(filepath.Join(t.TempDir(), "config.toml"), []byte(strings.Replace(canaryBase, "%s", extra, 1)))
	}
	c, err := parse(`to = "gmail"`)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Accounts[0].Canary
	if k.Every.Duration != 24*time.Hour || k.Deadline.Duration != DefaultDeadline || k.To != "gmail" {
		t.Fatalf("%+v", k)
	}
	for extra, want := range map[string]string{
		`deadline = "2s"`:  "too short",
		`to = "yahoo"`:     "is not an account",
		`to = "bt"`:        "names the account itself",
		`keep_routing = 1`: "keep_routing",
		`deadlin = "1m"`:   `did you mean "deadline"`,
	} {
		if _, err := parse(extra); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", extra, err, want)
		}
	}
	if _, err := Parse("config.toml", []byte(strings.Replace(strings.Replace(canaryBase, "%s", "", 1), `every = "24h"`, `every = "10m"`, 1))); err == nil || !strings.Contains(err.Error(), "too often") {
		t.Errorf("every 10m: %v", err)
	}
	noSMTP := strings.Replace(strings.Replace(canaryBase, "%s", "", 1), "[account.smtp]\nhost = \"mail.btinternet.com\"\n", "", 1)
	if _, err := Parse("config.toml", []byte(noSMTP)); err == nil || !strings.Contains(err.Error(), "no [account.smtp]") {
		t.Errorf("no smtp: %v", err)
	}
}
