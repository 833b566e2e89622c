package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// Config is one benchmark run.
type Config struct {
	Scale     float64 // corpus A: 20,000 × Scale messages (default 1)
	Seed      uint64  // corpus generator seed
	Dir       string  // parent of the clients' output directory, on a disk (default os.TempDir())
	ServerDir string  // parent of Dovecot's directory (default Dir: a disk)
	Profiles  string  // directory for a CPU profile of each lifeboat run ("": none)
	// Latency, when set, measures corpus A again through a proxy adding it
	// each way.
	Latency    time.Duration
	SkipMbsync bool
	SkipGrowth bool   // leave corpus D (one folder grown to 100,000) out
	Only       string // measure this corpus only (A, B, C or D; "": all)
	Lifeboat   string // lifeboat binary to measure ("" builds ./cmd/lifeboat)
	// Self is the executable that runs the "bare" subcommand ("" is
	// os.Executable()): this program, or a test binary whose TestMain
	// hands "bare" to subcommand.
	Self       string
	BFolders   int  // corpus B: folders (default 200)
	BPerFolder int  // corpus B: messages per folder (default 20)
	CSize      int  // corpus C: size of its one message (default 50 MiB)
	Keep       bool // keep the directories (for inspection)
	// RunTimeout bounds each client run (default 5 min): a client that
	// hangs is killed and reported instead of stalling the benchmark.
	RunTimeout time.Duration
	Log        io.Writer
	// RestoreArgs are extra arguments for lifeboat restore (bench-restore).
	RestoreArgs []string
	// Imapsync is the imapsync script bench-restore measures ("": look).
	Imapsync string
}

const defaultSeed = 20250601

func (c *Config) defaults() {
	if c.Scale <= 0 {
		c.Scale = 1
	}
	if c.Seed == 0 {
		c.Seed = defaultSeed
	}
	if c.Dir == "" {
		c.Dir = os.TempDir()
	}
	if c.BFolders <= 0 {
		c.BFolders = 200
	}
	if c.BPerFolder <= 0 {
		c.BPerFolder = 20
	}
	if c.CSize <= 0 {
		c.CSize = 50 << 20
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.RunTimeout <= 0 {
		c.RunTimeout = 5 * time.Minute
	}
}

// Tools and scenarios, as printed.
const (
	toolLifeboat = "lifeboat"
	toolMbsync   = "mbsync"
	toolBare     = "bare loop"

	scenFull     = "full"
	scenNoChange = "no change"
	scenNewMail  = "+1% new"
)

// Row is one measured run.
type Row struct {
	Corpus, Scenario, Tool string
	Elapsed                time.Duration // wall clock of the process
	Messages               int           // messages this run transferred
	Bytes                  int64         // their bytes
	MaxRSS                 int64         // peak resident set size, bytes
	Count                  int           // messages in the tool's output after the run
	Want                   int           // messages on the server
}

// Report is what run measured, and where.
type Report struct {
	Rows        []Row
	Corpora     []*corpus
	Setup       time.Duration // generating, loading and warming the corpora
	Dovecot     string
	Mbsync      string
	Imapsync    string
	OutDir      string
	OutTmpfs    bool
	ServerDir   string
	ServerTmpfs bool
}

type bench struct {
	cfg      Config
	srv      *dovecot.Server
	lifeboat string
	spawn    string
	mbsync   string
	imapsync string
	self     string
	out      string
	rep      *Report
	lastRun  map[string]time.Time // corpus+tool: when its last run ended
	proxy    *latencyProxy        // while the latency scenarios run
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.cfg.Log, format+"\n", args...)
}

// run sets up a private Dovecot, loads the corpora and measures every tool
// on each, one process at a time. It fails on any tool failure and on any
// wrong message count; timings are only reported.
func run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	b := &bench{cfg: cfg, rep: &Report{Dovecot: dovecot.Version()}, lastRun: map[string]time.Time{}}
	if err := dovecot.Available(); err != nil {
		return nil, err
	}
	if err := b.findTools(); err != nil {
		return nil, err
	}

	// Clients write to a disk, and Dovecot keeps its mail on a disk too
	// (--server-dir; the same one by default): what a user waits for.
	var err error
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	if b.out, err = os.MkdirTemp(cfg.Dir, "lifeboat-bench-"); err != nil {
		return nil, err
	}
	b.rep.OutDir, b.rep.OutTmpfs = b.out, isTmpfs(b.out)
	if b.rep.OutTmpfs {
		b.logf("WARNING: %s is on tmpfs: the clients' writes will not reach a disk; use --dir", b.out)
	}
	defer b.remove(b.out)
	srvParent := cfg.ServerDir
	if srvParent == "" {
		srvParent = cfg.Dir
	}
	srvDir, err := os.MkdirTemp(srvParent, "lifeboat-bench-dovecot-")
	if err != nil {
		return nil, err
	}
	b.rep.ServerDir, b.rep.ServerTmpfs = srvDir, isTmpfs(srvDir)
	defer b.remove(srvDir)

	if err := b.build(ctx); err != nil {
		return nil, err
	}

	corpora := []*corpus{
		corpusA(cfg.Scale, cfg.Seed),
		corpusB(cfg.BFolders, cfg.BPerFolder, cfg.Seed),
		corpusC(cfg.CSize, cfg.Seed),
	}
	var d *corpus
	if !cfg.SkipGrowth && (cfg.Only == "" || cfg.Only == "D") {
		d = corpusD(cfg.Seed)
	}
	corpora[0].NoChange, corpora[1].NoChange = true, true
	users := map[string]string{}
	for _, c := range corpora {
		users[c.User] = randomPassword()
	}
	if d != nil {
		users[d.User] = randomPassword()
	}
	t0 := time.Now()
	b.srv, err = dovecot.Start(dovecot.Options{Dir: srvDir, Users: users})
	if err != nil {
		return nil, err
	}
	b.logf("Dovecot %s on %s (IMAPS %s), clients write to %s", b.rep.Dovecot, srvDir, b.srv.IMAPSAddr, b.out)
	b.rep.Setup += time.Since(t0)
	defer func() {
		if err := b.srv.Stop(); err != nil {
			b.logf("%v", err)
		}
	}()

	for _, c := range corpora {
		if cfg.Only != "" && cfg.Only != c.Name {
			continue
		}
		b.rep.Corpora = append(b.rep.Corpora, c)
		if err := b.corpus(ctx, c); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("corpus %s: %w", c.Name, err)
		}
	}
	if d != nil {
		b.rep.Corpora = append(b.rep.Corpora, d)
		if err := b.growth(ctx, d); err != nil {
			return nil, fmt.Errorf("corpus D: %w", err)
		}
	}
	return b.rep, nil
}

// findTools finds mbsync (unless skipped) and the executable that runs
// the hidden subcommands (this program, or a test binary).
func (b *bench) findTools() error {
	if !b.cfg.SkipMbsync {
		p, err := exec.LookPath("mbsync")
		if err != nil {
			return errors.New("mbsync not found: install isync (make deps, or .ci/deps.sh) or pass --skip-mbsync")
		}
		b.mbsync = p
		if v, err := exec.Command(p, "--version").Output(); err == nil {
			b.rep.Mbsync = strings.TrimSpace(string(v))
		}
	}
	b.self = b.cfg.Self
	if b.self == "" {
		var err error
		if b.self, err = os.Executable(); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) remove(dir string) {
	if b.cfg.Keep {
		b.logf("kept %s", dir)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		b.logf("cleanup: %v", err)
	}
}

func randomPassword() string {
	p := make([]byte, 12)
	rand.Read(p)
	return hex.EncodeToString(p)
}

// build builds the spawn helper and, unless one was given, the lifeboat
// command of this module.
func (b *bench) build(ctx context.Context) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("go not found in PATH: add it (/usr/local/go/bin)")
	}
	const mod = "github.com/lifeboat-mail/lifeboat/"
	bin := filepath.Join(b.out, "bin")
	pkgs := []string{mod + "cmd/lifeboat-bench/spawn"}
	b.spawn = filepath.Join(bin, "spawn")
	b.lifeboat = b.cfg.Lifeboat
	if b.lifeboat == "" {
		pkgs = append(pkgs, mod+"cmd/lifeboat")
		b.lifeboat = filepath.Join(bin, "lifeboat")
	}
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, goBin, append([]string{"build", "-o", bin + string(filepath.Separator)}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (run from inside the module): %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	b.logf("built %s in %.1f s", strings.Join(pkgs, ", "), time.Since(t0).Seconds())
	return nil
}

// corpus loads c and measures every tool on it.
func (b *bench) corpus(ctx context.Context, c *corpus) error {
	t0 := time.Now()
	b.logf("corpus %s: generating and loading %d messages in %d folders", c.Name, c.total(), len(c.Folders))
	if err := b.load(ctx, c, 1, c.Counts); err != nil {
		return err
	}
	b.logf("corpus %s: %d messages, %.1f MB loaded in %.1f s; warming up", c.Name, c.Messages, mb(c.Bytes), time.Since(t0).Seconds())
	// One untimed pass over everything, so that Dovecot's indexes and
	// caches are in the same state for every tool.
	if err := b.warm(c); err != nil {
		return err
	}
	b.rep.Setup += time.Since(t0)

	tools := []string{toolLifeboat}
	if b.mbsync != "" {
		tools = append(tools, toolMbsync)
	}
	for _, tool := range append(slices.Clone(tools), toolBare) {
		if err := b.measure(ctx, c, tool, scenFull, c.Messages, c.Bytes); err != nil {
			return err
		}
	}
	if c.NoChange {
		for _, tool := range tools {
			if err := b.measure(ctx, c, tool, scenNoChange, 0, 0); err != nil {
				return err
			}
		}
	}
	if c.NewMail > 0 {
		counts := make([]int, len(c.Folders)) // spread over the folders
		for i := 0; i < c.NewMail; i++ {
			counts[i%len(counts)]++
		}
		before := c.Bytes
		if err := b.load(ctx, c, 2, counts); err != nil {
			return err
		}
		c.NewBytes = c.Bytes - before
		b.logf("corpus %s: appended %d new messages (%.1f MB)", c.Name, c.NewMail, mb(c.NewBytes))
		for _, tool := range tools {
			if err := b.measure(ctx, c, tool, scenNewMail, c.NewMail, c.NewBytes); err != nil {
				return err
			}
		}
		if b.cfg.Latency > 0 {
			return b.latency(ctx, c, tools)
		}
	}
	return nil
}

// load generates counts[i] messages for each folder of c (generator stream
// 1 for the corpus, 2 for new mail) and appends them, generating the next
// batch while Dovecot stores the current one.
func (b *bench) load(ctx context.Context, c *corpus, stream uint64, counts []int) error {
	type batch struct {
		folder string
		msgs   [][]byte
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan batch, 2)
	go func() {
		defer close(ch)
		g := newGenerator(c, stream)
		send := func(bt batch) bool {
			select {
			case ch <- bt:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for i, folder := range c.Folders {
			var cur [][]byte
			size := 0
			for k := 0; k < counts[i]; k++ {
				m := g.message(c.Size(g.r))
				cur = append(cur, m)
				size += len(m)
				if len(cur) >= 1000 || size >= 128<<20 {
					if !send(batch{folder, cur}) {
						return
					}
					cur, size = nil, 0
				}
			}
			if len(cur) > 0 || stream == 1 { // an empty batch still creates the folder
				if !send(batch{folder, cur}) {
					return
				}
			}
		}
	}()
	for bt := range ch {
		if err := b.srv.Load(c.User, bt.folder, bt.msgs, dateBase); err != nil {
			return err
		}
		for _, m := range bt.msgs {
			c.Messages++
			c.Bytes += int64(len(m))
			c.sizes = append(c.sizes, len(m))
		}
	}
	return ctx.Err()
}

// warm fetches everything once and checks that the server holds what was
// loaded.
func (b *bench) warm(c *corpus) error {
	cl, err := b.srv.Dial(c.User)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := fetchAll(cl, io.Discard, true)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if res.Messages != c.Messages || res.Bytes != c.Bytes {
		return fmt.Errorf("warm-up: the server returned %d messages (%d bytes), %d (%d bytes) were loaded",
			res.Messages, res.Bytes, c.Messages, c.Bytes)
	}
	return cl.Logout().Wait()
}

// measure runs one tool once and records a row. A failed run, or a count of
// archived messages that differs from the server's, is an error.
func (b *bench) measure(ctx context.Context, c *corpus, tool, scenario string, msgs int, nbytes int64) error {
	dir := b.toolDir(c, tool)
	if scenario == scenFull {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		syncDisks()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	before, err := b.count(ctx, c, tool, dir)
	if err != nil {
		return err
	}
	// A re-run starts in another second than the previous run ended:
	// mbsync sleeps 1 s when its Maildir changed within the current second,
	// which a scheduled backup never meets.
	if last, ok := b.lastRun[c.Name+tool]; ok && scenario != scenFull {
		if wait := reRunGap - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	var p proc
	runCtx, cancel := context.WithTimeout(ctx, b.cfg.RunTimeout)
	switch tool {
	case toolLifeboat:
		p, err = b.runLifeboat(runCtx, c, dir, scenario)
	case toolMbsync:
		p, err = b.runMbsync(runCtx, c, dir)
	case toolBare:
		p, err = b.runBare(runCtx, c, dir)
	}
	cancel()
	b.lastRun[c.Name+tool] = time.Now()
	if err != nil {
		return fmt.Errorf("%s, %s: %w", tool, scenario, err)
	}
	after := p.count
	if tool != toolBare {
		if after, err = b.count(ctx, c, tool, dir); err != nil {
			return fmt.Errorf("%s, %s: %w", tool, scenario, err)
		}
	} else if p.bytes != c.Bytes {
		return fmt.Errorf("%s, %s: fetched %d bytes, the server holds %d", tool, scenario, p.bytes, c.Bytes)
	}
	if after != c.Messages || after-before != msgs {
		return fmt.Errorf("%s, %s: the output holds %d messages (%d before the run), want %d (%d new)",
			tool, scenario, after, before, c.Messages, msgs)
	}
	row := Row{Corpus: c.Name, Scenario: scenario, Tool: tool, Elapsed: p.elapsed, Messages: msgs, Bytes: nbytes,
		MaxRSS: p.maxRSS, Count: after, Want: c.Messages}
	b.rep.Rows = append(b.rep.Rows, row)
	b.logf("  %-2s %-10s %-10s %8.2f s  %7.1f MB RSS  %d messages", c.Name, scenario, tool, p.elapsed.Seconds(), mb(p.maxRSS), after)
	return nil
}

// growth grows corpus D's folder step by step; at each size the tools
// first catch up (not timed in the table's sense, but shown), then one new
// message is appended and each tool's run is measured, and Lifeboat's
// `status` too: an incremental run should cost the same at every size.
func (b *bench) growth(ctx context.Context, d *corpus) error {
	tools := []string{toolLifeboat}
	if b.mbsync != "" {
		tools = append(tools, toolMbsync)
	}
	for step, size := range stepsD {
		size = max(int(float64(size)*b.cfg.Scale), 50*(step+1))
		if grow := size - d.Messages; grow > 0 {
			t0 := time.Now()
			if err := b.load(ctx, d, uint64(10+2*step), []int{grow}); err != nil {
				return err
			}
			b.logf("corpus D: %d messages in one folder (%d loaded in %.1f s)", d.Messages, grow, time.Since(t0).Seconds())
		}
		for _, tool := range tools {
			if err := b.measure(ctx, d, tool, "grow to "+count(d.Messages), d.Messages-b.countOr(d, tool), 0); err != nil {
				return err
			}
		}
		if err := b.load(ctx, d, uint64(11+2*step), []int{1}); err != nil {
			return err
		}
		for _, tool := range tools {
			if err := b.measure(ctx, d, tool, "+1 in "+count(d.Messages-1), 1, 0); err != nil {
				return err
			}
		}
		if err := b.measureStatus(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// count is a number of messages in a scenario's name: 500, 10k.
func count(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// toolDir is where a tool writes corpus c.
func (b *bench) toolDir(c *corpus, tool string) string {
	return filepath.Join(b.out, c.Name, strings.ReplaceAll(tool, " ", "-"))
}

// countOr is how many messages of c a tool's output holds now (0 when it
// cannot tell yet).
func (b *bench) countOr(c *corpus, tool string) int {
	n, err := b.count(context.Background(), c, tool, b.toolDir(c, tool))
	if err != nil {
		return 0
	}
	return n
}

// measureStatus times `lifeboat status` (a whole process) over corpus c's
// archive, and checks it counts every message.
func (b *bench) measureStatus(ctx context.Context, c *corpus) error {
	path := filepath.Join(b.toolDir(c, toolLifeboat), "config.toml")
	p, err := b.exec(ctx, nil, b.lifeboat, "--config", path, "status")
	if err != nil {
		return fmt.Errorf("lifeboat status: %w", err)
	}
	n := b.countOr(c, toolLifeboat)
	if n != c.Messages {
		return fmt.Errorf("lifeboat status: %d messages, the server holds %d", n, c.Messages)
	}
	b.rep.Rows = append(b.rep.Rows, Row{Corpus: c.Name, Scenario: "status, " + count(n), Tool: "lifeboat status",
		Elapsed: p.elapsed, MaxRSS: p.maxRSS, Count: n, Want: c.Messages})
	b.logf("  %-2s %-10s %-15s %8.2f s  %7.1f MB RSS", c.Name, "status", "lifeboat", p.elapsed.Seconds(), mb(p.maxRSS))
	return nil
}

// imapsPort is the port the clients reach Dovecot's IMAPS at: its own, or
// the latency proxy's while one runs.
func (b *bench) imapsPort() string {
	if b.proxy != nil {
		return b.proxy.port()
	}
	_, port, _ := net.SplitHostPort(b.srv.IMAPSAddr)
	return port
}

// latency measures corpus c again, full, no change and +1% new mail,
// through a proxy that delays every chunk by b.cfg.Latency each way (the
// bare loop is left out: it measures the server and the disk).
func (b *bench) latency(ctx context.Context, c *corpus, tools []string) error {
	p, err := startLatencyProxy(b.srv.IMAPSAddr, b.cfg.Latency)
	if err != nil {
		return err
	}
	b.proxy = p
	defer func() { b.proxy = nil; p.Close() }()
	lc := *c
	lc.Name = fmt.Sprintf("%s+%dms", c.Name, b.cfg.Latency.Milliseconds())
	b.rep.Corpora = append(b.rep.Corpora, &lc)
	b.logf("corpus %s: the same mail through a proxy adding %s each way", lc.Name, b.cfg.Latency)
	for _, tool := range tools {
		if err := b.measure(ctx, &lc, tool, scenFull, lc.Messages, lc.Bytes); err != nil {
			return err
		}
	}
	for _, tool := range tools {
		if err := b.measure(ctx, &lc, tool, scenNoChange, 0, 0); err != nil {
			return err
		}
	}
	counts := make([]int, len(lc.Folders))
	for i := 0; i < lc.NewMail; i++ {
		counts[i%len(counts)]++
	}
	before := lc.Bytes
	if err := b.load(ctx, &lc, 3, counts); err != nil {
		return err
	}
	lc.NewBytes = lc.Bytes - before
	for _, tool := range tools {
		if err := b.measure(ctx, &lc, tool, scenNewMail, lc.NewMail, lc.NewBytes); err != nil {
			return err
		}
	}
	return nil
}

// reRunGap is the least time between the end of a tool's run and its re-run.
const reRunGap = 1100 * time.Millisecond

// proc is a finished client process.
type proc struct {
	elapsed time.Duration
	maxRSS  int64
	cpu     time.Duration // user + system time of the client
	stdout  []byte
	count   int   // bare loop: messages fetched
	bytes   int64 // bare loop: bytes fetched
}

// exec runs a client process through the spawn helper (./spawn), which
// times it by the wall clock and reports its peak RSS.
func (b *bench) exec(ctx context.Context, env []string, name string, args ...string) (proc, error) {
	return b.execDir(ctx, "", env, name, args...)
}

// execIn is exec in the working directory dir.
func (b *bench) execIn(ctx context.Context, dir string, name string, args ...string) (proc, error) {
	return b.execDir(ctx, dir, nil, name, args...)
}

func (b *bench) execDir(ctx context.Context, dir string, env []string, name string, args ...string) (proc, error) {
	resFile := filepath.Join(b.out, "spawn-result")
	os.Remove(resFile)
	cmd := exec.CommandContext(ctx, b.spawn, append([]string{resFile, name}, args...)...)
	ownGroup(cmd) // so that a cancelled run takes the client down with the helper
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	err := cmd.Run()
	p := proc{stdout: stdout.Bytes()}
	if data, rerr := os.ReadFile(resFile); rerr == nil {
		var ns, rss, cpu int64
		var code int
		if _, serr := fmt.Sscan(string(data), &ns, &rss, &code, &cpu); serr != nil && err == nil {
			err = fmt.Errorf("spawn result %q: %v", data, serr)
		}
		p.elapsed, p.maxRSS, p.cpu = time.Duration(ns), rss, time.Duration(cpu)
	} else if err == nil {
		err = fmt.Errorf("the spawn helper wrote no result: %v", rerr)
	}
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("did not finish within %v, killed", b.cfg.RunTimeout)
		case ctx.Err() != nil:
			return p, ctx.Err()
		}
		return p, fmt.Errorf("%s %s: %v\nstdout: %s\nstderr: %s\nDovecot log:\n%s", filepath.Base(name), strings.Join(args, " "), err,
			tail(stdout.String(), 20), tail(stderr.String(), 20), b.srv.LogTail(10))
	}
	return p, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// count returns how many messages a tool's output holds now.
func (b *bench) count(ctx context.Context, c *corpus, tool, dir string) (int, error) {
	switch tool {
	case toolLifeboat:
		return b.countLifeboat(ctx, dir)
	case toolMbsync:
		return countMaildir(filepath.Join(dir, "mail"))
	}
	return 0, nil
}

const lifeboatAccount = "bench"

func (b *bench) runLifeboat(ctx context.Context, c *corpus, dir, scenario string) (proc, error) {
	path := filepath.Join(dir, "config.toml")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		port := b.imapsPort()
		p, err := strconv.Atoi(port)
		if err != nil {
			return proc{}, fmt.Errorf("IMAPS address %q: %v", b.srv.IMAPSAddr, err)
		}
		cfg := &config.Config{
			Path:              path,
			ArchiveDir:        filepath.Join(dir, "archive"),
			MassDeletePercent: config.DefaultMassDeletePercent,
			MassDeleteMin:     config.DefaultMassDeleteMin,
			Accounts: []config.Account{{
				Name: lifeboatAccount,
				IMAP: config.Server{Host: "127.0.0.1", Port: p, Security: config.TLS, Username: c.User,
					TLSCAFile: b.srv.CAFile, PasswordCommand: "printf %s " + b.srv.Password(c.User)},
			}},
		}
		if err := cfg.Save(); err != nil {
			return proc{}, err
		}
	}
	var env []string
	if b.cfg.Profiles != "" {
		env = append(env, "LIFEBOAT_CPUPROFILE="+filepath.Join(b.cfg.Profiles, c.Name+"-"+strings.ReplaceAll(scenario, " ", "-")+".pprof"))
	}
	return b.exec(ctx, env, b.lifeboat, "--config", path, "backup")
}

// countLifeboat asks "lifeboat status --json" how many messages the archive
// holds; the last run must have succeeded without warnings.
func (b *bench) countLifeboat(ctx context.Context, dir string) (int, error) {
	path := filepath.Join(dir, "config.toml")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	out, err := exec.CommandContext(ctx, b.lifeboat, "--config", path, "status", "--json").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return 0, fmt.Errorf("lifeboat status: %w", err)
	}
	var st []struct {
		Account string `json:"account"`
		LastRun *struct {
			Result   string   `json:"result"`
			Warnings []string `json:"warnings"`
		} `json:"last_run"`
		Folders []struct {
			Archived int `json:"archived"`
		} `json:"folders"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, fmt.Errorf("lifeboat status --json: %v", err)
	}
	n := 0
	for _, a := range st {
		if a.LastRun != nil && a.LastRun.Result != "ok" {
			return 0, fmt.Errorf("lifeboat status: last run of %s: %s %v", a.Account, a.LastRun.Result, a.LastRun.Warnings)
		}
		for _, f := range a.Folders {
			n += f.Archived
		}
	}
	return n, nil
}

func (b *bench) runMbsync(ctx context.Context, c *corpus, dir string) (proc, error) {
	rc := filepath.Join(dir, "mbsyncrc")
	mail := filepath.Join(dir, "mail")
	if _, err := os.Stat(rc); errors.Is(err, fs.ErrNotExist) {
		port := b.imapsPort()
		// mbsync checks the certificate against a DNS name only, hence
		// localhost (which the test certificate names) and not 127.0.0.1.
		conf := fmt.Sprintf(`IMAPAccount bench
Host localhost
Port %s
User %s
Pass %s
SSLType IMAPS
CertificateFile %s

IMAPStore remote
Account bench

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns *
Create Near
Sync Pull
SyncState *
`, port, c.User, b.srv.Password(c.User), b.srv.CAFile, mail, mail)
		if err := os.MkdirAll(mail, 0o700); err != nil {
			return proc{}, err
		}
		if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
			return proc{}, err
		}
	}
	return b.exec(ctx, nil, b.mbsync, "-q", "-c", rc, "-a")
}

// countMaildir counts the message files (in cur/ and new/) under root.
func countMaildir(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			if p := filepath.Base(filepath.Dir(path)); p == "cur" || p == "new" {
				n++
			}
		}
		return nil
	})
	return n, err
}

func (b *bench) runBare(ctx context.Context, c *corpus, dir string) (proc, error) {
	p, err := b.exec(ctx, []string{passwordEnv + "=" + b.srv.Password(c.User)}, b.self, "bare",
		"--addr", b.srv.IMAPSAddr, "--user", c.User, "--ca", b.srv.CAFile, "--out", filepath.Join(dir, "messages.raw"))
	if err != nil {
		return p, err
	}
	var res bareResult
	if err := json.Unmarshal(p.stdout, &res); err != nil {
		return p, fmt.Errorf("bare loop printed %q: %v", p.stdout, err)
	}
	p.count, p.bytes = res.Messages, res.Bytes
	return p, nil
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }
