package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/smtpsink"
)

func (h *harness) writeSendConfig(primary, secondary *smtpsink.Server, primaryPort int) {
	h.t.Helper()
	cfg := fmt.Sprintf(`archive_dir = %q

[[account]]
name = "bt"
email = "jane@bt.test"
[account.imap]
host = "127.0.0.1"
port = 1
security = "plain"
username = "user1"
[account.smtp]
host = "127.0.0.1"
port = %d
security = "starttls"
tls_ca_file = %q

[[account]]
name = "gmail"
email = "jane@gmail.test"
[account.imap]
host = "127.0.0.1"
port = 1
security = "plain"
username = "user1"
[account.smtp]
host = "127.0.0.1"
port = %d
security = "starttls"
tls_ca_file = %q

[failover]
order = ["bt", "gmail"]
`, h.dir+"/archive", primaryPort, primary.CAFile, secondary.Port, secondary.CAFile)
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.secrets.Set(secrets.Service, secrets.KeyFor("bt"), "pass1")
	h.secrets.Set(secrets.Service, secrets.KeyFor("gmail"), "pass1")
}

const letter = "From: Jane Doe <jane@bt.test>\nTo: tom@x.test\nBcc: boss@x.test\nSubject: Saturday\n\nSee you.\n"

func TestSendFailsOverAndQueues(t *testing.T) {
	h := newHarness(t)
	bt := smtpsink.Start(t, smtpsink.Options{})
	gm := smtpsink.Start(t, smtpsink.Options{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	h.writeSendConfig(bt, gm, dead) // the primary refuses connections

	code, out, errs := h.run(letter, "send")
	if code != ExitOK || !strings.Contains(out, "Queued ") || !strings.Contains(out, "Sent through gmail") || !strings.Contains(out, "bt: cannot connect") {
		t.Fatalf("send: %d\n%s\n%s", code, out, errs)
	}
	got := gm.Messages()
	if len(got) != 1 || strings.Join(got[0].To, ",") != "tom@x.test,boss@x.test" || strings.Contains(string(got[0].Data), "boss@x.test") ||
		!strings.Contains(string(got[0].Data), "Reply-To: Jane Doe <jane@bt.test>") {
		t.Fatalf("secondary got %+v\n%s", got, got[0].Data)
	}
	if code, out, _ := h.run("", "outbox"); code != 0 || !strings.Contains(out, "empty") {
		t.Fatalf("outbox after sending: %s", out)
	}

	// Every provider down: queued, listed, and dropped on request.
	gm.Set(smtpsink.Faults{RefuseConnections: true})
	code, out, _ = h.run(letter, "send")
	if code != ExitOK || !strings.Contains(out, "Not sent yet") {
		t.Fatalf("send with all down: %d\n%s", code, out)
	}
	code, out, _ = h.run("", "outbox")
	if code != 0 || !strings.Contains(out, "queued") || !strings.Contains(out, "every account failed") {
		t.Fatalf("outbox list: %s", out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	// The secondary comes back: retry delivers.
	gm.Set(smtpsink.Faults{})
	if code, out, _ := h.run("", "outbox", "retry", id); code != 0 || !strings.Contains(out, "Sent through gmail") {
		t.Fatalf("retry: %d %s", code, out)
	}
	if len(gm.Messages()) != 2 {
		t.Fatal("retry did not deliver")
	}
	if code, _, errs := h.run("", "outbox", "drop", "nonexistent"); code == 0 {
		t.Fatalf("dropping an unknown id: %s", errs)
	}
}

func TestRelayCredentials(t *testing.T) {
	h := newHarness(t)
	bt := smtpsink.Start(t, smtpsink.Options{})
	h.writeSendConfig(bt, bt, bt.Port)
	code, out, _ := h.run("", "relay", "--show-credentials")
	if code != 0 || !strings.Contains(out, "127.0.0.1:1587") || !strings.Contains(out, "user name:   lifeboat") {
		t.Fatalf("%d %s", code, out)
	}
	pw, err := h.secrets.Get(secrets.Service, secrets.RelayKey)
	if err != nil || len(pw) < 20 || !strings.Contains(out, pw) {
		t.Fatalf("generated relay password: %q %v", pw, err)
	}
	// Stable across runs.
	_, out2, _ := h.run("", "relay", "--show-credentials")
	if out2 != out {
		t.Fatal("the relay password changed between runs")
	}
}

func TestMonitorOnce(t *testing.T) {
	h := newHarness(t)
	bt := smtpsink.Start(t, smtpsink.Options{})
	h.writeSendConfig(bt, bt, bt.Port)
	// IMAP points at port 1 (nothing there); SMTP at a working server.
	code, out, errs := h.run("", "monitor", "--once")
	if code != ExitFailure {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "bt imap: FAILED at tcp") || !strings.Contains(out, "bt smtp: ok (") || !strings.Contains(out, "greeting") {
		t.Fatalf("probe output:\n%s", out)
	}
	// The change of state it saw is in the incident history that status shows.
	code, out, _ = h.run("", "status")
	if !strings.Contains(out, "Last known provider health:") || !strings.Contains(out, "bt: ") || !strings.Contains(out, "Recent provider incidents") {
		t.Fatalf("status after monitor: %d\n%s", code, out)
	}
}

// noKeyring is a store that is not there, as on a headless server.
type noKeyring struct{}

func (noKeyring) Get(string, string) (string, error) {
	return "", errors.New("failed to unlock correct collection")
}
func (noKeyring) Set(string, string, string) error {
	return errors.New("failed to unlock correct collection")
}
func (noKeyring) Delete(string, string) error {
	return errors.New("failed to unlock correct collection")
}

// On a computer without a desktop keyring the relay's credentials come
// from relay_password_command, and the advice says so.
func TestRelayCredentialsWithoutAKeyring(t *testing.T) {
	h := newHarness(t)
	bt := smtpsink.Start(t, smtpsink.Options{})
	h.writeSendConfig(bt, bt, bt.Port)
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Secrets: noKeyring{}}
		return Main(context.Background(), append([]string{"--config", h.config}, args...), env), out.String()
	}
	if code, out := run("relay", "--show-credentials"); code != ExitFailure || !strings.Contains(out, "relay_password_command") {
		t.Fatalf("without a keyring: %d\n%s", code, out)
	}
	cfg, _ := os.ReadFile(h.config)
	os.WriteFile(h.config, append(cfg, []byte("relay_password_command = \"printf headless-Pa55\"\n")...), 0o600)
	code, out := run("relay", "--show-credentials")
	if code != 0 || !strings.Contains(out, "password:    headless-Pa55") || !strings.Contains(out, "fingerprint: SHA256:") {
		t.Fatalf("with relay_password_command: %d\n%s", code, out)
	}
}
