//go:build !unix

package dovecot

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
