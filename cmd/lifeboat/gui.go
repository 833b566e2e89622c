package main

import (
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/app/ui"
	"github.com/lifeboat-mail/lifeboat/assets"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// displayAvailable reports whether a window can be opened.
func displayAvailable() bool {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" && runtime.GOOS != "openbsd" {
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

// runGUI opens the desktop app: the configured accounts, or the built-in
// demo when there are none (or with --demo).
func runGUI(args []string) int {
	flags := flag.NewFlagSet("gui", flag.ContinueOnError)
	demo := flags.Bool("demo", false, "run against the two built-in demo providers")
	configPath := flags.String("config", "", "configuration file")
	tour := flags.String("tour", "", "play the demo tour and save screenshots of the main views into DIR, then quit (demo only)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if !displayAvailable() {
		fmt.Fprintln(os.Stderr, "lifeboat: no display to open a window on; run \"lifeboat help\" for the command line")
		return 1
	}
	a := app.NewWithID("org.lifeboat.app")
	icon := fyne.NewStaticResource("icon.png", assets.Icon)
	a.SetIcon(icon)
	win := a.NewWindow("Lifeboat")
	var w *ui.Window
	refreshTray := func() {}
	var mu sync.Mutex
	lastNote := map[string]time.Time{}
	hooks := engine.Hooks{
		Changed: func() {
			fyne.Do(func() {
				if w != nil {
					w.Refresh()
				}
				refreshTray()
			})
		},
		Notify: func(title, body string) {
			mu.Lock() // at most one notification per title a minute (Windows needs rate limiting)
			if time.Since(lastNote[title]) < time.Minute {
				mu.Unlock()
				return
			}
			lastNote[title] = time.Now()
			mu.Unlock()
			a.SendNotification(fyne.NewNotification(title, body))
		},
	}
	path, err := resolveConfigPath(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeboat:", err)
		return 1
	}
	var eng *engine.Engine
	defer func() {
		if eng != nil {
			eng.Close()
		}
	}()
	// start shows the main window for an engine.
	start := func(e *engine.Engine) {
		eng = e
		w = ui.New(eng, win)
		win.SetContent(w.Content())
		if desk, ok := a.(desktop.App); ok {
			desk.SetSystemTrayIcon(icon)
			lastSummary := ""
			setTray := func() {
				sum := healthSummary(eng.Accounts())
				if sum == lastSummary {
					return
				}
				lastSummary = sum
				status := fyne.NewMenuItem(sum, nil)
				status.Disabled = true
				desk.SetSystemTrayMenu(fyne.NewMenu("Lifeboat", status,
					fyne.NewMenuItem("Open Lifeboat", func() { win.Show() }),
					fyne.NewMenuItem("Back up now", func() { eng.BackupNow("") }),
				))
			}
			setTray()
			refreshTray = setTray
			// Keep working from the tray when the window is closed; the
			// tray's own Quit item ends the app. (The window also shows every
			// status, since some desktops have no tray.)
			win.SetCloseIntercept(func() { win.Hide() })
		}
		// Backups on the schedule of the settings (default every 30
		// minutes) while the app runs, and one now.
		go func() {
			for {
				e.BackupNow("")
				every := e.Config().BackupEvery.Duration
				if every < time.Minute {
					every = 30 * time.Minute
				}
				select {
				case <-time.After(every):
				case <-e.Done():
					return
				}
			}
		}()
		if *tour != "" {
			go playTour(eng, w, win, a, *tour)
		}
	}
	fail := func(err error) {
		dialog.ShowError(err, win)
	}
	// reopen switches to the accounts in the configuration file (after one
	// was added), closing the engine that ran before.
	var addTab func()
	reopen := func() {
		cfg, err := config.Load(path)
		if err != nil {
			fail(err)
			return
		}
		mine, err := engine.Open(engine.Options{Config: cfg, Secrets: secrets.Keyring(), DataDir: config.DataDir(), Hooks: hooks})
		if err != nil {
			fail(err)
			return
		}
		before := eng
		start(mine)
		addTab()
		before.Close()
	}
	addTab = func() {
		w.AddAccountTab(ui.NewSetup(&engine.Setup{ConfigPath: path, Secrets: secrets.Keyring()}, reopen, nil))
	}
	cfg, err := config.Load(path)
	switch {
	case *demo || *tour != "":
		e, err := startDemo(hooks)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lifeboat:", err)
			return 1
		}
		start(e)
	case err == nil && len(cfg.Accounts) > 0:
		e, err := engine.Open(engine.Options{Config: cfg, Secrets: secrets.Keyring(), DataDir: config.DataDir(), Hooks: hooks})
		if err != nil {
			fmt.Fprintln(os.Stderr, "lifeboat:", err)
			return 1
		}
		start(e)
		addTab()
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		fmt.Fprintln(os.Stderr, "lifeboat:", err)
		return 1
	default:
		// First run: the demo runs, with the welcome screen in front of it
		// to add a real account.
		e, err := startDemo(hooks)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lifeboat:", err)
			return 1
		}
		start(e)
		setup := ui.NewSetup(&engine.Setup{ConfigPath: path, Secrets: secrets.Keyring()}, reopen, func() { w.ShowAccounts() })
		w.AddWelcome(setup)
	}
	win.Resize(fyne.NewSize(1100, 720))
	win.ShowAndRun()
	return 0
}

func resolveConfigPath(p string) (string, error) {
	if p != "" {
		return p, nil
	}
	return config.DefaultPath() // honours LIFEBOAT_CONFIG
}

// startDemo runs the engine against the two built-in demo providers.
func startDemo(hooks engine.Hooks) (*engine.Engine, error) {
	dir := filepath.Join(config.DataDir(), "demo-app")
	os.RemoveAll(dir) // the demo always starts fresh; it never holds real mail
	return engine.StartDemo(dir, hooks)
}

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
		return result != "" && result != "Sending…" && !startsWith(result, "Lifeboat sends")
	}) {
		return
	}
	say("compose: %s", result)
	shot("compose", 3)
	shot("outbox", 4)
	fyne.DoAndWait(func() { w.Settings.Relay.SetChecked(true) })
	shot("settings", 5)
	say("done")
	fyne.Do(a.Quit)
}

// healthSummary is the tray's one line: every provider operational, or
// the first that is not.
func healthSummary(accts []engine.Account) string {
	for _, a := range accts {
		if a.State == health.Down || a.State == health.NeedsYou || a.State == health.Degraded {
			return a.Name + ": " + a.State.Words()
		}
	}
	return "All providers operational"
}

func startsWith(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
