package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

var header = []string{"corpus", "scenario", "tool", "time (s)", "msgs/s", "MB/s", "peak RSS (MB)"}

// cells formats a row; rates are "-" for a run that transferred nothing,
// and MB/s for a run whose bytes were not counted (corpus D).
func cells(r Row) []string {
	rate := func(v float64, format string) string {
		if r.Messages == 0 || r.Elapsed <= 0 {
			return "-"
		}
		return fmt.Sprintf(format, v/r.Elapsed.Seconds())
	}
	return []string{r.Corpus, r.Scenario, r.Tool,
		fmt.Sprintf("%.2f", r.Elapsed.Seconds()),
		rate(float64(r.Messages), "%.0f"),
		map[bool]string{true: "-", false: rate(mb(r.Bytes), "%.1f")}[r.Bytes == 0 && r.Messages > 0],
		fmt.Sprintf("%.1f", mb(r.MaxRSS)),
	}
}

// textTable is the table as printed on a terminal: text columns aligned
// left, numbers right.
func textTable(rows []Row) string {
	all := [][]string{header}
	for _, r := range rows {
		all = append(all, cells(r))
	}
	w := make([]int, len(header))
	for _, c := range all {
		for i, cell := range c {
			w[i] = max(w[i], utf8.RuneCountInString(cell))
		}
	}
	var sb strings.Builder
	for _, c := range all {
		for i, cell := range c {
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(cell))
			switch {
			case i == 0:
			case i < 3:
				sb.WriteString("  ")
			default:
				sb.WriteString("   ")
			}
			if i < 3 {
				sb.WriteString(cell + pad)
			} else {
				sb.WriteString(pad + cell)
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// markdownTable is the same table for the README.
func markdownTable(rows []Row) string {
	var sb strings.Builder
	sb.WriteString("| " + strings.Join(header, " | ") + " |\n")
	sb.WriteString("|---|---|---|--:|--:|--:|--:|\n")
	for _, r := range rows {
		sb.WriteString("| " + strings.Join(cells(r), " | ") + " |\n")
	}
	return sb.String()
}

func find(rows []Row, corpus, scenario, tool string) *Row {
	for i := range rows {
		if rows[i].Corpus == corpus && rows[i].Scenario == scenario && rows[i].Tool == tool {
			return &rows[i]
		}
	}
	return nil
}

// notes explain the table: corpora, the ratios and targets the table is for,
// the environment and the method.
func notes(rep *Report, total time.Duration) []string {
	var out []string
	for _, c := range rep.Corpora {
		sizes := slices.Clone(c.sizes)
		slices.Sort(sizes)
		switch c.Name {
		case "A":
			s := fmt.Sprintf("Corpus A: %d messages in %d folders, %.0f MB (%s to %s, median %s)",
				c.Messages-c.NewMail, len(c.Folders), mb(c.Bytes-c.NewBytes), human(sizes[0]), human(sizes[len(sizes)-1]), human(sizes[len(sizes)/2]))
			if c.NewBytes > 0 {
				s += fmt.Sprintf("; \"+1%% new\" appends %d messages (%.1f MB) spread over the folders", c.NewMail, mb(c.NewBytes))
			}
			out = append(out, s+".")
		case "B":
			out = append(out, fmt.Sprintf("Corpus B: %d folders × %d messages, %.1f MB.", len(c.Folders), c.Counts[0], mb(c.Bytes)))
		case "C":
			out = append(out, fmt.Sprintf("Corpus C: one message of %.0f MB.", mb(c.Bytes)))
		case "D":
			out = append(out, fmt.Sprintf("Corpus D: one folder of small messages (1 to 4 KB) grown to %d; at each size the tools catch up, then one new message is measured, and `lifeboat status`.", c.Messages))
		default:
			if strings.HasPrefix(c.Name, "A+") {
				out = append(out, fmt.Sprintf("Corpus %s: corpus A (with its first new mail) through a proxy that holds every chunk back %s each way, as a provider's round trips; its \"+1%% new\" appends %d more.",
					c.Name, strings.TrimPrefix(c.Name, "A+"), c.NewMail))
			}
		}
	}
	rows := rep.Rows
	if lb, bare := find(rows, "A", scenFull, toolLifeboat), find(rows, "A", scenFull, toolBare); lb != nil && bare != nil {
		ratio := lb.Elapsed.Seconds() / bare.Elapsed.Seconds()
		out = append(out, fmt.Sprintf("Lifeboat/bare loop, corpus A full: %.2f× the time (%.0f%% of the bare loop's throughput).", ratio, 100/ratio))
	}
	if lb := find(rows, "B", scenNoChange, toolLifeboat); lb != nil {
		folders := 0
		for _, c := range rep.Corpora {
			if c.Name == "B" {
				folders = len(c.Folders)
			}
		}
		s := fmt.Sprintf("Corpus B no change (%d folders): Lifeboat %.2f s", folders, lb.Elapsed.Seconds())
		if ms := find(rows, "B", scenNoChange, toolMbsync); ms != nil {
			s += fmt.Sprintf(", mbsync %.2f s", ms.Elapsed.Seconds())
		}
		out = append(out, s+" (target: Lifeboat no slower than mbsync, about 0.2 s).")
	}
	if lb := find(rows, "C", scenFull, toolLifeboat); lb != nil {
		s := fmt.Sprintf("Corpus C peak RSS: Lifeboat %.0f MB (target < 100 MB)", mb(lb.MaxRSS))
		if ms := find(rows, "C", scenFull, toolMbsync); ms != nil {
			s += fmt.Sprintf(", mbsync %.0f MB", mb(ms.MaxRSS))
		}
		if br := find(rows, "C", scenFull, toolBare); br != nil {
			s += fmt.Sprintf(", bare loop %.0f MB", mb(br.MaxRSS))
		}
		out = append(out, s+".")
	}
	where := "a disk"
	if rep.ServerTmpfs {
		where = "tmpfs (NOT a disk)"
	}
	clients := "a disk"
	if rep.OutTmpfs {
		clients = "tmpfs (NOT a disk)"
	}
	env := fmt.Sprintf("Setup: Dovecot %s with its mail on %s; the clients write to %s; all on one machine, %d CPUs shared by server and client; %s %s/%s",
		rep.Dovecot, where, clients, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if rep.Mbsync != "" {
		env += ", " + rep.Mbsync
	}
	out = append(out, env+".")
	out = append(out, "Method: one process per run, timed by wall clock from start to exit (start-up, login and fsyncs included); "+
		"peak RSS is the process's getrusage maxrss, taken by a 2 MB helper (./spawn: a client started by this program itself would inherit its peak through vfork); sync(2) before every full run, page cache not dropped (that cannot be done reliably); "+
		"each corpus is fetched once, untimed, before the timed runs, so Dovecot's caches are alike for every tool; "+
		"a re-run starts at least 1.1 s after the same tool's previous run (mbsync sleeps 1 s when its Maildir changed within the current second); "+
		"msgs/s and MB/s count what the run transferred (a no-change run transfers nothing); MB = 2^20 bytes; "+
		"Lifeboat's time includes its search-index update; the bare loop is this program's own go-imap fetch loop writing one file.")
	out = append(out, fmt.Sprintf("The benchmark took %s (generating, loading and warming the corpora: %s).",
		total.Round(time.Second), rep.Setup.Round(time.Second)))
	return out
}

func human(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
