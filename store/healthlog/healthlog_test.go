package healthlog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Many writers at once (as many processes would be), a reader tailing,
// rotations meanwhile: every record is read once, none of the reader's own.
func TestConcurrentWritersTailAndRotation(t *testing.T) {
	old := MaxSize
	MaxSize = 24 << 10 // rotate a few times
	t.Cleanup(func() { MaxSize = old })
	path := filepath.Join(t.TempDir(), FileName)
	reader, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tail := reader.Tail()
	defer tail.Close()
	reader.Append(Record{Account: "self", OK: true})
	const writers, each = 4, 150
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		l, _ := Open(path) // a process of its own
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := l.Append(Record{Account: fmt.Sprintf("w%d", w), Protocol: "smtp", Cause: fmt.Sprintf("%d", i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	seen := map[string]int{}
	read := func() {
		for _, r := range tail.Next() {
			seen[r.ID]++
			if r.Account == "self" {
				t.Error("the tail handed out its own process's record")
			}
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			read()
			time.Sleep(time.Millisecond)
		}
	}
	read()
	if len(seen) != writers*each {
		t.Fatalf("read %d distinct records, want %d", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s read %d times", id, n)
		}
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Error("the log never rotated")
	}
}

func TestRecentSkipsTornLinesAndOldRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	l, _ := Open(path)
	l.Append(Record{Account: "a", Time: time.Now().Add(-2 * time.Hour)})
	l.Append(Record{Account: "b"})
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"x-1","a":"torn","t":"20`)
	f.Close()
	got, err := l.Recent(time.Now().Add(-time.Hour))
	if err != nil || len(got) != 1 || got[0].Account != "b" {
		t.Fatalf("%v %+v", err, got)
	}
	// The next record starts on a line of its own: read, torn bytes kept.
	l.Append(Record{Account: "c"})
	got, _ = l.Recent(time.Now().Add(-time.Hour))
	if len(got) != 2 || got[1].Account != "c" {
		t.Fatalf("after a torn line: %+v", got)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(`"torn"`)) {
		t.Error("the torn bytes were removed")
	}
}
