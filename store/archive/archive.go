// Package archive keeps Lifeboat's archive on disk: one mboxrd file per IMAP
// folder and, beside it, an append-only metadata log that is the source of
// truth for what the mbox holds.
//
// Layout under the archive root:
//
//	<account>/<folder path>.mbox          messages (see package mboxrd)
//	<account>/.meta/<folder path>.log     JSON lines: one record per event
//	<account>/.runs.log                   one line per backup run
//	<account>/.lock                       held while a backup writes
//	<account>/.quarantine/...             bytes moved aside by recovery
//
// Folder names are UTF-8; each component is escaped reversibly (%XX) where
// a file system could not hold it. Files are 0600, directories 0700.
//
// Invariants, enforced here:
//
//  1. Append-only. Nothing in this package shortens or rewrites bytes that a
//     log record refers to. Messages deleted on the server are recorded as
//     such ("g" records) and stay in the mbox.
//  2. A message exists in the archive only once its log record exists, and
//     its log record is written only after its bytes are fsynced
//     (Folder.Commit). A crash can therefore leave bytes past the last
//     logged message, never a log record without its bytes.
//  3. On open, bytes past the last logged message (a torn tail) are copied
//     to a quarantine file, fsynced, and only then cut from the mbox; a torn
//     last log line is quarantined the same way. Nothing is silently deleted.
//  4. The log is replayed in order; the state it describes (locations,
//     flags, deletions, UIDVALIDITY, checkpoints) is derived, never stored
//     elsewhere. The SQLite index is derived from it too.
package archive

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

const (
	dirMode       = 0o700
	fileMode      = 0o600
	metaDir       = ".meta"
	quarantineDir = ".quarantine"
	mboxExt       = ".mbox"
	logExt        = ".log"
)

// Archive is an archive root directory.
type Archive struct {
	Root string
}

// Open returns the archive at root, creating the directory if needed.
func Open(root string) (*Archive, error) {
	if root == "" {
		return nil, errors.New("archive: no archive directory given")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, dirMode); err != nil {
		return nil, fmt.Errorf("cannot create the archive directory: %w", err)
	}
	return &Archive{Root: abs}, nil
}

// FolderID names a folder of an account: its name as the server lists it
// (UTF-8) and the server's hierarchy delimiter (0 when flat).
type FolderID struct {
	Account string
	Name    string
	Delim   rune
}

func (id FolderID) components() []string {
	if id.Delim == 0 {
		return []string{id.Name}
	}
	return strings.Split(id.Name, string(id.Delim))
}

// Path is the folder's path inside the account, with '/' between levels.
func (id FolderID) Path() string { return strings.Join(id.components(), "/") }

func (id FolderID) String() string { return id.Account + "/" + id.Path() }

func (a *Archive) accountDir(account string) string {
	return filepath.Join(a.Root, escapeComponent(account))
}

// MboxPath is where a folder's messages are.
func (a *Archive) MboxPath(id FolderID) string {
	return filepath.Join(a.accountDir(id.Account), relPath(id.components())+mboxExt)
}

// LogPath is where a folder's metadata log is.
func (a *Archive) LogPath(id FolderID) string {
	return filepath.Join(a.accountDir(id.Account), metaDir, relPath(id.components())+logExt)
}

// Accounts lists the accounts that have an archive.
func (a *Archive) Accounts() ([]string, error) {
	des, err := os.ReadDir(a.Root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(a.Root, de.Name(), metaDir)); err != nil {
			continue
		}
		if name, err := unescapeComponent(de.Name()); err == nil {
			out = append(out, name)
		}
	}
	return out, nil
}

// Folders lists the archived folders of an account, sorted by path.
func (a *Archive) Folders(account string) ([]FolderID, error) {
	root := filepath.Join(a.accountDir(account), metaDir)
	var out []FolderID
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.IsDir() || !strings.HasSuffix(path, logExt) {
			return nil
		}
		id, err := readHeader(path)
		if err != nil {
			return err
		}
		id.Account = account
		out = append(out, id)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path() < out[j].Path() })
	return out, err
}

// readHeader reads the folder's identity from the first log record.
func readHeader(path string) (FolderID, error) {
	f, err := os.Open(path)
	if err != nil {
		return FolderID{}, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return FolderID{}, fmt.Errorf("%s: no header record: %w", path, err)
	}
	var r record
	if err := json.Unmarshal(line, &r); err != nil || r.T != recHeader {
		return FolderID{}, fmt.Errorf("%s: first line is not a folder header", path)
	}
	id := FolderID{Name: r.Name}
	if r.Delim != "" {
		id.Delim = []rune(r.Delim)[0]
	}
	return id, nil
}

// Record types of the metadata log.
const (
	recHeader   = "h" // folder identity; always the first line
	recMessage  = "m" // a message appended to the mbox
	recFlags    = "f" // the server's flags for a message changed
	recGone     = "g" // the message is no longer on the server
	recRemap    = "r" // an archived message found again under a new UIDVALIDITY
	recValidity = "v" // the folder's UIDVALIDITY changed
	recState    = "s" // checkpoint at the end of a sync of this folder
)

// record is one line of the metadata log.
type record struct {
	T        string   `json:"t"`
	UV       uint32   `json:"uv,omitempty"`
	UID      uint32   `json:"uid,omitempty"`
	Off      *int64   `json:"off,omitempty"`
	Len      int64    `json:"len,omitempty"`
	SHA      string   `json:"sha,omitempty"`
	Date     string   `json:"date,omitempty"`
	Size     int64    `json:"size,omitempty"`
	Flags    []string `json:"flags,omitempty"`
	SetFlags bool     `json:"setflags,omitempty"` // recFlags: Flags is the whole new set (may be empty)
	MID      string   `json:"mid,omitempty"`
	EOL      string   `json:"eol,omitempty"`
	NoNL     bool     `json:"nonl,omitempty"`
	At       int64    `json:"at,omitempty"`
	Name     string   `json:"name,omitempty"`
	Delim    string   `json:"delim,omitempty"`
	UIDNext  uint32   `json:"uidnext,omitempty"`
	ModSeq   uint64   `json:"modseq,omitempty"`
	Count    uint32   `json:"count,omitempty"`
	Old      uint32   `json:"old,omitempty"`
}

// Entry is an archived message as the log describes it.
type Entry struct {
	Offset, Length int64 // the mboxrd record in the mbox file
	SHA            [32]byte
	Date           time.Time // INTERNALDATE on the server
	Size           int64     // RFC822.SIZE on the server
	MessageID      string
	Meta           mboxrd.Meta
	Flags          []string
	UIDValidity    uint32 // where the message is on the server now (after remaps)
	UID            uint32
	Added          time.Time
	Gone           time.Time // when it was noticed gone from the server; zero if not
}

// State is a folder's checkpoint: what the server said at the end of the
// last complete sync.
type State struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32
	At            time.Time
}

type loc struct{ uv, uid uint32 }

// Folder is one archived folder, opened for reading and appending. It is not
// safe for concurrent use; the backup engine holds the account lock.
type Folder struct {
	ID    FolderID
	State State // last checkpoint (zero if never completed)
	// UIDValidity is the folder's current UIDVALIDITY as last recorded.
	UIDValidity uint32
	// Quarantined describes what recovery moved aside when the folder was
	// opened; empty when the files were consistent.
	Quarantined []Quarantine

	a        *Archive
	entries  []*Entry
	byLoc    map[loc]*Entry
	byOff    map[int64]*Entry
	byHash   map[[32]byte][]*Entry
	mbox     *os.File
	w        *bufio.Writer
	end      int64 // end of the last logged record
	pos      int64 // end of the last written record
	logf     *os.File
	logEnd   int64
	pending  []record
	readOnly bool
	broken   error // a write failed; nothing more is logged
}

// Quarantine describes bytes moved aside during recovery.
type Quarantine struct {
	From  string // file they were cut from
	To    string // quarantine file that holds them now
	Bytes int64
}

func (q Quarantine) String() string {
	return fmt.Sprintf("%d bytes past the last logged message of %s moved to %s", q.Bytes, q.From, q.To)
}

// OpenFolder opens a folder for appending, creating its files when new and
// recovering from a crash when needed (see the package invariants).
func (a *Archive) OpenFolder(id FolderID) (*Folder, error) {
	f := newFolder(a, id)
	if err := f.openWritable(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadFolder loads a folder's log without opening it for writing and without
// recovery: for status, verify and indexing.
func (a *Archive) ReadFolder(id FolderID) (*Folder, error) {
	f := newFolder(a, id)
	f.readOnly = true
	lf, err := os.Open(a.LogPath(id))
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	if _, _, err := f.replay(lf); err != nil {
		return nil, err
	}
	return f, nil
}

func newFolder(a *Archive, id FolderID) *Folder {
	return &Folder{
		ID: id, a: a,
		byLoc:  make(map[loc]*Entry),
		byOff:  make(map[int64]*Entry),
		byHash: make(map[[32]byte][]*Entry),
	}
}

func (f *Folder) openWritable() error {
	mboxPath, logPath := f.a.MboxPath(f.ID), f.a.LogPath(f.ID)
	for _, dir := range []string{filepath.Dir(mboxPath), filepath.Dir(logPath)} {
		if err := mkdirAllSync(dir); err != nil {
			return err
		}
	}
	var err error
	created := false
	f.logf, err = os.OpenFile(logPath, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		created = true
		f.logf, err = os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	}
	if err != nil {
		return err
	}
	f.mbox, err = os.OpenFile(mboxPath, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	if created {
		h := record{T: recHeader, Name: f.ID.Name, At: time.Now().Unix()}
		if f.ID.Delim != 0 {
			h.Delim = string(f.ID.Delim)
		}
		f.pending = append(f.pending, h)
		if err := f.Commit(); err != nil {
			return err
		}
		return fsutil.SyncDir(filepath.Dir(mboxPath))
	}
	good, size, err := f.replay(f.logf)
	if err != nil {
		return err
	}
	if good < size { // a torn last line: quarantine it, then cut it
		if err := f.quarantine(f.logf, logPath, good, size, "log"); err != nil {
			return err
		}
	}
	f.logEnd = good
	st, err := f.mbox.Stat()
	if err != nil {
		return err
	}
	switch {
	case st.Size() > f.end:
		if err := f.quarantine(f.mbox, mboxPath, f.end, st.Size(), "mbox"); err != nil {
			return err
		}
	case st.Size() < f.end:
		return fmt.Errorf("%s is damaged: it has %d bytes but its log (%s) records messages up to byte %d; "+
			"nothing was changed — run `lifeboat verify` to see which messages are affected", mboxPath, st.Size(), logPath, f.end)
	}
	f.pos = f.end
	if _, err := f.mbox.Seek(f.end, io.SeekStart); err != nil {
		return err
	}
	if _, err := f.logf.Seek(f.logEnd, io.SeekStart); err != nil {
		return err
	}
	return nil
}

// quarantine copies file[from:to] to a new quarantine file, fsyncs it, and
// only then truncates file to from.
func (f *Folder) quarantine(file *os.File, path string, from, to int64, kind string) error {
	qpath := filepath.Join(f.a.accountDir(f.ID.Account), quarantineDir,
		relPath(f.ID.components())+"."+kind+"."+time.Now().UTC().Format("20060102T150405.000000000")+".tail")
	if err := mkdirAllSync(filepath.Dir(qpath)); err != nil {
		return err
	}
	q, err := os.OpenFile(qpath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	_, err = io.Copy(q, io.NewSectionReader(file, from, to-from))
	if err == nil {
		err = q.Sync()
	}
	if cerr := q.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsutil.SyncDir(filepath.Dir(qpath))
	}
	if err != nil {
		return fmt.Errorf("cannot quarantine the torn tail of %s: %w (nothing was cut)", path, err)
	}
	if err := file.Truncate(from); err != nil {
		return err
	}
	if err := file.Sync(); err != nil {
		return err
	}
	f.Quarantined = append(f.Quarantined, Quarantine{From: path, To: qpath, Bytes: to - from})
	return nil
}

// replay applies every complete log line; it returns the byte length of the
// complete lines and the file size. A damaged line that is not the last is an
// error (the log is not ours to repair).
func (f *Folder) replay(r io.Reader) (good, size int64, err error) {
	br := bufio.NewReaderSize(r, 256*1024)
	lineNo := 0
	for {
		line, err := br.ReadBytes('\n')
		size += int64(len(line))
		if err == io.EOF {
			if len(line) > 0 {
				return good, size, nil // torn last line
			}
			return good, size, nil
		}
		if err != nil {
			return good, size, err
		}
		lineNo++
		var rec record
		if jerr := json.Unmarshal(line, &rec); jerr != nil {
			if _, perr := br.Peek(1); perr == io.EOF {
				return good, size, nil // a torn last line that happens to end in LF
			}
			return good, size, fmt.Errorf("%s:%d: damaged log record (%v); the archive was not changed", f.a.LogPath(f.ID), lineNo, jerr)
		}
		if err := f.apply(&rec); err != nil {
			return good, size, fmt.Errorf("%s:%d: %v", f.a.LogPath(f.ID), lineNo, err)
		}
		good = size
	}
}

func (f *Folder) apply(r *record) error {
	switch r.T {
	case recHeader:
	case recMessage:
		if r.Off == nil {
			return errors.New("message record without offset")
		}
		e := &Entry{Offset: *r.Off, Length: r.Len, Size: r.Size, MessageID: r.MID, Flags: r.Flags,
			UIDValidity: r.UV, UID: r.UID, Added: time.Unix(r.At, 0)}
		if _, err := hex.Decode(e.SHA[:], []byte(r.SHA)); err != nil {
			return fmt.Errorf("bad hash: %v", err)
		}
		if r.Date != "" {
			d, err := time.Parse(time.RFC3339, r.Date)
			if err != nil {
				return fmt.Errorf("bad date: %v", err)
			}
			e.Date = d
		}
		if r.EOL == "raw" {
			e.Meta.EOL = mboxrd.EOLRaw
		}
		e.Meta.NoFinalNewline = r.NoNL
		f.entries = append(f.entries, e)
		f.byOff[e.Offset] = e
		f.byLoc[loc{e.UIDValidity, e.UID}] = e
		f.byHash[e.SHA] = append(f.byHash[e.SHA], e)
		if end := e.Offset + e.Length; end > f.end {
			f.end = end
		}
		if f.UIDValidity == 0 {
			f.UIDValidity = r.UV
		}
	case recFlags:
		if e := f.byLoc[loc{r.UV, r.UID}]; e != nil {
			e.Flags = r.Flags
		}
	case recGone:
		if e := f.byLoc[loc{r.UV, r.UID}]; e != nil {
			e.Gone = time.Unix(r.At, 0)
		}
	case recRemap:
		if r.Off == nil || f.byOff[*r.Off] == nil {
			return errors.New("remap of an unknown message")
		}
		e := f.byOff[*r.Off]
		e.UIDValidity, e.UID, e.Gone = r.UV, r.UID, time.Time{}
		f.byLoc[loc{r.UV, r.UID}] = e
	case recValidity:
		f.UIDValidity = r.UV
	case recState:
		f.State = State{UIDValidity: r.UV, UIDNext: r.UIDNext, HighestModSeq: r.ModSeq, Messages: r.Count, At: time.Unix(r.At, 0)}
	default:
		// Unknown record types from a newer Lifeboat are skipped, not fatal.
	}
	return nil
}

// Entries returns the archived messages in archive order.
func (f *Folder) Entries() []*Entry { return f.entries }

// Lookup returns the archived message at (UIDVALIDITY, UID), or nil.
func (f *Folder) Lookup(uidValidity, uid uint32) *Entry { return f.byLoc[loc{uidValidity, uid}] }

// ByHash returns the archived messages with this identity.
func (f *Folder) ByHash(sha [32]byte) []*Entry { return f.byHash[sha] }

// Current returns the messages believed to be on the server now, by UID.
func (f *Folder) Current() map[uint32]*Entry {
	out := make(map[uint32]*Entry)
	for _, e := range f.entries {
		if e.UIDValidity == f.UIDValidity && e.Gone.IsZero() {
			out[e.UID] = e
		}
	}
	return out
}

// Message is a message to append: its bytes and what the server said of it.
type Message struct {
	UID       uint32
	Date      time.Time
	Size      int64
	Flags     []string
	MessageID string
	SHA       [32]byte   // mboxrd.Hash of the bytes
	EOL       mboxrd.EOL // mboxrd.Detect of the bytes
	Body      io.Reader  // the bytes
}

// Append writes a message to the mbox (buffered; durable at Commit) and
// queues its log record. The caller must have set UIDVALIDITY first.
func (f *Folder) Append(m *Message) (*Entry, error) {
	if f.readOnly {
		return nil, errors.New("archive: folder opened read-only")
	}
	if f.broken != nil {
		return nil, f.broken
	}
	if f.w == nil {
		f.w = bufio.NewWriterSize(f.mbox, 1<<20)
	}
	start := f.pos
	sep := mboxrd.Separator(m.Date)
	f.w.Write(sep)
	enc := mboxrd.NewEncoder(f.w, m.EOL)
	if _, err := io.Copy(enc, m.Body); err != nil {
		return nil, f.fail(err)
	}
	meta, n, err := enc.Close()
	if err != nil {
		return nil, f.fail(err)
	}
	e := &Entry{Offset: start, Length: int64(len(sep)) + n, SHA: m.SHA, Date: m.Date, Size: m.Size,
		MessageID: m.MessageID, Meta: meta, Flags: m.Flags, UIDValidity: f.UIDValidity, UID: m.UID, Added: time.Now()}
	f.pos += e.Length
	off := e.Offset
	rec := record{T: recMessage, UV: e.UIDValidity, UID: e.UID, Off: &off, Len: e.Length,
		SHA: hex.EncodeToString(e.SHA[:]), Size: e.Size, Flags: e.Flags, MID: e.MessageID,
		NoNL: meta.NoFinalNewline, At: e.Added.Unix()}
	if !m.Date.IsZero() {
		rec.Date = m.Date.Format(time.RFC3339)
	}
	if meta.EOL == mboxrd.EOLRaw {
		rec.EOL = "raw"
	}
	f.pending = append(f.pending, rec)
	f.entries = append(f.entries, e)
	f.byOff[e.Offset] = e
	f.byLoc[loc{e.UIDValidity, e.UID}] = e
	f.byHash[e.SHA] = append(f.byHash[e.SHA], e)
	return e, nil
}

// fail marks the folder broken after a write error: nothing pending is
// logged, so the partial record and any messages not yet committed are not
// part of the archive; the next open quarantines their bytes and the next
// backup fetches those messages again.
func (f *Folder) fail(err error) error {
	f.broken = fmt.Errorf("writing %s: %w", f.a.MboxPath(f.ID), err)
	f.pending = nil
	return f.broken
}

// SetUIDValidity records the folder's UIDVALIDITY. A change from a known
// value is logged; messages archived under the old value keep their place
// and can be found again with Remap.
func (f *Folder) SetUIDValidity(uv uint32) {
	if uv == f.UIDValidity {
		return
	}
	f.pending = append(f.pending, record{T: recValidity, UV: uv, Old: f.UIDValidity, At: time.Now().Unix()})
	f.UIDValidity = uv
}

// Remap records that an archived message is on the server again at uid
// under the current UIDVALIDITY (after a UIDVALIDITY reset).
func (f *Folder) Remap(e *Entry, uid uint32, flags []string) {
	off := e.Offset
	f.pending = append(f.pending, record{T: recRemap, UV: f.UIDValidity, UID: uid, Off: &off, At: time.Now().Unix()})
	e.UIDValidity, e.UID, e.Gone = f.UIDValidity, uid, time.Time{}
	f.byLoc[loc{e.UIDValidity, uid}] = e
	if !equalFlags(e.Flags, flags) {
		f.SetFlags(e, flags)
	}
}

// SetFlags records the server's new flags for an archived message.
func (f *Folder) SetFlags(e *Entry, flags []string) {
	f.pending = append(f.pending, record{T: recFlags, UV: e.UIDValidity, UID: e.UID, Flags: flags, SetFlags: true, At: time.Now().Unix()})
	e.Flags = flags
}

// MarkGone records that a message is no longer on the server. Its bytes stay.
func (f *Folder) MarkGone(e *Entry, at time.Time) {
	f.pending = append(f.pending, record{T: recGone, UV: e.UIDValidity, UID: e.UID, At: at.Unix()})
	e.Gone = at
}

// Checkpoint records the server's state at the end of a complete sync.
func (f *Folder) Checkpoint(s State) {
	f.pending = append(f.pending, record{T: recState, UV: s.UIDValidity, UIDNext: s.UIDNext, ModSeq: s.HighestModSeq, Count: s.Messages, At: s.At.Unix()})
	f.State = s
}

// Pending reports how many messages were written since the last Commit.
func (f *Folder) Pending() int { return len(f.pending) }

// Commit makes everything appended so far durable: the mbox bytes are
// flushed and fsynced first, then the log records are written and fsynced.
func (f *Folder) Commit() error {
	if f.readOnly {
		return nil
	}
	if f.broken != nil {
		return f.broken
	}
	if f.w != nil && f.pos > f.end {
		if err := f.w.Flush(); err != nil {
			return f.fail(err)
		}
		if err := f.mbox.Sync(); err != nil {
			return f.fail(fmt.Errorf("fsync: %w", err))
		}
	}
	if len(f.pending) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range f.pending {
		if err := enc.Encode(&f.pending[i]); err != nil {
			return err
		}
	}
	if _, err := f.logf.Write(buf.Bytes()); err != nil {
		// The log may now end in a torn line; the next open quarantines it.
		f.broken = fmt.Errorf("writing %s: %w", f.a.LogPath(f.ID), err)
		return f.broken
	}
	if err := f.logf.Sync(); err != nil {
		f.broken = fmt.Errorf("fsync %s: %w", f.a.LogPath(f.ID), err)
		return f.broken
	}
	f.logEnd += int64(buf.Len())
	f.end = f.pos
	f.pending = f.pending[:0]
	return nil
}

// Close commits and closes the folder's files.
func (f *Folder) Close() error {
	var err error
	if f.mbox != nil && f.logf != nil && f.broken == nil {
		err = f.Commit()
	}
	for _, c := range []*os.File{f.mbox, f.logf} {
		if c != nil {
			if cerr := c.Close(); err == nil {
				err = cerr
			}
		}
	}
	f.mbox, f.logf = nil, nil
	return err
}

func equalFlags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]int, len(a))
	for _, x := range a {
		seen[strings.ToLower(x)]++
	}
	for _, x := range b {
		if seen[strings.ToLower(x)] == 0 {
			return false
		}
		seen[strings.ToLower(x)]--
	}
	return true
}

// EqualFlags reports whether two flag lists hold the same flags.
func EqualFlags(a, b []string) bool { return equalFlags(a, b) }

func mkdirAllSync(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	if err := mkdirAllSync(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(dir))
}
