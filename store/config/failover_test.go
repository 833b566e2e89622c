package config

import (
	"strings"
	"testing"
	"time"
)

const twoAccounts = `
[[account]]
name = "bt"
email = "jane@btinternet.com"
[account.imap]
host = "mail.btinternet.com"
[account.smtp]
host = "mail.btinternet.com"

[[account]]
name = "gmail"
email = "jane@gmail.com"
send_as = ["jane@btinternet.com"]
[account.imap]
host = "imap.gmail.com"
[account.smtp]
host = "smtp.gmail.com"
security = "starttls"
`

func TestFailoverDefaults(t *testing.T) {
	c, err := Parse("/x/config.toml", []byte(twoAccounts))
	if err != nil {
		t.Fatal(err)
	}
	bt, gm := c.Accounts[0].SMTP, c.Accounts[1].SMTP
	if bt.Port != 465 || bt.Security != TLS || bt.Username != "jane@btinternet.com" {
		t.Fatalf("bt smtp defaults: %+v", bt)
	}
	if gm.Port != 587 || gm.Username != "jane@gmail.com" {
		t.Fatalf("gmail smtp defaults: %+v", gm)
	}
	f := c.Failover
	if strings.Join(f.Order, ",") != "bt,gmail" || f.FromPolicy != FromRewrite || f.FailuresToDown != 3 || f.SuccessesToUp != 2 ||
		f.RelayListen != "127.0.0.1:1587" || f.ProbeInterval.Duration != time.Minute || f.SendBudget.Duration != 15*time.Second {
		t.Fatalf("failover defaults: %+v", f)
	}
	if got := c.SMTPAccounts(); len(got) != 2 || got[0].Name != "bt" {
		t.Fatalf("SMTPAccounts: %v", got)
	}
	if c.Accounts[1].SendAs[0] != "jane@btinternet.com" {
		t.Fatal("send_as lost")
	}
}

func TestFailoverErrors(t *testing.T) {
	for name, tc := range map[string]struct{ extra, want string }{
		"unknown account":   {"[failover]\norder = [\"bt\", \"yahoo\"]\n", `"yahoo", which is not an account`},
		"bad policy":        {"[failover]\nfrom_policy = \"forge\"\n", `from_policy "forge" is not valid`},
		"bad duration":      {"[failover]\nprobe_interval = \"soon\"\n", `not a duration`},
		"tiny send budget":  {"[failover]\nsend_budget = \"100ms\"\n", `send_budget 100ms is out of range; use between 1s and 5m`},
		"remote relay":      {"[failover]\nrelay_listen = \"0.0.0.0:1587\"\n", "relay_allow_remote"},
		"unknown key":       {"[failover]\nordr = [\"bt\"]\n", `did you mean "order"`},
		"plain smtp remote": {"", ""},
	} {
		t.Run(name, func(t *testing.T) {
			src := twoAccounts + tc.extra
			if name == "plain smtp remote" {
				src = strings.Replace(twoAccounts, "security = \"starttls\"", "security = \"plain\"", 1)
				tc.want = "plaintext SMTP"
			}
			_, err := Parse("/x/config.toml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
			if !strings.HasPrefix(err.Error(), "/x/config.toml:") {
				t.Fatalf("error does not name the file: %v", err)
			}
		})
	}
	// Allowed explicitly, a remote relay address is accepted.
	if _, err := Parse("/x/config.toml", []byte(twoAccounts+"[failover]\nrelay_listen = \"0.0.0.0:1587\"\nrelay_allow_remote = true\n")); err != nil {
		t.Fatal(err)
	}
}
