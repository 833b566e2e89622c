package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/mailstack"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/oauthserver"
)

// browserEnv makes this test binary play the user's web browser when a
// lifeboat process runs it as $BROWSER: it follows the authorization URL
// (the test's authorization server consents at once) back to Lifeboat's
// loopback listener, as a person's browser would.
const browserEnv = "LIFEBOAT_E2E_BROWSER"

func TestMain(m *testing.M) {
	if os.Getenv(browserEnv) == "1" {
		resp, err := http.Get(os.Args[len(os.Args)-1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "browser:", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		os.Exit(0)
	}
	// Every lifeboat these tests start keeps its data (outbox, incidents,
	// the shared health log) in a directory of this run, never in the
	// user's home, unless a test sets XDG_DATA_HOME itself.
	data, err := os.MkdirTemp("", "lifeboat-e2e-data-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_DATA_HOME", data)
	code := m.Run()
	os.RemoveAll(data)
	os.Exit(code)
}

// An Outlook-like account that signs in only with OAuth2, from the first
// sign-in to its removal, through the real binary, the real Secret
// Service, Dovecot's oauth2 passdb and Postfix's submission (SASL through
// that Dovecot), with XOAUTH2 and with OAUTHBEARER:
//   - accounts login (browser flow) keeps the tokens in the keyring;
//   - backup and send sign in with the token;
//   - an access token the servers stopped accepting is renewed, and the
//     rotated refresh token replaces the old one in the keyring;
//   - a revoked grant makes the account needs-you with the command to run,
//     and later commands ask neither the provider nor the mail server;
//   - accounts login --device (device flow) brings it back;
//   - accounts remove revokes and deletes the tokens;
//   - no token is ever in a file, an output or a log.
func TestOAuth2AccountEndToEnd(t *testing.T) {
	needKeyring(t)
	bin := buildLifeboat(t)
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) { oauthLifecycle(t, bin, mech) })
	}
}

func oauthLifecycle(t *testing.T, bin, mech string) {
	as := oauthserver.Start("lifeboat-e2e", "imap", "smtp")
	t.Cleanup(as.Close)
	as.Rotate = true
	p := mailstack.StartT(t, mailstack.Options{Name: "a", Users: map[string]string{"jane": "jane-pw", "tom": "tom-pw"},
		OAuth2IntrospectionURL: as.IntrospectURL(), OAuth2Mechanisms: mech})
	jane, tom := p.Email("jane"), p.Email("tom")
	as.User = jane
	data := t.TempDir()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := "oauth-" + mech + "-" + hex.EncodeToString(suffix) // the keyring is shared with other tests
	_, imapPort, _ := net.SplitHostPort(p.Dovecot.IMAPSAddr)
	_, smtpPort, _ := net.SplitHostPort(p.SubmissionAddr)
	cfg := filepath.Join(data, "config.toml")
	conf := fmt.Sprintf(`archive_dir = %q
[[account]]
name = %q
email = %q
[account.imap]
host = "localhost"
port = %s
security = "tls"
tls_ca_file = %q
auth = "oauth2"
[account.smtp]
host = "localhost"
port = %s
security = "starttls"
tls_ca_file = %q
[account.oauth2]
provider = "custom"
client_id = "lifeboat-e2e"
auth_url = %q
token_url = %q
device_url = %q
revoke_url = %q
scopes = ["imap", "smtp"]
[failover]
order = [%q]
`, filepath.Join(data, "archive"), name, jane, imapPort, p.CAFile, smtpPort, p.CAFile,
		as.AuthURL(), as.TokenURL(), as.DeviceURL(), as.RevokeURL(), name)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs bytes.Buffer
	run := func(stdin string, args ...string) (int, string) {
		cmd := osexec.Command(bin, append([]string{"--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+data, "XDG_CONFIG_HOME="+data, "LANG=C.UTF-8",
			"BROWSER="+os.Args[0], browserEnv+"=1")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		outputs.Write(out)
		return exitCode(err), string(out)
	}
	keyring := secrets.Keyring()
	stored := func() string {
		v, err := keyring.Get(secrets.Service, "oauth2:"+name)
		if err != nil {
			return ""
		}
		return v
	}
	t.Cleanup(func() { keyring.Delete(secrets.Service, "oauth2:"+name) })

	// Not signed in yet: backup says what to do, and asks nobody.
	code, out := run("", "backup")
	if code == 0 || !strings.Contains(out, "accounts login "+name) {
		t.Fatalf("backup before sign-in: exit %d\n%s", code, out)
	}

	code, out = run("", "accounts", "login", name)
	if code != 0 || !strings.Contains(out, as.AuthURL()+"?") || !strings.Contains(out, "Signed in") || !strings.Contains(out, "ok, ") {
		t.Fatalf("accounts login: exit %d\n%s", code, out)
	}
	first := stored()
	if !strings.Contains(first, `"r":"rt-`) {
		t.Fatalf("the keyring holds no refresh token after the sign-in")
	}

	if _, err := p.Dovecot.Append(jane, "INBOX", []byte("From: boss@x.test\r\nSubject: before the outage\r\nMessage-ID: <one@x.test>\r\n\r\nkeep me\r\n"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	code, out = run("", "backup")
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	if !archived(t, filepath.Join(data, "archive"), "before the outage") {
		t.Fatalf("the message is not in the archive\n%s", out)
	}
	// The probes sign in with the token too.
	if code, out = run("", "monitor", "--once"); code != 0 || !strings.Contains(out, "imap: ok") || !strings.Contains(out, "smtp: ok") {
		t.Fatalf("monitor --once: exit %d\n%s", code, out)
	}
	letter := fmt.Sprintf("From: Jane <%s>\r\nTo: Tom <%s>\r\nSubject: sent with %s\r\n\r\nhello\r\n", jane, tom, mech)
	code, out = run(letter, "send")
	if code != 0 {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	if msgs, err := p.WaitForMail("tom", "INBOX", 1, 30*time.Second); err != nil || !bytes.Contains(msgs[0], []byte("sent with "+mech)) {
		t.Fatalf("tom's mail: %v\n%s", err, p.LogTail(30))
	}

	// The servers stop accepting the access token (it expired early):
	// renewed once, and the rotated refresh token is what the keyring keeps.
	as.ExpireAccess()
	refreshes := as.Requests("refresh")
	code, out = run("", "backup")
	if code != 0 || as.Requests("refresh") != refreshes+1 {
		t.Fatalf("backup with a refused access token: exit %d, %d refreshes\n%s", code, as.Requests("refresh")-refreshes, out)
	}
	if rotated := stored(); rotated == first || !strings.Contains(rotated, `"r":"rt-`) {
		t.Fatal("the rotated refresh token did not replace the old one in the keyring")
	}

	// Consent revoked: needs you, with the command; then no loop.
	as.RevokeUser(jane)
	code, out = run("", "backup")
	if code == 0 || !strings.Contains(out, "sign in again") || !strings.Contains(out, "accounts login "+name) {
		t.Fatalf("backup after the revocation: exit %d\n%s", code, out)
	}
	code, out = run("", "monitor", "--once")
	if code == 0 || !strings.Contains(out, "NEEDS YOU") {
		t.Fatalf("monitor --once after the revocation: exit %d\n%s", code, out)
	}
	if code, out = run("", "accounts", "list"); code != 0 || !strings.Contains(out, "SIGN IN AGAIN") {
		t.Fatalf("accounts list: %s", out)
	}
	refreshes, introspections := as.Requests("refresh"), as.Requests("introspect")
	for i := 0; i < 3; i++ {
		run("", "backup")
		run(letter, "send")
	}
	if as.Requests("refresh") != refreshes || as.Requests("introspect") != introspections {
		t.Errorf("after the revocation Lifeboat still asked: %d refreshes, %d logins",
			as.Requests("refresh")-refreshes, as.Requests("introspect")-introspections)
	}

	// Signed in again on another device: all works again.
	code, out = run("", "accounts", "login", name, "--device")
	if code != 0 || !strings.Contains(out, "ABCD-EFGH") || !strings.Contains(out, "Signed in") {
		t.Fatalf("accounts login --device: exit %d\n%s", code, out)
	}
	code, out = run("", "backup")
	if code != 0 {
		t.Fatalf("backup after signing in again: exit %d\n%s", code, out)
	}
	// What was sent while signed out waited in the outbox: retried now.
	_, out = run("", "outbox", "list")
	var ids []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "queued" {
			ids = append(ids, f[0])
		}
	}
	if len(ids) != 3 {
		t.Fatalf("%d messages queued while signed out, want 3\n%s", len(ids), out)
	}
	for _, id := range ids {
		if code, out = run("", "outbox", "retry", id); code != 0 {
			t.Fatalf("outbox retry %s: exit %d\n%s", id, code, out)
		}
	}
	if _, err := p.WaitForMail("tom", "INBOX", 4, 30*time.Second); err != nil {
		t.Fatalf("the messages queued while signed out were not sent (exit %d): %v\n%s", code, err, out)
	}

	// The provider lost the message: a restore (signed in with the token,
	// through the appender too) puts it back.
	if err := p.Dovecot.Expunge(jane, "INBOX", 1); err != nil {
		t.Fatal(err)
	}
	if code, out = run("", "restore", "--from", name, "--to", name); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if msgs, err := p.WaitForMail("jane", "INBOX", 1, 10*time.Second); err != nil || !bytes.Contains(msgs[0], []byte("before the outage")) {
		t.Fatalf("after the restore: %v\n%s", err, out)
	}

	revokes := as.Requests("revoke")
	code, out = run("", "accounts", "remove", name)
	if code != 0 || as.Requests("revoke") != revokes+1 || stored() != "" {
		t.Fatalf("accounts remove: exit %d, %d revocations, keyring entry left: %t\n%s", code, as.Requests("revoke")-revokes, stored() != "", out)
	}

	// No token anywhere but the keyring (now empty of them).
	var files []string
	for _, root := range []string{data, p.RuntimeDir} {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
	}
	issued := as.Issued()
	if len(issued) < 6 {
		t.Fatalf("only %d tokens were issued", len(issued))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, tok := range issued {
			if bytes.Contains(b, []byte(tok)) {
				t.Errorf("a token is in %s", f)
			}
		}
	}
	for _, tok := range issued {
		if strings.Contains(outputs.String(), tok) {
			t.Errorf("a token is in Lifeboat's output")
		}
	}
	t.Logf("%d files and %d bytes of output searched for %d tokens", len(files), outputs.Len(), len(issued))
}

// archived reports whether a message with subject is in an mbox file
// under root.
func archived(t *testing.T, root, subject string) bool {
	found := false
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.Contains(path, ".lifeboat") {
			if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("Subject: "+subject)) {
				found = true
			}
		}
		return nil
	})
	return found
}
