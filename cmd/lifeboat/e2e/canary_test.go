package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// The misrouting drill (BT, 2025): provider A accepts its customers' mail
// and delivers it into one internal test mailbox. Every probe and login
// still succeeds; only a delivery check notices. Then the next message
// goes through B, and A comes back once a check arrives again.
func TestMisroutingDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	s := newStackWith(t, map[string]string{"jane": "a-secret", "testbox": "tb-secret"})
	s.writeConfig("")
	cfg, _ := os.ReadFile(s.cfg)
	text := string(cfg)
	i := strings.Index(text, "[[account]]")
	j := i + len("[[account]]") + strings.Index(text[i+len("[[account]]"):], "[[account]]")
	text = text[:j] + "[account.canary]\nevery = \"1h\"\ndeadline = \"10s\"\n\n" + text[j:]
	if err := os.WriteFile(s.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	canary := func() (int, string, time.Duration) {
		start := time.Now()
		code, out := s.run("", "monitor", "--once", "--canary")
		return code, out, time.Since(start)
	}
	code, out, took := canary()
	if code != 0 || !strings.Contains(out, "a: delivered to INBOX") {
		t.Fatalf("canary, A healthy: exit %d\n%s", code, out)
	}
	t.Logf("healthy: %s in %v", strings.TrimSpace(out), took)
	if msgs, _ := s.a.WaitForMail("jane", "INBOX", 0, time.Second); len(msgs) != 0 {
		t.Errorf("the delivery check was left in the inbox (%d messages)", len(msgs))
	}

	if err := s.a.Misroute("testbox"); err != nil {
		t.Fatal(err)
	}
	code, out, took = canary()
	if code != 3 || !strings.Contains(out, "a: NOT DELIVERED") || !strings.Contains(out, "accepted but not delivered") {
		t.Fatalf("canary, A misrouting: exit %d\n%s", code, out)
	}
	t.Logf("misrouting noticed in %v: %s", took, strings.TrimSpace(out))
	if msgs, err := s.a.WaitForMail("testbox", "INBOX", 1, 10*time.Second); err != nil || !strings.Contains(string(msgs[0]), "Lifeboat delivery check") {
		t.Fatalf("the probe did not land in the test mailbox: %v", err)
	}
	// The next message: A is known not to deliver, so B sends it.
	code, out = s.run(s.letter("during the misrouting"), "send")
	if code != 0 {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	msgs := s.tomsMail(1)
	if from := header(msgs[0], "From"); !strings.Contains(from, s.b.Email("jane")) {
		t.Errorf("sent through A anyway? From: %s\n%s", from, out)
	}
	if _, out = s.run("", "status"); !strings.Contains(out, "not delivered") {
		t.Errorf("status does not say A is not delivering:\n%s", out)
	}

	if err := s.a.Misroute(""); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = canary(); code != 0 {
		t.Fatalf("canary after the fix: exit %d\n%s", code, out)
	}
	code, out = s.run(s.letter("after the fix"), "send")
	msgs = s.tomsMail(2)
	if from := header(msgs[1], "From"); code != 0 || !strings.Contains(from, s.a.Email("jane")) {
		t.Errorf("after the fix, not sent through A: exit %d, From: %s\n%s", code, from, out)
	}
}
