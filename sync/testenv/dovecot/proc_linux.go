//go:build linux

package dovecot

import "syscall"

// procAttr puts Dovecot's master in a process group of its own (so Stop can
// reach every process of the instance) and has the kernel send it SIGTERM if
// the process that started it dies without calling Stop (a crashed or killed
// test binary must not leave Dovecot instances behind). Pdeathsig fires when
// the forking *thread* exits, so the caller locks its goroutine to its thread
// until Dovecot has been reaped.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
