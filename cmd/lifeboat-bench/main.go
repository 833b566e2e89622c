// Command lifeboat-bench measures Lifeboat's backup against its peers in the
// same run, on the same corpus and the same server, and prints one table
// ("make bench"). It is a benchmark, not a test: nothing fails on timing,
// but a tool that fails or archives the wrong number of messages stops it.
//
// A private Dovecot (sync/testenv/dovecot) keeps its mail on a disk, and the
// clients write to a disk (--dir): what a user waits for. Three corpora,
// generated deterministically:
//
//	A  20,000 messages in 10 folders, 2 KB to 2 MB, about 1 GB (--scale)
//	B  200 folders × 20 small messages
//	C  one 50 MB message (peak memory)
//
// Each client runs as its own process, so that its peak RSS is its own:
//
//	lifeboat   the lifeboat command of this module, built once
//	mbsync     isync, pulling into a Maildir with its default fsync
//	bare loop  this program's hidden "bare" subcommand: SELECT and
//	           UID FETCH 1:* BODY.PEEK[] per folder, every literal copied
//	           into one file, one fsync at the end (the practical limit)
//
// Scenarios: a full backup into an empty directory; a re-run with nothing
// new (corpora A and B); a re-run after 1 % new mail (corpus A).
//
// Usage:
//
//	lifeboat-bench [--scale F] [--dir DIR] [--out FILE.md] [--skip-mbsync]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if code, ok := subcommand(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(benchMain(os.Args[1:]))
}

// subcommand runs the hidden subcommand the harness starts this program (or
// its test binary) for: "bare", the bare fetch loop; "bare-append", the
// bare APPEND loop; and "restore", the restore benchmark (make
// bench-restore).
func subcommand(args []string) (int, bool) {
	if len(args) > 0 {
		switch args[0] {
		case "bare":
			return bareMain(args[1:]), true
		case "bare-append":
			return bareAppendMain(args[1:]), true
		case "restore":
			return restoreMain(args[1:]), true
		}
	}
	return 0, false
}

func benchMain(args []string) int {
	fs := flag.NewFlagSet("lifeboat-bench", flag.ContinueOnError)
	var cfg Config
	fs.Float64Var(&cfg.Scale, "scale", 1, "size of corpus A relative to 20,000 messages / 1 GB (e.g. 0.1 for a quick run)")
	fs.StringVar(&cfg.Dir, "dir", os.TempDir(), "where the clients write (a directory on a disk); a temporary directory is made inside")
	fs.StringVar(&cfg.ServerDir, "server-dir", "", "where Dovecot keeps its mail (default: --dir, a disk)")
	fs.DurationVar(&cfg.Latency, "latency", 25*time.Millisecond, "measure corpus A again through a proxy adding this much each way (0: not)")
	fs.StringVar(&cfg.Profiles, "profiles", "", "write a CPU profile of each lifeboat run into this directory (CORPUS-SCENARIO.pprof)")
	out := fs.String("out", "", "also write the table as Markdown to this file")
	fs.BoolVar(&cfg.SkipMbsync, "skip-mbsync", false, "do not measure mbsync")
	fs.StringVar(&cfg.Only, "only", "", "measure one corpus only: A, B, C or D")
	fs.BoolVar(&cfg.SkipGrowth, "skip-growth", false, "leave out corpus D (one folder grown to 10,000, 50,000 and 100,000 messages)")
	fs.StringVar(&cfg.Lifeboat, "lifeboat", "", "lifeboat binary to measure (default: build ./cmd/lifeboat)")
	fs.Uint64Var(&cfg.Seed, "seed", defaultSeed, "corpus generator seed")
	fs.IntVar(&cfg.BFolders, "b-folders", 200, "corpus B: folders")
	fs.IntVar(&cfg.BPerFolder, "b-messages", 20, "corpus B: messages per folder")
	fs.IntVar(&cfg.CSize, "c-size", 50<<20, "corpus C: bytes of its one message")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the server's and the clients' directories")
	fs.DurationVar(&cfg.RunTimeout, "run-timeout", 5*time.Minute, "kill a client run that takes longer, and stop")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "lifeboat-bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lifeboat-bench: %v\n", err)
		return 1
	}
	return printReport("lifeboat-bench", rep.Rows, notes(rep, time.Since(start)), *out)
}

// printReport prints the table and its notes, and writes them as Markdown
// to out when it is set.
func printReport(prog string, rows []Row, ns []string, out string) int {
	fmt.Println()
	fmt.Print(textTable(rows))
	fmt.Println()
	for _, n := range ns {
		fmt.Println(n)
	}
	if out != "" {
		var sb strings.Builder
		sb.WriteString(markdownTable(rows))
		sb.WriteString("\n")
		for _, n := range ns {
			sb.WriteString("- " + n + "\n")
		}
		if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
			return 1
		}
	}
	return 0
}
