package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `go build -tags nogui` makes a command line without the desktop app:
// no Fyne, no cgo (so no X11 or GL to install on a server), and "gui"
// says so instead of failing strangely.
func TestNoGUIBuild(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-tags", "nogui", module+"/cmd/lifeboat")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps -tags nogui: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, "fyne.io/") || strings.HasPrefix(d, "github.com/go-gl/") || d == module+"/app/desktop" {
			t.Errorf("the nogui build links %s", d)
		}
	}
	bin := filepath.Join(t.TempDir(), "lifeboat")
	build := exec.Command("go", "build", "-tags", "nogui", "-o", bin, module+"/cmd/lifeboat")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags nogui: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "help").CombinedOutput(); err != nil || !strings.Contains(string(out), "backup") {
		t.Fatalf("nogui help: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "gui").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "this build has no desktop app") {
		t.Fatalf("nogui gui: exit %d\n%s", code, out)
	}
}
