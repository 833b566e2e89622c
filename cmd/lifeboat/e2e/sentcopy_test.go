package e2e

import (
	"strings"
	"testing"
	"time"
)

// After a failover, with file_in_sent: the message that went out through B
// while A's submission service was down is put into A's Sent folder, once,
// by the relay that runs when A is back; the one-shot send that carried it
// through B did not wait for A.
func TestFailedOverCopyInPrimarysSent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	needKeyring(t)
	s := newStack(t)
	s.writeConfig("file_in_sent = true\n")
	s.aSMTP.Cut()
	code, out := s.run(s.letter("while A was down"), "send")
	if code != 0 || !strings.Contains(out, "Sent through b") {
		t.Fatalf("send with A's SMTP down: %d\n%s", code, out)
	}
	sent := s.tomsMail(1)[0]
	if msgs, err := s.a.WaitForMail("jane", "Sent", 1, time.Second); err == nil {
		t.Fatalf("A's Sent holds %d messages before anything filed them", len(msgs))
	}
	s.aSMTP.Restore()
	relay, _, relayOut := s.startRelay()
	msgs, err := s.a.WaitForMail("jane", "Sent", 1, 30*time.Second)
	if err != nil {
		t.Fatalf("%v\nthe relay said:\n%s", err, relayOut.String())
	}
	if len(msgs) != 1 || header(msgs[0], "Message-ID") != header(sent, "Message-ID") || !strings.Contains(string(msgs[0]), "while A was down") {
		t.Fatalf("A's Sent holds %d messages; first:\n%s", len(msgs), msgs[0])
	}
	if !strings.Contains(relayOut.String(), "a copy of the message sent through b is now in its folder \"Sent\"") {
		t.Errorf("the relay did not say it filed the copy:\n%s", relayOut.String())
	}
	// A second relay run files nothing more.
	relay.Process.Kill()
	relay.Wait()
	_, _, relayOut = s.startRelay()
	time.Sleep(2 * time.Second)
	if msgs, _ := s.a.WaitForMail("jane", "Sent", 2, time.Second); len(msgs) != 0 {
		t.Fatalf("A's Sent holds %d copies after a second relay run", len(msgs))
	}
	if strings.Contains(relayOut.String(), "is now in its folder") {
		t.Fatalf("the second relay filed again:\n%s", relayOut.String())
	}
}
