//go:build unix

package mailstack

import "syscall"

// procAttr puts a process in a process group of its own: Postfix's master
// passes SIGTERM on to its group, Stop can reach every daemon, and a
// Ctrl-C meant for the test binary does not reach the servers (the
// watchdog ends them instead).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
