package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// restoreMain is "lifeboat-bench restore" (make bench-restore): restoring
// corpus A into an empty Dovecot user, Lifeboat against mbsync in push mode
// (Maildir → IMAP, CopyArrivalDate) and a bare one-at-a-time APPEND loop,
// each followed by a re-run that must append nothing. Dovecot keeps its
// mail on a disk with its default mail_fsync (optimized), as a provider
// does: a restore is writes into the server.
func restoreMain(args []string) int {
	fs := flag.NewFlagSet("lifeboat-bench restore", flag.ContinueOnError)
	var cfg Config
	fs.Float64Var(&cfg.Scale, "scale", 1, "size of corpus A relative to 20,000 messages / 1 GB")
	fs.StringVar(&cfg.Dir, "dir", os.TempDir(), "where the clients' files and Dovecot's mail live (a disk)")
	out := fs.String("out", "", "also write the table as Markdown to this file")
	fs.BoolVar(&cfg.SkipMbsync, "skip-mbsync", false, "do not measure mbsync")
	fs.StringVar(&cfg.Lifeboat, "lifeboat", "", "lifeboat binary to measure (default: build ./cmd/lifeboat)")
	fs.Uint64Var(&cfg.Seed, "seed", defaultSeed, "corpus generator seed")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the directories")
	fs.DurationVar(&cfg.RunTimeout, "run-timeout", 10*time.Minute, "kill a run that takes longer, and stop")
	fs.StringVar(&cfg.Imapsync, "imapsync", "", "imapsync script to measure too (default: imapsync in PATH, else bin/imapsync; make bench-restore fetches it)")
	extra := fs.String("restore-args", "", "extra arguments for lifeboat restore (experiments: \"--connections 8\")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.RestoreArgs = strings.Fields(*extra)
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := runRestoreBench(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lifeboat-bench restore: %v\n", err)
		return 1
	}
	return printReport("lifeboat-bench restore", rep.Rows, restoreNotes(rep, time.Since(start)), *out)
}

const (
	scenRestore  = "restore"
	scenReRun    = "re-run"
	toolAppend   = "bare APPEND loop"
	toolImapsync = "imapsync"
)

var restoreTargets = map[string]string{toolLifeboat: "to-lifeboat", toolMbsync: "to-mbsync", toolAppend: "to-bare", toolImapsync: "to-imapsync"}

func runRestoreBench(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	b := &bench{cfg: cfg, rep: &Report{Dovecot: dovecot.Version()}, lastRun: map[string]time.Time{}}
	if err := dovecot.Available(); err != nil {
		return nil, err
	}
	if err := b.findTools(); err != nil {
		return nil, err
	}
	var err error
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	if b.out, err = os.MkdirTemp(cfg.Dir, "lifeboat-bench-restore-"); err != nil {
		return nil, err
	}
	defer b.remove(b.out)
	b.rep.OutDir, b.rep.OutTmpfs = b.out, isTmpfs(b.out)
	b.rep.ServerDir, b.rep.ServerTmpfs = filepath.Join(b.out, "dovecot"), b.rep.OutTmpfs
	if b.rep.OutTmpfs {
		b.logf("WARNING: %s is on tmpfs: nothing reaches a disk; use --dir", b.out)
	}
	if err := b.build(ctx); err != nil {
		return nil, err
	}
	c := corpusA(cfg.Scale, cfg.Seed)
	c.NewMail = 0
	users := map[string]string{c.User: randomPassword()}
	for _, u := range restoreTargets {
		users[u] = randomPassword()
	}
	t0 := time.Now()
	b.srv, err = dovecot.Start(dovecot.Options{Dir: b.rep.ServerDir, Users: users, MailFsync: "optimized"})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := b.srv.Stop(); err != nil {
			b.logf("%v", err)
		}
	}()
	b.rep.Corpora = []*corpus{c}
	b.logf("corpus %s: generating and loading %d messages in %d folders", c.Name, c.total(), len(c.Folders))
	if err := b.load(ctx, c, 1, c.Counts); err != nil {
		return nil, err
	}
	if err := b.warm(c); err != nil {
		return nil, err
	}
	// The sources: Lifeboat's archive and mbsync's Maildir, each made by
	// its own tool (untimed).
	lbDir := filepath.Join(b.out, "lifeboat")
	if err := os.MkdirAll(lbDir, 0o700); err != nil {
		return nil, err
	}
	lbCfg, err := b.restoreConfig(c, lbDir)
	if err != nil {
		return nil, err
	}
	if _, err := b.exec(ctx, nil, b.lifeboat, "--config", lbCfg, "backup", "--account", lifeboatAccount); err != nil {
		return nil, fmt.Errorf("lifeboat backup of the source: %w", err)
	}
	maildir := filepath.Join(b.out, "maildir")
	if b.mbsync != "" { // the Maildir the mbsync push and the bare loop read
		if _, err := b.runMbsync(ctx, c, maildir); err != nil {
			return nil, fmt.Errorf("mbsync pull of the source: %w", err)
		}
	}
	b.rep.Setup = time.Since(t0)
	b.logf("sources ready in %.1f s", b.rep.Setup.Seconds())

	tools := []string{toolLifeboat}
	if b.mbsync != "" {
		tools = append(tools, toolMbsync, toolAppend)
	}
	if b.imapsync = findImapsync(cfg.Imapsync); b.imapsync != "" {
		tools = append(tools, toolImapsync)
		if v, err := exec.Command("perl", b.imapsync, "--version").Output(); err == nil {
			b.rep.Imapsync = "imapsync " + strings.TrimSpace(string(v))
		}
	} else {
		b.logf("imapsync not found (--imapsync PATH): not measured")
	}
	for _, tool := range tools {
		for _, scen := range []string{scenRestore, scenReRun} {
			if tool == toolAppend && scen == scenReRun {
				continue // a bare loop appends everything again
			}
			if err := b.measureRestore(ctx, c, tool, scen, lbCfg, maildir); err != nil {
				return nil, err
			}
		}
	}
	return b.rep, nil
}

// restoreConfig writes Lifeboat's configuration: the source account and
// the target.
func (b *bench) restoreConfig(c *corpus, dir string) (string, error) {
	path := filepath.Join(dir, "config.toml")
	_, port, _ := net.SplitHostPort(b.srv.IMAPSAddr)
	p, err := strconv.Atoi(port)
	if err != nil {
		return "", err
	}
	acct := func(name, user string) config.Account {
		return config.Account{Name: name, IMAP: config.Server{Host: "127.0.0.1", Port: p, Security: config.TLS, Username: user,
			TLSCAFile: b.srv.CAFile, PasswordCommand: "printf %s " + b.srv.Password(user)}}
	}
	cfg := &config.Config{Path: path, ArchiveDir: filepath.Join(dir, "archive"),
		MassDeletePercent: config.DefaultMassDeletePercent, MassDeleteMin: config.DefaultMassDeleteMin,
		Accounts: []config.Account{acct(lifeboatAccount, c.User), acct("target", restoreTargets[toolLifeboat])}}
	return path, cfg.Save()
}

func (b *bench) measureRestore(ctx context.Context, c *corpus, tool, scen, lbCfg, maildir string) error {
	user := restoreTargets[tool]
	before, _, err := b.userCount(user)
	if err != nil {
		return err
	}
	if scen == scenRestore {
		syncDisks()
	} else if wait := reRunGap - time.Since(b.lastRun[tool]); wait > 0 {
		time.Sleep(wait)
	}
	runCtx, cancel := context.WithTimeout(ctx, b.cfg.RunTimeout)
	cpu0 := cpuTimes()
	var p proc
	switch tool {
	case toolLifeboat:
		p, err = b.exec(runCtx, nil, b.lifeboat, append([]string{"--config", lbCfg, "restore", "--from", lifeboatAccount, "--to", "target"}, b.cfg.RestoreArgs...)...)
	case toolMbsync:
		p, err = b.runMbsyncPush(runCtx, user, maildir)
	case toolImapsync:
		p, err = b.runImapsync(runCtx, c, user)
	case toolAppend:
		p, err = b.exec(runCtx, []string{passwordEnv + "=" + b.srv.Password(user)}, b.self, "bare-append",
			"--addr", b.srv.IMAPSAddr, "--user", user, "--ca", b.srv.CAFile, "--maildir", maildir)
	}
	cancel()
	b.lastRun[tool] = time.Now()
	if err != nil {
		return fmt.Errorf("%s, %s: %w", tool, scen, err)
	}
	after, nbytes, err := b.userCount(user)
	if err != nil {
		return err
	}
	want := c.Messages
	if after != want && tool != toolImapsync { // imapsync's count is reported, not required: it is known to drop some
		return fmt.Errorf("%s, %s: the target holds %d messages (%d before), want %d", tool, scen, after, before, want)
	}
	row := Row{Corpus: c.Name, Scenario: scen, Tool: tool, Elapsed: p.elapsed, Messages: after - before, MaxRSS: p.maxRSS, Count: after, Want: want}
	if row.Messages > 0 {
		row.Bytes = nbytes
	}
	b.rep.Rows = append(b.rep.Rows, row)
	busy, total := cpuTimes().since(cpu0)
	b.logf("  %-8s %-18s %8.2f s  %7.1f MB RSS  %d messages in the target; the client used %.1f s of CPU; the machine's CPUs were %.0f%% busy, %.0f%% waiting for I/O", scen, tool, p.elapsed.Seconds(), mb(p.maxRSS), after, p.cpu.Seconds(), busy, total)
	return nil
}

// findImapsync: the given path, imapsync in PATH, or bin/imapsync.
func findImapsync(given string) string {
	if given != "" {
		return given
	}
	if p, err := exec.LookPath("imapsync"); err == nil {
		return p
	}
	if _, err := os.Stat("bin/imapsync"); err == nil {
		abs, _ := filepath.Abs("bin/imapsync")
		return abs
	}
	return ""
}

// runImapsync copies the source user into the target over IMAP, as
// imapsync restores (it reads from a server, not from files): its
// defaults keep flags and INTERNALDATE; TLS both ways, trusting the
// private CA.
func (b *bench) runImapsync(ctx context.Context, c *corpus, user string) (proc, error) {
	host, port, _ := net.SplitHostPort(b.srv.IMAPSAddr)
	dir := filepath.Join(b.out, "imapsync")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return proc{}, err
	}
	pw1, pw2 := filepath.Join(dir, "pw1"), filepath.Join(dir, "pw2")
	os.WriteFile(pw1, []byte(b.srv.Password(c.User)), 0o600)
	os.WriteFile(pw2, []byte(b.srv.Password(user)), 0o600)
	ssl := "SSL_ca_file=" + b.srv.CAFile + " SSL_verifycn_name=localhost"
	return b.execIn(ctx, dir, "perl", b.imapsync, "--host1", host, "--port1", port, "--ssl1", "--user1", c.User, "--passfile1", pw1,
		"--host2", host, "--port2", port, "--ssl2", "--user2", user, "--passfile2", pw2,
		"--sslargs1", ssl, "--sslargs2", ssl, "--nolog", "--noreleasecheck", "--nocheckselectable", "--tmpdir", dir)
}

// userCount is how many messages (and bytes) a user's folders hold.
func (b *bench) userCount(user string) (int, int64, error) {
	cl, err := b.srv.Dial(user)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	list, err := cl.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, Size: true}}).Collect()
	if err != nil {
		return 0, 0, err
	}
	n, size := 0, int64(0)
	for _, l := range list {
		if l.Status != nil && l.Status.NumMessages != nil {
			n += int(*l.Status.NumMessages)
		}
		if l.Status != nil && l.Status.Size != nil {
			size += *l.Status.Size
		}
	}
	return n, size, cl.Logout().Wait()
}

// runMbsyncPush pushes the Maildir into user's account: mbsync's way of
// restoring, with the arrival dates kept.
func (b *bench) runMbsyncPush(ctx context.Context, user, maildir string) (proc, error) {
	dir := filepath.Join(b.out, "mbsync-push")
	rc := filepath.Join(dir, "mbsyncrc")
	if _, err := os.Stat(rc); errors.Is(err, fs.ErrNotExist) {
		_, port, _ := net.SplitHostPort(b.srv.IMAPSAddr)
		conf := fmt.Sprintf(`IMAPAccount target
Host localhost
Port %s
User %s
Pass %s
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account target

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel push
Far :remote:
Near :local:
Patterns *
Create Far
Sync Push
CopyArrivalDate yes
SyncState %s/
`, port, user, b.srv.Password(user), b.srv.CAFile, filepath.Join(maildir, "mail"), filepath.Join(maildir, "mail"), filepath.Join(dir, "state"))
		if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
			return proc{}, err
		}
		if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
			return proc{}, err
		}
	}
	return b.exec(ctx, nil, b.mbsync, "-q", "-c", rc, "-a")
}

// bareAppendMain is the hidden "bare-append" subcommand: every message file
// of a Maildir APPENDed one at a time, each reply awaited (no pipelining,
// no dates or flags): the plainest restore.
func bareAppendMain(args []string) int {
	fs := flag.NewFlagSet("bare-append", flag.ContinueOnError)
	addr := fs.String("addr", "", "IMAPS address host:port")
	user := fs.String("user", "", "user name (password in $"+passwordEnv+")")
	caFile := fs.String("ca", "", "PEM file of the CA to trust")
	maildir := fs.String("maildir", "", "the Maildir tree (mbsync's, SubFolders Verbatim)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, err := bareAppend(*addr, *user, os.Getenv(passwordEnv), *caFile, filepath.Join(*maildir, "mail"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "lifeboat-bench bare-append: %v\n", err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func bareAppend(addr, user, password, caFile, root string) (bareResult, error) {
	var res bareResult
	tc, err := tlsutil.ClientConfig("localhost", caFile)
	if err != nil {
		return res, err
	}
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: tc})
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		return res, fmt.Errorf("login: %w", err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || (d.Name() != "cur" && d.Name() != "new") {
			return err
		}
		folder, _ := filepath.Rel(root, filepath.Dir(path))
		folder = filepath.ToSlash(folder)
		if folder != "INBOX" {
			c.Create(folder, nil).Wait() // exists already after "new" or "cur": fine
		}
		files, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, f := range files {
			raw, err := os.ReadFile(filepath.Join(path, f.Name()))
			if err != nil {
				return err
			}
			cmd := c.Append(folder, int64(len(raw)), nil)
			cmd.Write(raw)
			if err := cmd.Close(); err != nil {
				return err
			}
			if _, err := cmd.Wait(); err != nil {
				return fmt.Errorf("append to %s: %w", folder, err)
			}
			res.Messages++
			res.Bytes += int64(len(raw))
		}
		res.Folders++
		return nil
	})
	if err != nil {
		return res, err
	}
	return res, c.Logout().Wait()
}

func restoreNotes(rep *Report, total time.Duration) []string {
	var out []string
	c := rep.Corpora[0]
	out = append(out, fmt.Sprintf("Corpus A: %d messages in %d folders, %.0f MB, restored into an empty Dovecot user per tool.", c.Messages, len(c.Folders), mb(c.Bytes)))
	rows := rep.Rows
	if lb, ms := find(rows, "A", scenRestore, toolLifeboat), find(rows, "A", scenRestore, toolMbsync); lb != nil && ms != nil {
		out = append(out, fmt.Sprintf("Lifeboat vs mbsync push: %.2f× as fast (target ≥ 1.5×).", ms.Elapsed.Seconds()/lb.Elapsed.Seconds()))
	}
	if lb := find(rows, "A", scenReRun, toolLifeboat); lb != nil {
		out = append(out, fmt.Sprintf("Lifeboat re-run: %.2f s, nothing appended (target < 2 s); restore peak RSS %.0f MB (target < 100 MB).",
			lb.Elapsed.Seconds(), mb(find(rows, "A", scenRestore, toolLifeboat).MaxRSS)))
	}
	clients := "a disk"
	if rep.OutTmpfs {
		clients = "tmpfs (NOT a disk)"
	}
	env := fmt.Sprintf("Setup: Dovecot %s (mail_fsync = optimized) with its mail, Lifeboat's archive and mbsync's Maildir all on %s; one machine, %d CPUs shared by server and client; %s %s/%s",
		rep.Dovecot, clients, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if rep.Mbsync != "" {
		env += ", " + rep.Mbsync
	}
	if rep.Imapsync != "" {
		env += ", " + rep.Imapsync + " (from its source, with Debian's Perl modules)"
	}
	out = append(out, env+".")
	if im := find(rows, "A", scenRestore, toolImapsync); im != nil {
		out = append(out, fmt.Sprintf("imapsync copies from the source server (IMAP to IMAP), as it restores; it left %d of %d messages in the target.", im.Count, im.Want))
	}
	out = append(out, "Method: one process per run, wall clock from start to exit; peak RSS by getrusage through ./spawn; sync(2) before each restore; "+
		"the sources (Lifeboat's archive, mbsync's Maildir) are made by each tool's own backup, untimed; "+
		"every run is checked by counting the target's messages (STATUS); MB/s counts the bytes the target holds (STATUS SIZE); "+
		"the bare loop APPENDs the Maildir's files one at a time, waiting for each reply, without dates or flags.")
	out = append(out, fmt.Sprintf("The benchmark took %s (loading the corpus and making the sources: %s).", total.Round(time.Second), rep.Setup.Round(time.Second)))
	return out
}

// cpu is the machine's CPU time from /proc/stat (Linux; zero elsewhere).
type cpu struct{ busy, iowait, all float64 }

func cpuTimes() cpu {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpu{}
	}
	line := strings.SplitN(string(data), "\n", 2)[0]
	f := strings.Fields(line)
	var c cpu
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		c.all += x
		switch i {
		case 3: // idle
		case 4:
			c.iowait += x
		default:
			c.busy += x
		}
	}
	return c
}

// since returns the share of CPU time busy and waiting for I/O since c0.
func (c cpu) since(c0 cpu) (busy, iowait float64) {
	d := c.all - c0.all
	if d <= 0 {
		return 0, 0
	}
	return 100 * (c.busy - c0.busy) / d, 100 * (c.iowait - c0.iowait) / d
}
