// Package proc holds the process helpers the test harnesses share
// (sync/testenv/dovecot, sync/testenv/mailstack): signalling a process or its whole
// process group, and waiting until a group is gone, where zombies do not
// count (a container's PID 1 may take its time to reap them).
package proc

import (
	"errors"
	"time"
)

// ErrUnsupported is returned where processes cannot be managed this way.
var ErrUnsupported = errors.New("needs a Unix system")

// WaitGroupGone waits until no live process is left in process group pgid,
// at most timeout; it reports whether the group is gone.
func WaitGroupGone(pgid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for GroupExists(pgid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
