package proc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// fakeTB records how Need ends a test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a fakeTB in a goroutine of its own (Goexit ends it) and
// reports whether fn returned.
func run(t *testing.T, fn func(tb testing.TB)) (f *fakeTB, returned bool) {
	f = &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		returned = true
	}()
	<-done
	return f, returned
}

// Not parallel: sets CI.
func TestNeed(t *testing.T) {
	missing := errors.New("not found")
	for _, tc := range []struct {
		ci       string
		wantSkip bool
	}{{"", true}, {"false", true}, {"FALSE", true}, {"0", true}, {" ", true}, {"true", false}, {"1", false}, {"yes", false}} {
		t.Setenv("CI", tc.ci)
		if InCI() == tc.wantSkip {
			t.Errorf("CI=%q: InCI %v", tc.ci, InCI())
		}
		f, returned := run(t, func(tb testing.TB) { Need(tb, "Xvfb", missing, "make test installs it") })
		switch {
		case returned:
			t.Errorf("CI=%q: Need returned with an error", tc.ci)
		case tc.wantSkip && (f.skip != "Xvfb not available: not found (make test installs it)" || f.fatal != ""):
			t.Errorf("CI=%q: skip %q, fatal %q", tc.ci, f.skip, f.fatal)
		case !tc.wantSkip && (f.fatal != "Xvfb is required when CI is set: not found (make test installs it)" || f.skip != ""):
			t.Errorf("CI=%q: skip %q, fatal %q", tc.ci, f.skip, f.fatal)
		}
		if f, returned := run(t, func(tb testing.TB) { Need(tb, "Xvfb", nil, "") }); !returned || f.skip != "" || f.fatal != "" {
			t.Errorf("CI=%q: Need without an error ended the test: %+v", tc.ci, f)
		}
	}
	t.Setenv("CI", "")
	if f, _ := run(t, func(tb testing.TB) { Need(tb, "a D-Bus session", missing, "") }); f.skip != "a D-Bus session not available: not found" {
		t.Errorf("without a hint: %q", f.skip)
	}
}

func TestNeedProgram(t *testing.T) {
	t.Setenv("CI", "")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var path string
	if f, returned := run(t, func(tb testing.TB) { path = NeedProgram(tb, self, "") }); !returned || path != self {
		t.Errorf("NeedProgram(%s) = %q, skip %q", self, path, f.skip)
	}
	f, returned := run(t, func(tb testing.TB) { NeedProgram(tb, "no-such-program-lifeboat", "apt install it") })
	if returned || !strings.HasPrefix(f.skip, "no-such-program-lifeboat not available: ") || !strings.HasSuffix(f.skip, " (apt install it)") {
		t.Errorf("a missing program: returned %v, skip %q", returned, f.skip)
	}
}
