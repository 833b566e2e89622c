package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/smtpsink"
)

// mountSmall mounts a tmpfs of the given size at dir (root only); it
// returns a function that resizes it.
func mountSmall(t *testing.T, dir string, size string) func(size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return func(size string) {
		if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v %s", err, out)
		}
	}
}

// A full disk mid-backup: a clear error, exit 1, nothing archived lost or
// damaged, no empty quarantine files; with room again the next backup
// completes and every message is archived once.
func TestDiskFullDuringBackup(t *testing.T) {
	h := newHarness(t)
	p := startDemo(t, demo.Options{Empty: true})
	for i := 0; i < 120; i++ {
		body := strings.Repeat(fmt.Sprintf("line %d of a message that fills the disk\r\n", i), 120)
		p.Deliver("INBOX", []byte(fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@full>\r\n\r\n%s", i, i, body)), time.Now())
	}
	h.addDemoAccount(p, "demo")
	grow := mountSmall(t, filepath.Join(h.dir, "archive"), "300k")

	code, out, errs := h.run("", "backup")
	if code != ExitFailure || !strings.Contains(out+errs, "no space left on device") {
		t.Fatalf("backup on a full disk: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("on a full disk:\n%s%s", out, errs)
	a := h.archive()
	id := archive.FolderID{Account: "demo", Name: "INBOX", Delim: '/'}
	if _, damage, err := a.VerifyFolder(id, nil); err != nil {
		t.Fatal(err)
	} else {
		for _, d := range damage {
			if d.Offset < 0 || d.UID != 0 {
				t.Fatalf("a full disk damaged the archive: %s", d)
			}
		}
	}
	filepath.Walk(a.Root, func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(path, "quarantine") && !info.IsDir() && info.Size() == 0 {
			t.Errorf("an empty quarantine file was left: %s", path)
		}
		return nil
	})
	h.run("", "status") // must not crash on a full disk; what it says is checked below

	grow("20m")
	h.mustRun(ExitOK, "backup")
	h.mustRun(ExitOK, "verify")
	f, err := a.ReadFolder(id)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range f.Entries() {
		seen[e.MessageID]++
	}
	for i := 0; i < 120; i++ {
		if n := seen[fmt.Sprintf("<%d@full>", i)]; n != 1 {
			t.Fatalf("message %d archived %d times", i, n)
		}
	}
	if len(f.Entries()) != 120 {
		t.Fatalf("%d archived, want 120", len(f.Entries()))
	}
	out = h.mustRun(ExitOK, "status")
	if !strings.Contains(out, "demo: last run") || strings.Contains(out, "never backed up") {
		t.Fatalf("status after the disk had room again:\n%s", out)
	}
}

// A full disk when a message is queued: refused with the reason, never
// acknowledged, and no half-written message left among the queued ones.
func TestDiskFullWhenQueueing(t *testing.T) {
	h := newHarness(t)
	bt := smtpsink.Start(t, smtpsink.Options{})
	h.writeSendConfig(bt, bt, bt.Port)
	grow := mountSmall(t, filepath.Join(h.dir, "data", "lifeboat"), "64k")
	big := letter + strings.Repeat("a line of a long message that does not fit\n", 3000)
	code, out, errs := h.run(big, "send")
	if code != ExitFailure || strings.Contains(out, "Queued ") || !strings.Contains(errs, "could not be queued (nothing was sent)") ||
		!strings.Contains(errs, "no space left on device") {
		t.Fatalf("send on a full disk: %d\n%s\n%s", code, out, errs)
	}
	if len(bt.Messages()) != 0 {
		t.Fatal("a message that could not be queued was sent")
	}
	grow("10m")
	if code, out, _ := h.run("", "outbox"); code != 0 || !strings.Contains(out, "empty") {
		t.Fatalf("outbox after the full disk: %d\n%s", code, out)
	}
	if code, out, errs := h.run(big, "send"); code != 0 || !strings.Contains(out, "Sent through bt") {
		t.Fatalf("send with room again: %d\n%s\n%s", code, out, errs)
	}
}
