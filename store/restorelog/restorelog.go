// Package restorelog keeps the restore ledger: what Lifeboat has put into
// each folder of a target IMAP account, so that restoring the same archive
// again appends nothing, and a restore stopped anywhere (Ctrl-C, kill -9, a
// dropped connection) continues without duplicates.
//
// A ledger is one append-only file of JSON lines per target account, kept
// apart from the archive (the archive is never modified by a restore):
//
//	{"t":"u","f":"Work/2026","uv":77}                  the folder's state starts (again) at UIDVALIDITY 77, its "a" records follow
//	{"t":"l","f":"Work/2026","uv":77}                  ...and end: the folder's state is whole
//	{"t":"b","f":"Work/2026","uv":77,"next":120,"n":64} a batch of 64 APPENDs begins; UIDNEXT was 120
//	{"t":"a","f":"Work/2026","uv":77,"sha":"…","uid":121} a message is in the folder (uid 0: not known)
//	{"t":"x","f":"Work/2026","uv":77,"uid":121}       that message is no longer there
//	{"t":"c","f":"Work/2026","uv":77}                  the open batch's "a" records are void (it was recovered)
//	{"t":"e","f":"Work/2026","uv":77}                  the batch ended: every reply was read
//
// Records are keyed by the target folder's name and UIDVALIDITY: a folder
// whose UIDVALIDITY changed (deleted and created again, or another server
// behind the same name) has no state, and the restore learns what it holds
// from the server. A batch record is fsynced before its first APPEND is
// sent, so after a crash the open batch says from which UID on the folder
// must be looked at to find the APPENDs whose replies were never logged.
// The "a" records inside a batch count only once it ended: a batch a crash
// left open is recovered by looking at the server (every message from its
// UIDNEXT on), voiding what it logged ("c") and logging what was found.
// A folder's state learnt from the server counts only once its closing
// "l" record is there: a crash while it was written leaves the folder
// unknown, to be learnt again, never half known. A torn last line (a
// crash while writing it) is ignored and cut.
//
// One restore at a time writes a ledger: Open takes a lock the kernel
// releases if the process dies.
package restorelog

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
)

// ErrBusy means another restore into the same account is running.
var ErrBusy = errors.New("another Lifeboat restore into this account is running")

// Batch is an open batch of APPENDs: the folder's UIDNEXT before it, and
// how many messages it sends.
type Batch struct {
	UIDNext uint32
	N       int
	logged  []have
}

type have struct {
	sha [32]byte
	uid uint32
}

// Folder is what the ledger knows of one target folder.
type Folder struct {
	Name        string
	UIDValidity uint32
	// Have maps a message's SHA-256 (mboxrd.Hash) to the UIDs of its copies
	// in the folder; a UID is 0 when the server did not say (no UIDPLUS).
	Have map[[32]byte][]uint32
	// Open is the batch that began and did not end (nil: none).
	Open *Batch

	learning bool // a "u" without its "l" yet
}

// Count is how many messages the ledger knows to be in the folder.
func (f *Folder) Count() int {
	n := 0
	for _, u := range f.Have {
		n += len(u)
	}
	return n
}

type record struct {
	T    string `json:"t"`
	F    string `json:"f"`
	UV   uint32 `json:"uv"`
	SHA  string `json:"sha,omitempty"`
	UID  uint32 `json:"uid,omitempty"`
	Next uint32 `json:"next,omitempty"`
	N    int    `json:"n,omitempty"`
}

// Ledger is an open ledger. Its methods are safe for concurrent use.
type Ledger struct {
	path    string
	mu      sync.Mutex
	file    *os.File
	w       *bufio.Writer
	lock    *os.File
	folders map[string]*Folder
	err     error // a write failed: nothing more is written
}

// Open opens (creating) the ledger file path, taking its lock (path +
// ".lock"); ErrBusy if another process holds it.
func Open(path string) (*Ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	lock, err := fsutil.LockFile(path + ".lock")
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, fmt.Errorf("%w (%s)", ErrBusy, path+".lock")
	}
	if err != nil {
		return nil, err
	}
	l := &Ledger{path: path, lock: lock, folders: map[string]*Folder{}}
	if err := l.load(); err != nil {
		lock.Close()
		return nil, err
	}
	return l, nil
}

func (l *Ledger) load() error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	good, err := l.replay(f)
	if err != nil {
		f.Close()
		return err
	}
	if st, err := f.Stat(); err == nil && st.Size() > good {
		// A torn last line: its event never completed.
		if err := f.Truncate(good); err != nil {
			f.Close()
			return fmt.Errorf("%s: cannot cut its torn last line: %w", l.path, err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	if err := fsutil.SyncDir(filepath.Dir(l.path)); err != nil {
		f.Close()
		return err
	}
	l.file = f
	l.w = bufio.NewWriterSize(f, 64<<10)
	return nil
}

// replay applies every complete line and returns where they end. A line
// that is complete but not a record means the file is not a ledger (or was
// damaged): that is an error, since guessing could duplicate mail.
func (l *Ledger) replay(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return off, nil // a line without its newline is torn
		}
		if err != nil {
			return off, err
		}
		var rec record
		if err := json.Unmarshal(bytes.TrimSpace(line), &rec); err != nil {
			return off, fmt.Errorf("%s: line %d is not a ledger record; move the file away and the restore will learn what the target holds", l.path, n)
		}
		if err := l.apply(&rec); err != nil {
			return off, fmt.Errorf("%s: line %d: %v", l.path, n, err)
		}
		off += int64(len(line))
	}
}

func (l *Ledger) folder(name string, uv uint32) *Folder {
	f := l.folders[name]
	if f == nil || f.UIDValidity != uv {
		f = &Folder{Name: name, UIDValidity: uv, Have: map[[32]byte][]uint32{}}
		l.folders[name] = f
	}
	return f
}

func (l *Ledger) apply(r *record) error {
	switch r.T {
	case "u":
		l.folders[r.F] = &Folder{Name: r.F, UIDValidity: r.UV, Have: map[[32]byte][]uint32{}, learning: true}
	case "l":
		l.folder(r.F, r.UV).learning = false
	case "b":
		f := l.folder(r.F, r.UV)
		if f.Open != nil {
			// The batch before did not end (nothing writes so, but a
			// ledger must not lose what it says): both stay open, and
			// recovery looks from the earlier UIDNEXT on.
			f.Open.UIDNext = min(f.Open.UIDNext, r.Next)
			f.Open.N += r.N
		} else {
			f.Open = &Batch{UIDNext: r.Next, N: r.N}
		}
	case "e":
		f := l.folder(r.F, r.UV)
		if f.Open != nil {
			for _, h := range f.Open.logged {
				f.Have[h.sha] = append(f.Have[h.sha], h.uid)
			}
		}
		f.Open = nil
	case "c":
		if f := l.folder(r.F, r.UV); f.Open != nil {
			f.Open.logged = nil
		}
	case "a":
		var sha [32]byte
		if b, err := hex.DecodeString(r.SHA); err != nil || len(b) != 32 {
			return fmt.Errorf("bad sha %q", r.SHA)
		} else {
			copy(sha[:], b)
		}
		f := l.folder(r.F, r.UV)
		if f.Open != nil {
			f.Open.logged = append(f.Open.logged, have{sha, r.UID})
		} else {
			f.Have[sha] = append(f.Have[sha], r.UID)
		}
	case "x":
		f := l.folder(r.F, r.UV)
		for sha, uids := range f.Have {
			for i, u := range uids {
				if u == r.UID {
					uids = append(uids[:i], uids[i+1:]...)
					if len(uids) == 0 {
						delete(f.Have, sha)
					} else {
						f.Have[sha] = uids
					}
					return nil
				}
			}
		}
	default:
		return fmt.Errorf("unknown record type %q", r.T)
	}
	return nil
}

// Folder returns what the ledger knows of the folder name at UIDVALIDITY
// uv: nil when it knows nothing (never restored into, or the UIDVALIDITY
// changed). The result is a copy.
func (l *Ledger) Folder(name string, uv uint32) *Folder {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.folders[name]
	if f == nil || f.UIDValidity != uv || f.learning {
		return nil
	}
	c := &Folder{Name: f.Name, UIDValidity: f.UIDValidity, Have: make(map[[32]byte][]uint32, len(f.Have))}
	for k, v := range f.Have {
		c.Have[k] = append([]uint32(nil), v...)
	}
	if f.Open != nil {
		c.Open = &Batch{UIDNext: f.Open.UIDNext, N: f.Open.N}
	}
	return c
}

func (l *Ledger) write(sync bool, recs ...record) error {
	if l.err != nil {
		return l.err
	}
	for i := range recs {
		b, _ := json.Marshal(&recs[i])
		b = append(b, '\n')
		if _, err := l.w.Write(b); err != nil {
			l.err = fmt.Errorf("writing the restore ledger %s: %w", l.path, err)
			return l.err
		}
		if err := l.apply(&recs[i]); err != nil {
			return err
		}
	}
	if sync {
		if err := l.w.Flush(); err != nil {
			l.err = fmt.Errorf("writing the restore ledger %s: %w", l.path, err)
			return l.err
		}
		if err := l.file.Sync(); err != nil {
			l.err = fmt.Errorf("writing the restore ledger %s: %w", l.path, err)
			return l.err
		}
	}
	return nil
}

// Reset starts the folder's state afresh at UIDVALIDITY uv, with what was
// learned to be in it.
func (l *Ledger) Reset(name string, uv uint32, have map[[32]byte][]uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := []record{{T: "u", F: name, UV: uv}}
	for sha, uids := range have {
		for _, u := range uids {
			recs = append(recs, record{T: "a", F: name, UV: uv, SHA: hex.EncodeToString(sha[:]), UID: u})
		}
	}
	recs = append(recs, record{T: "l", F: name, UV: uv})
	return l.write(true, recs...)
}

// Begin records, durably, that a batch of n APPENDs into the folder is
// about to be sent while its UIDNEXT is uidNext.
func (l *Ledger) Begin(name string, uv, uidNext uint32, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(true, record{T: "b", F: name, UV: uv, Next: uidNext, N: n})
}

// Have records that a message is in the folder (uid 0: not known).
func (l *Ledger) Have(name string, uv uint32, sha [32]byte, uid uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(false, record{T: "a", F: name, UV: uv, SHA: hex.EncodeToString(sha[:]), UID: uid})
}

// Gone records that the message with uid is no longer in the folder.
func (l *Ledger) Gone(name string, uv uint32, uid uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(false, record{T: "x", F: name, UV: uv, UID: uid})
}

// Recovered ends the folder's open batch with what the server was found to
// hold from the batch's UIDNEXT on: what the batch itself logged is void.
func (l *Ledger) Recovered(name string, uv uint32, found map[[32]byte][]uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs := []record{{T: "c", F: name, UV: uv}}
	for sha, uids := range found {
		for _, u := range uids {
			recs = append(recs, record{T: "a", F: name, UV: uv, SHA: hex.EncodeToString(sha[:]), UID: u})
		}
	}
	recs = append(recs, record{T: "e", F: name, UV: uv})
	return l.write(true, recs...)
}

// End records, durably, that the folder's open batch ended: every reply
// was read and what was appended is recorded.
func (l *Ledger) End(name string, uv uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.write(true, record{T: "e", F: name, UV: uv})
}

// Close writes what is buffered and releases the lock.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.file != nil {
		if l.err == nil {
			if err = l.w.Flush(); err == nil {
				err = l.file.Sync()
			}
		}
		if cerr := l.file.Close(); err == nil {
			err = cerr
		}
		l.file = nil
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	return err
}
