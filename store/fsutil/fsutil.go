// Package fsutil holds the file-system helpers the store packages share,
// on Linux, macOS and Windows alike:
//
//   - durability: SyncDir, and WriteFileSync/WriteFromSync, which replace a
//     file atomically (temporary file, fsync, rename, fsync of the
//     directory), so that a crash leaves the old content or the new, never
//     a mixture;
//   - one writer: TryLock and LockFile take an exclusive lock without
//     waiting (flock on Unix, LockFileEx on Windows) that the kernel
//     releases when the process dies, so a lock can never be left stale.
package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
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

// WriteFileSync makes path hold data durably and atomically: a temporary
// file beside it is written and fsynced, renamed over path, and the
// directory fsynced. A crash leaves either the old file or the new one
// (and at worst a temporary file, named ".tmp-*").
func WriteFileSync(path string, data []byte, perm os.FileMode) error {
	return WriteFromSync(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, perm)
}

// WriteFromSync is WriteFileSync with the content written by fill.
func WriteFromSync(path string, fill func(io.Writer) error, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	err = tmp.Chmod(perm)
	if err == nil {
		err = fill(tmp)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return SyncDir(dir)
}
