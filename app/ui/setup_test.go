package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/sync/discover"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

type fakeSetup struct {
	tested []string
	saved  []engine.AccountSettings
	pwOK   string
	// OAuth2: each sign-in attempt shows its URL and waits for approve
	// (or its context); signedIn are the saved OAuth2 accounts.
	attempts atomic.Int32
	approve  chan struct{}
	signedIn []engine.AccountSettings
}

func (f *fakeSetup) SignIn(ctx context.Context, a engine.AccountSettings, b oauth.Browser) (*engine.Grant, error) {
	n := f.attempts.Add(1)
	b.Show(fmt.Sprintf("https://login.example.test/authorize?attempt=%d", n))
	if b.Open != nil {
		b.Open("https://login.example.test/")
	}
	select {
	case <-f.approve:
		return &engine.Grant{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeSetup) SaveSignedIn(a engine.AccountSettings, g *engine.Grant) error {
	f.signedIn = append(f.signedIn, a)
	return nil
}

func (f *fakeSetup) Discover(ctx context.Context, email string) (*discover.Settings, error) {
	if strings.HasSuffix(email, "@gmail.com") {
		return &discover.Settings{Provider: "Gmail", Source: discover.SourcePreset, OAuth2: "google", Advice: "Gmail signs in with Google (OAuth2), or with an app password.",
			IMAP: discover.Server{Host: "imap.gmail.com", Port: 993, Security: "tls", Username: email}}, nil
	}
	if strings.HasSuffix(email, "@outlook.com") {
		return &discover.Settings{Provider: "Outlook.com", Source: discover.SourcePreset, OAuth2: "microsoft", Tenant: "consumers",
			Advice: "Outlook.com accepts only OAuth2 sign-in.",
			IMAP:   discover.Server{Host: "outlook.office365.com", Port: 993, Security: "tls", Username: email},
			SMTP:   &discover.Server{Host: "smtp-mail.outlook.com", Port: 587, Security: "starttls", Username: email}}, nil
	}
	if !strings.HasSuffix(email, "@btinternet.com") {
		return nil, errors.New("no settings found for example.org: tried built-in presets, guesses")
	}
	return &discover.Settings{Provider: "BT Mail", Source: discover.SourcePreset, Advice: "BT may require an app password.",
		IMAP: discover.Server{Host: "mail.btinternet.com", Port: 993, Security: "tls", Username: email},
		SMTP: &discover.Server{Host: "mail.btinternet.com", Port: 465, Security: "tls", Username: email}}, nil
}

func (f *fakeSetup) Test(ctx context.Context, a engine.AccountSettings, pw string) error {
	f.tested = append(f.tested, a.IMAP.Host)
	if pw != f.pwOK {
		return errors.New("incoming mail (IMAP): login refused by mail.btinternet.com:993 — check the user name and password")
	}
	return nil
}

func (f *fakeSetup) Save(a engine.AccountSettings, pw string) error {
	f.saved = append(f.saved, a)
	return nil
}

func wait(t *testing.T, v *SetupView) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the background step did not finish")
	}
}

func TestFirstRunFlow(t *testing.T) {
	test.NewTempApp(t)
	f := &fakeSetup{pwOK: "app-password"}
	var saved, demo atomic.Bool
	v := NewSetup(f, func() { saved.Store(true) }, func() { demo.Store(true) })
	t.Cleanup(v.Wait)
	test.NewTempWindow(t, v.Root())

	test.Type(v.Email, "jane@btinternet.com")
	test.Tap(v.Find)
	wait(t, v)
	if v.IMAPHost.Text != "mail.btinternet.com" || v.IMAPPort.Text != "993" || v.SMTPPort.Text != "465" || v.Username.Text != "jane@btinternet.com" {
		t.Fatalf("settings not filled: %q %q %q", v.IMAPHost.Text, v.IMAPPort.Text, v.SMTPPort.Text)
	}
	if !strings.Contains(v.Status.Text, "BT Mail found (built-in preset)") || !strings.Contains(v.Advice.Text, "app password") {
		t.Fatalf("status %q advice %q", v.Status.Text, v.Advice.Text)
	}
	// A wrong password is reported in plain words.
	test.Type(v.Password, "wrong")
	test.Tap(v.Test)
	wait(t, v)
	if !strings.Contains(v.Status.Text, "Not working yet") || !strings.Contains(v.Status.Text, "check the user name and password") {
		t.Fatalf("status after a bad test: %q", v.Status.Text)
	}
	v.Password.SetText("app-password")
	test.Tap(v.Test)
	wait(t, v)
	if !strings.Contains(v.Status.Text, "work") {
		t.Fatalf("status after a good test: %q", v.Status.Text)
	}
	test.Tap(v.Save)
	wait(t, v)
	if !saved.Load() || len(f.saved) != 1 || f.saved[0].SMTP == nil || f.saved[0].Email != "jane@btinternet.com" || f.saved[0].ArchiveDir == "" {
		t.Fatalf("saved %v %+v", saved.Load(), f.saved)
	}
	test.Tap(v.Demo)
	if !demo.Load() {
		t.Fatal("the demo button did nothing")
	}
}

func TestFirstRunUnknownDomain(t *testing.T) {
	test.NewTempApp(t)
	v := NewSetup(&fakeSetup{}, nil, nil)
	t.Cleanup(v.Wait)
	test.NewTempWindow(t, v.Root())
	test.Type(v.Email, "jane@example.org")
	test.Tap(v.Find)
	wait(t, v)
	if !strings.Contains(v.Status.Text, "no settings found") || !strings.Contains(v.Status.Text, "by hand") {
		t.Fatalf("status: %q", v.Status.Text)
	}
	test.Tap(v.Save) // nothing filled in: a clear message, nothing saved
	if !strings.Contains(v.Status.Text, "fill in the incoming") {
		t.Fatalf("status: %q", v.Status.Text)
	}
}

// Outlook.com: Sign in with Microsoft instead of a password; when the
// browser says nothing for a few seconds the address shows, with Try
// again; the sign-in's grant is what Save keeps.
func TestFirstRunSignInWithMicrosoft(t *testing.T) {
	test.NewTempApp(t)
	ShowURLAfter = 100 * time.Millisecond
	t.Cleanup(func() { ShowURLAfter = 3 * time.Second })
	f := &fakeSetup{approve: make(chan struct{})}
	v := NewSetup(f, nil, nil)
	var opened atomic.Int32
	v.OpenURL = func(string) error { opened.Add(1); return nil }
	t.Cleanup(func() {
		if v.SignIn != nil {
			v.SignIn.Stop() // a failed test leaves an attempt waiting for approve
		}
		v.Wait()
	})
	test.NewTempWindow(t, v.Root())
	test.Type(v.Email, "jane@outlook.com")
	test.Tap(v.Find)
	wait(t, v)
	if v.SignIn == nil || v.SignIn.Button.Text != "Sign in with Microsoft" || !v.Password.Disabled() {
		t.Fatalf("no Microsoft sign-in offered (status %q)", v.Status.Text)
	}
	// A plain build has no Microsoft client ID: the form asks for one.
	if v.ClientID == nil {
		t.Fatal("no Client ID field in a build without a Microsoft client ID")
	}
	test.Tap(v.SignIn.Button)
	if !strings.Contains(v.SignIn.Status.Text, "paste the client ID") || f.attempts.Load() != 0 {
		t.Fatalf("signing in without a client ID: %q, %d attempts", v.SignIn.Status.Text, f.attempts.Load())
	}
	test.Type(v.ClientID, "11111111-2222-3333-4444-555555555555")
	test.Tap(v.Save)
	if !strings.Contains(v.Status.Text, "Sign in with Microsoft first") {
		t.Fatalf("save before signing in: %q", v.Status.Text)
	}
	tapped := time.Now()
	test.Tap(v.SignIn.Button)
	shown := func() {
		t.Helper()
		select {
		case <-v.SignIn.changed:
		case <-time.After(5 * time.Second):
			t.Fatal("the sign-in panel did not change")
		}
	}
	shown()
	if waited := time.Since(tapped); waited < ShowURLAfter {
		t.Errorf("the address showed after %v, before the browser had %v", waited, ShowURLAfter)
	}
	if !v.SignIn.urlRow.Visible() || !strings.Contains(v.SignIn.URL.Text, "attempt=1") || opened.Load() != 1 {
		t.Fatalf("after the wait: row visible %t, URL %q, browser opened %d times", v.SignIn.urlRow.Visible(), v.SignIn.URL.Text, opened.Load())
	}
	test.Tap(v.SignIn.TryAgain)
	shown()
	if f.attempts.Load() != 2 || !strings.Contains(v.SignIn.URL.Text, "attempt=2") {
		t.Fatalf("Try again: %d attempts, URL %q", f.attempts.Load(), v.SignIn.URL.Text)
	}
	f.approve <- struct{}{}
	wait(t, v)
	if !strings.Contains(v.Status.Text, "Signed in with Microsoft") || v.SignIn.urlRow.Visible() {
		t.Fatalf("after the sign-in: %q", v.Status.Text)
	}
	test.Tap(v.Save)
	wait(t, v)
	if len(f.signedIn) != 1 || f.signedIn[0].OAuth2 != "microsoft" || f.signedIn[0].Tenant != "consumers" || len(f.saved) != 0 ||
		f.signedIn[0].ClientID != "11111111-2222-3333-4444-555555555555" {
		t.Fatalf("saved %+v / %+v", f.signedIn, f.saved)
	}
}

// Gmail in a build without a Google client ID: an app password, as before.
func TestFirstRunGmailWithoutAClientIDTakesAPassword(t *testing.T) {
	test.NewTempApp(t)
	f := &fakeSetup{}
	v := NewSetup(f, nil, nil)
	t.Cleanup(v.Wait)
	test.NewTempWindow(t, v.Root())
	test.Type(v.Email, "jane@gmail.com")
	test.Tap(v.Find)
	wait(t, v)
	if v.SignIn != nil && v.oauth2 != "" {
		t.Fatal("Sign in with Google offered without a client ID")
	}
	if v.Password.Disabled() || !strings.Contains(v.Advice.Text, "app password") {
		t.Fatalf("password disabled %t, advice %q", v.Password.Disabled(), v.Advice.Text)
	}
}
