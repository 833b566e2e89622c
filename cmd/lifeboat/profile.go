package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// profile starts a CPU profile into $LIFEBOAT_CPUPROFILE when it is set
// (for `go tool pprof`; make bench uses it to show where a backup's time
// goes), and the watch of $LIFEBOAT_MEMPROFILE (a heap profile taken at
// the highest heap seen), and returns the function that ends them.
func profile() func() {
	stopMem := memProfile(os.Getenv("LIFEBOAT_MEMPROFILE"))
	path := os.Getenv("LIFEBOAT_CPUPROFILE")
	if path == "" {
		return stopMem
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lifeboat: LIFEBOAT_CPUPROFILE: %v\n", err)
		return stopMem
	}
	return func() { pprof.StopCPUProfile(); f.Close(); stopMem() }
}

// memProfile looks at the heap every 50 ms and keeps a heap profile of the
// moment it was largest, written to path when the returned function is
// called (nothing when path is empty). The profile's inuse figures are as
// of the last GC before that moment.
func memProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var best bytes.Buffer
	go func() {
		defer close(done)
		var peak uint64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak {
				peak = ms.HeapInuse
				best.Reset()
				pprof.Lookup("heap").WriteTo(&best, 0)
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		if err := os.WriteFile(path, best.Bytes(), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "lifeboat: LIFEBOAT_MEMPROFILE: %v\n", err)
		}
	}
}
