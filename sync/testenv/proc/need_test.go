package proc

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// run is Run in the shape these tests were written for.
func run(t *testing.T, fn func(tb testing.TB)) (Ending, bool) {
	e := Run(t, fn)
	return e, e.Returned
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
		case tc.wantSkip && (f.Skip != "Xvfb not available: not found (make test installs it)" || f.Fatal != ""):
			t.Errorf("CI=%q: skip %q, fatal %q", tc.ci, f.Skip, f.Fatal)
		case !tc.wantSkip && (f.Fatal != "Xvfb is required when CI is set: not found (make test installs it)" || f.Skip != ""):
			t.Errorf("CI=%q: skip %q, fatal %q", tc.ci, f.Skip, f.Fatal)
		}
		if f, returned := run(t, func(tb testing.TB) { Need(tb, "Xvfb", nil, "") }); !returned || f.Skip != "" || f.Fatal != "" {
			t.Errorf("CI=%q: Need without an error ended the test: %+v", tc.ci, f)
		}
	}
	t.Setenv("CI", "")
	if f, _ := run(t, func(tb testing.TB) { Need(tb, "a D-Bus session", missing, "") }); f.Skip != "a D-Bus session not available: not found" {
		t.Errorf("without a hint: %q", f.Skip)
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
		t.Errorf("NeedProgram(%s) = %q, skip %q", self, path, f.Skip)
	}
	f, returned := run(t, func(tb testing.TB) { NeedProgram(tb, "no-such-program-lifeboat", "apt install it") })
	if returned || !strings.HasPrefix(f.Skip, "no-such-program-lifeboat not available: ") || !strings.HasSuffix(f.Skip, " (apt install it)") {
		t.Errorf("a missing program: returned %v, skip %q", returned, f.Skip)
	}
}
