//go:build !unix

package dovecottest

import (
	"errors"
	"syscall"
)

const supported = false

var errUnsupported = errors.New("dovecottest: needs a Unix system")

func procAttr() *syscall.SysProcAttr { return nil }

func signalPID(int, syscall.Signal) error   { return errUnsupported }
func signalGroup(int, syscall.Signal) error { return errUnsupported }
func groupExists(int) bool                  { return false }
func pidExists(int) bool                    { return false }
