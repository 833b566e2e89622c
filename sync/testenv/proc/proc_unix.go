//go:build unix

package proc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Supported is true where these helpers work.
const Supported = true

// Signal sends sig to one process; one that is already gone is not an error.
func Signal(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// SignalGroup sends sig to every process of process group pgid.
func SignalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return nil
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// Process is the part of /proc/PID/stat the harnesses need.
type Process struct {
	PID, PPID, PGrp int
	State           string
}

// Dead reports a zombie (or a process being reaped).
func (p Process) Dead() bool { return p.State == "Z" || p.State == "X" }

func haveProc() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// List lists processes from /proc; ok is false without a Linux-style /proc.
func List() (procs []Process, ok bool) {
	if !haveProc() {
		return nil, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := read(pid); ok {
			procs = append(procs, st)
		}
	}
	return procs, true
}

func read(pid int) (Process, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Process{}, false // gone meanwhile
	}
	// "pid (comm) state ppid pgrp ...": comm may contain anything, so
	// parse from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Process{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return Process{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return Process{PID: pid, PPID: ppid, PGrp: pgrp, State: f[0]}, true
}

func kill0(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// GroupExists reports whether a live (non-zombie) process is left in
// process group pgid.
func GroupExists(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	procs, ok := List()
	if !ok {
		return kill0(-pgid)
	}
	for _, p := range procs {
		if p.PGrp == pgid && !p.Dead() {
			return true
		}
	}
	return false
}

// Exists reports whether a process (possibly a zombie) with this pid exists.
func Exists(pid int) bool { return pid > 0 && kill0(pid) }

// Alive reports whether pid is a live (non-zombie) process.
func Alive(pid int) bool {
	if st, ok := read(pid); ok {
		return !st.Dead()
	}
	if haveProc() {
		return false
	}
	return kill0(pid)
}

// ChildrenOf lists the live child processes of pid (nil without /proc).
func ChildrenOf(pid int) []int {
	procs, _ := List()
	var kids []int
	for _, p := range procs {
		if p.PPID == pid && !p.Dead() {
			kids = append(kids, p.PID)
		}
	}
	return kids
}

// Comm returns the command name of pid ("" if unknown).
func Comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
