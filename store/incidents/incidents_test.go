package incidents

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 3, 10, 2, 0, 0, time.UTC)

func ev(i int) Event {
	return Event{Time: t0.Add(time.Duration(i) * time.Minute), Account: "bt", Protocol: "smtp",
		From: "up", To: "down", Phase: "login", Cause: fmt.Sprintf("event %d", i), Latency: time.Duration(i) * time.Millisecond}
}

func TestAppendRecentSince(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(DefaultPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Recent(5); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", got, err)
	}
	for i := 0; i < 10; i++ {
		if err := s.Append(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Recent(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Cause != "event 7" || got[2].Cause != "event 9" {
		t.Fatalf("Recent(3) = %+v", got)
	}
	if got[2] != ev(9) {
		t.Fatalf("round trip: got %+v, want %+v", got[2], ev(9))
	}
	all, _ := s.Recent(100)
	if len(all) != 10 || all[0].Cause != "event 0" {
		t.Fatalf("Recent(100) = %d events, first %+v", len(all), all[0])
	}
	if none, _ := s.Recent(0); len(none) != 0 {
		t.Fatal("Recent(0) returned events")
	}
	since, err := s.Since(t0.Add(8 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(since) != 2 || since[0].Cause != "event 8" {
		t.Fatalf("Since = %+v", since)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(DefaultPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Append(ev(1)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(dir)
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", dst.Mode().Perm())
	}
}

func TestTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Append(ev(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// A crash in the middle of writing the fourth line.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-11-03T10:09:00Z","account":"bt","fro`)
	f.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Recent(10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("torn tail: got %d events, want 3", len(got))
	}
	if err := s.Append(ev(4)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Recent(10)
	if len(got) != 4 || got[3].Cause != "event 4" {
		t.Fatalf("after torn tail, append gave %+v", got)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"fro`+"\n") {
		t.Error("torn bytes were not kept")
	}
}

func TestTornTailWhileReading(t *testing.T) {
	// Another process may be in the middle of a write: an unterminated
	// last line that does not parse is skipped, not an error.
	path := filepath.Join(t.TempDir(), FileName)
	s, _ := Open(path)
	defer s.Close()
	s.Append(ev(1))
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":`)
	f.Close()
	got, err := s.Since(time.Time{})
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v %v", got, err)
	}
}

func TestConcurrentAppend(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := s.Append(ev(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, _ := s.Recent(1000)
	if len(got) != 80 {
		t.Fatalf("got %d events, want 80", len(got))
	}
}

func TestAppendAfterClose(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), FileName))
	s.Append(ev(1))
	s.Close()
	if err := s.Append(ev(2)); err == nil {
		t.Fatal("Append after Close succeeded")
	}
	if got, err := s.Recent(5); err != nil || len(got) != 1 {
		t.Fatalf("Recent after Close: %v %v", got, err)
	}
}

func TestZeroTimeIsNow(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), FileName))
	defer s.Close()
	before := time.Now().Add(-time.Second)
	s.Append(Event{Account: "x", From: "up", To: "down", Cause: "c"})
	got, _ := s.Since(before)
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
}
