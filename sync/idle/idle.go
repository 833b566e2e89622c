// Package idle watches a mailbox with IMAP IDLE so that new mail can be
// backed up within seconds while the app runs (README "The desktop app").
// It only
// signals; the backup engine does the fetching.
//
// The connection is re-established with backoff (1 s doubling to 5 min,
// reset after a healthy minute) until the context ends. Servers without
// IDLE are polled with NOOP every Poll interval instead.
package idle

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Options configure Watch.
type Options struct {
	Endpoint imapconn.Endpoint
	Password func() (string, error)
	Mailbox  string // default INBOX
	// Changed is called (from Watch's goroutine) when the mailbox's message
	// count changes; calls are coalesced while one is running.
	Changed func()
	// Poll is the NOOP interval for servers without IDLE (default 2 min).
	Poll time.Duration
	// Error, if set, hears connection problems (the watch goes on).
	Error func(error)
}

// Watch runs until ctx ends. A panic inside it (in Changed, say) is
// reported to Error as an internal error and the watch goes on, as after a
// connection problem: a watcher that dies silently would leave the inbox
// unwatched while the app shows it watched.
func Watch(ctx context.Context, o Options) {
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	if o.Poll == 0 {
		o.Poll = 2 * time.Minute
	}
	backoff := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := watchSafely(ctx, o)
		if ctx.Err() != nil {
			return
		}
		if o.Error != nil && err != nil {
			o.Error(err)
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

func watchSafely(ctx context.Context, o Options) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error while watching %s (please report): %v\n%s", o.Mailbox, p, debug.Stack())
		}
	}()
	return watchOnce(ctx, o)
}

func watchOnce(ctx context.Context, o Options) error {
	pw, err := o.Password()
	if err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	handler := &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		},
	}
	c, err := imapconn.Dial(ctx, o.Endpoint, pw, &imapconn.Options{UnilateralDataHandler: handler})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Select(o.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return fmt.Errorf("watching %s: %w", o.Mailbox, err)
	}
	useIdle := c.Caps().Has(imap.CapIdle)
	for {
		var idleCmd *imapclient.IdleCommand
		if useIdle {
			if idleCmd, err = c.Idle(); err != nil {
				return err
			}
		}
		var tick <-chan time.Time
		if !useIdle {
			tick = time.After(o.Poll)
		}
		select {
		case <-ctx.Done():
			if idleCmd != nil {
				idleCmd.Close()
			}
			return nil
		case <-c.Closed():
			return errors.New("the server closed the connection")
		case <-tick:
			if err := c.Noop().Wait(); err != nil {
				return err
			}
			continue
		case <-changed:
		}
		if idleCmd != nil {
			if err := idleCmd.Close(); err != nil {
				return err
			}
		}
		if o.Changed != nil {
			o.Changed()
		}
	}
}
