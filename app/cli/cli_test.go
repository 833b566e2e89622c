package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
)

type harness struct {
	t       *testing.T
	dir     string
	config  string
	secrets *secrets.Memory
}

func newHarness(t *testing.T) *harness {
	t.Setenv("LANG", "en_US.UTF-8")
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	return &harness{t: t, dir: dir, config: filepath.Join(dir, "config.toml"), secrets: secrets.NewMemory()}
}

// run runs the command line with stdin and returns exit status and output.
func (h *harness) run(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Secrets: h.secrets}
	code := Main(context.Background(), append([]string{"--config", h.config}, args...), env)
	return code, out.String(), errb.String()
}

func (h *harness) addDemoAccount(p *demo.Provider, name string) {
	h.t.Helper()
	ep := p.Endpoint()
	code, out, errs := h.run(p.Password+"\n", "accounts", "add", name, "--email", p.Email, "--host", ep.Host,
		"--port", fmt.Sprint(ep.Port), "--security", "plain", "--password-stdin")
	if code != 0 {
		h.t.Fatalf("accounts add: %d\n%s\n%s", code, out, errs)
	}
	// The archive goes to the test's directory.
	cfg, _ := os.ReadFile(h.config)
	if !strings.Contains(string(cfg), "archive_dir") {
		h.t.Fatalf("config has no archive_dir:\n%s", cfg)
	}
	lines := strings.Split(string(cfg), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "archive_dir") {
			lines[i] = fmt.Sprintf("archive_dir = %q", filepath.Join(h.dir, "archive"))
		}
	}
	os.WriteFile(h.config, []byte(strings.Join(lines, "\n")), 0o600)
}

func startDemo(t *testing.T, o demo.Options) *demo.Provider {
	p, err := demo.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestAccountsAddBackupStatusVerify(t *testing.T) {
	h := newHarness(t)
	p := startDemo(t, demo.Options{Password: "s3cret-Pa55word"})
	h.addDemoAccount(p, "demo")
	cfg, _ := os.ReadFile(h.config)
	if strings.Contains(string(cfg), p.Password) {
		t.Fatal("the password reached the config file")
	}
	if pw, err := h.secrets.Get(secrets.Service, secrets.KeyFor("demo")); err != nil || pw != p.Password {
		t.Fatalf("password not in the keyring: %q %v", pw, err)
	}
	if code, out, _ := h.run("", "accounts", "list"); code != 0 || !strings.Contains(out, "password in keyring") {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, out, errs := h.run("", "accounts", "test", "demo"); code != 0 || !strings.Contains(out, "ok: logged in, 6 folders") {
		t.Fatalf("test: %d %s %s", code, out, errs)
	}

	code, out, errs := h.run("", "backup")
	if code != ExitOK || !strings.Contains(out, "59 new messages") {
		t.Fatalf("backup: %d\n%s\n%s", code, out, errs)
	}
	arch, _ := archive.Open(filepath.Join(h.dir, "archive"))
	ix, err := index.Open(index.DefaultPath(arch))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ix.Count("demo", ""); err != nil || n != 59 {
		t.Fatalf("the backup did not update the index: %d %v", n, err)
	}
	ix.Close()
	code, out, _ = h.run("", "backup", "--json")
	if code != ExitOK {
		t.Fatalf("json backup: %d", code)
	}
	var sawDone bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("--json printed a non-JSON line %q", line)
		}
		if ev["event"] == "account_done" && ev["result"] == "ok" {
			sawDone = true
		}
	}
	if !sawDone {
		t.Fatalf("no account_done event:\n%s", out)
	}
	code, out, _ = h.run("", "status")
	if code != ExitOK || !strings.Contains(out, "INBOX") || !strings.Contains(out, "demo: last run") {
		t.Fatalf("status: %d\n%s", code, out)
	}
	code, out, _ = h.run("", "reindex")
	if code != ExitOK || !strings.Contains(out, "59 messages in 6 folders") {
		t.Fatalf("reindex: %d\n%s", code, out)
	}
	code, out, _ = h.run("", "verify")
	if code != ExitOK || !strings.Contains(out, "59 messages checked") || !strings.Contains(out, "every one intact") {
		t.Fatalf("verify: %d\n%s", code, out)
	}

	// Damage one archived byte: verify names the message and fails.
	mbox := filepath.Join(h.dir, "archive", "demo", "Sent.mbox")
	b, _ := os.ReadFile(mbox)
	b[len(b)/2] ^= 0x20
	os.WriteFile(mbox, b, 0o600)
	code, out, _ = h.run("", "verify")
	if code != ExitFailure || !strings.Contains(out, "DAMAGED demo/Sent: message at byte") {
		t.Fatalf("verify after damage: %d\n%s", code, out)
	}

	if code, out, _ := h.run("", "accounts", "remove", "demo"); code != 0 || !strings.Contains(out, "archive stays") {
		t.Fatalf("remove: %d %s", code, out)
	}
	if _, err := h.secrets.Get(secrets.Service, secrets.KeyFor("demo")); err == nil {
		t.Fatal("the password stayed in the keyring after remove")
	}
	if _, err := os.Stat(mbox); err != nil {
		t.Fatal("remove must not touch the archive")
	}
}

func TestMassDeletionExitsWithWarnings(t *testing.T) {
	h := newHarness(t)
	p := startDemo(t, demo.Options{Empty: true})
	for i := 0; i < 80; i++ {
		p.Deliver("INBOX", []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)), time.Now())
	}
	h.addDemoAccount(p, "demo")
	if code, _, _ := h.run("", "backup"); code != ExitOK {
		t.Fatal("first backup failed")
	}
	// The provider loses the whole INBOX.
	p.User.Delete("INBOX")
	p.User.Create("INBOX", nil)
	code, out, _ := h.run("", "backup")
	if code != ExitWarnings || !strings.Contains(out, "MASS DELETION") {
		t.Fatalf("want exit 3 and a loud warning, got %d\n%s", code, out)
	}
	if code, _, _ := h.run("", "status"); code != ExitWarnings {
		t.Fatalf("status after mass deletion: %d, want 3", code)
	}
	a, _ := archive.Open(filepath.Join(h.dir, "archive"))
	f, err := a.ReadFolder(archive.FolderID{Account: "demo", Name: "INBOX"})
	if err != nil || len(f.Entries()) != 80 {
		t.Fatalf("archive after mass deletion: %v", err)
	}
}

func TestWrongPasswordIsRefusedAndNothingSaved(t *testing.T) {
	h := newHarness(t)
	p := startDemo(t, demo.Options{Empty: true})
	ep := p.Endpoint()
	code, out, errs := h.run("not-the-password\n", "accounts", "add", "demo", "--email", p.Email, "--host", ep.Host,
		"--port", fmt.Sprint(ep.Port), "--security", "plain", "--password-stdin")
	if code != ExitFailure || !strings.Contains(errs, "login refused") || !strings.Contains(errs, "Nothing was saved") {
		t.Fatalf("got %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, "not-the-password") {
		t.Fatal("the password was printed")
	}
	if _, err := os.Stat(h.config); err == nil {
		t.Fatal("a config was saved for a failed login")
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	h := newHarness(t)
	if code, _, errs := h.run("", "frobnicate"); code != ExitUsage || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %s", code, errs)
	}
	if code, _, _ := h.run("", "backup", "--bogus"); code != ExitUsage {
		t.Fatalf("bad flag: %d", code)
	}
	os.WriteFile(h.config, []byte("archive_dir = \"/tmp/x\"\n[[account]]\nname = \"bt\"\n[account.imap]\nhots = \"mail.btinternet.com\"\n"), 0o600)
	code, _, errs := h.run("", "backup")
	if code != ExitFailure || !strings.Contains(errs, "config.toml:5") || !strings.Contains(errs, "host") {
		t.Fatalf("config error: %d %s", code, errs)
	}
	os.WriteFile(h.config, []byte("[[account]]\nname = \"bt\"\n[account.imap]\nhost = \"mail.example.com\"\nsecurity = \"plain\"\n"), 0o600)
	if code, _, errs := h.run("", "backup"); code != ExitFailure || !strings.Contains(errs, "plain") {
		t.Fatalf("plaintext to a remote host must be refused: %d %s", code, errs)
	}
}

func TestDefaultRunsDemoWithoutConfig(t *testing.T) {
	h := newHarness(t)
	code, out, errs := h.run("")
	if code != ExitOK {
		t.Fatalf("%d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"built-in demo", "59 new messages", "3 new messages", "4 deleted on the server (kept here)", "62 messages checked, 0 damaged", "mutt -R -f"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// A second demo run starts afresh in its own directory.
	if code, out, _ := h.run("", "demo"); code != ExitOK || !strings.Contains(out, "59 new messages") {
		t.Fatalf("second demo: %d\n%s", code, out)
	}
}

func TestBackupFailureExitsOne(t *testing.T) {
	h := newHarness(t) // not parallel: it sets environment variables
	p := startDemo(t, demo.Options{Empty: true})
	h.addDemoAccount(p, "demo")
	p.Close() // the provider goes down
	start := time.Now()
	code, out, errs := h.run("", "backup")
	if code != ExitFailure || !strings.Contains(errs, "cannot reach") {
		t.Fatalf("backup of a down provider: %d\n%s\n%s", code, out, errs)
	}
	if time.Since(start) > 2*time.Minute {
		t.Fatal("gave up too slowly")
	}
	_ = imap.FlagSeen
}
