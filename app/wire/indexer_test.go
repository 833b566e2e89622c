package wire

import (
	"context"
	"testing"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
)

// A backup with the Indexer beside it: the caller's progress still hears
// every event, and after Finish the index agrees with the archive.
func TestIndexerDuringABackup(t *testing.T) {
	p, err := demo.Start(demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	arch, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewIndexer(arch)
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	opts := backup.Options{Archive: arch}
	opts.Progress = x.Progress(func(ev backup.Event) {
		if ev.Kind == backup.FolderDone {
			done = append(done, ev.Folder)
		}
	})
	acct := backup.Account{Name: "demo", Endpoint: p.Endpoint(), Password: func() (string, error) { return p.Password, nil }}
	res := backup.Backup(context.Background(), []backup.Account{acct}, opts)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if len(done) != 6 {
		t.Fatalf("the caller heard %d folders done, want 6", len(done))
	}
	if err := x.Finish([]backup.Account{acct}); err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(index.DefaultPath(arch))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	total := 0
	for _, f := range res[0].Run.Folders {
		n, err := ix.Count("demo", f.Path)
		if err != nil || n != f.Archived {
			t.Errorf("%s: the index holds %d (%v), the archive %d", f.Path, n, err, f.Archived)
		}
		total += n
	}
	if total != 59 {
		t.Fatalf("indexed %d messages, want the demo's 59", total)
	}
	if _, n, err := ix.Search(index.Query{Subject: "invoice", Limit: 10}); err != nil || n == 0 {
		t.Fatalf("search after the backup: %d, %v", n, err)
	}
}
