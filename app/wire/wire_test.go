package wire

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

const conf = `
archive_dir = "archive"
mass_delete_percent = 40
mass_delete_min = 7

[[account]]
name = "bt"
email = "jane@bt.example"
[account.imap]
host = "imap.bt.example"
security = "tls"
username = "jane"
tls_ca_file = "ca.pem"
[account.smtp]
host = "smtp.bt.example"
security = "starttls"
username = "jane@bt.example"
password_command = "printf %s smtp-secret"

[[account]]
name = "home"
[account.imap]
host = "imap.home.example"
username = "jane"
password_command = "printf %s home-secret"

[failover]
order = ["bt"]
failures_to_down = 4
successes_to_up = 3
probe_interval = "45s"
send_budget = "7s"
recipient_limit = 25
relay_password_command = "printf %s 0123abcd"
`

func wiring(t *testing.T) Wiring {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	st := secrets.NewMemory()
	if err := st.Set(secrets.Service, secrets.KeyFor("bt"), "imap-secret"); err != nil {
		t.Fatal(err)
	}
	return Wiring{Config: cfg, Secrets: st}
}

// One configuration means one set of endpoints and passwords, for every
// protocol: the IMAP password from the keyring, SMTP from its own command,
// the CA file resolved beside the configuration file.
func TestAccountsAndPasswords(t *testing.T) {
	w := wiring(t)
	dir := filepath.Dir(w.Config.Path)
	bt, home := w.Config.Accounts[0], w.Config.Accounts[1]

	ba := w.BackupAccount(bt)
	if ba.Endpoint.Host != "imap.bt.example" || ba.Endpoint.Port != 993 || ba.Endpoint.CAFile != filepath.Join(dir, "ca.pem") || ba.Endpoint.Username != "jane" {
		t.Errorf("backup endpoint = %+v", ba.Endpoint)
	}
	if pw, err := ba.Password(); pw != "imap-secret" || err != nil {
		t.Errorf("IMAP password = %q, %v", pw, err)
	}
	if pw, err := w.BackupAccount(home).Password(); pw != "home-secret" || err != nil {
		t.Errorf("password_command = %q, %v", pw, err)
	}

	sa := w.SendAccounts()
	if len(sa) != 1 || sa[0].Name != "bt" {
		t.Fatalf("send accounts = %+v, want only bt (home has no SMTP)", sa)
	}
	if sa[0].Email != "jane@bt.example" || sa[0].SMTP.Port != 587 || sa[0].SMTP.Security != "starttls" || sa[0].CheckSent == nil {
		t.Errorf("send account = %+v", sa[0])
	}
	if sa[0].SMTP.Timeout != 0 || sa[0].SMTP.FinalReplyTimeout != 0 {
		t.Errorf("SMTP timeouts %v/%v: the wiring must leave smtpsend's defaults", sa[0].SMTP.Timeout, sa[0].SMTP.FinalReplyTimeout)
	}
	if pw, err := sa[0].Password(); pw != "smtp-secret" || err != nil {
		t.Errorf("SMTP password = %q, %v", pw, err)
	}

	targets := w.Targets()
	if len(targets) != 2 || targets[0].SMTP == nil || targets[1].SMTP != nil {
		t.Fatalf("targets = %+v", targets)
	}
	if targets[0].IMAP.CAFile != ba.Endpoint.CAFile {
		t.Errorf("probe CA file %q, backup's %q", targets[0].IMAP.CAFile, ba.Endpoint.CAFile)
	}
	login, err := targets[0].Credentials(context.Background(), health.SMTP)
	if err != nil || login.Password != "smtp-secret" || login.Address != "jane@bt.example" || login.Username != "jane@bt.example" {
		t.Errorf("SMTP probe login = %+v, %v", login, err)
	}
	login, err = targets[0].Credentials(context.Background(), health.IMAP)
	if err != nil || login.Password != "imap-secret" || login.Username != "jane" {
		t.Errorf("IMAP probe login = %+v, %v", login, err)
	}

	// Without a keyring entry and without a command: a clear error, no
	// empty password sent to the server.
	w.Secrets = secrets.NewMemory()
	if _, err := w.BackupAccount(bt).Password(); err == nil {
		t.Error("a missing password gave no error")
	}
}

func TestSettingsFromTheFailoverSection(t *testing.T) {
	w := wiring(t)
	hc := w.HealthConfig()
	if hc.FailuresToDown != 4 || hc.SuccessesToUp != 3 || hc.ProbeInterval != 45*time.Second {
		t.Errorf("health config = %+v", hc)
	}
	if hc.SendBudget != 7*time.Second {
		t.Errorf("health send budget = %v, want the configured 7s", hc.SendBudget)
	}
	if bt, _ := w.Config.Account("bt"); w.SMTP(*bt).SetupBudget != 7*time.Second {
		t.Errorf("smtp setup budget = %v, want the configured 7s", w.SMTP(*bt).SetupBudget)
	}
	if hc.LoginInterval != health.DefaultConfig().LoginInterval && w.Config.Failover.LoginInterval.Duration == 0 {
		t.Errorf("an unset login interval is not the default: %v", hc.LoginInterval)
	}
	ro := w.RouterOptions(nil, nil, nil)
	if ro.RecipientLimit != 25 || len(ro.Accounts) != 1 {
		t.Errorf("router options = %+v", ro)
	}
	w.Config.Failover.RecipientLimit = -1
	if ro := w.RouterOptions(nil, nil, nil); ro.RecipientLimit != 0 {
		t.Errorf("a negative recipient limit gave %d, want 0 (no limit)", ro.RecipientLimit)
	}
	opts := w.BackupOptions(nil, health.NewTracker(hc, health.Hooks{}))
	if opts.MassDeletePercent != 40 || opts.MassDeleteMin != 7 || opts.Observe == nil {
		t.Errorf("backup options = %+v", opts)
	}
}

// A backup's outcome reaches the health model: a refused login makes the
// account need its user, as a probe would.
func TestBackupOutcomeReachesHealth(t *testing.T) {
	o := BackupObservation("bt", nil)
	if !o.OK || !o.LoggedIn || o.Protocol != health.IMAP {
		t.Errorf("success = %+v", o)
	}
	o = BackupObservation("bt", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
	if o.OK || o.Cause == "" {
		t.Errorf("failure = %+v", o)
	}
}

func TestRelayAndOutbox(t *testing.T) {
	w := wiring(t)
	data := t.TempDir()
	r, err := w.Relay(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.User != RelayUser || r.Password != "0123abcd" || r.TLS == nil || r.TLS.Fingerprint == "" {
		t.Errorf("relay = %+v", r)
	}
	again, err := w.Relay(data)
	if err != nil || again.TLS.Fingerprint != r.TLS.Fingerprint {
		t.Errorf("the certificate changed between runs (%v): mail programs would warn every time", err)
	}
	opts := r.Options("127.0.0.1:0", false, nil, nil)
	if opts.Username != RelayUser || opts.Password != r.Password || opts.TLS != r.TLS {
		t.Errorf("relay options = %+v", opts)
	}

	var notes []string
	ob, err := OpenOutbox(data, func(s string) { notes = append(notes, s) })
	if err != nil {
		t.Fatal(err)
	}
	if ob.Report == nil {
		t.Error("the outbox has no reporter")
	}
	if st, err := os.Stat(OutboxDir(data)); err != nil || !st.IsDir() {
		t.Errorf("outbox directory: %v", err)
	}
}

func TestNextAccount(t *testing.T) {
	order := []string{"bt", "gmail", "work"}
	for after, want := range map[string]string{"bt": "gmail", "gmail": "work", "work": "bt", "gone": "bt", "": "bt"} {
		if got := NextAccount(order, after); got != want {
			t.Errorf("after %q: %q, want %q", after, got, want)
		}
	}
	if got := NextAccount([]string{"bt"}, "bt"); got != "" {
		t.Errorf("one account: %q, want none", got)
	}
}
