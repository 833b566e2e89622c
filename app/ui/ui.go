// Package ui is Lifeboat's desktop window (Fyne). It only wires and shows:
// every piece of work is the engine's (app/engine), reached through the
// Engine interface so that tests can drive the views with a fake. Background
// work reaches widgets only through Refresh, which the engine's hooks call
// via fyne.Do.
package ui

import (
	"context"
	"fmt"
	"image/color"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/export"
	"github.com/lifeboat-mail/lifeboat/store/importer"
	"github.com/lifeboat-mail/lifeboat/store/incidents"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/store/msgtext"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
	"github.com/lifeboat-mail/lifeboat/sync/restore"
)

// Engine is what the window needs of the engine.
type Engine interface {
	Accounts() []engine.Account
	BackupNow(account string)
	Incidents(n int) []incidents.Event
	Runs(account string) []archive.Run
	Outbox() []*outbox.Item
	// History is an account's checks of the last day (Health view).
	History(account string) engine.History
	// ResendVia is the account a bounced message is offered to go
	// through; Resend sends it again through account (blocking).
	ResendVia(it *outbox.Item) string
	Resend(id, account string) (failover.Outcome, error)
	Retry(id string) error
	Drop(id string) error
	Send(ctx context.Context, d engine.Draft) (failover.Outcome, error)
	Folders(account string) []string
	Labels(account string) []string
	Messages(account, folder string, offset, limit int) ([]index.Row, int, error)
	LabelMessages(account, label string, offset, limit int) ([]index.Row, int, error)
	Search(query string, limit int) ([]index.Row, int, error)
	Read(r index.Row) (*msgtext.Message, error)
	SaveAttachment(r index.Row, part []int, path string) error
	Settings() engine.Settings
	Apply(s engine.Settings) error
	SetRelay(on bool) error
	Demo() bool
	SimulateOutage(down bool) error
	OutageSimulated() bool
	ArchivedAccounts() []string
	ArchivedFolders(account string) []string
	Restore(ctx context.Context, req engine.RestoreRequest, dryRun bool, progress func(restore.Event)) *restore.Report
	Export(account, format, dest string) (export.Result, error)
	Import(account, path, folder string) (importer.Result, error)
	// SignIn signs an OAuth2 account in again (blocking; off the UI
	// goroutine).
	SignIn(ctx context.Context, account string, b oauth.Browser) error
}

// Window is the main window's content and its views.
type Window struct {
	eng     Engine
	win     fyne.Window
	Tabs    *container.AppTabs
	refresh []func()
	tasks   tasks // work done off the UI goroutine

	// OpenURL opens the browser (nil: the desktop's handler; tests).
	OpenURL func(string) error

	// Exposed for tests.
	SignInPanel  *SignInPanel // the last "Sign in again"
	AccountsList *widget.List
	BackupAll    *widget.Button
	OutageSwitch *widget.Check
	Incidents    *widget.List
	Compose      *ComposeView
	OutboxList   *widget.List
	OutboxDetail *widget.Label
	ResendButton *widget.Button
	Archive      *ArchiveView
	Settings     *SettingsView
	RunSummary   *widget.Label
	// HealthCards is each account's Health card in words; IncidentRows
	// the incident list as shown.
	HealthCards  map[string]string
	IncidentRows []IncidentRow
	Banner       *widget.Label
	// RestoreDialog is the Restore wizard last opened (nil: never).
	RestoreDialog *RestoreView
}

// tasks runs work off the UI goroutine and can wait for all of it, so that
// nothing touches a window's widgets after it is gone (tests wait for it).
type tasks struct{ wg sync.WaitGroup }

// Go runs f on a goroutine of its own.
func (t *tasks) Go(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// Wait returns when every f given to Go has returned.
func (t *tasks) Wait() { t.wg.Wait() }

// Wait returns when the work the window started in the background is done.
func (w *Window) Wait() { w.tasks.Wait() }

// New builds the window's content for eng.
func New(eng Engine, win fyne.Window) *Window {
	w := &Window{eng: eng, win: win}
	w.Compose = w.newCompose()
	w.Archive = w.newArchive()
	w.Settings = w.newSettings()
	w.Tabs = container.NewAppTabs(
		container.NewTabItemWithIcon("Accounts", theme.AccountIcon(), w.accountsView()),
		container.NewTabItemWithIcon("Health", theme.WarningIcon(), w.healthView()),
		container.NewTabItemWithIcon("Archive", theme.StorageIcon(), w.Archive.root),
		container.NewTabItemWithIcon("Compose", theme.MailComposeIcon(), w.Compose.root),
		container.NewTabItemWithIcon("Outbox", theme.MailSendIcon(), w.outboxView()),
		container.NewTabItemWithIcon("Settings", theme.SettingsIcon(), w.Settings.root),
	)
	if win != nil {
		// Keys not taken by a focused widget move through the message list.
		win.Canvas().SetOnTypedKey(func(ev *fyne.KeyEvent) {
			if sel := w.Tabs.Selected(); sel != nil && sel.Text == "Archive" {
				w.Archive.HandleKey(ev)
			}
		})
	}
	return w
}

// AddWelcome puts the first-run screen in front of the other views (the
// demo runs behind it).
func (w *Window) AddWelcome(setup *SetupView) {
	w.Tabs.Items = append([]*container.TabItem{container.NewTabItemWithIcon("Welcome", theme.HomeIcon(), container.NewVScroll(container.NewPadded(setup.Root())))}, w.Tabs.Items...)
	w.Tabs.SelectIndex(0)
	w.Tabs.Refresh()
}

// AddAccountTab adds a view for adding another account (a secondary).
func (w *Window) AddAccountTab(setup *SetupView) {
	w.Tabs.Append(container.NewTabItemWithIcon("Add account", theme.ContentAddIcon(), container.NewVScroll(container.NewPadded(setup.Root()))))
}

// ShowAccounts selects the Accounts view.
func (w *Window) ShowAccounts() {
	for i, it := range w.Tabs.Items {
		if it.Text == "Accounts" {
			w.Tabs.SelectIndex(i)
		}
	}
}

// Content is what goes into the window.
func (w *Window) Content() fyne.CanvasObject {
	w.Banner = widget.NewLabel("")
	w.Banner.Wrapping = fyne.TextWrapWord
	top := container.NewVBox()
	if w.eng.Demo() {
		w.Banner.SetText("Demo: two built-in providers, bt (primary) and gmail. Back up, then switch on “Simulate outage” and send a message: " +
			"Lifeboat notices bt is down and sends through gmail. Nothing leaves this computer.")
		w.OutageSwitch = widget.NewCheck("Simulate outage of bt", func(on bool) { w.eng.SimulateOutage(on) })
		top.Add(container.NewBorder(nil, nil, nil, w.OutageSwitch, w.Banner))
	} else {
		w.Banner.SetText("Lifeboat never deletes anything from your providers.")
		top.Add(w.Banner)
	}
	return container.NewBorder(top, nil, nil, nil, w.Tabs)
}

// Refresh re-reads the engine's state into every view. Call it on the UI
// goroutine (the engine's hooks go through fyne.Do).
func (w *Window) Refresh() {
	for _, f := range w.refresh {
		f()
	}
}

// stateColor and words: colour is never the only signal; the word is shown
// beside the light.
func stateColor(s health.State) color.Color {
	switch s {
	case health.Up:
		return color.NRGBA{R: 0x2e, G: 0x9d, B: 0x4b, A: 0xff}
	case health.Degraded:
		return color.NRGBA{R: 0xe0, G: 0xa1, B: 0x00, A: 0xff}
	case health.Down:
		return color.NRGBA{R: 0xd0, G: 0x2b, B: 0x2b, A: 0xff}
	case health.NeedsYou:
		return color.NRGBA{R: 0x8e, G: 0x44, B: 0xad, A: 0xff}
	}
	return color.NRGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return t.Local().Format("15:04")
	}
	return t.Local().Format("2 Jan 15:04")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// AccountSummary is the text of one account's row (tests read it).
func AccountSummary(a engine.Account) string {
	s := fmt.Sprintf("%s — %s", a.Name, a.State.Words())
	if a.Cause != "" && a.State != health.Up {
		s += " (" + a.Cause + ")"
	}
	switch {
	case a.Running:
		var done, total int
		for _, p := range a.Progress {
			done += p.Messages
			total += p.TotalMessages
		}
		if total == 0 {
			s += " · backing up: checking folders…"
		} else {
			s += fmt.Sprintf(" · backing up: %d of %d new messages", done, total)
		}
		if !a.LastActivity.IsZero() {
			s += fmt.Sprintf(", last activity %s ago", time.Since(a.LastActivity).Round(time.Second))
		}
	case a.LastResult != "":
		s += fmt.Sprintf(" · last backup %s: %s, %d messages archived (%s)", ago(a.LastBackup), a.LastResult, a.Archived, humanBytes(a.Bytes))
	default:
		s += " · not backed up yet"
	}
	return s
}

func (w *Window) accountsView() fyne.CanvasObject {
	accts := w.eng.Accounts()
	w.AccountsList = widget.NewList(
		func() int { return len(accts) },
		func() fyne.CanvasObject {
			light := canvas.NewCircle(color.Gray{Y: 0x99})
			lightBox := container.NewGridWrap(fyne.NewSize(14, 14), light)
			label := widget.NewLabel("account")
			label.Truncation = fyne.TextTruncateEllipsis
			btn := widget.NewButtonWithIcon("Back up now", theme.DownloadIcon(), nil)
			// Rows keep one fixed height (fast lists); folder-by-folder
			// progress shows in the panel below when the account is chosen.
			return container.NewBorder(nil, nil, container.NewCenter(lightBox), btn, label)
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			a := accts[i]
			b := o.(*fyne.Container)
			label := b.Objects[0].(*widget.Label)
			light := b.Objects[1].(*fyne.Container).Objects[0].(*fyne.Container).Objects[0].(*canvas.Circle)
			btn := b.Objects[2].(*widget.Button)
			label.SetText(AccountSummary(a))
			light.FillColor = stateColor(a.State)
			light.Refresh()
			name := a.Name
			if a.NeedsSignIn {
				btn.SetText("Sign in again")
				btn.SetIcon(theme.LoginIcon())
				btn.Importance = widget.HighImportance
				provider := a.SignInWith
				btn.OnTapped = func() { w.SignInAgain(name, provider) }
			} else {
				btn.SetText("Back up now")
				btn.SetIcon(theme.DownloadIcon())
				btn.Importance = widget.MediumImportance
				btn.OnTapped = func() { w.eng.BackupNow(name) }
			}
			if a.Running {
				btn.Disable()
			} else {
				btn.Enable()
			}
		})
	w.BackupAll = widget.NewButtonWithIcon("Back up all accounts", theme.DownloadIcon(), func() { w.eng.BackupNow("") })
	w.RunSummary = widget.NewLabel("Choose an account to see its last backup, folder by folder.")
	w.RunSummary.Wrapping = fyne.TextWrapWord
	selected := -1
	showRuns := func() {
		if selected >= 0 && selected < len(accts) {
			a := accts[selected]
			if a.Running {
				w.RunSummary.SetText(ProgressText(a))
				return
			}
			w.RunSummary.SetText(RunSummary(a.Name, w.eng.Runs(a.Name)))
		}
	}
	w.AccountsList.OnSelected = func(i widget.ListItemID) { selected = i; showRuns() }
	w.refresh = append(w.refresh, func() {
		accts = w.eng.Accounts()
		w.AccountsList.Refresh()
		showRuns()
	})
	split := container.NewVSplit(w.AccountsList, container.NewScroll(w.RunSummary))
	split.Offset = 0.45
	return container.NewBorder(nil, container.NewHBox(layout.NewSpacer(), w.BackupAll), nil, nil, split)
}

// SignInAgain shows the sign-in of an account whose provider no longer
// accepts its old one (the account needs you).
func (w *Window) SignInAgain(account, provider string) {
	var d dialog.Dialog
	p := NewSignInPanel(provider, &w.tasks, w.OpenURL, func(ctx context.Context, b oauth.Browser) error {
		return w.eng.SignIn(ctx, account, b)
	}, func(err error) {
		if err == nil && d != nil {
			d.Hide()
		}
	})
	w.SignInPanel = p
	text := widget.NewLabel(provider + " no longer accepts the sign-in of " + account + " (a changed password, or access withdrawn). " +
		"Sign in again to carry on backing it up and sending through it.")
	text.Wrapping = fyne.TextWrapWord
	d = dialog.NewCustom("Sign in to "+account, "Close", container.NewVBox(text, p.Root()), w.win)
	d.SetOnClosed(p.Stop)
	d.Resize(fyne.NewSize(520, 300))
	d.Show()
}

// ProgressText shows a running backup folder by folder, each with a bar,
// messages and bytes.
func ProgressText(a engine.Account) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: backing up", a.Name)
	if !a.LastActivity.IsZero() {
		fmt.Fprintf(&b, " (last activity %s ago)", time.Since(a.LastActivity).Round(time.Second))
	}
	b.WriteString("\n")
	for _, p := range a.Progress {
		frac := 1.0
		if p.TotalMessages > 0 {
			frac = float64(p.Messages) / float64(p.TotalMessages)
		}
		n := int(frac * 20)
		fmt.Fprintf(&b, "  %-24s %s%s %d/%d messages, %s of %s\n", p.Folder, strings.Repeat("▓", n), strings.Repeat("░", 20-n),
			p.Messages, p.TotalMessages, humanBytes(p.Bytes), humanBytes(p.TotalBytes))
	}
	return b.String()
}

// RunSummary is the end-of-run summary of an account's last backup (per
// folder: on the server, in the archive, new, deleted on the server) and a
// short history of runs.
func RunSummary(account string, runs []archive.Run) string {
	if len(runs) == 0 {
		return account + ": not backed up yet."
	}
	last := runs[len(runs)-1]
	var b strings.Builder
	fmt.Fprintf(&b, "%s: last backup %s, %s in %s\n", account, last.Start.Local().Format("Mon 2 Jan 15:04"), last.Result,
		last.End.Sub(last.Start).Round(time.Second/10))
	if last.Error != "" {
		fmt.Fprintf(&b, "  problem: %s\n", last.Error)
	}
	for _, wr := range last.Warnings {
		fmt.Fprintf(&b, "  WARNING: %s\n", wr)
	}
	for _, f := range last.Folders {
		fmt.Fprintf(&b, "  %-24s %5d on the server, %5d in the archive", f.Path, f.OnServer, f.Archived)
		if f.New > 0 {
			fmt.Fprintf(&b, ", %d new", f.New)
		}
		if f.Gone > 0 {
			fmt.Fprintf(&b, ", %d deleted on the server (kept here)", f.Gone)
		}
		b.WriteString("\n")
	}
	if len(runs) > 1 {
		b.WriteString("\nEarlier runs:\n")
		for i := len(runs) - 2; i >= 0 && i >= len(runs)-6; i-- {
			r := runs[i]
			fmt.Fprintf(&b, "  %s  %s\n", r.Start.Local().Format("Mon 2 Jan 15:04"), r.Result)
		}
	}
	return b.String()
}

// IncidentText is the text of one incident row.
func IncidentText(ev incidents.Event) string {
	from, _ := health.ParseState(ev.From)
	to, _ := health.ParseState(ev.To)
	s := fmt.Sprintf("%s  %s: %s → %s", ev.Time.Local().Format("Mon 2 Jan 15:04:05"), ev.Account, from.Words(), to.Words())
	if ev.Cause != "" {
		s += " — " + ev.Cause
	}
	return s
}

// OutboxText is the text of one outbox row.
func OutboxText(it *outbox.Item) string {
	if it.State() == outbox.Bounced {
		var why []string
		for _, b := range it.Bounces() {
			why = append(why, b.Recipient+": "+b.Reason)
		}
		return fmt.Sprintf("⚠ BOUNCED · sent through %s %s · %s", it.AcceptedBy(), it.QueuedAt.Local().Format("2 Jan 15:04"), strings.Join(why, "; "))
	}
	s := fmt.Sprintf("%s · to %s · %s", it.State(), strings.Join(it.To, ", "), it.QueuedAt.Local().Format("2 Jan 15:04"))
	if l := it.Last(); l != nil {
		s += " · " + l.Step
		if l.Account != "" {
			s += " " + l.Account
		}
		if l.Reason != "" {
			s += ": " + l.Reason
		}
	}
	return s
}

func (w *Window) outboxView() fyne.CanvasObject {
	items := w.eng.Outbox()
	selected := -1
	w.OutboxList = widget.NewList(
		func() int { return len(items) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("message")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(OutboxText(items[i])) })
	w.OutboxDetail = widget.NewLabel("")
	w.OutboxDetail.Wrapping = fyne.TextWrapWord
	var fitButtons func()
	w.OutboxList.OnSelected = func(i widget.ListItemID) {
		selected = i
		if i >= 0 && i < len(items) {
			w.OutboxDetail.SetText(OutboxDetail(items[i]))
		}
		fitButtons()
	}
	act := func(f func(string) error) func() {
		return func() {
			if selected < 0 || selected >= len(items) {
				return
			}
			id := items[selected].ID
			w.tasks.Go(func() { // writes the outbox ledger: off the UI goroutine
				err := f(id)
				fyne.Do(func() {
					if err != nil {
						dialog.ShowError(err, w.win)
					}
					w.Refresh()
				})
			})
		}
	}
	retry := widget.NewButtonWithIcon("Send again now", theme.MailSendIcon(), act(w.eng.Retry))
	drop := widget.NewButtonWithIcon("Drop", theme.DeleteIcon(), act(w.eng.Drop))
	w.ResendButton = widget.NewButtonWithIcon("Send again through …", theme.MailForwardIcon(), nil)
	w.ResendButton.Importance = widget.HighImportance
	w.ResendButton.Hide()
	// The buttons fit the chosen message: a bounced one (sent, in done/)
	// is sent again through the next account; the others are retried or
	// dropped.
	fit := func() {
		if selected < 0 || selected >= len(items) || items[selected].State() != outbox.Bounced {
			w.ResendButton.Hide()
			retry.Show()
			drop.Show()
			return
		}
		it := items[selected]
		via := w.eng.ResendVia(it)
		retry.Hide()
		drop.Hide()
		if via == "" {
			w.ResendButton.Hide()
			return
		}
		w.ResendButton.SetText("Send again through " + via)
		w.ResendButton.OnTapped = act(func(id string) error { _, err := w.eng.Resend(id, via); return err })
		w.ResendButton.Show()
	}
	fitButtons = fit
	empty := widget.NewLabel("The outbox is empty: everything you sent was accepted by a provider.")
	w.refresh = append(w.refresh, func() {
		items = w.eng.Outbox()
		w.OutboxList.Refresh()
		fit()
		if len(items) == 0 {
			empty.Show()
		} else {
			empty.Hide()
		}
	})
	if len(items) > 0 {
		empty.Hide()
	}
	return container.NewBorder(empty, container.NewVBox(w.OutboxDetail, container.NewHBox(layout.NewSpacer(), w.ResendButton, retry, drop)), nil, nil, w.OutboxList)
}

// OutboxDetail is what the Outbox says of the selected message: for one
// held for you, the question Lifeboat asks, in full.
func OutboxDetail(it *outbox.Item) string {
	if it.State() == outbox.NeedsUser {
		why := it.Damage
		if why == "" {
			if l := it.Last(); l != nil {
				why = l.Reason
			}
		}
		return "Lifeboat needs you: " + why + "\n\"Send again now\" sends it again; \"Drop\" keeps it out of the outbox (it stays in outbox/dropped)."
	}
	if it.State() == outbox.Bounced {
		var b strings.Builder
		fmt.Fprintf(&b, "Sent through %s, accepted, and then it came back:\n", it.AcceptedBy())
		for _, bo := range it.Bounces() {
			fmt.Fprintf(&b, "  to %s: %s\n", bo.Recipient, bo.Reason)
		}
		b.WriteString("\"Send again through …\" sends it, with the same Message-ID, to these recipients only.")
		return b.String()
	}
	return OutboxText(it)
}
