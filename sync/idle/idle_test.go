package idle

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
)

func watchDemo(t *testing.T, caps imap.CapSet) {
	p, err := demo.Start(demo.Options{Empty: true, Caps: caps})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		Watch(ctx, Options{Endpoint: p.Endpoint(), Password: func() (string, error) { return p.Password, nil }, Poll: 100 * time.Millisecond,
			Changed: func() { changed <- struct{}{} }})
		close(done)
	}()
	time.Sleep(300 * time.Millisecond) // logged in and watching
	p.Deliver("INBOX", []byte("Subject: new\r\n\r\nnew\r\n"), time.Now())
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("new mail was not noticed")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not stop with its context")
	}
}

func TestIdleNoticesNewMail(t *testing.T) { watchDemo(t, nil) }

func TestPollWithoutIdle(t *testing.T) {
	watchDemo(t, imap.CapSet{imap.CapIMAP4rev1: {}})
}
