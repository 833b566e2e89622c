// Package desktop is the desktop app: it opens the Fyne application, its
// window, the tray icon and desktop notifications around an engine
// (app/engine) and the views (app/ui), runs the backup schedule while the
// app is open, and plays the screenshot tour of the demo. It owns no mail
// logic: everything it shows comes from the engine.
package desktop

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/dialog"
	fyndesk "fyne.io/fyne/v2/driver/desktop"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/app/ui"
	"github.com/lifeboat-mail/lifeboat/assets"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// DisplayAvailable reports whether a window can be opened.
func DisplayAvailable() bool {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" && runtime.GOOS != "openbsd" {
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

// Run opens the desktop app: the configured accounts, or the built-in demo
// when there are none (or with --demo). args are the flags after "gui"
// (--demo, --config FILE, --tour DIR); it returns the exit code.
func Run(args []string) int {
	flags := flag.NewFlagSet("gui", flag.ContinueOnError)
	demo := flags.Bool("demo", false, "run against the two built-in demo providers")
	configPath := flags.String("config", "", "configuration file")
	tour := flags.String("tour", "", "play the demo tour and save screenshots of the main views into DIR, then quit (demo only)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if !DisplayAvailable() {
		fmt.Fprintln(os.Stderr, "lifeboat: no display to open a window on; run \"lifeboat help\" for the command line")
		return 1
	}
	releaseConsole()
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
		if desk, ok := a.(fyndesk.App); ok {
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
