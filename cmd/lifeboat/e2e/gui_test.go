package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

// startXvfb starts a private X server and returns its DISPLAY; it is
// stopped by its process id when the test ends.
func startXvfb(t *testing.T) string {
	t.Helper()
	proc.NeedProgram(t, "Xvfb", "make test installs it")
	for n := 90 + os.Getpid()%50; n < 200; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", n)
		cmd := exec.Command("Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
				return display
			}
			time.Sleep(100 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Fatal("no free X display")
	return ""
}

// TestDesktopDemoTour runs the real binary's desktop app in demo mode under
// Xvfb and plays the tour: it starts, backs up, shows the archive, a
// simulated outage turns bt's light red, and a message composed in the
// window goes out through the secondary. Screenshots of each view are taken
// as a person would see them.
func TestDesktopDemoTour(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the desktop app")
	}
	display := startXvfb(t)
	bin := buildLifeboat(t)
	shots := t.TempDir()
	cmd := exec.Command(bin, "gui", "--tour", shots)
	cmd.Env = append(os.Environ(), "DISPLAY="+display, "LANG=en_US.UTF-8", "XDG_DATA_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the app failed: %v\n%s", err, out.String())
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the tour did not finish:\n%s", out.String())
	}
	log := out.String()
	for _, want := range []string{"tour: backed up 59 messages", "tour: archive shows 8 messages in Archive/2025", "messages match \"subject:invoice\"", "tour: bt is down",
		"tour: compose: Sent through gmail", "tour: restore preview: Would append 59 messages", "tour: done"} {
		if !strings.Contains(log, want) {
			t.Errorf("missing %q in:\n%s", want, log)
		}
	}
	for _, name := range []string{"accounts", "archive", "search", "health", "accounts-outage", "compose", "outbox", "settings", "restore"} {
		st, err := os.Stat(filepath.Join(shots, name+".png"))
		if err != nil || st.Size() < 5000 {
			t.Errorf("screenshot %s: %v (a blank screen is tiny)", name, err)
		}
	}
}
