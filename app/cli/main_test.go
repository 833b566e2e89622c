package cli

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps every command's data (outbox, incidents, the shared
// health log) in a directory of this run, never in the user's home; tests
// that need their own set XDG_DATA_HOME (newHarness does).
func TestMain(m *testing.M) {
	data, err := os.MkdirTemp("", "lifeboat-cli-data-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_DATA_HOME", data)
	code := m.Run()
	os.RemoveAll(data)
	os.Exit(code)
}
