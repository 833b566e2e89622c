package archive

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
)

// ErrLocked means another Lifeboat process is writing this account.
var ErrLocked = errors.New("another Lifeboat is writing this account's archive right now")

// LockAccount takes the account's write lock, so that two processes never
// write the same folders (invariant 5). It does not wait. It returns the
// function that releases it; the kernel releases it if the process dies.
// An account still in the earlier layout is moved into the current one
// first; while an earlier Lifeboat writes it, the lock is refused.
func (a *Archive) LockAccount(account string) (unlock func(), err error) {
	dir := a.stateDir(account)
	if err := mkdirAllSync(dir); err != nil {
		return nil, err
	}
	unlock, err = lockPath(filepath.Join(dir, lockName))
	if err != nil || !a.needsMigration(account) {
		return unlock, err
	}
	if err := a.migrateLocked(account); err != nil {
		unlock()
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("moving Lifeboat's state of %s out of %s: %w", account, a.accountDir(account), err)
	}
	return unlock, nil
}

// LockAccountWait is LockAccount, trying again until the lock is free, ctx
// ends or wait has passed (then the error wraps ErrLocked).
func (a *Archive) LockAccountWait(ctx context.Context, account string, wait time.Duration) (unlock func(), err error) {
	deadline := time.Now().Add(wait)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		unlock, err := a.LockAccount(account)
		if !errors.Is(err, ErrLocked) || !time.Now().Before(deadline) {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(delay, time.Until(deadline))):
		}
	}
}

func lockPath(path string) (unlock func(), err error) {
	f, err := fsutil.LockFile(path)
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("%w (%s)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
