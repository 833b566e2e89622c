package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/fsutil"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/relay"
)

// serviceState is what a running service says of itself
// (<data dir>/service.json), for lifeboat status.
type serviceState struct {
	PID          int       `json:"pid"`
	Started      time.Time `json:"started"`
	LastActivity time.Time `json:"last_activity"`
	Activity     string    `json:"activity"`
	LastBackup   time.Time `json:"last_backup,omitempty"`
	Stopped      time.Time `json:"stopped,omitempty"`
}

func serviceStatePath() string { return filepath.Join(config.DataDir(), "service.json") }

// serviceLog writes the service's stable line format:
// "2026-12-01T10:02:11Z backup: bt: ok, 3 new messages".
type serviceLog struct {
	mu    sync.Mutex
	c     *command
	state serviceState
}

func (l *serviceLog) printf(component, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.line(component, format, args...)
}

// stopped says the service stopped, in the log and in service.json.
func (l *serviceLog) stopped() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state.Stopped = time.Now().UTC()
	l.line("service", "stopped")
}

func (l *serviceLog) line(component, format string, args ...any) {
	now := time.Now().UTC()
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(l.c.env.Stdout, "%s %s: %s\n", now.Format(time.RFC3339), component, strings.ReplaceAll(msg, "\n", " "))
	l.state.LastActivity, l.state.Activity = now, component+": "+msg
	if component == "backup" {
		l.state.LastBackup = now
	}
	l.save()
}

func (l *serviceLog) save() {
	b, _ := json.Marshal(l.state)
	_ = fsutil.WriteFileSync(serviceStatePath(), b, 0o600)
}

// service runs headless what the desktop app runs: scheduled backups of
// every account (each followed by the bounce watch), the outage probes and
// delivery checks, the local relay and the outbox's retries, until SIGTERM
// or Ctrl-C, which stop it cleanly (a backup in progress is interrupted
// at a commit and continues at the next start).
func (c *command) service(args []string) error {
	if len(args) > 0 && args[0] == "install" {
		return c.serviceInstall(args[1:])
	}
	fs := c.flags("service")
	noRelay := fs.Bool("no-relay", false, "do not run the local submission relay")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("service takes no arguments (service install [--system] writes a systemd unit)")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if len(cfg.Accounts) == 0 {
		return fmt.Errorf("no account is configured: add one with \"lifeboat accounts add\"")
	}
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.ctx = ctx
	c.watching = true
	lg := &serviceLog{c: c, state: serviceState{PID: os.Getpid(), Started: time.Now().UTC()}}
	c.svcLog = lg
	lg.printf("service", "started (pid %d), backing up %s every %s", os.Getpid(), plural(len(cfg.Accounts), "account", "accounts"), cfg.BackupEvery.Duration)
	health := c.health(cfg)
	s, err := c.newSender(cfg, health)
	if err != nil {
		return err
	}
	if !*noRelay {
		rc, err := c.wiring(cfg).Relay(config.DataDir())
		if err != nil {
			return err
		}
		rl, err := relay.Start(rc.Options(cfg.Failover.RelayListen, cfg.Failover.RelayAllowRemote, s.ob, func(id string) {
			lg.printf("relay", "queued %s", id)
			s.router.Wake()
		}))
		if err != nil {
			return err
		}
		defer rl.Close()
		lg.printf("relay", "listening on %s (user %s)", rl.Addr, rc.User)
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	c.startMonitor(cfg)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.router.Run(ctx)
	}()
	every := cfg.BackupEvery.Duration
	for {
		c.serviceBackup(ctx, cfg, arch, s.ob, lg)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	lg.stopped()
	return nil
}

// serviceBackup backs every account up once and logs one line each.
func (c *command) serviceBackup(ctx context.Context, cfg *config.Config, arch *archive.Archive, ob *outbox.Outbox, lg *serviceLog) {
	w := c.wiring(cfg)
	var accts []backup.Account
	for _, a := range cfg.Accounts {
		accts = append(accts, w.BackupAccount(a))
	}
	opts := w.BackupOptions(arch, c.tracker(cfg))
	indexed := wire.IndexDuring(arch, &opts, c.indexFailed)
	results := backup.Backup(ctx, accts, opts)
	indexed(accts)
	for _, r := range results {
		new := 0
		for _, f := range r.Run.Folders {
			new += f.New
		}
		switch {
		case r.Err != nil:
			lg.printf("backup", "%s: %s: %v", r.Account, r.Run.Result, r.Err)
		case len(r.Run.Warnings) > 0:
			lg.printf("backup", "%s: warnings, %s: %s", r.Account, plural(new, "new message", "new messages"), r.Run.Warnings[0])
		default:
			lg.printf("backup", "%s: ok, %s", r.Account, plural(new, "new message", "new messages"))
		}
		found, err := wire.WatchBounces(arch, ob, r, c.tracker(cfg))
		if err != nil {
			lg.printf("bounces", "%s: %v", r.Account, err)
		}
		for _, b := range found {
			lg.printf("bounces", "%s (Message-ID %s) bounced for %s: %s", b.Item.ID, b.Item.MessageID, b.To(), b.Reason)
		}
	}
}

// serviceInstall writes a systemd unit that runs `lifeboat service` with
// this binary and this configuration: a user unit (the default), or a
// system one with --system (run as --user NAME).
func (c *command) serviceInstall(args []string) error {
	fs := c.flags("service install")
	system := fs.Bool("system", false, "write a system unit (/etc/systemd/system) instead of a user unit")
	user := fs.String("user", "", "with --system: the user the service runs as (default: the current user)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("service install takes no arguments")
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	cfgPath, err := c.configPath()
	if err != nil {
		return err
	}
	if cfgPath, err = filepath.Abs(cfgPath); err != nil {
		return err
	}
	if _, err := config.Load(cfgPath); err != nil {
		return err
	}
	var path, wanted, extra, enable string
	if *system {
		path, wanted, enable = "/etc/systemd/system/lifeboat.service", "multi-user.target", "systemctl daemon-reload && systemctl enable --now lifeboat"
		u := *user
		if u == "" {
			u = os.Getenv("USER")
		}
		if u == "" || u == "root" {
			return usagef("--system needs --user NAME: the service should not run as root (its keyring and files are that user's)")
		}
		extra = "User=" + u + "\n"
		if v := os.Getenv("XDG_DATA_HOME"); v != "" {
			extra += "Environment=XDG_DATA_HOME=" + v + "\n"
		}
	} else {
		dir, err := os.UserConfigDir()
		if err != nil {
			return err
		}
		path, wanted, enable = filepath.Join(dir, "systemd", "user", "lifeboat.service"), "default.target", "systemctl --user daemon-reload && systemctl --user enable --now lifeboat"
	}
	unit := fmt.Sprintf(`# Written by "lifeboat service install".
[Unit]
Description=Lifeboat: mail backups, outage detection and failover sending
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=%s --config %s service
%sRestart=on-failure
RestartSec=30
# SIGTERM stops it cleanly: a backup in progress stops at a commit.
KillSignal=SIGTERM
TimeoutStopSec=60

[Install]
WantedBy=%s
`, quoteUnit(bin), quoteUnit(cfgPath), extra, wanted)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := fsutil.WriteFileSync(path, []byte(unit), 0o644); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	fmt.Fprintf(c.env.Stdout, "Wrote %s.\nStart it now and at every boot with:\n  %s\nIts log: journalctl %s-u lifeboat -f\n", path, enable, map[bool]string{false: "--user ", true: ""}[*system])
	return nil
}

// quoteUnit quotes a path for a systemd ExecStart line when it needs it.
func quoteUnit(p string) string {
	if strings.ContainsAny(p, " \t\"\\") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
	}
	return p
}

// printService adds the service's last activity to lifeboat status.
func (c *command) printService() {
	b, err := os.ReadFile(serviceStatePath())
	if err != nil {
		return
	}
	var st serviceState
	if json.Unmarshal(b, &st) != nil {
		return
	}
	running := st.Stopped.IsZero() && processAlive(st.PID)
	switch {
	case running:
		fmt.Fprintf(c.env.Stdout, "Service: running since %s (pid %d); last activity %s ago: %s\n",
			st.Started.Local().Format("2 Jan 15:04"), st.PID, time.Since(st.LastActivity).Round(time.Second), st.Activity)
	case !st.Stopped.IsZero():
		fmt.Fprintf(c.env.Stdout, "Service: stopped at %s; last activity: %s\n", st.Stopped.Local().Format("2 Jan 15:04"), st.Activity)
	default:
		fmt.Fprintf(c.env.Stdout, "Service: not running (pid %d is gone; it did not stop cleanly); last activity %s: %s\n",
			st.PID, st.LastActivity.Local().Format("2 Jan 15:04"), st.Activity)
	}
}
