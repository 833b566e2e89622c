package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/outbox"
)

// holdProxy forwards TCP to a target; once a client has sent more than
// after bytes (its message, past the encrypted handshake and DATA), the
// server's next words are held back for hold: the answer to the final dot
// arrives late, as from a provider that accepted the message and then
// stalled. held is closed when the first answer is being held.
type holdProxy struct {
	ln    net.Listener
	held  chan struct{}
	once  sync.Once
	after int64
	hold  time.Duration
}

func newHoldProxy(t *testing.T, target string, after int64, hold time.Duration) *holdProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, held: make(chan struct{}), after: after, hold: hold}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			var sent atomic.Int64
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					sent.Add(int64(n))
					if n > 0 {
						s.Write(buf[:n])
					}
					if err != nil {
						s.Close()
						return
					}
				}
			}()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 && sent.Load() > p.after {
						p.once.Do(func() { close(p.held) })
						time.Sleep(p.hold)
					}
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							s.Close()
							return
						}
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *holdProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// TestKilledWaitingForTheFinalReply is the drill of README's promise
// "never a blind resend": real Postfix accepts the message, its answer to
// the final dot is held back for 6 s, and meanwhile the relay is killed
// with SIGKILL (and, in a second run, `lifeboat send` is stopped with
// SIGTERM, as Ctrl-C or closing the app would). Started again, Lifeboat
// does not send the message a second time: this provider does not file
// submissions in a folder it could search, so it asks; the recipient has
// exactly one copy.
func TestKilledWaitingForTheFinalReply(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix and Dovecot")
	}
	needKeyring(t)
	s := newStack(t)
	body := strings.Repeat("a line of the message that goes out before its end is held\r\n", 4000) // ~240 KB
	letter := func(id string) string {
		return fmt.Sprintf("From: Jane <%s>\r\nTo: Tom <%s>\r\nMessage-ID: <%s@a.test>\r\nSubject: %s\r\n\r\n%s",
			s.a.Email("jane"), s.b.Email("tom"), id, id, body)
	}
	ob, err := outbox.Open(filepath.Join(s.data, "lifeboat", "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	check := func(mid string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var held *outbox.Item
		for held == nil && time.Now().Before(deadline) {
			s.run("", "outbox", "send") // as any later Lifeboat run would, without waiting for the relay's next round
			items, _ := ob.List()
			for _, it := range items {
				if it.MessageID == mid && it.State() == outbox.NeedsUser {
					held = it
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		if held == nil {
			items, _ := ob.List()
			t.Fatalf("%s was not held for the user: outbox %v", mid, items)
		}
		if why := held.Last().Reason; !strings.Contains(why, "may have accepted this message") {
			t.Fatalf("the question: %q", why)
		}
		s.tomsMail(1)
		time.Sleep(3 * time.Second) // anything sent twice has arrived by now
		msgs, _ := s.b.WaitForMail("tom", "INBOX", 0, time.Second)
		n := 0
		for _, m := range msgs {
			if header(m, "Message-ID") == mid {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s: tom has %d copies, want exactly 1", mid, n)
		}
		// The user, seeing it arrived, drops it.
		if code, out := s.run("", "outbox", "drop", held.ID); code != 0 {
			t.Fatalf("drop: %d %s", code, out)
		}
	}

	// 1. The relay, killed with SIGKILL while the answer is held.
	hold := newHoldProxy(t, s.a.SubmissionAddr, 100<<10, 6*time.Second)
	s.aSubmission = hold.Port()
	s.writeConfig("")
	relay, password, _ := s.startRelay()
	swaks := s.swaks(password, "-")
	swaks.Stdin = strings.NewReader(letter("held-1"))
	if out, err := swaks.CombinedOutput(); err != nil {
		t.Fatalf("swaks: %v %s", err, out)
	}
	select {
	case <-hold.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay never reached the final dot")
	}
	relay.Process.Signal(syscall.SIGKILL)
	relay.Wait()
	s.startRelay()
	check("<held-1@a.test>")

	// 2. `lifeboat send`, stopped with SIGTERM while the answer is held.
	hold2 := newHoldProxy(t, s.a.SubmissionAddr, 100<<10, 6*time.Second)
	s.aSubmission = hold2.Port()
	s.writeConfig("")
	send := s.command("send")
	send.Stdin = strings.NewReader(letter("held-2"))
	var sendOut syncBuffer
	send.Stdout, send.Stderr = &sendOut, &sendOut
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold2.held:
	case <-time.After(30 * time.Second):
		t.Fatalf("send never reached the final dot:\n%s", sendOut.String())
	}
	send.Process.Signal(syscall.SIGTERM)
	send.Wait()
	if out := sendOut.String(); !strings.Contains(out, "Queued ") || strings.Contains(out, "Sent through") {
		t.Fatalf("send, stopped at the final dot:\n%s", out)
	}
	check("<held-2@a.test>")
}
