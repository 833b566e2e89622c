//go:build unix && !linux

package dovecot

import "syscall"

// procAttr puts Dovecot's master in a process group of its own so Stop can
// reach every process of the instance.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
