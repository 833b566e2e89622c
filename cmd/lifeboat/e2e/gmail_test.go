package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
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

// `lifeboat backup` of a Gmail account killed with SIGKILL at random
// moments, while mail is deleted, taken back and relabelled between the
// runs: in the end every message is stored exactly once across All Mail,
// Trash and Spam with its id (plus, at most, an adopted copy of one that
// moved away before the run after the kill), and the ones in All Mail
// carry the server's labels.
func TestGmailBackupKilledAtRandomMoments(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	g := gmailfake.Start(t)
	r := rand.New(rand.NewPCG(13, 13))
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	labelSets := [][]string{{`\Inbox`}, {`\Inbox`, "Work"}, {"Lists/Go"}, {`\Sent`}, nil, {`\Trash`}, {`\Spam`}}
	var ids []uint64
	for i := range 4000 { // a commit every 1,000: kills fall between them
		body := strings.Repeat(fmt.Sprintf("line %d of a message with some words\r\n", i), 5+r.IntN(50))
		ids = append(ids, g.Add(t, gmailfake.Message(fmt.Sprintf("m%d", i), body), day, 0, labelSets[r.IntN(len(labelSets))]...))
	}
	ep := g.Endpoint()
	config := func(archiveDir string) string {
		cfg := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("archive_dir = %q\n\n[[account]]\nname = \"gmail\"\nemail = %q\n[account.imap]\nhost = %q\nport = %d\nsecurity = \"plain\"\nusername = %q\npassword_command = \"printf %%s %s\"\n",
			archiveDir, g.User, ep.Host, ep.Port, g.User, g.Password)), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	archiveDir := filepath.Join(t.TempDir(), "archive")
	cfg := config(archiveDir)
	bin := buildLifeboat(t)
	dataHome := t.TempDir()
	backupWith := func(cfg string) *exec.Cmd {
		cmd := exec.Command(bin, "--config", cfg, "backup")
		cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dataHome)
		return cmd
	}
	backup := func() *exec.Cmd { return backupWith(cfg) }
	// How long a whole first backup takes here: the kills fall inside it.
	start := time.Now()
	if out, err := backupWith(config(filepath.Join(t.TempDir(), "reference"))).CombinedOutput(); err != nil {
		t.Fatalf("reference backup: %v\n%s", err, out)
	}
	whole := time.Since(start)
	kills, midway := 0, 0
	for round := 0; round < 10; round++ {
		cmd := backup()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(whole/20 + time.Duration(r.Int64N(int64(whole/2))))
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
		onServer := 0
		for _, labels := range g.Labels() {
			if !slices.Contains(labels, `\Trash`) && !slices.Contains(labels, `\Spam`) {
				onServer++
			}
		}
		if n := archivedCount(archiveDir); n > 0 && n < onServer {
			midway++
		}
		for range 30 { // deleted, taken back, relabelled
			g.SetLabels(t, ids[r.IntN(len(ids))], labelSets[r.IntN(len(labelSets))]...)
		}
		for range 1000 { // and new mail, so that the next run has work to be killed in
			ids = append(ids, g.Add(t, gmailfake.Message(fmt.Sprintf("m%d", len(ids)), strings.Repeat("more words\r\n", 5+r.IntN(200))), day, 0,
				labelSets[r.IntN(len(labelSets))]...))
		}
	}
	// The first run after the last kill may warn of adopted messages that
	// are no longer in their folder (moved meanwhile); nothing else.
	out, err := backup().CombinedOutput()
	if code := exitCode(err); code != 0 && (code != 3 || strings.Count(string(out), "WARNING") != strings.Count(string(out), "are not on it")) {
		t.Fatalf("final backup: exit %d\n%s", code, out)
	}
	if out, err := backup().CombinedOutput(); exitCode(err) != 0 {
		t.Fatalf("the run after it: exit %d\n%s", exitCode(err), out)
	}
	arch, err := archive.Open(archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]int{}
	extra := 0
	var all *archive.Folder
	for _, name := range []string{gmailfake.AllMail, gmailfake.Trash, gmailfake.Spam} {
		f, err := arch.ReadFolder(archive.FolderID{Account: "gmail", Name: name, Delim: '/'})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, e := range f.Entries() {
			if e.GmailID == 0 {
				// Bytes a killed run wrote and did not log are adopted
				// at the next; when the message moved to another folder
				// before that run, it is fetched there again and this
				// copy stays, without an id, marked deleted on the server.
				if !e.Recovered || e.Gone.IsZero() {
					t.Errorf("%s: a message without its Gmail id (at byte %d): %+v", name, e.Offset, e)
				}
				extra++
				continue
			}
			stored[e.GmailID]++
		}
		if name == gmailfake.AllMail {
			all = f
		}
	}
	for id, labels := range g.Labels() {
		if stored[id] != 1 {
			t.Errorf("message %d stored %d times", id, stored[id])
		}
		inAll := !slices.Contains(labels, `\Trash`) && !slices.Contains(labels, `\Spam`)
		if e := all.ByGmailID(id); inAll && e != nil && e.Gone.IsZero() && !reflect.DeepEqual(nilIfEmpty(e.Labels), nilIfEmpty(labels)) {
			t.Errorf("message %d: labels %q in the archive, %q on the server", id, e.Labels, labels)
		}
	}
	t.Logf("a whole backup: %v; %d kills (%d with the archive part-way), %d messages stored once each, %d adopted copies of moved messages kept",
		whole.Round(time.Millisecond), kills, midway, len(stored), extra)
	if kills < 5 || midway < 2 {
		t.Errorf("only %d of the runs were killed, %d part-way through", kills, midway)
	}
}

// archivedCount is how many messages All Mail's archive holds (0 when it
// cannot be read yet).
func archivedCount(dir string) int {
	arch, err := archive.Open(dir)
	if err != nil {
		return 0
	}
	f, err := arch.ReadFolder(archive.FolderID{Account: "gmail", Name: gmailfake.AllMail, Delim: '/'})
	if err != nil {
		return 0
	}
	return len(f.Entries())
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
