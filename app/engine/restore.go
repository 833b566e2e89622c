package engine

import (
	"context"
	"errors"

	"github.com/lifeboat-mail/lifeboat/store/export"
	"github.com/lifeboat-mail/lifeboat/store/importer"
	"github.com/lifeboat-mail/lifeboat/sync/restore"
)

// RestoreRequest is what the Restore wizard asks for.
type RestoreRequest struct {
	From        string   // an account of the archive
	Folders     []string // archive folder paths; empty: all
	To          string   // a configured account
	Into        string   // one parent folder for everything ("" for none)
	SkipDeleted bool
	SkipCopies  bool
}

// ArchivedAccounts lists the accounts the archive holds, configured or not
// (a provider that is gone still has its archive). It reads disk.
func (e *Engine) ArchivedAccounts() []string {
	accts, _ := e.arch.Accounts()
	return accts
}

// ArchivedFolders lists an archived account's folders. It reads disk.
func (e *Engine) ArchivedFolders(account string) []string {
	ids, _ := e.arch.Folders(account)
	var out []string
	for _, id := range ids {
		out = append(out, id.Path())
	}
	return out
}

// Restore restores (or, with dryRun, previews) an archived account into a
// configured one; progress is told of each event. It works on the
// network: call it off the UI goroutine. ctx stops it (the same request
// continues later, nothing twice).
func (e *Engine) Restore(ctx context.Context, req RestoreRequest, dryRun bool, progress func(restore.Event)) *restore.Report {
	tgt, err := e.conf().Account(req.To)
	if err != nil {
		return &restore.Report{Target: req.To, DryRun: dryRun, Err: err}
	}
	if req.From == "" {
		return &restore.Report{Target: req.To, DryRun: dryRun, Err: errors.New("choose the archived account to restore")}
	}
	opts := restore.Options{Into: req.Into, SkipDeleted: req.SkipDeleted, SkipCopies: req.SkipCopies, DryRun: dryRun, Progress: progress}
	return restore.Restore(ctx, restore.Source{Archive: e.arch, Account: req.From, Folders: req.Folders}, e.wiring().RestoreTarget(*tgt), opts)
}

// Export writes an archived account out (format mbox, eml or thunderbird)
// into dest, a new or empty directory. It reads disk.
func (e *Engine) Export(account, format, dest string) (export.Result, error) {
	return export.Export(e.arch, account, dest, export.Options{Format: export.Format(format)})
}

// Import brings mbox files or .eml files at path into an archived account
// (folder "" for one per file), then updates the folder lists and the
// search index. It reads disk.
func (e *Engine) Import(account, path, folder string) (importer.Result, error) {
	res, err := importer.Import(e.arch, account, path, importer.Options{Folder: folder})
	if res.Added > 0 {
		e.reload(account)
		if ix, ierr := e.index(); ierr == nil {
			ix.Update(e.arch, account)
			ix.Close()
		}
		e.changed()
	}
	return res, err
}
