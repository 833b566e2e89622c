package engine

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/restore"
)

// The demo's archive of bt restored into the demo's gmail, through the
// engine the Restore wizard drives: a preview, the restore, a re-run that
// appends nothing; then an export and its import into another account.
func TestRestoreExportImportThroughTheEngine(t *testing.T) {
	e, err := StartDemo(t.TempDir(), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.BackupNow("bt")
	waitFor(t, "backup", 20*time.Second, func() bool { a := e.Accounts()[0]; return !a.Running && a.LastResult != "" })
	if got := e.ArchivedAccounts(); len(got) != 1 || got[0] != "bt" {
		t.Fatalf("archived accounts %v", got)
	}
	if len(e.ArchivedFolders("bt")) != 6 {
		t.Fatalf("folders %v", e.ArchivedFolders("bt"))
	}
	req := RestoreRequest{From: "bt", To: "gmail", Into: "From BT"}
	count := func(rep *restore.Report, dry bool) (n, there int) {
		t.Helper()
		if rep.Err != nil {
			t.Fatal(rep.Err)
		}
		for _, f := range rep.Folders {
			if dry {
				n += f.ToAppend
			} else {
				n += f.Appended
			}
			there += f.There
		}
		return
	}
	if n, _ := count(e.Restore(context.Background(), req, true, nil), true); n != 59 {
		t.Fatalf("preview: %d to append, want 59", n)
	}
	var events atomic.Int32 // told from the restore's goroutines
	if n, _ := count(e.Restore(context.Background(), req, false, func(restore.Event) { events.Add(1) }), false); n != 59 || events.Load() == 0 {
		t.Fatalf("restore: %d appended, %d events", n, events.Load())
	}
	if n, there := count(e.Restore(context.Background(), req, false, nil), false); n != 0 || there != 59 {
		t.Fatalf("again: %d appended, %d there", n, there)
	}
	dir := filepath.Join(t.TempDir(), "out")
	res, err := e.Export("bt", "mbox", dir)
	if err != nil || res.Messages != 59 {
		t.Fatalf("export: %+v %v", res, err)
	}
	imp, err := e.Import("copy", dir, "")
	if err != nil || imp.Added != 59 {
		t.Fatalf("import: %+v %v", imp, err)
	}
	if len(e.Folders("copy")) != 6 {
		t.Fatalf("imported folders %v", e.Folders("copy"))
	}
}
