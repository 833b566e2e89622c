package idle

import (
	"context"
	"strings"
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

// A panic in the watch (here in Changed) is reported as an error and the
// watch goes on.
func TestPanicIsReportedAndTheWatchGoesOn(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan int, 10)
	errs := make(chan error, 10)
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, Options{Endpoint: p.Endpoint(), Password: func() (string, error) { return p.Password, nil },
			Changed: func() {
				calls++
				if calls == 1 {
					panic("injected")
				}
				changed <- calls
			},
			Error: func(err error) { errs <- err }})
	}()
	deliver := func() {
		time.Sleep(300 * time.Millisecond)
		p.Deliver("INBOX", []byte("Subject: new\r\n\r\nnew\r\n"), time.Now())
	}
	deliver()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("reported: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the panic was not reported")
	}
	time.Sleep(1200 * time.Millisecond) // the watch reconnects after its backoff
	deliver()
	select {
	case n := <-changed:
		if n != 2 {
			t.Fatalf("call %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not go on after the panic")
	}
	cancel()
	<-done
}
