package proc

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the environment variable CI is set to anything but
// "", "0" or "false" (any case): then every test must run, and a missing
// program or service fails the test instead of skipping it.
func InCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// Need ends the test when err is not nil: err says why what (a program, a
// server, a session) cannot be used. Under CI (InCI) the test fails,
// otherwise it is skipped. hint, when not "", tells how to get what ("make
// test installs it") and ends both messages.
func Need(t testing.TB, what string, err error, hint string) {
	t.Helper()
	if err == nil {
		return
	}
	if hint != "" {
		hint = " (" + hint + ")"
	}
	if InCI() {
		t.Fatalf("%s is required when CI is set: %v%s", what, err, hint)
	}
	t.Skipf("%s not available: %v%s", what, err, hint)
}

// NeedProgram is Need for a program, found in PATH (or at the path
// given); it returns the program's path.
func NeedProgram(t testing.TB, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	Need(t, name, err, hint)
	return path
}
