package ui

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
)

// SettingsView shows and changes the schedule, the failover order and From
// policy, and the local relay for mail programs.
type SettingsView struct {
	root       fyne.CanvasObject
	Every      *widget.Select
	Order      *widget.List
	Up, Down   *widget.Button
	FromPolicy *widget.RadioGroup
	Notify     *widget.Select
	Save       *widget.Button
	Relay      *widget.Check
	RelayInfo  *widget.Label
	Status     *widget.Label
	order      []string
	selected   int
	done       chan struct{} // signalled after each background step (tests)
}

func (v *SettingsView) signal() {
	select {
	case v.done <- struct{}{}:
	default:
	}
}

var everyChoices = map[string]time.Duration{"15 minutes": 15 * time.Minute, "30 minutes": 30 * time.Minute, "1 hour": time.Hour, "3 hours": 3 * time.Hour}

func everyLabel(d time.Duration) string {
	for k, v := range everyChoices {
		if v == d {
			return k
		}
	}
	return "30 minutes"
}

func (w *Window) newSettings() *SettingsView {
	s := w.eng.Settings()
	v := &SettingsView{order: s.Order, selected: -1, done: make(chan struct{}, 10)}
	v.Every = widget.NewSelect([]string{"15 minutes", "30 minutes", "1 hour", "3 hours"}, nil)
	v.Every.SetSelected(everyLabel(s.BackupEvery))
	v.Order = widget.NewList(func() int { return len(v.order) },
		func() fyne.CanvasObject { return widget.NewLabel("account") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			role := "secondary"
			if i == 0 {
				role = "primary"
			}
			o.(*widget.Label).SetText(fmt.Sprintf("%d. %s (%s)", i+1, v.order[i], role))
		})
	v.Order.OnSelected = func(i widget.ListItemID) { v.selected = i }
	move := func(d int) func() {
		return func() {
			i, j := v.selected, v.selected+d
			if i < 0 || j < 0 || j >= len(v.order) {
				return
			}
			v.order[i], v.order[j] = v.order[j], v.order[i]
			v.selected = j
			v.Order.Refresh()
			v.Order.Select(j)
		}
	}
	v.Up = widget.NewButtonWithIcon("Up", theme.MoveUpIcon(), move(-1))
	v.Down = widget.NewButtonWithIcon("Down", theme.MoveDownIcon(), move(1))
	v.FromPolicy = widget.NewRadioGroup([]string{"rewrite", "keep"}, nil)
	v.FromPolicy.SetSelected(s.FromPolicy)
	v.Notify = widget.NewSelect([]string{"all", "problems", "none"}, nil)
	v.Notify.SetSelected(s.Notifications)
	v.Status = widget.NewLabel("")
	v.Status.Wrapping = fyne.TextWrapWord
	v.Save = widget.NewButtonWithIcon("Save settings", theme.DocumentSaveIcon(), func() {
		s := w.eng.Settings()
		s.Order, s.FromPolicy, s.BackupEvery = append([]string(nil), v.order...), v.FromPolicy.Selected, everyChoices[v.Every.Selected]
		s.Notifications = v.Notify.Selected
		first := v.order[0]
		v.Status.SetText("Saving…")
		w.tasks.Go(func() { // writes the configuration file: off the UI goroutine
			err := w.eng.Apply(s)
			fyne.Do(func() {
				if err != nil {
					v.Status.SetText("Not saved: " + err.Error())
				} else {
					v.Status.SetText("Saved. New mail goes through " + first + " first.")
				}
				v.signal()
			})
		})
	})
	v.RelayInfo = widget.NewLabel("")
	v.RelayInfo.Wrapping = fyne.TextWrapWord
	v.Relay = widget.NewCheck("Local relay for mail programs (Thunderbird, Outlook, Apple Mail)", func(on bool) {
		v.RelayInfo.SetText("…")
		w.tasks.Go(func() { // opens a socket and may wait on the keyring
			err := w.eng.SetRelay(on)
			s := w.eng.Settings()
			fyne.Do(func() {
				if err != nil {
					v.RelayInfo.SetText("The relay could not start: " + err.Error())
				} else {
					v.showRelay(s)
				}
				v.signal()
			})
		})
	})
	v.showRelay(s)
	fromHelp := widget.NewLabel("rewrite: through another account, From becomes that account's address (your name kept) and Reply-To stays yours — " +
		"providers refuse or rewrite forged senders. keep: From stays as written (only for addresses every account may send as).")
	fromHelp.Wrapping = fyne.TextWrapWord
	archive := widget.NewLabel("Archive folder: " + s.ArchiveDir + " (change archive_dir in the configuration file)")
	archive.Wrapping = fyne.TextWrapWord
	orderBox := container.NewBorder(nil, nil, nil, container.NewVBox(v.Up, v.Down), v.Order)
	orderBox = container.NewGridWrap(fyne.NewSize(520, 140), orderBox)
	form := widget.NewForm(
		widget.NewFormItem("Back up every", v.Every),
		widget.NewFormItem("Send through", orderBox),
		widget.NewFormItem("From when failing over", container.NewVBox(v.FromPolicy, fromHelp)),
		widget.NewFormItem("Desktop notifications", container.NewVBox(v.Notify,
			widget.NewLabel("all: outages, logins refused, recoveries, mass deletions, failed backups; problems: no recoveries; none"))),
	)
	v.root = container.NewVScroll(container.NewVBox(archive, form, container.NewHBox(v.Save), v.Status,
		widget.NewSeparator(), v.Relay, v.RelayInfo))
	return v
}

func (v *SettingsView) showRelay(s engine.Settings) {
	if !s.RelayOn {
		v.RelayInfo.SetText("Off. Switch it on to send from your usual mail program through Lifeboat's failover.")
		return
	}
	v.RelayInfo.SetText(fmt.Sprintf("In your mail program's outgoing (SMTP) settings:\n  server: %s\n  user name: %s\n  password: %s\n  security: none (it accepts connections from this computer only)",
		s.RelayListen, s.RelayUser, s.RelayPassword))
}
