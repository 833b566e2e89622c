package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// buildLifeboat builds the real binary once per test.
func buildLifeboat(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lifeboat")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/lifeboat-mail/lifeboat/cmd/lifeboat").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeConfig(t *testing.T, s *dovecot.Server, archiveDir string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.IMAPSAddr)
	cfg := fmt.Sprintf(`archive_dir = %q

[[account]]
name = "dove"
email = "user1@example.test"
[account.imap]
host = "127.0.0.1"
port = %s
security = "tls"
username = "user1"
tls_ca_file = %q
password_command = "printf %%s %s"
`, archiveDir, port, s.CAFile, s.Password("user1"))
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func message(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <s%d@example.test>\r\nSubject: message %d\r\nMessage-ID: <crash-%d@example.test>\r\n\r\n", n, n, n, n)
	size := 2_000 + r.IntN(60_000)
	if r.IntN(40) == 0 {
		size = 1_500_000 + r.IntN(1_000_000)
	}
	for b.Len() < size {
		if r.IntN(30) == 0 {
			b.WriteString("From a line that must be quoted\r\n")
		}
		fmt.Fprintf(&b, "%x line of text for message %d\r\n", r.Uint64(), n)
	}
	return b.Bytes()
}

// TestCrashSafety kills a running backup with SIGKILL at random moments,
// at least 20 times, resuming each time, and then checks that nothing was
// lost, nothing duplicated, and every mbox still parses.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	s := dovecot.StartT(t)
	bin := buildLifeboat(t)
	archiveDir := filepath.Join(t.TempDir(), "archive")
	cfg := writeConfig(t, s, archiveDir)
	r := rand.New(rand.NewPCG(7, 7))
	folders := []string{"INBOX", "Work", "Lists/Go"}
	next := 0
	deliver := func(n int) {
		byFolder := map[string][][]byte{}
		for i := 0; i < n; i++ {
			f := folders[r.IntN(len(folders))]
			byFolder[f] = append(byFolder[f], message(r, next))
			next++
		}
		for f, msgs := range byFolder {
			if err := s.Load("user1", f, msgs, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver(300)

	kills, quarantines, adopted := 0, 0, 0
	for i := 0; kills < 20 && i < 80; i++ {
		cmd := exec.Command(bin, "--config", cfg, "backup")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if killed, err := killAfter(t, cmd, time.Duration(10+r.IntN(250))*time.Millisecond); killed {
			kills++
		} else if code := exitCode(err); code != 0 && code != 3 {
			// Finished before the kill: fine, but it must have succeeded.
			t.Fatalf("run %d failed (%v):\n%s", i, err, out.String())
		}
		quarantines += strings.Count(out.String(), "moved to")
		adopted += strings.Count(out.String(), "an interrupted run had written")
		if strings.Contains(out.String(), "adopted") || strings.Contains(out.String(), "recovered") {
			t.Logf("run %d:\n%s", i, out.String())
		}
		checkArchiveParses(t, archiveDir, folders)
		deliver(50) // always more work for the next run
	}
	if kills < 20 {
		t.Fatalf("only %d kills landed mid-run", kills)
	}
	// The final run completes.
	out, err := exec.Command(bin, "--config", cfg, "backup").CombinedOutput()
	if code := exitCode(err); code != 0 && code != 3 {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	quarantines += strings.Count(string(out), "moved to")
	adopted += strings.Count(string(out), "an interrupted run had written")
	t.Logf("%d kills, %d torn records quarantined, %d interrupted commits adopted, %d messages", kills, quarantines, adopted, next)

	a, _ := archive.Open(archiveDir)
	total := 0
	for _, folder := range folders {
		want := serverHashes(t, s, folder)
		f, err := a.ReadFolder(archive.FolderID{Account: "dove", Name: folder, Delim: '/'})
		if err != nil {
			t.Fatal(err)
		}
		got := map[[32]byte]int{}
		for _, e := range f.Entries() {
			got[e.SHA]++
		}
		for h, n := range want {
			if got[h] != n {
				t.Fatalf("%s: a message is archived %d times, want %d (lost or duplicated)", folder, got[h], n)
			}
		}
		if len(f.Entries()) != sum(want) {
			t.Fatalf("%s: %d archived, %d on the server", folder, len(f.Entries()), sum(want))
		}
		for _, e := range f.Entries() {
			// Records a kill left unlogged were adopted, then found on the
			// server; none may stay unmatched (a fragment taken for mail).
			if e.UID == 0 || !e.Gone.IsZero() {
				t.Fatalf("%s: the message at byte %d is not matched to the server's (UID %d, gone %v)", folder, e.Offset, e.UID, e.Gone)
			}
		}
		if _, damage, err := a.VerifyFolder(f.ID, nil); err != nil || len(damage) > 0 {
			t.Fatalf("%s: verify: %v %v", folder, damage, err)
		}
		total += len(f.Entries())
	}
	if total != next {
		t.Fatalf("%d archived in all, %d delivered", total, next)
	}
}

// killAfter starts cmd and kills it with SIGKILL after d unless it ended
// before; it reports whether the kill landed, and how cmd ended.
func killAfter(t *testing.T, cmd *exec.Cmd, d time.Duration) (killed bool, err error) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return false, err
	case <-time.After(d):
		cmd.Process.Signal(syscall.SIGKILL)
		return true, <-done
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func sum(m map[[32]byte]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func serverHashes(t *testing.T, s *dovecot.Server, folder string) map[[32]byte]int {
	t.Helper()
	return userHashes(t, s, "user1", folder)
}

// userHashes counts the copies of each message in a folder of a user.
func userHashes(t *testing.T, s *dovecot.Server, user, folder string) map[[32]byte]int {
	t.Helper()
	c, err := s.Dial(user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	sect := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sect}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[[32]byte]int{}
	for _, m := range msgs {
		out[mboxrd.Hash(m.FindBodySection(sect))]++
	}
	return out
}

// checkArchiveParses reads every logged message of every folder back (the
// log never points at bytes that are not there), and checks that whatever
// follows the last logged message is only an unlogged tail.
func checkArchiveParses(t *testing.T, dir string, folders []string) {
	t.Helper()
	a, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, folder := range folders {
		id := archive.FolderID{Account: "dove", Name: folder, Delim: '/'}
		if _, err := os.Stat(a.LogPath(id)); err != nil {
			continue
		}
		_, damage, err := a.VerifyFolder(id, nil)
		if err != nil {
			t.Fatalf("%s after a kill: %v", folder, err)
		}
		for _, d := range damage {
			if d.UID != 0 { // a logged message damaged: the promise is broken
				t.Fatalf("after a kill: %s", d)
			}
		}
	}
}

// TestCrashEarlyInAFreshArchive kills the first backup of a new archive
// within its first few milliseconds (creating the state directory, the
// first folders and their logs), many times: the next run always completes
// with every folder backed up, none taken for damaged.
func TestCrashEarlyInAFreshArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	s := dovecot.StartT(t)
	bin := buildLifeboat(t)
	r := rand.New(rand.NewPCG(3, 3))
	folders := []string{"INBOX", "Work", "Lists/Go", "Lists/Rust", "Archive/2025"}
	for i, f := range folders {
		var msgs [][]byte
		for j := 0; j < 10; j++ {
			msgs = append(msgs, []byte(fmt.Sprintf("Subject: %s %d\r\nMessage-ID: <early-%d-%d@x>\r\n\r\nbody\r\n", f, j, i, j)))
		}
		if err := s.Load("user1", f, msgs, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	landed := 0
	for i := 0; i < 25; i++ {
		archiveDir := filepath.Join(t.TempDir(), "archive")
		cfg := writeConfig(t, s, archiveDir)
		if killed, _ := killAfter(t, exec.Command(bin, "--config", cfg, "backup"), time.Duration(r.IntN(40))*time.Millisecond); killed {
			landed++
		}
		out, err := exec.Command(bin, "--config", cfg, "backup").CombinedOutput()
		if code := exitCode(err); (code != 0 && code != 3) || strings.Contains(string(out), "damaged") {
			t.Fatalf("iteration %d: the run after the kill: exit %d\n%s", i, code, out)
		}
		a, _ := archive.Open(archiveDir)
		for _, folder := range folders {
			f, err := a.ReadFolder(archive.FolderID{Account: "dove", Name: folder, Delim: '/'})
			if err != nil || len(f.Current()) != 10 {
				t.Fatalf("iteration %d: %s after the kill: %v", i, folder, err)
			}
		}
	}
	t.Logf("%d of 25 kills landed mid-run", landed)
}

// TestMigrationKilledAtAnyPoint turns a backed-up archive back into the
// earlier layout (state inside the account directory), then kills the
// first run of this Lifeboat within its first milliseconds, many times:
// the run after each kill finishes the move, nothing is fetched again and
// the account directory holds mail only.
func TestMigrationKilledAtAnyPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	s := dovecot.StartT(t)
	bin := buildLifeboat(t)
	folders := []string{"INBOX", "Work", "Lists/Go"}
	for i, f := range folders {
		var msgs [][]byte
		for j := 0; j < 20; j++ {
			msgs = append(msgs, []byte(fmt.Sprintf("Subject: %s %d\r\nMessage-ID: <mig-%d-%d@x>\r\n\r\nbody\r\n", f, j, i, j)))
		}
		if err := s.Load("user1", f, msgs, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// The earlier layout, made from a backup of this one.
	old := filepath.Join(t.TempDir(), "old")
	cfg := writeConfig(t, s, old)
	if out, err := exec.Command(bin, "--config", cfg, "backup").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, m := range [][2]string{{"meta", ".meta"}, {"runs.log", ".runs.log"}, {"lock", ".lock"}} {
		if err := os.Rename(filepath.Join(old, ".lifeboat", "dove", m[0]), filepath.Join(old, "dove", m[1])); err != nil {
			t.Fatal(err)
		}
	}
	os.Rename(filepath.Join(old, ".lifeboat", "index.sqlite"), filepath.Join(old, ".index.sqlite"))
	os.RemoveAll(filepath.Join(old, ".lifeboat"))

	r := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 20; i++ {
		dir := filepath.Join(t.TempDir(), "archive")
		if out, err := exec.Command("cp", "-a", old, dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		cfg := writeConfig(t, s, dir)
		killAfter(t, exec.Command(bin, "--config", cfg, "backup"), time.Duration(r.IntN(20))*time.Millisecond)
		out, err := exec.Command(bin, "--config", cfg, "backup").CombinedOutput()
		if code := exitCode(err); code != 0 || !strings.Contains(string(out), "0 new messages") {
			t.Fatalf("iteration %d: the run after the kill: exit %d\n%s", i, code, out)
		}
		var left []string
		filepath.Walk(filepath.Join(dir, "dove"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && !strings.HasSuffix(p, ".mbox") {
				left = append(left, p)
			}
			return nil
		})
		if len(left) > 0 {
			t.Fatalf("iteration %d: left in the account directory: %v", i, left)
		}
		if out, err := exec.Command(bin, "--config", cfg, "verify").CombinedOutput(); err != nil {
			t.Fatalf("iteration %d: verify: %v\n%s", i, err, out)
		}
	}
}
