package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/gmailfake"
)

// `lifeboat backup` of a Gmail account (the Gmail-like server of the
// tests): All Mail, Trash and Spam only, each message once with its
// labels; `export --by-label` writes a file per label; a re-run fetches
// nothing.
func TestGmailBackupAndExportByLabel(t *testing.T) {
	g := gmailfake.Start(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	g.Add(t, gmailfake.Message("both", "x"), day, 0, `\Inbox`, "Work")
	g.Add(t, gmailfake.Message("work", "y"), day, 0, "Work")
	g.Add(t, gmailfake.Message("junk", "z"), day, 0, `\Spam`)
	ep := g.Endpoint()
	cfg := filepath.Join(t.TempDir(), "config.toml")
	archiveDir := filepath.Join(t.TempDir(), "archive")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`archive_dir = %q

[[account]]
name = "gmail"
email = %q
[account.imap]
host = %q
port = %d
security = "plain"
username = %q
password_command = "printf %%s %s"
`, archiveDir, g.User, ep.Host, ep.Port, g.User, g.Password)), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildLifeboat(t)
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return exitCode(err), string(out)
	}
	code, out := run("backup")
	if code != 0 || !strings.Contains(out, "Gmail: backing up All Mail, Trash and Spam") || strings.Contains(out, "INBOX") || strings.Contains(out, " Work ") {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	served := g.Served()
	if code, out := run("backup"); code != 0 || g.Served() != served {
		t.Fatalf("re-run: exit %d, %d bytes fetched\n%s", code, g.Served()-served, out)
	}
	dest := filepath.Join(t.TempDir(), "export")
	code, out = run("export", "--account", "gmail", "--by-label", dest)
	if code != 0 || !strings.Contains(out, "Exported 4 messages in 1 folder and 2 labels") {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	for _, f := range []string{"Labels/Inbox.mbox", "Labels/Work.mbox", "[Gmail]/Spam.mbox"} {
		if _, err := os.Stat(filepath.Join(dest, filepath.FromSlash(f))); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
