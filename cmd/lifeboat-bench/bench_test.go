package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	testproc "github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

// TestMain lets the harness re-execute this test binary as the bare loop.
func TestMain(m *testing.M) {
	if code, ok := subcommand(os.Args[1:]); ok {
		os.Exit(code)
	}
	// The lifeboat processes the smoke test starts keep their data (the
	// shared health log) in a directory of this run, not the user's home.
	data, err := os.MkdirTemp("", "lifeboat-bench-data-")
	if err != nil {
		os.Exit(1)
	}
	os.Setenv("XDG_DATA_HOME", data)
	code := m.Run()
	os.RemoveAll(data)
	os.Exit(code)
}

// TestSmoke runs the whole benchmark on tiny corpora: every tool must run,
// and every output must hold exactly the server's messages.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds lifeboat and starts Dovecot")
	}
	testproc.Need(t, "Dovecot", dovecot.Available(), "make test installs it")
	testproc.NeedProgram(t, "mbsync", "make test installs it")
	testproc.NeedProgram(t, "go", "")

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Now()
	rep, err := run(ctx, Config{
		Scale:      0.005, // 100 messages
		Dir:        t.TempDir(),
		Self:       self,
		BFolders:   5,
		BPerFolder: 5,
		CSize:      2 << 20,
		RunTimeout: time.Minute,
		Latency:    5 * time.Millisecond,
		Log:        testLog{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("whole benchmark in %v:\n%s", time.Since(t0).Round(time.Millisecond), textTable(rep.Rows))

	want := []string{
		"A full lifeboat", "A full mbsync", "A full bare loop",
		"A no change lifeboat", "A no change mbsync",
		"A +1% new lifeboat", "A +1% new mbsync",
		"A+5ms full lifeboat", "A+5ms full mbsync", "A+5ms no change lifeboat", "A+5ms no change mbsync",
		"A+5ms +1% new lifeboat", "A+5ms +1% new mbsync",
		"B full lifeboat", "B full mbsync", "B full bare loop",
		"B no change lifeboat", "B no change mbsync",
		"C full lifeboat", "C full mbsync", "C full bare loop",
		"D grow to 50 lifeboat", "D grow to 50 mbsync", "D +1 in 50 lifeboat", "D +1 in 50 mbsync", "D status, 51 lifeboat status",
		"D grow to 250 lifeboat", "D grow to 250 mbsync", "D +1 in 250 lifeboat", "D +1 in 250 mbsync", "D status, 251 lifeboat status",
		"D grow to 500 lifeboat", "D grow to 500 mbsync", "D +1 in 500 lifeboat", "D +1 in 500 mbsync", "D status, 501 lifeboat status",
	}
	var got []string
	for _, r := range rep.Rows {
		got = append(got, r.Corpus+" "+r.Scenario+" "+r.Tool)
		if r.Count != r.Want || r.Want == 0 {
			t.Errorf("%s %s %s: %d messages, want %d", r.Corpus, r.Scenario, r.Tool, r.Count, r.Want)
		}
		if r.Elapsed <= 0 || r.MaxRSS <= 0 {
			t.Errorf("%s %s %s: time %v, peak RSS %d: not measured", r.Corpus, r.Scenario, r.Tool, r.Elapsed, r.MaxRSS)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	a := rep.Corpora[0]
	if a.Messages != 101 || a.NewMail != 1 || len(a.Folders) != 10 {
		t.Errorf("corpus A: %d messages (%d new) in %d folders, want 101 (1 new) in 10", a.Messages, a.NewMail, len(a.Folders))
	}
	if c := rep.Corpora[3]; c.Name != "C" || c.Bytes < 2<<20-1024 || c.Bytes > 2<<20+1024 {
		t.Errorf("corpus C: %d bytes, want about %d", c.Bytes, 2<<20)
	}
	md := markdownTable(rep.Rows)
	if n := strings.Count(md, "\n"); n != len(want)+2 {
		t.Errorf("markdown table has %d lines, want %d:\n%s", n, len(want)+2, md)
	}
	if ns := notes(rep, time.Since(t0)); len(ns) < 5 {
		t.Errorf("notes: %q", ns)
	}
}

// TestCorpusDeterministic: the same seed gives the same messages.
func TestCorpusDeterministic(t *testing.T) {
	gen := func() []byte {
		c := corpusA(0.01, 7)
		g := newGenerator(c, 1)
		var all []byte
		for i := 0; i < 50; i++ {
			all = append(all, g.message(c.Size(g.r))...)
		}
		return all
	}
	a, b := gen(), gen()
	if string(a) != string(b) {
		t.Fatal("two generators with the same seed made different messages")
	}
	if !strings.Contains(string(a), "\r\nFrom ") {
		t.Error("no body line starts with \"From \"")
	}
	if strings.Contains(strings.ReplaceAll(string(a), "\r\n", ""), "\n") {
		t.Error("a bare LF in the corpus")
	}
}

// TestCorpusSizes: corpus A at full scale is about 1 GB, 2 KB to 2 MB, most
// messages small.
func TestCorpusSizes(t *testing.T) {
	c := corpusA(1, defaultSeed)
	if n := c.total(); n != 20000 {
		t.Fatalf("corpus A: %d messages, want 20000", n)
	}
	if len(c.Folders) != 10 || c.NewMail != 200 {
		t.Fatalf("corpus A: %d folders, %d new, want 10 and 200", len(c.Folders), c.NewMail)
	}
	g := newGenerator(c, 1)
	var total int64
	small := 0
	for i := 0; i < 20000; i++ {
		s := c.Size(g.r)
		if s < 2<<10 || s > 2<<20 {
			t.Fatalf("size %d out of range", s)
		}
		if s < 32<<10 {
			small++
		}
		total += int64(s)
	}
	if total < 900e6 || total > 1200e6 {
		t.Errorf("corpus A: %d bytes, want about 1 GB", total)
	}
	if small < 15000 {
		t.Errorf("only %d of 20000 messages under 32 KB", small)
	}
	for _, size := range []int{2 << 10, 40 << 10, 300 << 10, 2 << 20} {
		m := g.message(size)
		if d := len(m) - size; d < -200 || d > 200 {
			t.Errorf("message of %d bytes asked, %d made", size, len(m))
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
