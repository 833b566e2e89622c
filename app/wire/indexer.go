package wire

import (
	"errors"
	"sync"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
)

// Indexer keeps the search index up to date during a backup: each folder is
// indexed as soon as it is archived, on a goroutine of its own, while the
// next folder downloads; Finish then updates the accounts whole (what the
// per-folder pass missed, folders gone). The index is derived from the
// archive: its failures are reported, never fatal.
type Indexer struct {
	arch  *archive.Archive
	ix    *index.Index
	queue chan queued
	done  chan struct{}
	mu    sync.Mutex
	err   error
}

type queued struct {
	account, path string
	f             *archive.Folder // as the backup left it (nil: read it)
}

// keepFolders is how many archived folders the indexer holds in memory,
// waiting, as the backup left them; past that a waiting folder's metadata
// is read again when its turn comes.
const keepFolders = 2

// indexQueue is how many archived folders may wait for the indexer; past
// that a folder is left to Finish, never the backup held up.
const indexQueue = 4096

// NewIndexer opens the archive's index and starts indexing.
func NewIndexer(arch *archive.Archive) (*Indexer, error) {
	ix, err := index.Open(index.DefaultPath(arch))
	if err != nil {
		return nil, err
	}
	x := &Indexer{arch: arch, ix: ix, queue: make(chan queued, indexQueue), done: make(chan struct{})}
	go func() {
		defer close(x.done)
		folders := map[string]map[string]archive.FolderID{} // account → path → folder
		// While folders wait in the queue (the indexer is behind), the
		// texts of their few new messages wait too, for one transaction;
		// once it has caught up they are indexed, beside the download.
		texts := ix.NewTextBatch()
		flush := func() {
			if _, err := texts.Flush(); err != nil {
				x.fail(err)
			}
		}
		defer flush()
		for q := range x.queue {
			account, path := q.account, q.path
			id, ok := folders[account][path]
			if !ok { // new to this run: list the account's folders again
				ids, err := arch.Folders(account)
				if err != nil {
					x.fail(err)
					continue
				}
				folders[account] = map[string]archive.FolderID{}
				for _, id := range ids {
					folders[account][id.Path()] = id
				}
				if id, ok = folders[account][path]; !ok {
					continue // not in the archive (nothing archived): Finish sees it
				}
			}
			if _, err := ix.UpdateFolderInto(arch, id, q.f, texts); err != nil {
				x.fail(err)
			}
			if len(x.queue) == 0 {
				flush()
			}
		}
	}()
	return x, nil
}

func (x *Indexer) fail(err error) {
	x.mu.Lock()
	x.err = errors.Join(x.err, err)
	x.mu.Unlock()
}

// Progress wraps a backup's progress callback: a FolderDone also queues the
// folder for indexing.
func (x *Indexer) Progress(next func(backup.Event)) func(backup.Event) {
	return func(ev backup.Event) {
		if ev.Kind == backup.FolderDone && ev.Folder != "" {
			f := ev.Archived
			if len(x.queue) >= keepFolders {
				f = nil // behind: read it again later rather than hold it
			}
			select {
			case x.queue <- queued{ev.Account, ev.Folder, f}:
			default: // Finish does it
			}
		}
		if next != nil {
			next(ev)
		}
	}
}

// Finish waits for the queued folders, updates the accounts whole, closes
// the index, and returns what failed.
func (x *Indexer) Finish(accounts []backup.Account) error {
	close(x.queue)
	<-x.done
	for _, a := range accounts {
		if _, err := x.ix.Update(x.arch, a.Name); err != nil {
			x.fail(err)
		}
	}
	if err := x.ix.Close(); err != nil {
		x.fail(err)
	}
	return x.err
}

// IndexDuring starts an Indexer beside a backup run with opts (chaining
// opts.Progress) and returns the function to call after it: it finishes
// the index and hands report what failed. A failure to open the index is
// reported then too; the backup goes on either way.
func IndexDuring(arch *archive.Archive, opts *backup.Options, report func(error)) func([]backup.Account) {
	x, err := NewIndexer(arch)
	if err != nil {
		return func([]backup.Account) { report(err) }
	}
	opts.Progress = x.Progress(opts.Progress)
	return func(accts []backup.Account) {
		if err := x.Finish(accts); err != nil {
			report(err)
		}
	}
}
