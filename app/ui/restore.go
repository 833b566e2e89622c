package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/sync/restore"
)

// RestoreView is the Restore wizard: which archived account and folders,
// into which account, a preview (a dry run: what is already there, what
// would be appended, what the old server had deleted), then the restore
// with its progress and the final report. The network work runs in the
// background; Stop ends it, and running it again continues.
type RestoreView struct {
	root        fyne.CanvasObject
	From        *widget.Select
	Folders     *widget.CheckGroup
	To          *widget.Select
	Into        *widget.Entry
	SkipDeleted *widget.Check
	SkipCopies  *widget.Check
	Preview     *widget.Button
	Start       *widget.Button
	Stop        *widget.Button
	Progress    *widget.ProgressBar
	Status      *widget.Label
	Report      *widget.Label

	cancel context.CancelFunc
	done   chan struct{} // signalled after each background step (tests)
}

func (w *Window) newRestore() *RestoreView {
	v := &RestoreView{done: make(chan struct{}, 10)}
	var targets []string
	for _, a := range w.eng.Accounts() {
		targets = append(targets, a.Name)
	}
	v.Folders = widget.NewCheckGroup(nil, nil)
	v.From = widget.NewSelect(nil, func(account string) {
		w.tasks.Go(func() {
			folders := w.eng.ArchivedFolders(account)
			fyne.Do(func() {
				v.Folders.Options = folders
				v.Folders.SetSelected(folders)
				v.Folders.Refresh()
				v.signal()
			})
		})
	})
	v.From.PlaceHolder = "archived account"
	v.To = widget.NewSelect(targets, nil)
	v.To.PlaceHolder = "account to restore into"
	v.Into = widget.NewEntry()
	v.Into.SetPlaceHolder("optional: one parent folder, e.g. Restored " + time.Now().Format("2006-01-02"))
	v.SkipDeleted = widget.NewCheck("Leave out messages the old server had deleted", nil)
	v.SkipCopies = widget.NewCheck("Leave out Lifeboat's copies of mail it sent through another account", nil)
	v.Progress = widget.NewProgressBar()
	v.Status = widget.NewLabel("")
	v.Report = widget.NewLabel("")
	v.Report.Wrapping = fyne.TextWrapWord
	v.Preview = widget.NewButton("Preview", func() { v.run(w, true) })
	v.Start = widget.NewButton("Restore", func() { v.run(w, false) })
	v.Start.Importance = widget.HighImportance
	v.Stop = widget.NewButton("Stop", func() {
		if v.cancel != nil {
			v.cancel()
		}
	})
	v.Stop.Disable()
	folders := container.NewVScroll(v.Folders)
	folders.SetMinSize(fyne.NewSize(420, 130))
	v.Progress.Hide() // shown while a restore runs
	form := widget.NewForm(
		widget.NewFormItem("From the archive of", v.From),
		widget.NewFormItem("Folders", folders),
		widget.NewFormItem("Into the account", v.To),
		widget.NewFormItem("Under", v.Into),
	)
	buttons := container.NewHBox(v.Preview, v.Start, v.Stop)
	v.root = container.NewBorder(container.NewVBox(form, v.SkipDeleted, v.SkipCopies, buttons, v.Progress, v.Status), nil, nil, nil,
		container.NewVScroll(v.Report))
	return v
}

// load fills the list of archived accounts in the background (once the
// wizard is on screen).
func (v *RestoreView) load(w *Window) {
	w.tasks.Go(func() {
		accts := w.eng.ArchivedAccounts()
		fyne.Do(func() {
			v.From.Options = accts
			v.From.Refresh()
			if len(accts) > 0 {
				v.From.SetSelected(accts[0])
			}
			v.signal()
		})
	})
}

func (v *RestoreView) signal() {
	select {
	case v.done <- struct{}{}:
	default:
	}
}

func (v *RestoreView) request() engine.RestoreRequest {
	req := engine.RestoreRequest{From: v.From.Selected, To: v.To.Selected, Into: strings.TrimSpace(v.Into.Text),
		SkipDeleted: v.SkipDeleted.Checked, SkipCopies: v.SkipCopies.Checked}
	if len(v.Folders.Selected) < len(v.Folders.Options) {
		req.Folders = append(req.Folders, v.Folders.Selected...)
	}
	return req
}

// run starts a preview (dryRun) or the restore in the background.
func (v *RestoreView) run(w *Window, dryRun bool) {
	req := v.request()
	if req.From == "" || req.To == "" {
		v.Status.SetText("Choose the archived account and the account to restore into.")
		return
	}
	if len(v.Folders.Options) > 0 && len(v.Folders.Selected) == 0 {
		v.Status.SetText("Choose at least one folder.")
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	v.Preview.Disable()
	v.Start.Disable()
	v.Stop.Enable()
	v.Progress.SetValue(0)
	if dryRun {
		v.Progress.Hide()
	} else {
		v.Progress.Show()
	}
	v.Report.SetText("")
	if dryRun {
		v.Status.SetText("Looking at what " + req.To + " already holds…")
	} else {
		v.Status.SetText("Restoring " + req.From + " into " + req.To + "…")
	}
	start := time.Now()
	p := &restoreProgress{}
	w.tasks.Go(func() {
		rep := w.eng.Restore(ctx, req, dryRun, func(ev restore.Event) {
			if line, frac, ok := p.event(ev, start); ok {
				fyne.Do(func() {
					v.Status.SetText(line)
					v.Progress.SetValue(frac)
				})
			}
		})
		cancel()
		fyne.Do(func() {
			v.cancel = nil
			v.Preview.Enable()
			v.Start.Enable()
			v.Stop.Disable()
			if !dryRun && rep.Err == nil {
				v.Progress.SetValue(1)
			}
			v.Status.SetText("")
			v.Report.SetText(RestoreReportText(rep))
			v.signal()
		})
	})
}

// restoreProgress turns the restore's events into the status line, at
// most ten times a second. Events come from the restore's goroutines.
type restoreProgress struct {
	tally restore.Tally
	mu    sync.Mutex
	last  time.Time
}

func (p *restoreProgress) event(ev restore.Event, start time.Time) (line string, frac float64, ok bool) {
	if ev.Kind == restore.Retry || ev.Kind == restore.Warning {
		return ev.Text, 0, true
	}
	if !p.tally.Add(ev) {
		return "", 0, false
	}
	p.mu.Lock()
	if time.Since(p.last) < 100*time.Millisecond {
		p.mu.Unlock()
		return "", 0, false
	}
	p.last = time.Now()
	p.mu.Unlock()
	n, total, b, totalB := p.tally.Totals()
	line = fmt.Sprintf("%d of %d messages, %s of %s", n, total, humanBytes(b), humanBytes(totalB))
	if totalB > 0 {
		frac = float64(b) / float64(totalB)
	}
	if left := p.tally.Left(time.Since(start)); left > 0 {
		line += fmt.Sprintf(", about %s left", left.Round(time.Second))
	}
	return line, frac, true
}

// RestoreReportText is a restore's (or a preview's) report as the wizard
// shows it: a line per folder, then what needs the person's attention.
func RestoreReportText(rep *restore.Report) string {
	var b strings.Builder
	head := ""
	if rep.Err != nil {
		head = fmt.Sprintf("The restore could not go on: %v\n\n", rep.Err)
	}
	var app, there, refused, deleted, copies int
	var bytes int64
	for _, f := range rep.Folders {
		name := strings.Join(f.Sources, " + ")
		if name != f.Target {
			name += " → " + f.Target
		}
		n, nb := f.Appended, f.Bytes
		verb := "appended"
		if rep.DryRun {
			n, nb, verb = f.ToAppend, f.ToAppendBytes, "to append"
		}
		fmt.Fprintf(&b, "%s: %d %s, %d already there", name, n, verb, f.There)
		if f.Skipped > 0 {
			fmt.Fprintf(&b, ", %d left out", f.Skipped)
		}
		b.WriteString("\n")
		for _, r := range f.Refused {
			id := r.MessageID
			if id == "" {
				id = "(no Message-ID)"
			}
			fmt.Fprintf(&b, "    refused: %s of %s: %s\n", id, r.Date.Format("2006-01-02"), r.Why)
		}
		for _, note := range f.Notes {
			fmt.Fprintf(&b, "    %s\n", note)
		}
		if f.Err != "" {
			fmt.Fprintf(&b, "    not finished: %s\n", f.Err)
		}
		app += n
		bytes += nb
		there += f.There
		refused += len(f.Refused)
		deleted += f.Deleted
		copies += f.Copies
	}
	if len(rep.Folders) == 0 {
		return head
	}
	folders := b.String()
	b.Reset()
	b.WriteString(head)
	if rep.DryRun {
		fmt.Fprintf(&b, "Would append %d messages (%s) into %s; %d are already there. Nothing was changed.\n", app, humanBytes(bytes), rep.Target, there)
	} else {
		fmt.Fprintf(&b, "Appended %d messages (%s) into %s; %d were already there.\n", app, humanBytes(bytes), rep.Target, there)
	}
	if deleted > 0 {
		fmt.Fprintf(&b, "%d of the messages had been deleted on the old server (they are restored unless you leave them out).\n", deleted)
	}
	if copies > 0 {
		fmt.Fprintf(&b, "%d are Lifeboat's copies of mail it sent through another account.\n", copies)
	}
	if refused > 0 {
		fmt.Fprintf(&b, "%d messages were refused by the server (listed below); the rest are restored.\n", refused)
	}
	return b.String() + "\n" + folders
}

// ShowRestore opens the Restore wizard.
func (w *Window) ShowRestore() *RestoreView {
	v := w.newRestore()
	d := dialog.NewCustom("Restore an archive into an account", "Close", v.root, w.win)
	d.Resize(fyne.NewSize(760, 620))
	d.Show()
	w.RestoreDialog = v
	v.load(w)
	return v
}

// ShowExport asks for a format and a new or empty folder, then exports
// the account in the background.
func (w *Window) ShowExport(account string) {
	format := widget.NewSelect([]string{"mbox", "eml", "thunderbird"}, nil)
	format.SetSelected("mbox")
	dialog.ShowCustomConfirm("Export "+account, "Choose a folder…", "Cancel",
		widget.NewForm(widget.NewFormItem("Format", format)), func(ok bool) {
			if !ok {
				return
			}
			dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
				if err != nil || dir == nil {
					return
				}
				path := dir.Path()
				w.tasks.Go(func() {
					res, err := w.eng.Export(account, format.Selected, path)
					fyne.Do(func() {
						if err != nil {
							dialog.ShowError(err, w.win)
							return
						}
						dialog.ShowInformation("Exported", fmt.Sprintf("%d messages in %d folders written to %s.", res.Messages, res.Folders, path), w.win)
					})
				})
			}, w.win)
		}, w.win)
}

// ShowImport asks for an mbox file and imports it into account.
func (w *Window) ShowImport(account string) {
	dialog.ShowFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		w.tasks.Go(func() {
			res, err := w.eng.Import(account, path, "")
			fyne.Do(func() {
				if err != nil {
					dialog.ShowError(err, w.win)
					return
				}
				dialog.ShowInformation("Imported", fmt.Sprintf("%d messages added to %s (%d were already there).", res.Added, account, res.Skipped), w.win)
				w.Refresh()
			})
		})
	}, w.win)
}
