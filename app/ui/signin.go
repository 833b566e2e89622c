package ui

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// ShowURLAfter is how long the sign-in waits for the browser before it
// shows the address to copy and Try again (PRODUCT.md §9.2: sign-in must
// not strand the user when no browser opens).
var ShowURLAfter = 3 * time.Second

// signInTimeout bounds one sign-in attempt.
const signInTimeout = 10 * time.Minute

// SignInPanel is "Sign in with Microsoft" (or Google): the system browser
// opens; when nothing has come back after ShowURLAfter, the address is
// shown to copy into a browser, with Try again. The work runs off the UI
// goroutine.
type SignInPanel struct {
	root     fyne.CanvasObject
	Button   *widget.Button
	TryAgain *widget.Button
	Copy     *widget.Button
	URL      *widget.Entry
	Status   *widget.Label
	urlRow   *fyne.Container
	// Prepare, when set, runs on the UI goroutine before each attempt
	// (reading the form); an error is shown and nothing starts.
	Prepare func() error

	tasks   *tasks
	open    func(string) error
	start   func(ctx context.Context, b oauth.Browser) error
	done    func(error)
	cancel  context.CancelFunc
	attempt atomic.Int32
	// changed is signalled after each change made from the background
	// (tests wait on it).
	changed chan struct{}
}

func (p *SignInPanel) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Root is the panel's content.
func (p *SignInPanel) Root() fyne.CanvasObject { return p.root }

// openInBrowser opens u with the desktop's handler for web pages.
func openInBrowser(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	a := fyne.CurrentApp()
	if a == nil {
		return errors.New("no application")
	}
	return a.OpenURL(pu)
}

// NewSignInPanel builds the panel for provider ("Microsoft"). start runs
// one sign-in (blocking until it is done); done hears how it ended, on the
// UI goroutine. open nil means the system browser.
func NewSignInPanel(provider string, t *tasks, open func(string) error, start func(ctx context.Context, b oauth.Browser) error, done func(error)) *SignInPanel {
	if open == nil {
		open = openInBrowser
	}
	p := &SignInPanel{tasks: t, open: open, start: start, done: done, changed: make(chan struct{}, 10)}
	p.Status = widget.NewLabel("")
	p.Status.Wrapping = fyne.TextWrapWord
	p.URL = widget.NewMultiLineEntry()
	p.URL.Wrapping = fyne.TextWrapBreak
	p.URL.SetMinRowsVisible(3)
	p.Button = widget.NewButtonWithIcon("Sign in with "+provider, theme.LoginIcon(), p.begin)
	p.Button.Importance = widget.HighImportance
	p.TryAgain = widget.NewButtonWithIcon("Try again", theme.ViewRefreshIcon(), p.begin)
	p.Copy = widget.NewButtonWithIcon("Copy address", theme.ContentCopyIcon(), func() {
		if a := fyne.CurrentApp(); a != nil {
			a.Clipboard().SetContent(p.URL.Text)
			p.Status.SetText("Address copied: paste it into your browser.")
		}
	})
	p.urlRow = container.NewVBox(widget.NewLabel("Your browser did not answer yet. Open this address in a browser to sign in:"),
		p.URL, container.NewHBox(p.Copy, p.TryAgain))
	p.urlRow.Hide()
	p.root = container.NewVBox(p.Button, p.urlRow, p.Status)
	return p
}

// begin starts a sign-in, ending the one before (Try again).
func (p *SignInPanel) begin() {
	if p.Prepare != nil {
		if err := p.Prepare(); err != nil {
			p.Status.SetText(err.Error())
			return
		}
	}
	// The new attempt is counted before the old one is ended, so that the
	// old one, waking up cancelled, finds itself superseded and leaves the
	// panel alone (it must not report the cancellation as its result).
	attempt := p.attempt.Add(1)
	if p.cancel != nil {
		p.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), signInTimeout)
	p.cancel = cancel
	p.urlRow.Hide()
	p.Status.SetText("Your browser is opening for the sign-in…")
	shown := make(chan string, 1)
	b := oauth.Browser{
		Show: func(u string) { shown <- u },
		Open: p.open,
	}
	p.tasks.Go(func() {
		defer cancel()
		// After a few seconds without an answer, the address to paste.
		p.tasks.Go(func() {
			var u string
			select {
			case u = <-shown:
			case <-ctx.Done():
				return
			}
			t := time.NewTimer(ShowURLAfter)
			defer t.Stop()
			select {
			case <-t.C:
				fyne.Do(func() {
					if attempt == p.attempt.Load() && ctx.Err() == nil {
						p.URL.SetText(u)
						p.urlRow.Show()
						p.Status.SetText("Waiting for you to finish signing in…")
						p.root.Refresh()
						p.signal()
					}
				})
			case <-ctx.Done():
			}
		})
		err := p.start(ctx, b)
		fyne.Do(func() {
			if attempt != p.attempt.Load() {
				return // a newer attempt took over
			}
			defer p.signal()
			p.urlRow.Hide()
			p.root.Refresh()
			switch {
			case err == nil:
				p.Status.SetText("Signed in.")
			case errors.Is(err, context.DeadlineExceeded):
				p.Status.SetText("No answer from the browser. Press Sign in to try again.")
			default:
				p.Status.SetText("Not signed in: " + err.Error())
			}
			if p.done != nil {
				p.done(err)
			}
		})
	})
}

// Stop ends a sign-in in progress (the window closes).
func (p *SignInPanel) Stop() {
	if p.cancel != nil {
		p.cancel()
	}
}
