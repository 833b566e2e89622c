//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// syncDisks flushes dirty pages of every file system (sync(2)), so that a run
// does not pay for the previous one's writeback.
func syncDisks() { syscall.Sync() }

// ownGroup starts cmd in a process group of its own and, when its context
// ends, kills the whole group (the helper and the client it runs).
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
