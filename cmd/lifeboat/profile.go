package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profile starts a CPU profile into $LIFEBOAT_CPUPROFILE when it is set
// (for `go tool pprof`; make bench uses it to show where a backup's time
// goes) and returns the function that ends it.
func profile() func() {
	path := os.Getenv("LIFEBOAT_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lifeboat: LIFEBOAT_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
