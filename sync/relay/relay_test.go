package relay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
)

func start(t *testing.T) (*Relay, *outbox.Outbox, chan string) {
	ob, err := outbox.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	queued := make(chan string, 10)
	r, err := Start(Options{Addr: "127.0.0.1:0", Password: "gen-Pa55", Outbox: ob, AuthFailureDelay: time.Millisecond,
		Queued: func(id string) { queued <- id }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, ob, queued
}

const message = "From: Jane <jane@bt.test>\r\nTo: tom@x.test\r\nSubject: via relay\r\n\r\nhello\r\n"

func submit(r *Relay, auth sasl.Client) error {
	c, err := smtp.Dial(r.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	return c.SendMail("jane@bt.test", []string{"tom@x.test", "ann@y.test"}, strings.NewReader(message))
}

func TestRelayQueuesOnlyAuthenticatedMail(t *testing.T) {
	r, ob, queued := start(t)
	var se *smtp.SMTPError
	if err := submit(r, nil); !errors.As(err, &se) || se.Code/100 != 5 {
		t.Fatalf("unauthenticated mail: %v (must never be an open relay)", err)
	}
	if err := submit(r, sasl.NewPlainClient("", "lifeboat", "wrong")); !errors.As(err, &se) || se.Code != 535 {
		t.Fatalf("wrong password: %v", err)
	}
	if items, _ := ob.List(); len(items) != 0 {
		t.Fatal("refused mail was queued")
	}
	if err := submit(r, sasl.NewPlainClient("", "lifeboat", "gen-Pa55")); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	if err := submit(r, sasl.NewLoginClient("lifeboat", "gen-Pa55")); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	items, _ := ob.List()
	if len(items) != 2 || r.Accepted() != 2 {
		t.Fatalf("%d queued", len(items))
	}
	it := items[0]
	if it.From != "jane@bt.test" || strings.Join(it.To, ",") != "tom@x.test,ann@y.test" || it.MessageID == "" || it.Via != "relay" {
		t.Fatalf("envelope %+v", it.Envelope)
	}
	rc, _, _ := ob.Open(it.ID)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(b), "Subject: via relay\r\n") || !strings.Contains(string(b), "Message-ID: "+it.MessageID) {
		t.Fatalf("queued bytes:\n%s", b)
	}
	select {
	case <-queued:
	default:
		t.Fatal("the router was not woken")
	}
}

func TestRelayRefusesRemoteWithoutPermission(t *testing.T) {
	ob, _ := outbox.Open(t.TempDir())
	if _, err := Start(Options{Addr: "0.0.0.0:0", Password: "x", Outbox: ob}); !errors.Is(err, ErrRemote) {
		t.Fatalf("got %v", err)
	}
	if _, err := Start(Options{Addr: "0.0.0.0:0", Password: "x", Outbox: ob, AllowRemote: true}); err == nil {
		t.Fatal("remote listening without TLS was allowed")
	}
	tc, err := LoadOrCreateTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(Options{Addr: "0.0.0.0:0", Password: "x", Outbox: ob, AllowRemote: true, TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// tryWrong opens a connection from local address from (127.0.0.x) and tries
// n wrong passwords on it; it returns the replies' codes (0: no reply, the
// connection was closed).
func tryWrong(r *Relay, from string, n int) []int {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", r.Addr)
	if err != nil {
		return nil
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("test"); err != nil {
		return nil
	}
	var codes []int
	for i := 0; i < n; i++ {
		err := c.Auth(sasl.NewPlainClient("", "lifeboat", fmt.Sprintf("guess-%d", i)))
		var se *smtp.SMTPError
		switch {
		case errors.As(err, &se):
			codes = append(codes, se.Code)
		default:
			codes = append(codes, 0)
		}
	}
	return codes
}

// Password guessing is bounded: per source, overall, and per connection;
// beyond the limits the password is not even looked at.
func TestFailedLoginsAreLimited(t *testing.T) {
	ob, err := outbox.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	newRelay := func(o Options) *Relay {
		o.Addr, o.Password, o.Outbox, o.AuthFailureDelay = "127.0.0.1:0", "gen-Pa55", ob, time.Millisecond
		r, err := Start(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}

	// 30 parallel clients from one address: at most 5 guesses in the window.
	r := newRelay(Options{AuthWindow: 2 * time.Second})
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); tryWrong(r, "127.0.0.1", 2) }()
	}
	wg.Wait()
	if n := r.Checked(); n > 5 {
		t.Fatalf("%d passwords looked at from one source within the window, limit 5", n)
	}
	// Locked out: even the right password is not looked at.
	if err := submit(r, sasl.NewPlainClient("", "lifeboat", "gen-Pa55")); err == nil || !strings.Contains(err.Error(), "454") {
		t.Fatalf("during the lockout: %v", err)
	}
	time.Sleep(2100 * time.Millisecond)
	if err := submit(r, sasl.NewPlainClient("", "lifeboat", "gen-Pa55")); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	// 30 sources (127.0.0.2…): at most 20 guesses overall.
	r = newRelay(Options{AuthWindow: time.Minute, AuthFailuresPerSource: 100})
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); tryWrong(r, fmt.Sprintf("127.0.0.%d", 2+i), 2) }()
	}
	wg.Wait()
	if n := r.Checked(); n > 20 {
		t.Fatalf("%d passwords looked at overall within the window, limit 20", n)
	}

	// One connection: closed after 3 failures.
	r = newRelay(Options{AuthFailuresPerSource: 100})
	codes := tryWrong(r, "127.0.0.1", 5)
	if len(codes) != 5 || codes[0] != 535 || codes[1] != 535 || codes[2] != 421 || codes[3] != 0 {
		t.Fatalf("replies on one connection: %v (want 535 535 421, then closed)", codes)
	}
}
