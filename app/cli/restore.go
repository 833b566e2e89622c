package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/restore"
)

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type restoreFlags struct {
	from, to, into                  string
	folders                         multiFlag
	dryRun, skipDeleted, skipCopies bool
	asJSON                          bool
	connections                     int
}

func (c *command) restoreFlagSet(name string, rf *restoreFlags) *flag.FlagSet {
	fs := c.flags(name)
	fs.StringVar(&rf.from, "from", "", "the archived account to restore")
	fs.StringVar(&rf.to, "to", "", "the configured account to restore into")
	fs.StringVar(&rf.into, "into", "", "put every folder under this one parent folder (e.g. \"Restored 2026-12-01\")")
	fs.Var(&rf.folders, "folder", "restore only this archive folder and its subfolders (may be repeated)")
	fs.BoolVar(&rf.dryRun, "dry-run", false, "show what would be restored; change nothing")
	fs.BoolVar(&rf.skipDeleted, "skip-deleted", false, "leave out messages the old server had deleted")
	fs.BoolVar(&rf.skipCopies, "skip-copies", false, "leave out Lifeboat's own copies of mail it sent through another account")
	fs.BoolVar(&rf.asJSON, "json", false, "print events and the report as JSON lines")
	fs.IntVar(&rf.connections, "connections", 4, "folders restored at once, each on its own connection")
	return fs
}

func (c *command) restore(args []string) error {
	var rf restoreFlags
	fs := c.restoreFlagSet("restore", &rf)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("restore takes no arguments (use --from ACCOUNT --to ACCOUNT)")
	}
	if rf.from == "" || rf.to == "" {
		return usagef("restore needs --from (the archived account) and --to (the configured account to restore into)")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	return c.runRestore(cfg, arch, &rf)
}

// migrate backs up one account, then restores its archive into another.
func (c *command) migrate(args []string) error {
	var rf restoreFlags
	fs := c.restoreFlagSet("migrate", &rf)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("migrate takes no arguments (use --from ACCOUNT --to ACCOUNT)")
	}
	if rf.from == "" || rf.to == "" {
		return usagef("migrate needs --from and --to, two configured accounts")
	}
	if rf.from == rf.to {
		return usagef("migrate: --from and --to are the same account; to put an account's archive back into it, use restore")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	src, err := cfg.Account(rf.from)
	if err != nil {
		return usageError{err.Error()}
	}
	if _, err := cfg.Account(rf.to); err != nil {
		return usageError{err.Error()}
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	if !rf.dryRun {
		fmt.Fprintf(c.env.Stdout, "Step 1 of 2: backing up %s\n", rf.from)
		err := c.runBackup(arch, []backup.Account{c.wiring(cfg).BackupAccount(*src)}, c.wiring(cfg).BackupOptions(arch, c.tracker(cfg)), rf.asJSON)
		if err != nil && err != errWarnings {
			fmt.Fprintf(c.env.Stderr, "lifeboat: the backup of %s did not finish, so nothing was restored; run migrate again\n", rf.from)
			return err
		}
		fmt.Fprintf(c.env.Stdout, "\nStep 2 of 2: restoring into %s\n", rf.to)
	}
	return c.runRestore(cfg, arch, &rf)
}

func (c *command) runRestore(cfg *config.Config, arch *archive.Archive, rf *restoreFlags) error {
	tgt, err := cfg.Account(rf.to)
	if err != nil {
		return usageError{err.Error()}
	}
	accts, err := arch.Accounts()
	if err != nil {
		return err
	}
	if !contains(accts, rf.from) {
		return fmt.Errorf("the archive %s has no account %q (it has: %s)", arch.Root, rf.from, strings.Join(accts, ", "))
	}
	p := &restorePrinter{w: c.env.Stdout, live: c.env.Terminal && !rf.asJSON, json: rf.asJSON, start: time.Now()}
	opts := restore.Options{Into: rf.into, SkipDeleted: rf.skipDeleted, SkipCopies: rf.skipCopies, DryRun: rf.dryRun,
		Connections: rf.connections, Progress: p.event}
	if !rf.asJSON {
		what := "Restoring"
		if rf.dryRun {
			what = "Dry run (nothing is created, appended or recorded): restoring"
		}
		fmt.Fprintf(c.env.Stdout, "%s the archive of %s into %s\n", what, rf.from, rf.to)
	}
	// A restore reads the whole archive once: collecting garbage sooner
	// keeps its memory near what it holds (a soft limit, not a cap).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(restoreMemory))
	rep := restore.Restore(c.ctx, restore.Source{Archive: arch, Account: rf.from, Folders: rf.folders}, c.wiring(cfg).RestoreTarget(*tgt), opts)
	p.finish(rep)
	if rep.Err != nil {
		if !rf.asJSON {
			fmt.Fprintf(c.env.Stderr, "lifeboat: restore into %s: %v\n", rf.to, rep.Err)
		}
		return exitError{ExitFailure}
	}
	if rep.Problems() {
		return errWarnings
	}
	return nil
}

// restoreMemory is the Go heap a restore aims to stay under.
const restoreMemory = 48 << 20

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// restorePrinter shows progress (a live line on a terminal), then the
// report: one line per folder, and every refused message with the
// server's words.
type restorePrinter struct {
	mu       sync.Mutex
	w        io.Writer
	live     bool
	json     bool
	start    time.Time
	lastDraw time.Time
	lineOpen bool
	tally    restore.Tally
}

func (p *restorePrinter) event(ev restore.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		line := map[string]any{"event": [...]string{"learned", "progress", "folder", "retry", "warning"}[ev.Kind], "folder": ev.Folder}
		switch ev.Kind {
		case restore.Progress:
			line["messages"], line["bytes"] = ev.Messages, ev.Bytes
		case restore.Retry, restore.Warning:
			line["text"] = ev.Text
		default:
			line["report"] = ev.Report
		}
		json.NewEncoder(p.w).Encode(line)
		return
	}
	p.tally.Add(ev)
	switch ev.Kind {
	case restore.Progress:
		if p.live && time.Since(p.lastDraw) > 200*time.Millisecond {
			p.draw()
		}
	case restore.Retry, restore.Warning:
		p.clear()
		fmt.Fprintf(p.w, "  %s\n", ev.Text)
	case restore.FolderDone:
		if p.live {
			p.clear()
		}
	}
}

func (p *restorePrinter) clear() {
	if p.lineOpen {
		fmt.Fprint(p.w, "\r\033[K")
		p.lineOpen = false
	}
}

func (p *restorePrinter) draw() {
	n, total, b, totalB := p.tally.Totals()
	line := fmt.Sprintf("  %d of %d messages, %s of %s", n, total, humanBytes(b), humanBytes(totalB))
	if left := p.tally.Left(time.Since(p.start)); left > 0 {
		line += fmt.Sprintf(", about %s left", left.Round(time.Second))
	}
	p.clear()
	fmt.Fprint(p.w, line)
	p.lineOpen = true
	p.lastDraw = time.Now()
}

func (p *restorePrinter) finish(rep *restore.Report) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	if p.json {
		json.NewEncoder(p.w).Encode(map[string]any{"event": "report", "report": rep, "error": errString(rep.Err)})
		return
	}
	if len(rep.Folders) == 0 {
		return
	}
	w := p.w
	head := "appended"
	if rep.DryRun {
		head = "to append"
	}
	fmt.Fprintf(w, "\n  %-40s %9s %9s %8s %8s\n", "folder (archive → target)", head, "there", "refused", "skipped")
	var app, there, refused int
	var bytes int64
	for _, f := range rep.Folders {
		name := strings.Join(f.Sources, " + ")
		if name != f.Target {
			name += " → " + f.Target
		}
		n := f.Appended
		if rep.DryRun {
			n = f.ToAppend
		}
		fmt.Fprintf(w, "  %-40s %9d %9d %8d %8d\n", trim(name, 40), n, f.There, len(f.Refused), f.Skipped)
		app += n
		there += f.There
		refused += len(f.Refused)
		bytes += f.Bytes
		if rep.DryRun {
			bytes += f.ToAppendBytes
		}
		var notes []string
		if f.Created && !rep.DryRun {
			notes = append(notes, "created")
		}
		if f.Deleted > 0 {
			notes = append(notes, fmt.Sprintf("%s deleted on the old server (--skip-deleted leaves them out)", plural(f.Deleted, "message was", "messages were")))
		}
		if f.Copies > 0 {
			notes = append(notes, fmt.Sprintf("%s Lifeboat sent through another account (--skip-copies leaves them out)", plural(f.Copies, "copy of mail", "copies of mail")))
		}
		if f.Damaged > 0 {
			notes = append(notes, fmt.Sprintf("%s damaged in the archive, not restorable (see lifeboat verify)", plural(f.Damaged, "message is", "messages are")))
		}
		if f.FlagsDropped > 0 {
			notes = append(notes, fmt.Sprintf("%s the target does not keep", plural(f.FlagsDropped, "flag", "flags")))
		}
		notes = append(notes, f.Notes...)
		for _, n := range notes {
			fmt.Fprintf(w, "      %s\n", n)
		}
		for _, r := range f.Refused {
			id := r.MessageID
			if id == "" {
				id = "(no Message-ID)"
			}
			fmt.Fprintf(w, "      refused: %s of %s, %s: %s\n", id, r.Date.Format("2006-01-02"), humanBytes(r.Size), r.Why)
		}
		if f.Err != "" {
			fmt.Fprintf(w, "      not finished: %s\n", f.Err)
		}
	}
	el := time.Since(p.start).Round(100 * time.Millisecond)
	if rep.DryRun {
		fmt.Fprintf(w, "\nWould append %s (%s) into %s; %d already there. Nothing was changed.\n", plural(app, "message", "messages"), humanBytes(bytes), rep.Target, there)
		return
	}
	fmt.Fprintf(w, "\nAppended %s (%s) into %s in %s; %d were already there", plural(app, "message", "messages"), humanBytes(bytes), rep.Target, el, there)
	if refused > 0 {
		fmt.Fprintf(w, "; %d refused (listed above)", refused)
	}
	fmt.Fprintln(w, ".")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
