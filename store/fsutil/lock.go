package fsutil

import (
	"errors"
	"os"
)

// ErrLocked means another process (or another open file in this one)
// holds the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock takes an exclusive lock on f without waiting (flock on Unix,
// LockFileEx on Windows); closing f releases it, and so does the kernel when
// the process dies. A lock held through another open file of the same file
// conflicts, also within one process. It returns ErrLocked when the lock is
// held.
func TryLock(f *os.File) error { return tryLock(f) }

// LockFile opens (creating) path and locks it without waiting; closing the
// returned file releases the lock.
func LockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
