// Package fsutil holds the one file-system durability helper the store
// packages share.
package fsutil

import (
	"errors"
	"os"
)

// SyncDir fsyncs a directory, so that a file created, renamed or removed in
// it survives a crash. File systems that cannot sync directories (os.ErrInvalid,
// as on some network and Windows file systems) are accepted as they are.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
