//go:build !unix

package proc

import "syscall"

// Supported is false: the harnesses report this before using the helpers.
const Supported = false

func Signal(int, syscall.Signal) error      { return ErrUnsupported }
func SignalGroup(int, syscall.Signal) error { return ErrUnsupported }
func GroupExists(int) bool                  { return false }
func Exists(int) bool                       { return false }
func Alive(int) bool                        { return false }
func ChildrenOf(int) []int                  { return nil }
func Comm(int) string                       { return "" }

// Process is a process as List reports it.
type Process struct {
	PID, PPID, PGrp int
	State           string
}

// Dead reports a zombie.
func (p Process) Dead() bool { return true }

func List() ([]Process, bool) { return nil, false }
