package relay

import (
	"errors"
	"io"
	"strings"
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
