package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A bounce for a message sent earlier (the remote server refuses the
// recipient after the primary accepted the message): the next backup of
// the sender's inbox reads the provider's real DSN, the outbox entry turns
// bounced with the remote server's words, once.
func TestBounceOfASentMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	s := newStack(t)
	s.writeConfig("")
	letter := fmt.Sprintf("From: Jane Doe <%s>\r\nTo: <nobody@%s>\r\nSubject: to nobody\r\nMessage-ID: <bounce-drill@a.test>\r\n\r\nHello?\r\n", s.a.Email("jane"), s.b.Domain)
	code, out := s.run(letter, "send")
	if code != 0 {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	// Provider A's Postfix tries B, is refused, and returns a DSN to jane.
	msgs, err := s.a.WaitForMail("jane", "INBOX", 1, 30*time.Second)
	if err != nil || !strings.Contains(string(msgs[0]), "delivery-status") {
		t.Fatalf("no DSN in jane's inbox: %v\n%s", err, s.a.LogTail(30))
	}
	code, out = s.run("", "backup", "--account", "a")
	if code != 0 || !strings.Contains(out, "BOUNCED") || !strings.Contains(out, "nobody@"+s.b.Domain) || !strings.Contains(out, "5.1.1") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	t.Logf("backup said:\n%s", out)
	_, out = s.run("", "outbox")
	if !strings.Contains(out, "Sent, but bounced") || !strings.Contains(out, "bounce-drill@a.test") || !strings.Contains(out, "sent through a") {
		t.Fatalf("outbox:\n%s", out)
	}
	// News once: the next backup finds nothing new.
	if _, out = s.run("", "backup", "--account", "a"); strings.Contains(out, "BOUNCED") {
		t.Errorf("the bounce was reported again:\n%s", out)
	}
	// Send it again through B, to the bounced recipient only. (B knows
	// nobody@ as its own unknown user and refuses it at once: the refusal
	// is B's, which is what shows the message went through B.)
	_, out = s.run("", "outbox")
	id := ""
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "BOUNCED" {
			id = f[1]
		}
	}
	code, out = s.run("", "outbox", "resend", id, "--via", "b")
	if !strings.Contains(out, "Queued again as") || !strings.Contains(out, "through b") || !strings.Contains(out, "nobody@"+s.b.Domain) {
		t.Fatalf("resend %s --via b: exit %d\n%s", id, code, out)
	}
	t.Logf("resend said:\n%s", out)
	if code, out = s.run("", "outbox", "resend", id, "--via", "nope"); code != 2 {
		t.Errorf("resend through an unknown account: exit %d\n%s", code, out)
	}
}
