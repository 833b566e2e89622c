package proc

import (
	"fmt"
	"runtime"
	"testing"
)

// Server is what a harness starts for a test: stopped by Stop, and the end
// of its logs shown by LogTail when the test failed.
type Server interface {
	Stop() error
	LogTail(lines int) string
}

// StartT is every harness's StartT: what must be available (Need, with
// available's error and the hint), start starts it, and t.Cleanup stops
// it, first logging the end of its logs when the test failed. name prefixes
// every message ("testenv/dovecot").
func StartT[S Server](t testing.TB, name, what string, available error, hint string, start func() (S, error)) S {
	t.Helper()
	Need(t, name+": "+what, available, hint)
	s, err := start()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: end of the logs:\n%s", name, s.LogTail(40))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	return s
}

// Ending is how a function given a testing.TB ended: Fatal, Skip, or by
// returning. It is for the tests of helpers like Need and StartT.
type Ending struct {
	Fatal, Skip string
	Returned    bool
}

// Run calls fn with a testing.TB that records Fatalf and Skipf (and ends
// fn as they would) in a goroutine of its own, and says how fn ended. Other
// calls go to t.
func Run(t testing.TB, fn func(tb testing.TB)) Ending {
	f := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		f.end.Returned = true
	}()
	<-done
	return f.end
}

type recorder struct {
	testing.TB
	end Ending
}

func (f *recorder) Helper() {}
func (f *recorder) Fatalf(format string, args ...any) {
	f.end.Fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *recorder) Skipf(format string, args ...any) {
	f.end.Skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
