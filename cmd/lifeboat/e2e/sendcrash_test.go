package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/smtpsink"
)

type sendRig struct {
	t       *testing.T
	bin     string
	cfg     string
	data    string
	bt, gm  *smtpsink.Server
	btIMAP  *demo.Provider
	counter int
}

func newSendRig(t *testing.T, bin string) *sendRig {
	r := &sendRig{t: t, bin: bin, data: t.TempDir()}
	r.bt = smtpsink.Start(t, smtpsink.Options{})
	r.gm = smtpsink.Start(t, smtpsink.Options{})
	var err error
	if r.btIMAP, err = demo.Start(demo.Options{Empty: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.btIMAP.Close() })
	imap := r.btIMAP.Endpoint()
	account := func(name, email string, s *smtpsink.Server) string {
		return fmt.Sprintf(`
[[account]]
name = %q
email = %q
[account.imap]
host = "127.0.0.1"
port = %d
security = "plain"
username = %q
password_command = "printf %%s %s"
[account.smtp]
host = "127.0.0.1"
port = %d
security = "starttls"
username = "user1"
tls_ca_file = %q
password_command = "printf pass1"
`, name, email, imap.Port, imap.Username, r.btIMAP.Password, s.Port, s.CAFile)
	}
	cfg := fmt.Sprintf("archive_dir = %q\n", filepath.Join(r.data, "archive")) +
		account("bt", "jane@bt.test", r.bt) + account("gmail", "jane@gmail.test", r.gm) + "[failover]\norder = [\"bt\", \"gmail\"]\n"
	r.cfg = filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(r.cfg, []byte(cfg), 0o600)
	return r
}

func (r *sendRig) run(stdin string, env []string, args ...string) (int, string) {
	cmd := exec.Command(r.bin, append([]string{"--config", r.cfg}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+r.data)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return exitCode(err), out.String()
}

func (r *sendRig) letter() (string, string) {
	r.counter++
	mid := fmt.Sprintf("<crash-%d@bt.test>", r.counter)
	return fmt.Sprintf("From: Jane <jane@bt.test>\r\nTo: tom@x.test\r\nSubject: crash %d\r\nMessage-ID: %s\r\n\r\nbody\r\n", r.counter, mid), mid
}

func copies(servers []*smtpsink.Server, mid string) int {
	n := 0
	for _, s := range servers {
		for _, m := range s.Messages() {
			if bytes.Contains(m.Data, []byte("Message-ID: "+mid)) {
				n++
			}
		}
	}
	return n
}

// queuedID is the message ID `lifeboat send` printed ("Queued ID (...").
func queuedID(t *testing.T, out string) string {
	t.Helper()
	i := strings.Index(out, "Queued ")
	if i < 0 {
		t.Fatalf("no Queued line:\n%s", out)
	}
	return strings.Fields(out[i+len("Queued "):])[0]
}

// TestSendCrashBetweenLedgerSteps kills `lifeboat send` with SIGKILL right
// after each ledger step, then lets the next run finish the job: every
// message is delivered exactly once. Where the server may have taken the
// message without answering, the Sent folder answers when it holds it;
// when it cannot tell (this provider does not file submissions there), the
// message is held with a question for the user, never sent again blindly.
func TestSendCrashBetweenLedgerSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	r := newSendRig(t, buildLifeboat(t))
	servers := []*smtpsink.Server{r.bt, r.gm}
	// held checks that a message waits for the user's answer, then answers
	// as the user would after asking the recipient: send it again.
	held := func(t *testing.T, id, mid string) {
		t.Helper()
		code, out := r.run("", nil, "outbox", "send")
		if code != 0 || !strings.Contains(out, "may have accepted this message") || !strings.Contains(out, "needs-user") {
			t.Fatalf("not held for the user: %d\n%s", code, out)
		}
		if n := copies(servers, mid); n != 0 {
			t.Fatalf("held, yet delivered %d times", n)
		}
		if code, out := r.run("", nil, "outbox", "retry", id); code != 0 || !strings.Contains(out, "Sent through bt") {
			t.Fatalf("the user's send-again: %d\n%s", code, out)
		}
	}
	for _, step := range []string{"submitting", "data-sent", "accepted"} {
		t.Run(step, func(t *testing.T) {
			msg, mid := r.letter()
			code, out := r.run(msg, []string{"LIFEBOAT_CRASH_AFTER_STEP=" + step}, "send")
			if code != -1 || !strings.Contains(out, "Queued ") {
				t.Fatalf("the sender was not killed at %s (exit %d):\n%s", step, code, out)
			}
			if step == "data-sent" { // killed before the final dot: nothing was accepted, but who could know
				held(t, queuedID(t, out), mid)
			}
			code, out = r.run("", nil, "outbox", "send")
			if code != 0 || !strings.Contains(out, "empty") {
				t.Fatalf("after the crash at %s: %d\n%s", step, code, out)
			}
			if n := copies(servers, mid); n != 1 {
				t.Fatalf("crash at %s: delivered %d times, want exactly once\n%s", step, n, out)
			}
		})
	}
	t.Run("ambiguous, found in Sent", func(t *testing.T) {
		msg, mid := r.letter()
		r.bt.Set(smtpsink.Faults{AcceptThenDrop: true})
		code, out := r.run(msg, nil, "send")
		if code != 0 || !strings.Contains(out, "ambiguous") {
			t.Fatalf("%d\n%s", code, out)
		}
		r.bt.Set(smtpsink.Faults{})
		// The provider filed the message in Sent, as Gmail does.
		r.btIMAP.Deliver("Sent", []byte(msg), time.Now())
		code, out = r.run("", nil, "outbox", "send")
		if code != 0 || !strings.Contains(out, "empty") {
			t.Fatalf("%d\n%s", code, out)
		}
		if n := copies(servers, mid); n != 1 {
			t.Fatalf("ambiguous message delivered %d times, want once (no blind resend)", n)
		}
	})
	t.Run("ambiguous, not in Sent", func(t *testing.T) {
		msg, mid := r.letter()
		r.bt.Set(smtpsink.Faults{DropAfterData: true})
		code, out := r.run(msg, nil, "send")
		if code != 0 || !strings.Contains(out, "ambiguous") {
			t.Fatalf("%d\n%s", code, out)
		}
		r.bt.Set(smtpsink.Faults{})
		held(t, queuedID(t, out), mid)
		if n := copies(servers, mid); n != 1 {
			t.Fatalf("delivered %d times, want once", n)
		}
	})
}
