package ui

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/sync/discover"
)

type fakeSetup struct {
	tested []string
	saved  []engine.AccountSettings
	pwOK   string
}

func (f *fakeSetup) Discover(ctx context.Context, email string) (*discover.Settings, error) {
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
