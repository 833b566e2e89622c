package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrLocked means another Lifeboat process is writing this account.
var ErrLocked = errors.New("another Lifeboat is backing up this account right now")

// LockAccount takes the account's write lock, so that two processes never
// append to the same folders. It returns the function that releases it. The
// lock is released by the kernel if the process dies.
func (a *Archive) LockAccount(account string) (unlock func(), err error) {
	dir := a.accountDir(account)
	if err := mkdirAllSync(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s)", ErrLocked, path)
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}
