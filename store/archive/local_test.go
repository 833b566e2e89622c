package archive

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

func sentID(account string) FolderID {
	return FolderID{Account: account, Name: SentFolder, Delim: '/', Local: true}
}

func sentCopy(i int) []byte {
	return []byte(fmt.Sprintf("From: me@x\r\nTo: you@y\r\nMessage-ID: <sent-%d@x>\r\nSubject: sent %d\r\n\r\nbody\r\n", i, i))
}

// TestMain lets the tests run this binary as a helper process that adds one
// local copy, as a `lifeboat send` does.
func TestMain(m *testing.M) {
	if root := os.Getenv("ARCHIVE_TEST_ADD_LOCAL"); root != "" {
		i, _ := strconv.Atoi(os.Getenv("ARCHIVE_TEST_N"))
		a, err := Open(root)
		if err == nil {
			_, err = a.AddLocal(context.Background(), "bt", SentFolder, sentCopy(i), time.Now(), []string{`\Seen`}, 50*time.Millisecond)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func addLocalProcesses(t *testing.T, root string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "ARCHIVE_TEST_ADD_LOCAL="+root, "ARCHIVE_TEST_N="+strconv.Itoa(i))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("process %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func checkSentCopies(t *testing.T, a *Archive, n int) {
	t.Helper()
	f, err := a.ReadFolder(sentID("bt"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range f.Entries() {
		seen[e.MessageID]++
		if e.UID != 0 || e.UIDValidity != 0 {
			t.Fatalf("a local copy took a server UID: %d/%d", e.UIDValidity, e.UID)
		}
	}
	for i := 0; i < n; i++ {
		if id := fmt.Sprintf("<sent-%d@x>", i); seen[id] != 1 {
			t.Fatalf("%s archived %d times", id, seen[id])
		}
	}
	if len(f.Entries()) != n {
		t.Fatalf("%d copies, want %d", len(f.Entries()), n)
	}
	if _, damage, err := a.VerifyFolder(sentID("bt"), nil); err != nil || len(damage) > 0 {
		t.Fatalf("verify: %v %v", damage, err)
	}
}

// Ten processes keep copies at once: each is written exactly once, with
// every writer holding the account lock.
func TestLocalCopiesFromManyProcesses(t *testing.T) {
	a := newArchive(t)
	addLocalProcesses(t, a.Root, 10)
	// Some may have found the lock taken by another for longer than 50 ms:
	// those wait in pending, and the next writer adds them.
	unlock, err := a.LockAccount("bt")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.DrainPending("bt"); err != nil {
		t.Fatal(err)
	}
	unlock()
	checkSentCopies(t, a, 10)
	if a.PendingCopies("bt") != 0 {
		t.Fatal("copies left waiting")
	}
}

// While a backup holds the lock, copies wait, durably, and the backup (any
// writer) adds them when it is done; none is lost or doubled, not even when
// the same copy is added again after a crash.
func TestLocalCopiesWaitForTheLock(t *testing.T) {
	a := newArchive(t)
	unlock, err := a.LockAccount("bt")
	if err != nil {
		t.Fatal(err)
	}
	addLocalProcesses(t, a.Root, 5)
	if n := a.PendingCopies("bt"); n != 5 {
		t.Fatalf("%d copies waiting, want 5", n)
	}
	if _, err := os.Stat(a.MboxPath(sentID("bt"))); err == nil {
		t.Fatal("a copy was written while another process held the lock")
	}
	// A copy that was added, then found waiting again (a crash between
	// committing it and removing its pending file): added once.
	a.writePending("bt", pendingHead{Folder: SentFolder, Date: time.Now()}, sentCopy(0))
	if _, _, err := a.DrainPending("bt"); err != nil {
		t.Fatal(err)
	}
	a.writePending("bt", pendingHead{Folder: SentFolder, Date: time.Now()}, sentCopy(0))
	unlock()
	if queued, err := a.AddLocal(context.Background(), "bt", SentFolder, sentCopy(5), time.Now(), nil, time.Second); err != nil || queued {
		t.Fatalf("add with the lock free: queued %v, %v", queued, err)
	}
	checkSentCopies(t, a, 6)
}
