package ui

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/discover"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

// SetupService is what the first-run screen needs.
type SetupService interface {
	Discover(ctx context.Context, email string) (*discover.Settings, error)
	Test(ctx context.Context, a engine.AccountSettings, password string) error
	Save(a engine.AccountSettings, password string) error
	// SignIn and SaveSignedIn are the same for an OAuth2 account
	// (Microsoft, Google): the browser sign-in, then its tokens saved.
	SignIn(ctx context.Context, a engine.AccountSettings, b oauth.Browser) (*engine.Grant, error)
	SaveSignedIn(a engine.AccountSettings, g *engine.Grant) error
}

// SetupView is the welcome screen: type an address, get the settings
// (from a preset or discovered), test them, save.
type SetupView struct {
	root                       fyne.CanvasObject
	tasks                      tasks
	Email, Password, Username  *widget.Entry
	ArchiveDir                 *widget.Entry
	IMAPHost, IMAPPort         *widget.Entry
	SMTPHost, SMTPPort         *widget.Entry
	IMAPSecurity, SMTPSecurity *widget.Select
	Find, Test, Save, Demo     *widget.Button
	Status, Advice             *widget.Label
	// SignIn is the "Sign in with Microsoft/Google" panel, shown for an
	// address whose provider signs in with OAuth2.
	SignIn     *SignInPanel
	ClientID   *widget.Entry // shown when this build has no client ID for the provider
	signInSlot *fyne.Container
	oauth2     string // the provider, "" for a password account
	tenant     string
	grant      *engine.Grant
	// OpenURL opens the browser (nil: the desktop's handler; tests).
	OpenURL func(string) error
	svc     SetupService
	signal  func()
	done    chan struct{} // signalled after each background step (tests)
}

// Root is the view's content.
func (v *SetupView) Root() fyne.CanvasObject { return v.root }

// Wait returns when the work the view started in the background is done.
func (v *SetupView) Wait() { v.tasks.Wait() }

// NewSetup builds the welcome screen. onSaved runs after the account is
// saved; onDemo when the person asks for the demo.
func NewSetup(svc SetupService, onSaved func(), onDemo func()) *SetupView {
	v := &SetupView{done: make(chan struct{}, 10), svc: svc}
	v.Email = widget.NewEntry()
	v.Email.SetPlaceHolder("jane@btinternet.com")
	v.Password = widget.NewPasswordEntry()
	v.Username = widget.NewEntry()
	v.ArchiveDir = widget.NewEntry()
	v.ArchiveDir.SetText(config.DefaultArchiveDir())
	v.IMAPHost, v.IMAPPort = widget.NewEntry(), widget.NewEntry()
	v.SMTPHost, v.SMTPPort = widget.NewEntry(), widget.NewEntry()
	v.IMAPHost.SetPlaceHolder("imap.example.com")
	v.IMAPPort.SetPlaceHolder("993")
	v.SMTPHost.SetPlaceHolder("smtp.example.com")
	v.SMTPPort.SetPlaceHolder("465")
	secs := []string{"tls", "starttls"}
	v.IMAPSecurity, v.SMTPSecurity = widget.NewSelect(secs, nil), widget.NewSelect(secs, nil)
	v.IMAPSecurity.SetSelected("tls")
	v.SMTPSecurity.SetSelected("tls")
	v.Status = widget.NewLabel("Type your email address and press Find settings.")
	v.Status.Wrapping = fyne.TextWrapWord
	v.Advice = widget.NewLabel("")
	v.Advice.Wrapping = fyne.TextWrapWord
	signal := func() {
		select {
		case v.done <- struct{}{}:
		default:
		}
	}
	v.signal = signal
	v.signInSlot = container.NewVBox()
	background := func(f func(ctx context.Context) func()) {
		v.tasks.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			apply := f(ctx)
			fyne.Do(func() { apply(); signal() })
		})
	}
	v.Find = widget.NewButtonWithIcon("Find settings", theme.SearchIcon(), func() {
		email := v.Email.Text
		v.Status.SetText("Looking for the settings of " + email + "…")
		background(func(ctx context.Context) func() {
			s, err := svc.Discover(ctx, email)
			return func() {
				if err != nil {
					v.Status.SetText(err.Error() + ". Fill in the servers below by hand.")
					return
				}
				v.fill(email, s)
			}
		})
	})
	v.Test = widget.NewButtonWithIcon("Test", theme.ConfirmIcon(), func() {
		a, err := v.settings()
		if err != nil {
			v.Status.SetText(err.Error())
			return
		}
		if a.OAuth2 != "" {
			v.Status.SetText("Press Sign in with " + engine.ProviderName(a) + ": it tests the sign-in too.")
			return
		}
		pw := v.Password.Text
		v.Status.SetText("Logging in…")
		background(func(ctx context.Context) func() {
			err := svc.Test(ctx, a, pw)
			return func() {
				if err != nil {
					v.Status.SetText("Not working yet: " + err.Error())
				} else {
					v.Status.SetText("Both incoming and outgoing mail work. Press Save to start backing up.")
				}
			}
		})
	})
	v.Save = widget.NewButtonWithIcon("Save and start", theme.DocumentSaveIcon(), func() {
		a, err := v.settings()
		if err != nil {
			v.Status.SetText(err.Error())
			return
		}
		pw, grant := v.Password.Text, v.grant
		if a.OAuth2 != "" && grant == nil {
			v.Status.SetText("Sign in with " + engine.ProviderName(a) + " first.")
			return
		}
		v.Status.SetText("Saving…")
		v.tasks.Go(func() { // the keyring and the configuration file: off the UI goroutine
			var err error
			if a.OAuth2 != "" {
				err = svc.SaveSignedIn(a, grant)
			} else {
				err = svc.Save(a, pw)
			}
			fyne.Do(func() {
				if err != nil {
					v.Status.SetText("Not saved: " + err.Error())
					signal()
					return
				}
				if a.OAuth2 != "" {
					v.Status.SetText("Saved. Your sign-in is in the system keyring.")
				} else {
					v.Status.SetText("Saved. Your password is in the system keyring.")
				}
				signal()
				if onSaved != nil {
					onSaved()
				}
			})
		})
	})
	v.Save.Importance = widget.HighImportance
	v.Demo = widget.NewButton("Try the demo first", func() {
		if onDemo != nil {
			onDemo()
		}
	})
	welcome := widget.NewLabel("Welcome to Lifeboat. It keeps a copy of all your email on this computer, lets you read and search it " +
		"when your provider is down, and sends your mail through another account when one fails. " +
		"Lifeboat never deletes anything from your providers.")
	welcome.Wrapping = fyne.TextWrapWord
	form := widget.NewForm(
		widget.NewFormItem("Email address", container.NewBorder(nil, nil, nil, v.Find, v.Email)),
		widget.NewFormItem("Password", v.Password),
		widget.NewFormItem("User name", v.Username),
		widget.NewFormItem("Incoming (IMAP)", container.NewGridWithColumns(3, v.IMAPHost, v.IMAPPort, v.IMAPSecurity)),
		widget.NewFormItem("Outgoing (SMTP)", container.NewGridWithColumns(3, v.SMTPHost, v.SMTPPort, v.SMTPSecurity)),
		widget.NewFormItem("Archive folder", v.ArchiveDir),
	)
	v.root = container.NewVBox(welcome, form, v.Advice, v.signInSlot, v.Status, container.NewHBox(v.Test, v.Save, v.Demo))
	return v
}

func (v *SetupView) fill(email string, s *discover.Settings) {
	v.Username.SetText(s.IMAP.Username)
	v.IMAPHost.SetText(s.IMAP.Host)
	v.IMAPPort.SetText(strconv.Itoa(s.IMAP.Port))
	v.IMAPSecurity.SetSelected(s.IMAP.Security)
	if s.SMTP != nil {
		v.SMTPHost.SetText(s.SMTP.Host)
		v.SMTPPort.SetText(strconv.Itoa(s.SMTP.Port))
		v.SMTPSecurity.SetSelected(s.SMTP.Security)
	}
	who := s.Provider
	if who == "" {
		who = "your provider"
	}
	v.Advice.SetText(s.Advice)
	if v.SignIn != nil {
		v.SignIn.Stop() // a sign-in for the settings found before
		v.SignIn = nil
	}
	v.oauth2, v.tenant, v.grant = s.OAuth2, s.Tenant, nil
	v.signInSlot.RemoveAll()
	v.ClientID = nil
	if v.oauth2 == "google" && !engine.HasClientID(engine.AccountSettings{OAuth2: v.oauth2}) {
		// Gmail takes an app password too; signing in with Google needs a
		// client ID this build lacks.
		v.oauth2, v.tenant = "", ""
		v.Advice.SetText(s.Advice + " This Lifeboat has no Google client ID: use an app password (or register a client, README).")
	}
	if v.oauth2 == "" {
		v.Password.Enable()
		v.Status.SetText(fmt.Sprintf("Settings for %s found (%s). Type your password and press Test.", who, s.Source))
		return
	}
	v.Password.SetText("")
	v.Password.SetPlaceHolder("not needed: you sign in with your provider")
	v.Password.Disable()
	a, _ := v.settings()
	name := engine.ProviderName(a)
	var mu sync.Mutex // a: the form as it was when the button was pressed (Prepare)
	v.SignIn = NewSignInPanel(name, &v.tasks, v.OpenURL, func(ctx context.Context, b oauth.Browser) error {
		mu.Lock()
		a := a
		mu.Unlock()
		g, err := v.svc.SignIn(ctx, a, b)
		if err == nil {
			fyne.Do(func() { v.grant = g })
		}
		return err
	}, func(err error) {
		if err == nil {
			v.Status.SetText("Signed in with " + name + ", and incoming and outgoing mail work. Press Save to start backing up.")
		}
		v.signal()
	})
	v.SignIn.Prepare = func() error {
		now, err := v.settings()
		mu.Lock()
		a = now
		mu.Unlock()
		return err
	}
	if !engine.HasClientID(engine.AccountSettings{OAuth2: v.oauth2, Tenant: v.tenant}) {
		v.ClientID = widget.NewEntry()
		v.ClientID.SetPlaceHolder("the Application (client) ID of your registration")
		note := widget.NewLabel("This Lifeboat has no " + name + " client ID built in: register one (README, “Registering an OAuth2 client”) and paste its ID here.")
		note.Wrapping = fyne.TextWrapWord
		v.signInSlot.Add(note)
		v.signInSlot.Add(widget.NewForm(widget.NewFormItem("Client ID", v.ClientID)))
	}
	v.signInSlot.Add(v.SignIn.Root())
	v.Status.SetText(fmt.Sprintf("Settings for %s found (%s). %s signs you in: press Sign in with %s.", who, s.Source, who, name))
}

func (v *SetupView) settings() (engine.AccountSettings, error) {
	a := engine.AccountSettings{Email: v.Email.Text, ArchiveDir: v.ArchiveDir.Text, OAuth2: v.oauth2, Tenant: v.tenant}
	if v.ClientID != nil {
		a.ClientID = strings.TrimSpace(v.ClientID.Text)
		if a.ClientID == "" {
			return a, fmt.Errorf("paste the client ID of your %s registration first", engine.ProviderName(a))
		}
	}
	ip, err := strconv.Atoi(v.IMAPPort.Text)
	if err != nil || v.IMAPHost.Text == "" {
		return a, fmt.Errorf("fill in the incoming (IMAP) server and port, or press Find settings")
	}
	a.IMAP = discover.Server{Host: v.IMAPHost.Text, Port: ip, Security: v.IMAPSecurity.Selected, Username: v.Username.Text}
	if v.SMTPHost.Text != "" {
		sp, err := strconv.Atoi(v.SMTPPort.Text)
		if err != nil {
			return a, fmt.Errorf("the outgoing (SMTP) port %q is not a number", v.SMTPPort.Text)
		}
		a.SMTP = &discover.Server{Host: v.SMTPHost.Text, Port: sp, Security: v.SMTPSecurity.Selected, Username: v.Username.Text}
	}
	if v.Password.Text == "" && a.OAuth2 == "" {
		return a, fmt.Errorf("type the password (many providers need an app password)")
	}
	return a, nil
}
