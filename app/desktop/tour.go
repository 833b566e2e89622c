package desktop

import (
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/app/ui"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// playTour drives the demo the way a newcomer would, through the window's
// own widgets, saving a screenshot of each main view: it backs up, opens the
// archive, switches the primary off, waits for the red light, sends a
// message (it goes through the secondary) and shows the outbox. It prints
// one "tour:" line per step and quits.
func playTour(eng *engine.Engine, w *ui.Window, win fyne.Window, a fyne.App, dir string) {
	say := func(format string, args ...any) { fmt.Printf("tour: "+format+"\n", args...) }
	fail := func(format string, args ...any) {
		say("FAILED: "+format, args...)
		fyne.Do(a.Quit)
	}
	os.MkdirAll(dir, 0o755)
	shot := func(name string, tab int) {
		fyne.DoAndWait(func() { w.Tabs.SelectIndex(tab); w.Refresh() })
		time.Sleep(700 * time.Millisecond)
		path := filepath.Join(dir, name+".png")
		// What a person sees: the X screen through ImageMagick's import
		// (under Xvfb the canvas's own capture comes back black), else the
		// canvas.
		if imp, err := exec.LookPath("import"); err == nil && os.Getenv("DISPLAY") != "" {
			if out, err := exec.Command(imp, "-window", "root", path).CombinedOutput(); err != nil {
				say("import failed: %v %s", err, out)
			}
		} else {
			fyne.DoAndWait(func() {
				if f, err := os.Create(path); err == nil {
					png.Encode(f, win.Canvas().Capture())
					f.Close()
				}
			})
		}
		say("screenshot %s.png", name)
	}
	waitFor := func(what string, timeout time.Duration, ok func() bool) bool {
		deadline := time.Now().Add(timeout)
		for !ok() {
			if time.Now().After(deadline) {
				fail("no %s within %s", what, timeout)
				return false
			}
			time.Sleep(100 * time.Millisecond)
		}
		return true
	}
	time.Sleep(time.Second)
	say("started")
	if !waitFor("first backup", 60*time.Second, func() bool {
		for _, acc := range eng.Accounts() {
			if acc.Running || acc.LastResult == "" {
				return false
			}
		}
		return true
	}) {
		return
	}
	say("backed up %d messages", eng.Accounts()[0].Archived)
	if !waitFor("bt operational", 30*time.Second, func() bool { return eng.Accounts()[0].State == health.Up }) {
		return
	}
	shot("accounts", 0)
	fyne.DoAndWait(func() {
		w.Tabs.SelectIndex(2)
		w.Archive.Folders.Select(0)
		w.Archive.List.Select(0)
	})
	time.Sleep(500 * time.Millisecond) // the list and the message load in the background
	fyne.DoAndWait(func() { w.Archive.List.Select(0) })
	time.Sleep(500 * time.Millisecond)
	shot("archive", 2)
	var status string
	fyne.DoAndWait(func() { status = w.Archive.Status.Text })
	say("archive shows %s", status)
	fyne.DoAndWait(func() {
		w.Archive.Search.SetText("subject:invoice")
		w.Archive.Search.OnSubmitted(w.Archive.Search.Text)
	})
	time.Sleep(800 * time.Millisecond)
	fyne.DoAndWait(func() { w.Archive.List.Select(0) })
	time.Sleep(500 * time.Millisecond)
	shot("search", 2)
	fyne.DoAndWait(func() { status = w.Archive.Status.Text })
	say("search: %s", status)
	fyne.DoAndWait(func() { w.OutageSwitch.SetChecked(true) })
	if !waitFor("bt down", 60*time.Second, func() bool { return eng.Accounts()[0].State == health.Down }) {
		return
	}
	say("bt is down")
	shot("health", 1)
	shot("accounts-outage", 0)
	fyne.DoAndWait(func() {
		c := w.Compose
		c.To.SetText("tom@example.org")
		c.Subject.SetText("Saturday")
		c.Body.SetText("See you at ten.\n\nJane")
		w.Tabs.SelectIndex(3)
		c.SendButton.OnTapped()
	})
	var result string
	if !waitFor("the send", 60*time.Second, func() bool {
		fyne.DoAndWait(func() { result = w.Compose.Result.Text })
		return result != "" && result != "Sending…" && !strings.HasPrefix(result, "Lifeboat sends")
	}) {
		return
	}
	say("compose: %s", result)
	shot("compose", 3)
	shot("outbox", 4)
	fyne.DoAndWait(func() { w.Settings.Relay.SetChecked(true) })
	shot("settings", 5)
	// The Restore wizard's preview: the archive of bt into gmail.
	var rv *ui.RestoreView
	fyne.DoAndWait(func() {
		w.Tabs.SelectIndex(2)
		rv = w.ShowRestore()
	})
	if !waitFor("archived accounts in the wizard", 10*time.Second, func() bool {
		var n int
		fyne.DoAndWait(func() { n = len(rv.Folders.Selected) })
		return n > 0
	}) {
		return
	}
	fyne.DoAndWait(func() { rv.To.SetSelected("gmail"); rv.Into.SetText("Restored from BT"); rv.Preview.OnTapped() })
	var report string
	if !waitFor("the restore preview", 30*time.Second, func() bool {
		fyne.DoAndWait(func() { report = rv.Report.Text })
		return report != ""
	}) {
		return
	}
	say("restore preview: %s", strings.SplitN(report, "\n", 2)[0])
	time.Sleep(700 * time.Millisecond)
	path := filepath.Join(dir, "restore.png")
	if imp, err := exec.LookPath("import"); err == nil && os.Getenv("DISPLAY") != "" {
		exec.Command(imp, "-window", "root", path).Run()
		say("screenshot restore.png")
	}
	say("done")
	fyne.Do(a.Quit)
}
