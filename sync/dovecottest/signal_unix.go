//go:build unix

package dovecottest

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

const supported = true

// signalPID sends sig to one process; a process that is already gone is not
// an error.
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

// groupExists reports whether any live process is left in process group
// pgid. Zombies do not count: they are dead, only not yet reaped by whoever
// inherited them (a container's PID 1 may take its time).
func groupExists(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	if live, ok := liveGroupMembers(pgid); ok {
		return len(live) > 0
	}
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// liveGroupMembers lists the pids of the non-zombie processes of process
// group pgid, from /proc; ok is false without a Linux-style /proc.
func liveGroupMembers(pgid int) (pids []int, ok bool) {
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
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may contain anything,
		// so parse from the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid || f[0] == "Z" || f[0] == "X" {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, true
}

// pidExists reports whether a process (possibly a zombie) with this pid
// exists.
func pidExists(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
