// Package proc holds what the test harnesses (sync/testenv/dovecot,
// sync/testenv/mailstack) and the tests that need outside programs share:
//
//   - The one policy for a missing program or service (Need, NeedProgram):
//     the test is skipped, except when the environment variable CI is set
//     (InCI), where it fails, so that CI never passes by skipping. The
//     message names what is missing and how to get it.
//   - Process helpers: signalling a process or its whole process group, and
//     waiting until a group is gone, where zombies do not count (a
//     container's PID 1 may take its time to reap them).
//
// Like all of sync/testenv, it is imported only by tests and benchmark
// programs.
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
