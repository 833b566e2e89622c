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
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
)

// twoAccounts writes a configuration with user1 of s as "old" and user2 as
// "new".
func twoAccounts(t *testing.T, s *dovecot.Server, archiveDir string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.IMAPSAddr)
	var b strings.Builder
	fmt.Fprintf(&b, "archive_dir = %q\n", archiveDir)
	for _, a := range [][2]string{{"old", "user1"}, {"new", "user2"}} {
		fmt.Fprintf(&b, `
[[account]]
name = %q
email = "%s@example.test"
[account.imap]
host = "127.0.0.1"
port = %s
security = "tls"
username = %q
tls_ca_file = %q
password_command = "printf %%s %s"
`, a[0], a[1], port, a[1], s.CAFile, s.Password(a[1]))
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRestoreKilledAtRandomMoments kills "lifeboat restore" with SIGKILL at
// random moments, at least 10 times, while backups add mail to the archive
// between the runs; the final state of the target must be exactly the
// source's, every message once, and later runs (with and without the
// ledger) append nothing.
func TestRestoreKilledAtRandomMoments(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"user1": "pw-one", "user2": "pw-two"}})
	bin := buildLifeboat(t)
	archiveDir := filepath.Join(t.TempDir(), "archive")
	cfg := twoAccounts(t, s, archiveDir)
	r := rand.New(rand.NewPCG(10, 10))
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
			if err := s.Load("user1", f, msgs, time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(args ...string) (int, string) {
		out, err := exec.Command(bin, append([]string{"--config", cfg}, args...)...).CombinedOutput()
		return exitCode(err), string(out)
	}
	deliver(400)
	kills := 0
	for i := 0; kills < 10 && i < 60; i++ {
		if code, out := run("backup"); code != 0 {
			t.Fatalf("backup: exit %d\n%s", code, out)
		}
		cmd := exec.Command(bin, "--config", cfg, "restore", "--from", "old", "--to", "new")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if killed, err := killAfter(t, cmd, time.Duration(20+r.IntN(300))*time.Millisecond); killed {
			kills++
		} else if code := exitCode(err); code != 0 {
			t.Fatalf("restore %d: exit %d\n%s", i, code, out.String())
		}
		deliver(60)
	}
	if kills < 10 {
		t.Fatalf("only %d kills landed mid-restore", kills)
	}
	if code, out := run("backup"); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	if code, out := run("restore", "--from", "old", "--to", "new"); code != 0 {
		t.Fatalf("final restore: exit %d\n%s", code, out)
	}
	total := 0
	for _, f := range folders {
		want, got := userHashes(t, s, "user1", f), userHashes(t, s, "user2", f)
		for h, n := range want {
			if got[h] != n {
				t.Fatalf("%s: a message is in the target %d times, want %d (lost or duplicated)", f, got[h], n)
			}
		}
		if sum(got) != sum(want) {
			t.Fatalf("%s: %d in the target, %d in the source", f, sum(got), sum(want))
		}
		total += sum(got)
	}
	if total != next {
		t.Fatalf("%d restored in all, %d delivered", total, next)
	}
	t.Logf("%d kills, %d messages restored exactly once", kills, total)
	code, out := run("restore", "--from", "old", "--to", "new")
	if code != 0 || !strings.Contains(out, "Appended 0 messages") {
		t.Fatalf("re-run: exit %d\n%s", code, out)
	}
	ledgers, _ := filepath.Glob(filepath.Join(archiveDir, ".lifeboat", "restore", "*.ledger"))
	if len(ledgers) != 1 {
		t.Fatalf("ledgers: %v", ledgers)
	}
	os.Remove(ledgers[0])
	code, out = run("restore", "--from", "old", "--to", "new")
	if code != 0 || !strings.Contains(out, "Appended 0 messages") || !strings.Contains(out, fmt.Sprintf("%d were already there", total)) {
		t.Fatalf("run without the ledger: exit %d\n%s", code, out)
	}
}

// TestMigrate: "lifeboat migrate" backs up one account and restores it into
// another; run again, it appends nothing; the same account twice is a
// usage error.
func TestMigrate(t *testing.T) {
	s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"user1": "pw-one", "user2": "pw-two"}})
	r := rand.New(rand.NewPCG(3, 3))
	var msgs [][]byte
	for i := 0; i < 50; i++ {
		msgs = append(msgs, message(r, i))
	}
	if err := s.Load("user1", "INBOX", msgs[:30], time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Load("user1", "Projects/2026", msgs[30:], time.Now()); err != nil {
		t.Fatal(err)
	}
	bin := buildLifeboat(t)
	cfg := twoAccounts(t, s, filepath.Join(t.TempDir(), "archive"))
	run := func(args ...string) (int, string) {
		out, err := exec.Command(bin, append([]string{"--config", cfg}, args...)...).CombinedOutput()
		return exitCode(err), string(out)
	}
	if code, out := run("migrate", "--from", "old", "--to", "new"); code != 0 || !strings.Contains(out, "Appended 50 messages") {
		t.Fatalf("migrate: exit %d\n%s", code, out)
	}
	for _, f := range []string{"INBOX", "Projects/2026"} {
		want, got := userHashes(t, s, "user1", f), userHashes(t, s, "user2", f)
		if sum(got) != sum(want) {
			t.Fatalf("%s: %d migrated, %d in the source", f, sum(got), sum(want))
		}
		for h, n := range want {
			if got[h] != n {
				t.Fatalf("%s: a message is there %d times, want %d", f, got[h], n)
			}
		}
	}
	if code, out := run("migrate", "--from", "old", "--to", "new"); code != 0 || !strings.Contains(out, "Appended 0 messages") {
		t.Fatalf("migrate again: exit %d\n%s", code, out)
	}
	if code, out := run("migrate", "--from", "old", "--to", "old"); code != 2 || !strings.Contains(out, "use restore") {
		t.Fatalf("migrate into itself: exit %d\n%s", code, out)
	}
	if code, out := run("restore", "--from", "nobody", "--to", "new"); code != 1 || !strings.Contains(out, `has no account "nobody"`) {
		t.Fatalf("restore of an account the archive does not hold: exit %d\n%s", code, out)
	}
}

// TestTwoRestoresAtOnce: a second restore into the same account while one
// runs is refused with a clear message (the ledger's lock); the first
// finishes, and the target holds every message once.
func TestTwoRestoresAtOnce(t *testing.T) {
	s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"user1": "pw-one", "user2": "pw-two"}})
	r := rand.New(rand.NewPCG(5, 5))
	var msgs [][]byte
	for i := 0; i < 600; i++ {
		msgs = append(msgs, message(r, i))
	}
	if err := s.Load("user1", "INBOX", msgs, time.Now()); err != nil {
		t.Fatal(err)
	}
	bin := buildLifeboat(t)
	cfg := twoAccounts(t, s, filepath.Join(t.TempDir(), "archive"))
	if out, err := exec.Command(bin, "--config", cfg, "backup").CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	type result struct {
		code int
		out  string
	}
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			out, err := exec.Command(bin, "--config", cfg, "restore", "--from", "old", "--to", "new").CombinedOutput()
			results <- result{exitCode(err), string(out)}
		}()
	}
	var ok, busy int
	for i := 0; i < 2; i++ {
		res := <-results
		switch {
		case res.code == 0:
			ok++
		case res.code == 1 && strings.Contains(res.out, "another Lifeboat restore into this account is running"):
			busy++
		default:
			t.Errorf("a restore: exit %d\n%s", res.code, res.out)
		}
	}
	if ok == 0 {
		t.Fatalf("no restore finished (%d refused as busy)", busy)
	}
	t.Logf("%d finished, %d refused while the other ran", ok, busy)
	want, got := userHashes(t, s, "user1", "INBOX"), userHashes(t, s, "user2", "INBOX")
	if sum(got) != sum(want) {
		t.Fatalf("%d in the target, %d in the source", sum(got), sum(want))
	}
	for h, n := range want {
		if got[h] != n {
			t.Fatalf("a message is in the target %d times, want %d", got[h], n)
		}
	}
}
