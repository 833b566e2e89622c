package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// TestCommandLineQuietUnderPOSIXLocale runs the command line as cron and
// systemd do, with LANG=C.UTF-8 or LANG=C and nothing else in the
// environment, and checks that no command prints anything from Fyne (whose
// language package complains about the C locale while the binary starts;
// app/fynelog filters it, and only if it initialises before Fyne).
func TestCommandLineQuietUnderPOSIXLocale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts Dovecot")
	}
	s := dovecot.StartT(t)
	bin := buildLifeboat(t)
	cfg := writeConfig(t, s, filepath.Join(t.TempDir(), "archive"))
	home := t.TempDir()
	for _, lang := range []string{"C.UTF-8", "C", "POSIX"} {
		for _, args := range [][]string{
			{"help"},
			{"--config", filepath.Join(home, "missing.toml"), "status"},
			{"--config", cfg, "backup"},
			{"--config", cfg, "status"},
			{"--config", cfg, "verify"},
			{"--config", cfg, "reindex"},
			{"--config", cfg, "outbox"},
			{"--config", cfg, "accounts", "list"},
			{"--config", cfg, "monitor", "--once"},
			{"--config", cfg, "no-such-command"},
		} {
			cmd := exec.Command(bin, args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=" + lang}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, _ := cmd.Output()
			all := string(out) + stderr.String()
			if strings.Contains(all, "Fyne") || strings.Contains(all, "locale") {
				t.Errorf("LANG=%s lifeboat %s printed Fyne's noise:\n%s", lang, strings.Join(args, " "), all)
			}
			if args[len(args)-1] == "status" && args[1] == cfg && !strings.Contains(string(out), "dove") {
				t.Errorf("LANG=%s lifeboat status did not run (no account in its output):\n%s", lang, all)
			}
		}
	}
}
