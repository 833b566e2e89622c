// Package fynelog keeps Fyne's complaint about the POSIX locale off stderr.
//
// Fyne's lang package parses $LANG while the program initialises. Under
// LANG=C or C.UTF-8 (cron, systemd, CI) the parse fails and it logs three
// lines ("Fyne error: Error parsing user locale C", its cause and its
// source line) before main runs, so every command-line run would start with
// them and a cron user would get them mailed. This package's init, which
// runs before Fyne's (its only imports are the standard library, and Go
// initialises packages in import-path order once their imports are done),
// points the standard logger at a filter that drops exactly those lines and
// passes every other line through unchanged. Fyne then falls back to
// English, which is what the C locale means.
//
// A test of the binary (cmd/lifeboat) runs every command under LANG=C.UTF-8
// and fails if Fyne says anything; it is the guard for the init order.
package fynelog

import (
	"bytes"
	"io"
	"log"
	"os"
	"sync"
)

func init() {
	log.SetOutput(&Filter{W: os.Stderr})
}

// Filter passes the log lines written to it to W, except Fyne's "Error
// parsing user locale" report and the "Cause:" and "At:" lines that follow
// it. The standard logger writes one whole line per Write call.
type Filter struct {
	W io.Writer

	mu   sync.Mutex
	drop int // lines of a locale report still to drop
}

var (
	localeReport = []byte("Fyne error:  Error parsing user locale ")
	cause        = []byte("  Cause: ")
	at           = []byte("  At: ")
)

func (f *Filter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case bytes.Contains(p, localeReport):
		f.drop = 2
		return len(p), nil
	case f.drop > 0 && (bytes.Contains(p, cause) || bytes.Contains(p, at)):
		f.drop--
		return len(p), nil
	}
	f.drop = 0
	return f.W.Write(p)
}
