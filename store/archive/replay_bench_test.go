package archive

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

var replayBench struct {
	once sync.Once
	a    *Archive
	dir  string
	err  error
}

// BenchmarkOpenFolder opens a folder of LIFEBOAT_BENCH_MESSAGES (default
// 100,000) messages for writing, as a backup does before one new message:
// the metadata log is read whole.
func BenchmarkOpenFolder(b *testing.B) {
	n := 100_000
	if s := os.Getenv("LIFEBOAT_BENCH_MESSAGES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	replayBench.once.Do(func() {
		if replayBench.dir, replayBench.err = os.MkdirTemp("", "lifeboat-replay-"); replayBench.err != nil {
			return
		}
		if replayBench.a, replayBench.err = Open(replayBench.dir); replayBench.err != nil {
			return
		}
		f, err := replayBench.a.OpenFolder(inbox)
		if err != nil {
			replayBench.err = err
			return
		}
		f.SetUIDValidity(7)
		for i := 0; i < n; i++ {
			m := msg(uint32(i+1), fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@bench.test>\r\n\r\nbody %d\r\n", i, i, i))
			m.Flags = [][]string{{`\Seen`}, {`\Seen`, `\Answered`}, nil}[i%3]
			m.Date = time.Unix(1_700_000_000+int64(i)*60, 0)
			if _, err := f.Append(m); err != nil {
				replayBench.err = err
				return
			}
			if i%5000 == 4999 {
				if replayBench.err = f.Commit(); replayBench.err != nil {
					return
				}
			}
		}
		f.Checkpoint(State{UIDValidity: 7, UIDNext: uint32(n + 1), Messages: uint32(n), At: time.Now()})
		replayBench.err = f.Close()
	})
	if replayBench.err != nil {
		b.Fatal(replayBench.err)
	}
	b.Cleanup(func() {})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := replayBench.a.OpenFolder(inbox)
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Entries()) != n {
			b.Fatalf("%d entries", len(f.Entries()))
		}
		f.Close()
	}
}
