// Package mutt opens a mailbox in Debian's mutt, in a private tmux server
// (mutt needs a terminal), and reads what its status line says: a real
// mail reader's view of an mbox file or an IMAP folder, for tests.
package mutt

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

var msgs = regexp.MustCompile(`Msgs:(\d+)`)

// Count opens mailbox (a file, or an imap:// URL) read-only with the given
// mutt settings ("set imap_pass=..."), and returns the number of messages
// mutt shows. It skips the test when mutt or tmux is missing (fails in CI).
func Count(t testing.TB, mailbox string, settings ...string) int {
	t.Helper()
	proc.NeedProgram(t, "mutt", "make test installs it")
	proc.NeedProgram(t, "tmux", "make test installs it")
	sock := fmt.Sprintf("lifeboat-mutt-%d-%d", os.Getpid(), time.Now().UnixNano())
	tmux := func(args ...string) ([]byte, error) {
		return exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
	}
	home := t.TempDir()
	var extra strings.Builder
	for _, s := range settings {
		fmt.Fprintf(&extra, " -e '%s'", s)
	}
	cmd := fmt.Sprintf("HOME=%s TERM=xterm mutt -n -F /dev/null -e 'set folder=%s'%s -R -f '%s'", home, home, extra.String(), mailbox)
	if out, err := tmux("new-session", "-d", "-x", "200", "-y", "50", cmd); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	defer tmux("kill-server")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := tmux("capture-pane", "-p")
		if m := msgs.FindSubmatch(out); m != nil {
			n := 0
			fmt.Sscan(string(m[1]), &n)
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := tmux("capture-pane", "-p")
	t.Fatalf("mutt showed no message count for %s:\n%s", mailbox, out)
	return 0
}
