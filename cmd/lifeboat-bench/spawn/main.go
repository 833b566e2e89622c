//go:build unix

// Command spawn runs one program and reports its wall-clock time and peak
// RSS; lifeboat-bench starts every measured client through it.
//
// Usage: spawn RESULT-FILE PROGRAM [ARG...]
//
// It writes "ELAPSED-NS MAXRSS-BYTES EXIT-STATUS CPU-NS\n" to RESULT-FILE
// (CPU-NS: the program's user plus system time) and exits with the
// program's status.
//
// Why a separate, tiny process: Go starts children with vfork (CLONE_VM), and
// at exec Linux folds the peak RSS of the address space being left, the
// parent's, into the child's ru_maxrss. A client started by the benchmark
// itself would show at least the benchmark's own peak (it holds batches of
// the generated corpus). Started from here, the floor is this program's peak,
// about 2 MB, below any client's own; above it, ru_maxrss is the client's.
// Keep this program's imports minimal for that reason.
package main

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		os.Stderr.WriteString("usage: spawn RESULT-FILE PROGRAM [ARG...]\n")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	code := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if code = ee.ExitCode(); code < 0 {
			code = 128 // killed by a signal
		}
	default:
		os.Stderr.WriteString("spawn: " + err.Error() + "\n")
		os.Exit(127)
	}
	var rss int64
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		rss = int64(ru.Maxrss) * 1024 // KiB on Linux and the BSDs
		if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
			rss = int64(ru.Maxrss) // bytes
		}
	}
	line := strconv.FormatInt(int64(elapsed), 10) + " " + strconv.FormatInt(rss, 10) + " " + strconv.Itoa(code) + " " + strconv.FormatInt(int64(cpu), 10) + "\n"
	if err := os.WriteFile(os.Args[1], []byte(line), 0o600); err != nil {
		os.Stderr.WriteString("spawn: " + err.Error() + "\n")
		os.Exit(127)
	}
	os.Exit(code)
}
