// Package incidents keeps Lifeboat's incident history: every change of an
// account's health state, with its time and cause in plain words, so the app
// can show a timeline ("BT Mail: Outage since 10:02 — login refused: 535
// 5.7.8 credentials rejected") and the CLI can print it.
//
// The history is a plain file, append-only, one JSON object per line
// (default <data dir>/incidents.log):
//
//	{"time":"2026-11-03T10:02:11Z","account":"bt","protocol":"smtp","from":"up","to":"needs-you","phase":"login","cause":"login refused: 535 5.7.8 credentials rejected","latency":412000000}
//
// Guarantees:
//
//   - Append writes one whole line with a single write and fsyncs it before
//     returning; nothing ever rewrites or shortens the file.
//   - A torn last line (a crash in the middle of a write) is tolerated:
//     readers skip any line that is not a complete JSON object, and Open
//     terminates a torn tail with a newline so the next event starts on a
//     line of its own (the torn bytes are kept, never deleted).
//   - The file is created 0600 and its directory 0700.
package incidents

import (
	"bufio"
	"bytes"
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

// FileName is the incident history's name inside the data directory.
const FileName = "incidents.log"

// DefaultPath is <dataDir>/incidents.log.
func DefaultPath(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Event is one change of an account's health state.
type Event struct {
	Time    time.Time `json:"time"`
	Account string    `json:"account"`
	// Protocol is "imap", "smtp", or "" when the change is not tied to one.
	Protocol string `json:"protocol,omitempty"`
	// From and To are state names: "unknown", "up", "degraded", "down",
	// "needs-you" (see sync/health).
	From string `json:"from"`
	To   string `json:"to"`
	// Phase is where the observation that caused the change failed or was
	// slow: "dns", "tcp", "tls", "greeting", "capability", "login", "send",
	// "backup"...
	Phase string `json:"phase,omitempty"`
	// Cause says in plain words why, e.g. "login refused: 535 5.7.8
	// credentials rejected".
	Cause string `json:"cause"`
	// Latency of the observation that caused the change.
	Latency time.Duration `json:"latency,omitempty"`
	// Flapping is set on the events that start and end flap damping (From
	// and To are then equal).
	Flapping bool `json:"flapping,omitempty"`
}

// Store is an open incident history. It is safe for concurrent use.
type Store struct {
	path string

	mu sync.Mutex
	f  *os.File // opened for appending; nil after Close
}

// Open opens (creating when missing) the incident history at path.
func Open(path string) (*Store, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("incident history: cannot create %s: %w", dir, err)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("incident history: cannot open %s: %w", path, err)
	}
	if created {
		if err := fsutil.SyncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("incident history: %s: %w", dir, err)
		}
	}
	if err := terminateTornTail(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("incident history: %s: %w", path, err)
	}
	return &Store{path: path, f: f}, nil
}

// terminateTornTail appends a newline when the file does not end with one,
// so that the next Append starts a line of its own.
func terminateTornTail(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], st.Size()-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return err
	}
	return f.Sync()
}

// Path is the file's path.
func (s *Store) Path() string { return s.path }

// Append adds e as one line and fsyncs it. A zero Time is set to now.
func (s *Store) Append(e Event) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("incident history: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return fmt.Errorf("incident history %s: closed", s.path)
	}
	if _, err := s.f.Write(line); err != nil {
		return fmt.Errorf("incident history: cannot write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("incident history: cannot write %s (fsync): %w", s.path, err)
	}
	return nil
}

// Recent returns the last n events in the order they were written (oldest
// first). n <= 0 gives none.
func (s *Store) Recent(n int) ([]Event, error) {
	if n <= 0 {
		return nil, nil
	}
	ring := make([]Event, 0, min(n, 256))
	start := 0 // index of the oldest event once ring is full
	err := s.scan(func(e Event) {
		if len(ring) < n {
			ring = append(ring, e)
			return
		}
		ring[start] = e
		start = (start + 1) % n
	})
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(ring))
	out = append(out, ring[start:]...)
	return append(out, ring[:start]...), nil
}

// Since returns the events whose Time is at or after t, in the order they
// were written.
func (s *Store) Since(t time.Time) ([]Event, error) {
	var out []Event
	err := s.scan(func(e Event) {
		if !e.Time.Before(t) {
			out = append(out, e)
		}
	})
	return out, err
}

// scan calls fn for every complete event line, skipping torn or otherwise
// unreadable lines.
func (s *Store) scan(fn func(Event)) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("incident history: cannot read %s: %w", s.path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSpace(line)
			var e Event
			if len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &e) == nil {
				fn(e)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("incident history: cannot read %s: %w", s.path, err)
		}
	}
}

// Close closes the file. Reading with Recent and Since still works.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
