package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// oldLayout builds an archive as the earlier Lifeboat left it: state inside
// the account directory, the index in the root, sent copies in a folder
// among the server's.
func oldLayout(t *testing.T) string {
	t.Helper()
	a := newArchive(t)
	archiveOf(t, a, inbox, "Subject: a\r\n\r\na\r\n", "Subject: b\r\n\r\nb\r\n")
	archiveOf(t, a, FolderID{Account: "bt", Name: "Lists/go", Delim: '/'}, "Subject: c\r\n\r\nc\r\n")
	sent := FolderID{Account: "bt", Name: oldSentFolder, Delim: '/'}
	archiveOf(t, a, sent, "Subject: sent\r\n\r\nsent by Lifeboat\r\n")
	a.AppendRun("bt", Run{Result: ResultOK})
	st := a.stateDir("bt")
	os.MkdirAll(filepath.Join(st, quarantineDir), 0o700)
	os.WriteFile(filepath.Join(st, quarantineDir, "INBOX.mbox.x.tail"), []byte("torn"), 0o600)
	acct := a.accountDir("bt")
	os.WriteFile(filepath.Join(st, lockName), nil, 0o600)
	for _, m := range [][2]string{{metaDir, oldMetaDir}, {quarantineDir, oldQuarantineDir}, {runsLog, oldRunsLog}, {lockName, oldLock}} {
		if err := os.Rename(filepath.Join(st, m[0]), filepath.Join(acct, m[1])); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(a.Root, oldIndex), []byte("index"), 0o600)
	os.RemoveAll(a.stateRoot())
	return a.Root
}

// tree lists the files under dir, relative, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func checkMigrated(t *testing.T, root string) {
	t.Helper()
	a, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Prepare("bt"); err != nil {
		t.Fatal(err)
	}
	want := []string{"INBOX.mbox", "Lists/go.mbox", "%Lifeboat/Sent.mbox"}
	sort.Strings(want)
	if got := tree(t, a.accountDir("bt")); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the account directory holds %v, want %v", got, want)
	}
	ids, err := a.Folders("bt")
	if err != nil || len(ids) != 3 {
		t.Fatalf("folders: %v %v", ids, err)
	}
	for _, id := range ids {
		if n, damage, err := a.VerifyFolder(id, nil); err != nil || n == 0 || len(damage) > 0 {
			t.Fatalf("%s: %d %v %v", id, n, damage, err)
		}
	}
	if runs, _ := a.Runs("bt"); len(runs) != 1 {
		t.Fatalf("runs: %v", runs)
	}
	if b, err := os.ReadFile(filepath.Join(a.stateDir("bt"), quarantineDir, "INBOX.mbox.x.tail")); string(b) != "torn" {
		t.Fatalf("quarantine not moved: %q %v", b, err)
	}
	if b, _ := os.ReadFile(a.StatePath("index.sqlite")); string(b) != "index" {
		t.Fatal("the index was not moved")
	}
	sent, err := a.ReadFolder(FolderID{Account: "bt", Name: SentFolder, Delim: '/', Local: true})
	if err != nil || len(sent.Entries()) != 1 {
		t.Fatalf("the sent copies: %v", err)
	}
}

func TestOldLayoutIsMigrated(t *testing.T) {
	checkMigrated(t, oldLayout(t))
}

// A crash at any step of the migration: the next Open finishes it.
func TestMigrationFinishesAfterACrash(t *testing.T) {
	steps := []func(t *testing.T, root string){
		func(t *testing.T, root string) { // .meta moved, nothing else
			mergeInto(filepath.Join(root, "bt", oldMetaDir), filepath.Join(root, stateDirName, "bt", metaDir))
		},
		func(t *testing.T, root string) { // everything moved but the old lock
			for _, m := range [][2]string{{oldMetaDir, metaDir}, {oldQuarantineDir, quarantineDir}, {oldRunsLog, runsLog}} {
				mergeInto(filepath.Join(root, "bt", m[0]), filepath.Join(root, stateDirName, "bt", m[1]))
			}
		},
		func(t *testing.T, root string) { // the index's WAL moved, not the database
			os.WriteFile(filepath.Join(root, oldIndex+"-wal"), []byte("wal"), 0o600)
			renameIfFree(filepath.Join(root, oldIndex+"-wal"), filepath.Join(root, stateDirName, "index.sqlite-wal"))
		},
		func(t *testing.T, root string) { // the sent folder's journal written, its mbox moved, not its log
			for _, m := range [][2]string{{oldMetaDir, metaDir}, {oldQuarantineDir, quarantineDir}, {oldRunsLog, runsLog}} {
				mergeInto(filepath.Join(root, "bt", m[0]), filepath.Join(root, stateDirName, "bt", m[1]))
			}
			os.Remove(filepath.Join(root, "bt", oldLock))
			a := &Archive{Root: root}
			old := FolderID{Account: "bt", Name: oldSentFolder, Delim: '/'}
			local := FolderID{Account: "bt", Name: SentFolder, Delim: '/', Local: true}
			moves := []move{{a.rel(a.MboxPath(old)), a.rel(a.MboxPath(local))}, {a.rel(a.LogPath(old)), a.rel(a.LogPath(local))}}
			b, _ := json.Marshal(moves)
			os.WriteFile(filepath.Join(a.stateDir("bt"), movesName), b, 0o600)
			renameIfFree(a.MboxPath(old), a.MboxPath(local))
		},
		func(t *testing.T, root string) { // an earlier Lifeboat ran again after the move: both places hold state
			os.MkdirAll(filepath.Join(root, stateDirName, "bt", metaDir), 0o700)
			os.WriteFile(filepath.Join(root, stateDirName, "bt", runsLog), nil, 0o600)
		},
	}
	for i, step := range steps {
		root := oldLayout(t)
		step(t, root)
		t.Logf("step %d", i)
		checkMigrated(t, root)
	}
}

// A server folder named "Sent via Lifeboat" is the server's: it is not
// taken for Lifeboat's copies, and Lifeboat's copies never go into it.
func TestServerFolderNamedLikeOldSentStays(t *testing.T) {
	root := oldLayout(t)
	log := filepath.Join(root, "bt", oldMetaDir, oldSentFolder+logExt)
	f, _ := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"t":"s","uv":9,"uidnext":2,"count":1,"at":1700000000}` + "\n")
	f.Close()
	a, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if !exists1(filepath.Join(root, "bt", oldSentFolder+mboxExt)) || exists1(a.MboxPath(FolderID{Account: "bt", Name: SentFolder, Local: true})) {
		t.Fatal("a folder a backup wrote was moved into the local folder")
	}
	if got := tree(t, filepath.Join(root, "bt")); bytes.Contains([]byte(strings.Join(got, " ")), []byte(".meta")) {
		t.Fatalf("state left in the account directory: %v", got)
	}
}

// While an earlier Lifeboat writes the account (it holds the old lock),
// nothing is moved and no writer of this version gets the account: the two
// never write the same files.
func TestEarlierLifeboatWritingBlocksTheMigration(t *testing.T) {
	root := oldLayout(t)
	held, err := lockPath(filepath.Join(root, "bt", oldLock))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if !exists1(filepath.Join(root, "bt", oldMetaDir)) {
		t.Fatal("state was moved while an earlier Lifeboat held the account")
	}
	if _, err := a.LockAccount("bt"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "earlier version") {
		t.Fatalf("lock while an earlier Lifeboat writes: %v", err)
	}
	held()
	unlock, err := a.LockAccount("bt")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	checkMigrated(t, root)
}
