//go:build unix

package mailstack

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const supported = true

// procAttr puts a process in a process group of its own: Postfix's master
// passes SIGTERM on to its group, Stop can reach every daemon, and a
// Ctrl-C meant for the test binary does not reach the servers (the
// watchdog ends them instead).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// signalPID sends sig to one process; one already gone is not an error.
func signalPID(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// signalGroup sends sig to every process of process group pgid.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return nil
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// procStat is the part of /proc/PID/stat the harness needs.
type procStat struct {
	pid, ppid, pgrp int
	state           string
}

// readProcs lists processes from /proc; ok is false without a Linux-style
// /proc.
func readProcs() (procs []procStat, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return nil, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readProc(pid); ok {
			procs = append(procs, st)
		}
	}
	return procs, true
}

func readProc(pid int) (procStat, bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false // gone meanwhile
	}
	// "pid (comm) state ppid pgrp ...": comm may contain anything, so
	// parse from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 3 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgrp, _ := strconv.Atoi(f[2])
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0]}, true
}

func (p procStat) dead() bool { return p.state == "Z" || p.state == "X" }

// groupExists reports whether a live (non-zombie) process is left in
// process group pgid.
func groupExists(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	procs, ok := readProcs()
	if !ok {
		err := syscall.Kill(-pgid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	for _, p := range procs {
		if p.pgrp == pgid && !p.dead() {
			return true
		}
	}
	return false
}

// childrenOf lists the live child processes of pid (nil without /proc).
func childrenOf(pid int) []int {
	procs, _ := readProcs()
	var kids []int
	for _, p := range procs {
		if p.ppid == pid && !p.dead() {
			kids = append(kids, p.pid)
		}
	}
	return kids
}

// procAlive reports whether pid is a live (non-zombie) process.
func procAlive(pid int) bool {
	if st, ok := readProc(pid); ok {
		return !st.dead()
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// procComm returns the command name of pid ("" if unknown).
func procComm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
