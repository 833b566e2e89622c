//go:build !unix

package dovecottest

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
