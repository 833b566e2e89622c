//go:build !unix

package mailstack

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
