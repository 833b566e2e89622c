package archive

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A quarantine that fails (a full disk) cuts nothing and leaves no file
// behind (not even an empty one); once there is room, the next open does it.
func TestQuarantineOnAFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	archiveOf(t, a, inbox, "Subject: kept\r\n\r\nkept\r\n")
	torn := "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: torn\n\n" + strings.Repeat("half a message\n", 2000)
	mb, _ := os.OpenFile(a.MboxPath(inbox), os.O_WRONLY|os.O_APPEND, 0)
	mb.WriteString(torn)
	mb.Close()
	before, _ := os.ReadFile(a.MboxPath(inbox))
	filler, _ := os.Create(filepath.Join(dir, "filler"))
	filler.Write(make([]byte, 1<<20)) // fills the disk, short write
	filler.Close()

	_, err = a.OpenFolder(inbox)
	if err == nil || !strings.Contains(err.Error(), "cannot quarantine") || !strings.Contains(err.Error(), "nothing was cut") {
		t.Fatalf("open on a full disk: %v", err)
	}
	if after, _ := os.ReadFile(a.MboxPath(inbox)); !bytes.Equal(after, before) {
		t.Fatal("the mbox changed although its tail could not be kept")
	}
	filepath.Walk(a.stateRoot(), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Contains(p, quarantineDir) {
			t.Errorf("a failed quarantine left a file (%d bytes): %s", info.Size(), p)
		}
		return nil
	})

	os.Remove(filepath.Join(dir, "filler"))
	f, err := a.OpenFolder(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Quarantined) != 1 || f.Quarantined[0].Bytes != int64(len(torn)) {
		t.Fatalf("quarantined: %v", f.Quarantined)
	}
}
