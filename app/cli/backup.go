package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
)

func (c *command) backup(args []string) error {
	fs := c.flags("backup")
	only := fs.String("account", "", "back up only this account")
	asJSON := fs.Bool("json", false, "print events as JSON lines")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("backup takes no arguments (use --account NAME)")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	var accts []backup.Account
	for _, a := range cfg.Accounts {
		if *only == "" || a.Name == *only {
			accts = append(accts, c.wiring(cfg).BackupAccount(a))
		}
	}
	if *only != "" && len(accts) == 0 {
		_, err := cfg.Account(*only)
		return usageError{err.Error()}
	}
	if len(accts) == 0 {
		return errors.New("no account is configured: add one with \"lifeboat accounts add\"")
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	return c.runBackup(arch, accts, c.wiring(cfg).BackupOptions(arch, c.tracker(cfg)), *asJSON)
}

// runBackup runs the engine with a progress printer and reports the outcome
// as an error carrying the exit status.
func (c *command) runBackup(arch *archive.Archive, accts []backup.Account, opts backup.Options, asJSON bool) error {
	var pr progressPrinter
	if asJSON {
		pr = &jsonPrinter{w: c.env.Stdout}
	} else {
		pr = &textPrinter{w: c.env.Stdout, live: c.env.Terminal && len(accts) == 1, start: time.Now()}
	}
	opts.Progress = pr.event
	indexed := wire.IndexDuring(arch, &opts, c.indexFailed)
	results := backup.Backup(c.ctx, accts, opts)
	pr.finish()
	indexed(accts)
	c.watchBounces(arch, results, asJSON)
	failed, warned := false, false
	for _, r := range results {
		if r.Err != nil {
			failed = true
			if !asJSON {
				fmt.Fprintf(c.env.Stderr, "lifeboat: %s: %v\n", r.Account, r.Err)
			}
		}
		if len(r.Run.Warnings) > 0 {
			warned = true
		}
	}
	if !asJSON {
		fmt.Fprintf(c.env.Stdout, "Archive: %s\n", arch.Root)
	}
	switch {
	case failed:
		return exitError{ExitFailure}
	case warned:
		return errWarnings
	}
	return nil
}

type progressPrinter interface {
	event(backup.Event)
	finish()
}

// textPrinter prints per-folder progress: a live line on a terminal for a
// single account, one line per finished folder otherwise.
type textPrinter struct {
	mu        sync.Mutex
	w         io.Writer
	live      bool
	start     time.Time
	lastDraw  time.Time
	lineOpen  bool
	total     int
	totalByte int64
}

func (p *textPrinter) clearLine() {
	if p.lineOpen {
		fmt.Fprint(p.w, "\r\033[K")
		p.lineOpen = false
	}
}

func (p *textPrinter) event(ev backup.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix := ev.Account + "/" + ev.Folder
	switch ev.Kind {
	case backup.FolderStart:
		if p.live && ev.TotalMessages > 0 {
			p.clearLine()
			fmt.Fprintf(p.w, "  %-34s 0/%d messages, 0 of %s", trim(prefix, 34), ev.TotalMessages, humanBytes(ev.TotalBytes))
			p.lineOpen = true
		}
	case backup.Progress:
		if p.live && time.Since(p.lastDraw) > 100*time.Millisecond {
			p.lastDraw = time.Now()
			p.clearLine()
			fmt.Fprintf(p.w, "  %-34s %d/%d messages, %s of %s", trim(prefix, 34), ev.Messages, ev.TotalMessages, humanBytes(ev.Bytes), humanBytes(ev.TotalBytes))
			p.lineOpen = true
		}
	case backup.FolderDone:
		p.clearLine()
		s := ev.Summary
		p.total += s.New
		p.totalByte += s.NewBytes
		var what []string
		switch {
		case s.Unchanged:
			what = append(what, "unchanged")
		case s.New > 0:
			what = append(what, fmt.Sprintf("%s new (%s)", plural(s.New, "message", "messages"), humanBytes(s.NewBytes)))
		default:
			what = append(what, "no new mail")
		}
		if s.Gone > 0 {
			what = append(what, fmt.Sprintf("%d deleted on the server (kept here)", s.Gone))
		}
		if s.LabelChanges > 0 {
			what = append(what, plural(s.LabelChanges, "label change", "label changes"))
		}
		if s.Linked > 0 {
			what = append(what, fmt.Sprintf("%d already archived in another folder (the same Gmail message), not downloaded again", s.Linked))
		}
		if s.FlagChanges > 0 {
			what = append(what, plural(s.FlagChanges, "flag change", "flag changes"))
		}
		if s.Remapped > 0 {
			what = append(what, fmt.Sprintf("%d re-mapped after renumbering", s.Remapped))
		}
		fmt.Fprintf(p.w, "  %-34s %6d archived  %s\n", trim(prefix, 34), s.Archived, strings.Join(what, ", "))
	case backup.Warning:
		p.clearLine()
		fmt.Fprintf(p.w, "  WARNING %s: %s\n", ev.Account, ev.Text)
	case backup.Retry, backup.Info:
		p.clearLine()
		fmt.Fprintf(p.w, "  %s: %s\n", ev.Account, ev.Text)
	case backup.AccountDone:
		p.clearLine()
		r := ev.Result
		status := map[string]string{archive.ResultOK: "done", archive.ResultWarnings: "done, with warnings",
			archive.ResultFailed: "FAILED", archive.ResultInterrupted: "INTERRUPTED"}[r.Run.Result]
		fmt.Fprintf(p.w, "%s: %s in %s\n", ev.Account, status, r.Run.End.Sub(r.Run.Start).Round(10*time.Millisecond))
	}
}

func (p *textPrinter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLine()
	secs := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "%s (%s) archived in %.1f s\n", plural(p.total, "new message", "new messages"), humanBytes(p.totalByte), secs)
}

func trim(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return "…" + string(r[len(r)-n+1:])
	}
	return s
}

// jsonPrinter prints one JSON object per event, for machines.
type jsonPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
}

func (p *jsonPrinter) event(ev backup.Event) {
	kind := map[backup.EventKind]string{backup.FolderStart: "folder_start", backup.Progress: "progress",
		backup.FolderDone: "folder_done", backup.Warning: "warning", backup.Retry: "retry", backup.AccountDone: "account_done",
		backup.Info: "info"}[ev.Kind]
	out := map[string]any{"event": kind, "account": ev.Account, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	if ev.Folder != "" {
		out["folder"] = ev.Folder
	}
	switch ev.Kind {
	case backup.FolderStart, backup.Progress:
		out["messages"], out["total_messages"], out["bytes"], out["total_bytes"] = ev.Messages, ev.TotalMessages, ev.Bytes, ev.TotalBytes
	case backup.FolderDone:
		out["summary"] = ev.Summary
	case backup.Warning, backup.Retry, backup.Info:
		out["text"] = ev.Text
	case backup.AccountDone:
		out["result"] = ev.Result.Run.Result
		out["run"] = ev.Result.Run
		if ev.Result.Err != nil {
			out["error"] = ev.Result.Err.Error()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Kind == backup.Progress && ev.Messages < ev.TotalMessages && time.Since(p.last) < 250*time.Millisecond {
		return // at most four progress lines a second, and always the last
	}
	p.last = time.Now()
	json.NewEncoder(p.w).Encode(out)
}

func (p *jsonPrinter) finish() {}

// watchBounces records the bounces the backup brought in against the
// messages Lifeboat sent, and says so.
func (c *command) watchBounces(arch *archive.Archive, results []backup.Result, asJSON bool) {
	ob, err := outbox.Open(outboxDir())
	if err != nil {
		return // no outbox: nothing was sent from here
	}
	defer ob.Close()
	for _, r := range results {
		found, err := wire.WatchBounces(arch, ob, r, c.tr)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "lifeboat: %s: bounce watch: %v\n", r.Account, err)
		}
		for _, b := range found {
			if !asJSON {
				fmt.Fprintf(c.env.Stdout, "BOUNCED: %s (Message-ID %s, queued %s) to %s: %s\n",
					b.Item.ID, b.Item.MessageID, b.Item.QueuedAt.Local().Format("2 Jan 15:04"), b.To(), b.Reason)
			}
		}
	}
}
