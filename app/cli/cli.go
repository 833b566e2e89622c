// Package cli is Lifeboat's command line: it parses arguments, has the
// engines wired from the configuration (app/wire), runs them and prints
// what happened. It holds no mail logic of its own. What it guarantees:
// every error is one line that says what to do; a password is never
// printed (only the relay's own, on request with --show-credentials); and
// the exit status says how the run ended.
//
// Exit status: 0 ok, 1 failure, 2 usage, 3 finished with warnings (mass
// deletion on the server, quarantined bytes, ...).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// Exit statuses.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitWarnings = 3
)

// Env is what a command may touch of the outside world; tests fill it with
// buffers and fakes.
type Env struct {
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Secrets  secrets.Store
	Terminal bool // stdout is an interactive terminal
	// ReadPassword reads a password without echo (nil: read a line of Stdin).
	ReadPassword func(prompt string) (string, error)
	// OpenURL opens a web page in the user's browser (nil: $BROWSER, else
	// the system's opener).
	OpenURL func(url string) error
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errWarnings is returned by a command that finished with warnings.
var errWarnings = errors.New("finished with warnings")

// exitError carries a specific status with a message already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

const usage = `Lifeboat keeps your email safe when your provider fails.

Usage: lifeboat [--config FILE] COMMAND [options]

Commands:
  (none)                 back up every account; the built-in demo when none is configured
  demo                   show a whole backup against a built-in demo provider
  backup [--account NAME] [--json]
                         back up every folder of every account (or one account)
  status [--json]        last run, counts, server deletions and warnings per folder
  verify [--account NAME]
                         re-read every archived message and check its hash
  repair [--account NAME [--folder PATH]] [--no-backup]
                         make damaged folders consistent again without losing
                         a byte, then fetch damaged messages again
  reindex                rebuild the search index from the archive files
  restore --from ARCHIVED --to ACCOUNT [--folder F ...] [--into PARENT]
          [--dry-run] [--skip-deleted] [--skip-copies]
                         put an archived account's mail into an IMAP account
                         (a new provider, or the old one after it lost mail);
                         running it again appends nothing twice
  migrate --from ACCOUNT --to ACCOUNT
                         back up one account, then restore it into another
  export --account NAME [--folder F ...] [--format mbox|eml|thunderbird] DIR
                         write the archive out for other mail programs
  import PATH --account NAME [--folder F]
                         bring mbox files (Takeout, Thunderbird, mutt, Apple
                         Mail) and .eml files into the archive, each once
  serve [--listen 127.0.0.1:1143] [--show-credentials]
                         serve the archive read-only over IMAP to your own
                         mail program (flags, dates, HTML, attachments)
  accounts add [NAME] [--email E --host H --port P --security tls|starttls|plain --username U]
               [--auth password|oauth2 --provider microsoft|google --client-id ID --tenant T --device]
  accounts login NAME [--device]
                         sign an OAuth2 account in (again) with Microsoft or Google:
                         in the browser, or with a code on another device
  accounts list
  accounts test NAME     log in and report clearly what works
  accounts remove NAME   forget an account (its archive stays on disk; OAuth2
                         tokens are deleted, and revoked where the provider can)
  send [-f FILE] [--from ADDR] [RCPT...]
                         queue a message (recipients from To/Cc/Bcc when none
                         are given, like sendmail -t) and send it through the
                         first account that can take it
  relay [--show-credentials]
                         run the local SMTP relay for mail programs, sending
                         and retrying queued mail until stopped
  outbox [list|send|retry ID|drop ID|resend ID --via ACCOUNT]
                         queued, failed and bounced messages with their
                         ledger; resend: a bounced one through another account
  service [--no-relay]   run headless for an office server: scheduled backups,
                         probes and delivery checks, the relay, the outbox's
                         retries, the bounce watch; SIGTERM stops it cleanly
  service install [--system [--user NAME]]
                         write a systemd user unit (or a system one) for it
  monitor [--once [--canary]] [-v]
                         probe every account's IMAP and SMTP and print each
                         change of health (up, degraded, down, needs-you);
                         --once --canary sends every delivery check now

The configuration lives in $XDG_CONFIG_HOME/lifeboat/config.toml (or --config
FILE, or $LIFEBOAT_CONFIG). Passwords live in the system keyring.
`

// Main runs the command line and returns the exit status.
func Main(ctx context.Context, args []string, env *Env) int {
	if env.Secrets == nil {
		env.Secrets = secrets.Keyring()
	}
	global := flag.NewFlagSet("lifeboat", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	configPath := global.String("config", "", "configuration file")
	help := global.Bool("help", false, "show help")
	global.BoolVar(help, "h", false, "show help")
	if err := global.Parse(args); err != nil {
		fmt.Fprintf(env.Stderr, "lifeboat: %v\n\n%s", err, usage)
		return ExitUsage
	}
	if *help {
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	}
	rest := global.Args()
	cmd := ""
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	// Background work of a command (the monitor, following the shared
	// health) ends with it, and Main returns only after it has.
	ctx, cancel := context.WithCancel(ctx)
	c := &command{ctx: ctx, env: env, configFlag: *configPath}
	defer func() { cancel(); c.bg.Wait() }()
	var err error
	switch cmd {
	case "":
		err = c.runDefault()
	case "demo":
		err = c.demo(rest)
	case "backup":
		err = c.backup(rest)
	case "status":
		err = c.status(rest)
	case "verify":
		err = c.verify(rest)
	case "repair":
		err = c.repair(rest)
	case "reindex":
		err = c.reindex(rest)
	case "restore":
		err = c.restore(rest)
	case "migrate":
		err = c.migrate(rest)
	case "export":
		err = c.export(rest)
	case "import":
		err = c.importMail(rest)
	case "serve":
		err = c.serve(rest)
	case "accounts":
		err = c.accounts(rest)
	case "send":
		err = c.send(rest)
	case "relay":
		err = c.relay(rest)
	case "outbox":
		err = c.outbox(rest)
	case "monitor":
		err = c.monitor(rest)
	case "service", "daemon":
		err = c.service(rest)
	case "help":
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	default:
		err = usagef("unknown command %q", cmd)
	}
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errWarnings):
		return ExitWarnings
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "lifeboat: %v\nRun \"lifeboat help\" for usage.\n", err)
		return ExitUsage
	case errors.Is(err, flag.ErrHelp):
		return ExitUsage
	default:
		fmt.Fprintf(env.Stderr, "lifeboat: %v\n", err)
		return ExitFailure
	}
}

type command struct {
	ctx        context.Context
	bg         sync.WaitGroup // background goroutines, waited for by Main
	svcLog     *serviceLog    // set by lifeboat service: every line in its format
	env        *Env
	configFlag string
	tr         *health.Tracker // the health model of this process, made on first use
	watching   bool            // a long-running command: record and print health changes
}

// wiring is the configuration with this process's secret store: what
// every command hands the engines.
func (c *command) wiring(cfg *config.Config) wire.Wiring {
	return wire.Wiring{Config: cfg, Secrets: c.env.Secrets}
}

func (c *command) configPath() (string, error) {
	if c.configFlag != "" {
		return c.configFlag, nil
	}
	return config.DefaultPath()
}

// loadConfig loads the configuration; a missing file is reported with
// fs.ErrNotExist so callers can offer the demo or accounts add.
func (c *command) loadConfig() (*config.Config, error) {
	path, err := c.configPath()
	if err != nil {
		return nil, err
	}
	return config.Load(path)
}

func (c *command) openArchive(cfg *config.Config) (*archive.Archive, error) {
	return archive.Open(cfg.ArchiveDir)
}

func (c *command) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.env.Stderr)
	return fs
}

// parse parses a subcommand's flags, allowing flags after positional
// arguments ("accounts test bt --json").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *command) runDefault() error {
	cfg, err := c.loadConfig()
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(cfg.Accounts) == 0) {
		fmt.Fprintln(c.env.Stdout, "No account is configured yet, so here is the built-in demo.")
		fmt.Fprintln(c.env.Stdout, "Add your own account with: lifeboat accounts add")
		fmt.Fprintln(c.env.Stdout)
		return c.demo(nil)
	}
	if err != nil {
		return err
	}
	return c.backup(nil)
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

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
