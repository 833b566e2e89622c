// Package healthlog is the health observations every Lifeboat process
// shares: the desktop app, the relay, the monitor, a service and every
// one-shot command append what they saw of each account's servers (a
// probe, a send, a backup), and read what the others saw, so a one-shot
// `lifeboat send` knows the primary is down without waiting on it.
//
// The log is a plain file of JSON lines (<data dir>/health.log):
//
//	{"id":"5f1c…","t":"2026-12-01T10:02:11Z","a":"bt","p":"smtp","ok":false,"ph":"tcp","k":"unreachable","c":"…","lat":15000000000}
//
// Guarantees:
//   - Append writes one whole line with a single write to a file opened
//     for appending, under the log's lock, so concurrent writers, in one
//     process or many, never lose or interleave a record.
//   - A torn line (a crash mid-write) is skipped by readers; nothing is
//     ever rewritten in place.
//   - The log stays small: past MaxSize it is renamed to health.log.1
//     (replacing the one before) under the lock, and a Tail that was
//     reading it finishes the renamed file before the new one, so no
//     record is missed or read twice.
//   - Records carry a unique id: a Tail never hands out its own process's
//     records (they are already in its tracker) nor one twice.
package healthlog

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
)

// FileName is the log's name in the data directory.
const FileName = "health.log"

// MaxSize is the size past which the log is rotated.
var MaxSize int64 = 4 << 20

// DefaultPath is <dataDir>/health.log.
func DefaultPath(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Record is one observation of an account's server.
type Record struct {
	ID       string        `json:"id"`
	Time     time.Time     `json:"t"`
	Account  string        `json:"a"`
	Protocol string        `json:"p,omitempty"`
	OK       bool          `json:"ok"`
	LoggedIn bool          `json:"li,omitempty"`
	Latency  time.Duration `json:"lat,omitempty"`
	Phase    string        `json:"ph,omitempty"`
	Kind     string        `json:"k,omitempty"`
	Cause    string        `json:"c,omitempty"`
	Warning  string        `json:"w,omitempty"`
}

// Log is the shared log at a path. It is safe for concurrent use.
type Log struct {
	path   string
	prefix string // of this process's record ids

	mu  sync.Mutex
	seq int
}

// Open returns the log at path (created on the first Append).
func Open(path string) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("health log: cannot create %s: %w", filepath.Dir(path), err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	return &Log{path: path, prefix: hex.EncodeToString(b)}, nil
}

// Path is the log's file.
func (l *Log) Path() string { return l.path }

// lockTimeout bounds the wait for the log's lock.
const lockTimeout = 5 * time.Second

func (l *Log) lock() (*os.File, error) {
	deadline := time.Now().Add(lockTimeout)
	for {
		f, err := fsutil.LockFile(l.path + ".lock")
		if !errors.Is(err, fsutil.ErrLocked) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Append adds r (its ID and, when zero, its Time are filled in).
func (l *Log) Append(r Record) error {
	l.mu.Lock()
	l.seq++
	r.ID = fmt.Sprintf("%s-%d", l.prefix, l.seq)
	l.mu.Unlock()
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	lk, err := l.lock()
	if err != nil {
		return fmt.Errorf("health log: %w", err)
	}
	defer lk.Close()
	if st, err := os.Stat(l.path); err == nil && st.Size()+int64(len(line)) > MaxSize {
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return fmt.Errorf("health log: rotating: %w", err)
		}
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("health log: %w", err)
	}
	// A torn last line (a crash mid-write) is ended first, so this record
	// starts on a line of its own; the torn bytes stay.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("health log: %w", err)
	}
	return f.Close()
}

// Mine reports whether r was appended through this Log.
func (l *Log) Mine(r Record) bool {
	return len(r.ID) > len(l.prefix) && r.ID[:len(l.prefix)] == l.prefix && r.ID[len(l.prefix)] == '-'
}

// Recent returns the records of both files since since, oldest first.
func (l *Log) Recent(since time.Time) ([]Record, error) {
	var out []Record
	for _, p := range []string{l.path + ".1", l.path} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, err
		}
		if st, err := f.Stat(); err == nil && st.ModTime().Before(since) {
			f.Close() // nothing written since: nothing to read (the rotated file, mostly)
			continue
		}
		readRecords(f, func(r Record) {
			if !r.Time.Before(since) {
				out = append(out, r)
			}
		})
		f.Close()
	}
	return out, nil
}

func readRecords(r io.Reader, f func(Record)) int64 {
	br := bufio.NewReaderSize(r, 64<<10)
	var n int64
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return n // a torn or unfinished last line: read again next time
		}
		n += int64(len(line))
		var rec Record
		if json.Unmarshal(bytes.TrimSpace(line), &rec) == nil && rec.ID != "" {
			f(rec)
		}
	}
}

// Tail reads what other processes append, from where it was opened on.
type Tail struct {
	l      *Log
	file   *os.File
	offset int64
}

// Tail starts reading at the log's current end.
func (l *Log) Tail() *Tail {
	t := &Tail{l: l}
	if f, err := os.Open(l.path); err == nil {
		if st, err := f.Stat(); err == nil {
			t.file, t.offset = f, st.Size()
		} else {
			f.Close()
		}
	}
	return t
}

// Next returns the records appended by other processes since the last
// call, oldest first.
func (t *Tail) Next() []Record {
	var out []Record
	take := func(r Record) {
		if !t.l.Mine(r) {
			out = append(out, r)
		}
	}
	if t.file != nil {
		t.file.Seek(t.offset, io.SeekStart)
		t.offset += readRecords(t.file, take)
		if cur, err := os.Stat(t.l.path); err == nil {
			if st, err := t.file.Stat(); err == nil && os.SameFile(cur, st) {
				return out
			}
		}
		// Rotated (or removed): nothing more is appended to the old file;
		// what came between the read above and the rotation is read, then
		// the new file from its start.
		t.file.Seek(t.offset, io.SeekStart)
		readRecords(t.file, take)
		old, _ := t.file.Stat()
		t.file.Close()
		t.file, t.offset = nil, 0
		// Rotated twice since the last read: the file in between is now
		// health.log.1, read whole. (More rotations than that between two
		// reads would take 8 MB of records in a few seconds.)
		if prev, err := os.Open(t.l.path + ".1"); err == nil {
			if st, err := prev.Stat(); err == nil && (old == nil || !os.SameFile(st, old)) {
				readRecords(prev, take)
			}
			prev.Close()
		}
	}
	f, err := os.Open(t.l.path)
	if err != nil {
		return out
	}
	t.file = f
	t.offset = readRecords(f, take)
	return out
}

// Close ends the tail.
func (t *Tail) Close() {
	if t.file != nil {
		t.file.Close()
		t.file = nil
	}
}
