// Package archive keeps Lifeboat's archive on disk: one mboxrd file per IMAP
// folder and, apart from the mail, an append-only metadata log per folder
// that is the source of truth for what the mbox holds.
//
// Layout under the archive root:
//
//	<account>/<folder path>.mbox                     mail, and nothing else
//	<account>/%Lifeboat/<name>.mbox                  folders Lifeboat keeps itself (copies of sent mail)
//	.lifeboat/<account>/meta/<folder path>.log       JSON lines: one record per event
//	.lifeboat/<account>/runs.log                     one line per backup run
//	.lifeboat/<account>/lock                         held by every writer of the account
//	.lifeboat/<account>/quarantine/...               bytes moved aside by recovery and repair
//	.lifeboat/<account>/pending/...                  copies waiting for the lock (see AddLocal)
//	.lifeboat/index.sqlite                           the derived index (package index)
//
// So an account directory is a clean mbox tree that mutt, Thunderbird or
// Dovecot can read (a copy of it: Dovecot writes into the files it serves).
// Folder names are UTF-8, relative to the server's personal namespace; each
// component is escaped reversibly (%XX) where a file system could not hold
// it. Files are 0600, directories 0700. Archives of the earlier layout
// (.meta, .runs.log, .lock and .quarantine inside the account directory)
// are moved into place by Open, one rename at a time, so a crash at any
// point leaves a state the next Open finishes.
//
// Invariants, enforced here:
//
//  1. Append-only. An mbox is opened O_APPEND, so every write lands at its
//     current end, and Commit checks that the file is as long as this
//     process made it before it logs anything. Nothing shortens or rewrites
//     bytes that a log record refers to. Only bytes no record refers to are
//     ever cut: those of a commit whose write failed, by the process that
//     wrote them (they never were part of the archive, and a full disk has
//     no room to copy them); and, after a crash or damage, a torn record,
//     copied to a fsynced quarantine file first.
//     Messages deleted on the server are recorded as such ("g" records) and
//     stay.
//  2. A message exists in the archive only once its log record exists, and
//     its log record is written only after its bytes are fsynced
//     (Folder.Commit). A crash can therefore leave bytes past the last
//     logged message, never a log record without its bytes.
//  3. The mbox files are enough. Bytes no log record describes (the tail a
//     crash left, a stale or lost log, an mbox a user put into the tree) are
//     adopted: parsed into records (package mboxrd's Scan) and logged as
//     recovered messages, which a backup then matches to the server's
//     messages by content hash. Only a record a crash cut short is moved to
//     quarantine; a torn last log line likewise. Nothing is silently deleted.
//  4. The log is replayed in order; the state it describes (locations,
//     flags, deletions, damage, UIDVALIDITY, checkpoints) is derived, never
//     stored elsewhere. The SQLite index is derived from it too.
//  5. One writer per account across processes: every writer holds the
//     account's lock (LockAccount), which the kernel releases when a
//     process dies.
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

const (
	dirMode  = 0o700
	fileMode = 0o600
)

// Archive is an archive root directory.
type Archive struct {
	Root string
}

// Open returns the archive at root, creating the directory if needed and
// moving an archive of the earlier layout into the current one.
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
	a := &Archive{Root: abs}
	if err := mkdirAllSync(a.stateRoot()); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", a.stateRoot(), err)
	}
	if err := a.migrate(); err != nil {
		return nil, err
	}
	return a, nil
}

// FolderID names a folder of an account: its name as the server lists it
// (UTF-8) relative to the server's personal namespace, and the server's
// hierarchy delimiter (0 when flat). Local folders are Lifeboat's own
// (LocalDir); no server folder is ever one.
type FolderID struct {
	Account string
	Name    string
	Delim   rune
	Local   bool
}

func (id FolderID) components() []string {
	if id.Delim == 0 {
		return []string{id.Name}
	}
	return strings.Split(id.Name, string(id.Delim))
}

// Path is the folder's path inside the account, with '/' between levels;
// a local folder's starts with LocalDir (and a server folder named like
// LocalDir is written "%25Lifeboat", so that no two folders share a path).
func (id FolderID) Path() string {
	comps := id.components()
	if id.Local {
		return LocalDir + "/" + strings.Join(comps, "/")
	}
	if comps[0] == LocalDir {
		comps = append([]string{"%25" + LocalDir[1:]}, comps[1:]...)
	}
	return strings.Join(comps, "/")
}

func (id FolderID) String() string { return id.Account + "/" + id.Path() }

// Under reports whether the folder is one of paths ("Work/2026", as Path
// writes them; INBOX in any case, as IMAP has it) or below one of them.
func (id FolderID) Under(paths ...string) bool {
	p := id.Path()
	for _, f := range paths {
		f = strings.Trim(f, "/")
		if p == f || strings.HasPrefix(p, f+"/") || (strings.EqualFold(f, "INBOX") && strings.EqualFold(p, "INBOX")) {
			return true
		}
	}
	return false
}

// HasFolder reports whether the archive holds a folder (its log, or an mbox
// file at its place).
func (a *Archive) HasFolder(id FolderID) bool {
	return exists1(a.LogPath(id)) || exists1(a.MboxPath(id))
}

// Accounts lists the accounts that have an archive.
func (a *Archive) Accounts() ([]string, error) {
	des, err := os.ReadDir(a.stateRoot())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(a.stateRoot(), de.Name(), metaDir)); err != nil {
			continue
		}
		if name, err := unescapeComponent(de.Name()); err == nil {
			out = append(out, name)
		}
	}
	return out, nil
}

// Folders lists the archived folders of an account, sorted by path. Files
// in the metadata directory that are not folder logs are left out; Inventory
// reports them.
func (a *Archive) Folders(account string) ([]FolderID, error) {
	inv, err := a.Inventory(account)
	return inv.Folders, err
}

// Inventory is what an account's part of the archive holds.
type Inventory struct {
	Folders []FolderID
	// Unlogged lists mbox files no log describes yet (the next backup of
	// the account adopts them).
	Unlogged []string
	// Foreign lists files that are neither (in the account's directory: not
	// an mbox file; in its metadata directory: not a folder log), with why.
	Foreign []string
}

// Inventory walks an account's mbox tree and metadata directory.
func (a *Archive) Inventory(account string) (Inventory, error) {
	var inv Inventory
	logs := map[string]bool{}
	root := filepath.Join(a.stateDir(account), metaDir)
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if !strings.HasSuffix(path, logExt) {
			inv.Foreign = append(inv.Foreign, path+": not a folder log")
			return nil
		}
		h, err := readHeader(path)
		if err != nil {
			inv.Foreign = append(inv.Foreign, err.Error())
			return nil
		}
		id, err := folderOf(account, strings.TrimSuffix(rel, logExt), h.delim())
		if err != nil {
			inv.Foreign = append(inv.Foreign, path+": "+err.Error())
			return nil
		}
		logs[strings.TrimSuffix(rel, logExt)] = true
		inv.Folders = append(inv.Folders, id)
		return nil
	})
	if err != nil {
		return inv, err
	}
	sort.Slice(inv.Folders, func(i, j int) bool { return inv.Folders[i].Path() < inv.Folders[j].Path() })
	mroot := a.accountDir(account)
	err = filepath.WalkDir(mroot, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(mroot, path)
		if desktopJunk[de.Name()] {
			return nil // what file managers leave in every directory they show
		}
		if !strings.HasSuffix(rel, mboxExt) {
			inv.Foreign = append(inv.Foreign, path+": not an mbox file")
			return nil
		}
		if !logs[strings.TrimSuffix(rel, mboxExt)] {
			inv.Unlogged = append(inv.Unlogged, path)
		}
		return nil
	})
	return inv, err
}

var desktopJunk = map[string]bool{".DS_Store": true, "Thumbs.db": true, "desktop.ini": true, ".directory": true}

type header struct{ r record }

func (h header) delim() rune {
	if h.r.Delim == "" {
		return 0
	}
	return []rune(h.r.Delim)[0]
}

// readHeader reads the first record of a folder's log.
func readHeader(path string) (header, error) {
	f, err := os.Open(path)
	if err != nil {
		return header{}, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return header{}, fmt.Errorf("%s: no header record: %w", path, err)
	}
	var r record
	if err := json.Unmarshal(line, &r); err != nil || r.T != recHeader {
		return header{}, fmt.Errorf("%s: first line is not a folder header", path)
	}
	return header{r}, nil
}

// Record types of the metadata log.
const (
	recHeader   = "h" // folder identity; always the first line
	recMessage  = "m" // a message appended to the mbox (or adopted from it: rec)
	recFlags    = "f" // the server's flags for a message changed
	recGone     = "g" // the message is no longer on the server
	recRemap    = "r" // an archived message found again on the server (new UIDVALIDITY, or adopted)
	recValidity = "v" // the folder's UIDVALIDITY changed
	recState    = "s" // checkpoint at the end of a sync of this folder (all zero: none)
	recIntent   = "p" // bytes about to be written to the mbox (off, len) and where records end in them (ends)
	recAdopt    = "a" // bytes no record described were adopted (count, why, end)
	recDamaged  = "d" // a logged message's bytes are damaged or lost (why; cut: the mbox was cut there)
	recLabels   = "l" // Gmail: a message's labels changed (labels: the whole new set)
	recLink     = "k" // Gmail: a message of this folder is kept in another folder of the account (name), same X-GM-MSGID
)

// record is one line of the metadata log.
type record struct {
	T        string    `json:"t"`
	UV       uint32    `json:"uv,omitempty"`
	UID      uint32    `json:"uid,omitempty"`
	Off      *int64    `json:"off,omitempty"`
	Len      int64     `json:"len,omitempty"`
	Ends     []int64   `json:"ends,omitempty"` // recIntent: where the records in the bytes end
	SHA      string    `json:"sha,omitempty"`
	Date     string    `json:"date,omitempty"`
	Size     int64     `json:"size,omitempty"`
	Flags    []string  `json:"flags,omitempty"`
	Labels   []string  `json:"labels,omitempty"`   // recMessage, recLabels, recLink: Gmail labels (X-GM-LABELS, or an imported Takeout's X-Gmail-Labels)
	GM       uint64    `json:"gm,omitempty"`       // recMessage, recLink: X-GM-MSGID
	Thr      uint64    `json:"thr,omitempty"`      // recMessage: X-GM-THRID
	SetFlags bool      `json:"setflags,omitempty"` // recFlags: Flags is the whole new set (may be empty)
	MID      string    `json:"mid,omitempty"`
	EOL      string    `json:"eol,omitempty"`
	NoNL     bool      `json:"nonl,omitempty"`
	Trail    *int      `json:"trail,omitempty"` // adopted framing (mboxrd.Meta.Adopted)
	Rec      bool      `json:"rec,omitempty"`   // recovered: adopted from the mbox, identity from its bytes
	Alts     []altRead `json:"alts,omitempty"`  // other readings of an adopted record's bytes
	Why      string    `json:"why,omitempty"`
	Cut      *int64    `json:"cut,omitempty"`
	End      int64     `json:"end,omitempty"`
	At       int64     `json:"at,omitempty"`
	Name     string    `json:"name,omitempty"`
	Delim    string    `json:"delim,omitempty"`
	Local    bool      `json:"local,omitempty"`
	UIDNext  uint32    `json:"uidnext,omitempty"`
	ModSeq   uint64    `json:"modseq,omitempty"`
	Count    uint32    `json:"count,omitempty"`
	Old      uint32    `json:"old,omitempty"`
	Use      string    `json:"use,omitempty"` // recState: the folder's SPECIAL-USE attribute on the server
	// recState, since Lifeboat's summed-up checkpoints: the folder as the
	// checkpoint left it, its archived messages (Held), how many of them
	// are adopted and not matched (Unm), and the mbox's length (End), for
	// PeekFolder.
	Held *int `json:"held,omitempty"`
	Unm  int  `json:"unm,omitempty"`
	// recState: of the held messages, those on the server under the
	// current UIDVALIDITY, with Gmail's links (Cur), and those under
	// another or none (Fgn): what a backup needs to append to the folder
	// without reading it (OpenAppend).
	Cur *int `json:"cur,omitempty"`
	Fgn int  `json:"fgn,omitempty"`
	// recState: when the folder's log was last read whole (unix seconds),
	// its records checked; carried on by the checkpoints of a Partial one.
	Whole int64 `json:"whole,omitempty"`
	// recState: the highest UID held under the current UIDVALIDITY.
	Top uint32 `json:"top,omitempty"`
}

// altRead is another reading of an adopted record: the hash its bytes have
// when framed this way.
type altRead struct {
	SHA   string `json:"sha"`
	EOL   string `json:"eol,omitempty"`
	Trail int    `json:"trail"`
}

func eolName(e mboxrd.EOL) string {
	if e == mboxrd.EOLRaw {
		return "raw"
	}
	return ""
}

func eolOf(s string) mboxrd.EOL {
	if s == "raw" {
		return mboxrd.EOLRaw
	}
	return mboxrd.EOLCRLF
}

// Entry is an archived message as the log describes it.
type Entry struct {
	Offset, Length int64 // the mboxrd record in the mbox file
	SHA            [32]byte
	Date           time.Time // INTERNALDATE on the server (for a recovered message: the separator's date)
	Size           int64     // RFC822.SIZE on the server
	MessageID      string
	Meta           mboxrd.Meta
	Flags          []string
	Labels         []string // Gmail labels, when known (X-GM-LABELS, or an imported Takeout)
	GmailID        uint64   // X-GM-MSGID: the same in every folder that shows the message (0: not Gmail)
	ThreadID       uint64   // X-GM-THRID
	UIDValidity    uint32   // where the message is on the server now (after remaps); 0 for none
	UID            uint32   // 0: not known on the server (a local folder's, or recovered and not found yet)
	Added          time.Time
	Gone           time.Time // when it was noticed gone from the server; zero if not
	// Recovered: adopted from the mbox file without a log record of its
	// own (Lifeboat's records were lost, or another program wrote it).
	Recovered bool
	// Damaged says why the record is no longer trusted (repair marked it);
	// such entries are not among Entries.
	Damaged string

	alts []reading
}

type reading struct {
	sha  [32]byte
	meta mboxrd.Meta
}

// State is a folder's checkpoint: what the server said at the end of the
// last complete sync.
type State struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32
	At            time.Time
	// Role is the folder's SPECIAL-USE attribute on the server (RFC 6154:
	// \Sent, \Drafts, \Trash, \Junk, \Archive, \All, \Flagged), so that a
	// restore puts the folder where the target keeps that role. A
	// checkpoint that names none keeps the one recorded before.
	Role string
}

// Adoption is one time bytes no log described were adopted as messages.
type Adoption struct {
	At    time.Time `json:"at"`
	Count int       `json:"count"`
	Why   string    `json:"why"`
}

type loc struct{ uv, uid uint32 }

type span struct{ off, n int64 }

// Folder is one archived folder, opened for reading and appending. It is not
// safe for concurrent use; writers hold the account lock.
type Folder struct {
	ID    FolderID
	State State // last checkpoint (zero if never completed)
	// UIDValidity is the folder's current UIDVALIDITY as last recorded.
	UIDValidity uint32
	// Quarantined describes what recovery moved aside when the folder was
	// opened; empty when the files were consistent.
	Quarantined []Quarantine
	// Adopted counts the messages adopted from the mbox when it was opened
	// (bytes no log record described); AdoptedWhy says why they had none.
	Adopted    int
	AdoptedWhy string
	// Interrupted: what was adopted is exactly what this folder's last
	// commit announced (its intent record), a run stopped between writing
	// its messages and logging them: recovery, not a surprise.
	Interrupted bool
	// LeftInPlace counts bytes no record describes that are not a message
	// either (garbage appended to the mbox): kept where they are, reported.
	LeftInPlace int64
	// Adoptions is the folder's history of adoptions, from its log.
	Adoptions []Adoption

	a        *Archive
	entries  []*Entry
	damaged  []*Entry
	byLoc    map[loc]*Entry
	byOff    map[int64]*Entry
	byHash   hashIndex
	byGM     map[uint64]*Entry // by X-GM-MSGID
	links    map[loc]*Link
	mbox     *os.File
	w        *mboxWriter
	end      int64   // end of the bytes the log accounts for
	pos      int64   // end of the last written record
	ends     []int64 // record ends announced by intent records past end
	upTo     int64   // the end of the bytes intent records announced
	logf     *os.File
	logEnd   int64
	pending  []record
	readOnly bool
	broken   error // a write failed; nothing more is logged
	// opened is the log's size when it was opened for writing, and
	// touched the entries changed since (appended, remapped, new flags,
	// gone), for ChangedSince; opened is -1 when that is not known (read
	// only, or the opening adopted or quarantined bytes).
	opened  int64
	touched []*Entry
	seen    map[*Entry]bool
	// partial: opened by OpenAppend, from base (the entries before it
	// was opened are not read).
	partial bool
	base    Summary
}

// ChangedSince returns the size the folder's metadata log had when it was
// opened for writing and the entries changed since, in the order first
// changed: what a reader that had read the log up to that size must look
// at again. ok is false when that is not known (a read-only folder, or one
// whose opening adopted or quarantined bytes): read it all.
func (f *Folder) ChangedSince() (logSize int64, changed []*Entry, ok bool) {
	if f.opened < 0 || f.readOnly {
		return 0, nil, false
	}
	return f.opened, f.touched, true
}

// LogSize is the size of the folder's metadata log as this process left
// it (-1 for a folder read without writing): a reader holding the folder
// can tell whether another writer has logged more since.
func (f *Folder) LogSize() int64 {
	if f.readOnly {
		return -1
	}
	return f.logEnd
}

func (f *Folder) touch(e *Entry) {
	if f.seen == nil {
		f.seen = map[*Entry]bool{}
	}
	if !f.seen[e] {
		f.seen[e] = true
		f.touched = append(f.touched, e)
	}
}

// Quarantine describes bytes moved aside during recovery.
type Quarantine struct {
	From  string // file they were cut from
	To    string // quarantine file that holds them now
	Bytes int64
	Why   string
}

func (q Quarantine) String() string {
	why := q.Why
	if why == "" {
		why = "past the last logged message"
	}
	return fmt.Sprintf("%d bytes of %s (%s) moved to %s", q.Bytes, q.From, why, q.To)
}

// ErrDamaged is wrapped by every *DamagedError.
var ErrDamaged = errors.New("damaged")

// DamagedError means a folder's files contradict each other in a way only
// Repair may resolve; nothing was changed.
type DamagedError struct {
	Folder  FolderID
	Problem string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s is damaged: %s; nothing was changed — run `lifeboat repair --account %s --folder %q`",
		e.Folder.Path(), e.Problem, e.Folder.Account, e.Folder.Path())
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }

// OpenFolder opens a folder for appending, creating its files when new and
// recovering from a crash or adopting unlogged mbox bytes when needed (see
// the package invariants). The caller holds the account lock.
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
	if _, _, err := f.replay(lf, nil); err != nil {
		return nil, err
	}
	return f, nil
}

func newFolder(a *Archive, id FolderID) *Folder {
	return &Folder{
		ID: id, a: a, opened: -1,
		byLoc:  make(map[loc]*Entry),
		byOff:  make(map[int64]*Entry),
		byHash: hashIndex{one: make(map[[32]byte]*Entry)},
	}
}

// presize makes room for about n messages at once, instead of growing
// the maps and the list one doubling (and rehash) at a time.
func (f *Folder) presize(n int) {
	if n < 1024 {
		return
	}
	f.entries = make([]*Entry, 0, n)
	f.byLoc = make(map[loc]*Entry, n)
	f.byOff = make(map[int64]*Entry, n)
	f.byHash.one = make(map[[32]byte]*Entry, n)
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

func (f *Folder) openWritable() error {
	mboxPath, logPath := f.a.MboxPath(f.ID), f.a.LogPath(f.ID)
	haveLog, err := exists(logPath)
	if err != nil {
		return err
	}
	haveMbox, err := exists(mboxPath)
	if err != nil {
		return err
	}
	if !haveLog && haveMbox {
		if err := checkIsMbox(mboxPath); err != nil {
			return err
		}
	}
	good, size := int64(0), int64(0)
	if haveLog {
		if f.logf, err = os.OpenFile(logPath, os.O_RDWR, 0); err != nil {
			return err
		}
		if good, size, err = f.replay(f.logf, nil); err != nil {
			return err
		}
		if !haveMbox && (f.end > 0 || len(f.entries)+len(f.damaged) > 0) {
			return &DamagedError{f.ID, fmt.Sprintf("its mbox file %s is missing (the log %s describes it)", mboxPath, logPath)}
		}
		// Without messages logged, a missing mbox is a folder whose
		// creation was interrupted: it is made below.
	}
	for _, dir := range []string{filepath.Dir(mboxPath), filepath.Dir(logPath)} {
		if err := mkdirAllSync(dir); err != nil {
			return err
		}
	}
	// The mbox first, so that an interrupted creation never leaves a log
	// without its mbox. O_APPEND: every write lands at the end of the file
	// (invariant 1).
	if f.mbox, err = os.OpenFile(mboxPath, os.O_RDWR|os.O_APPEND|os.O_CREATE, fileMode); err != nil {
		return err
	}
	if !haveMbox {
		if err := fsutil.SyncDir(filepath.Dir(mboxPath)); err != nil {
			return err
		}
	}
	if !haveLog {
		if f.logf, err = os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode); err != nil {
			return err
		}
		if err := fsutil.SyncDir(filepath.Dir(logPath)); err != nil {
			return err
		}
	}
	if good < size { // a torn last line: quarantine it, then cut it
		if err := f.quarantine(f.logf, logPath, good, size, "log", "a torn last log line"); err != nil {
			return err
		}
	}
	f.logEnd = good
	if _, err := f.logf.Seek(f.logEnd, io.SeekStart); err != nil {
		return err
	}
	if f.logEnd == 0 { // a new log, or one whose creation was interrupted
		h := record{T: recHeader, Name: f.ID.Name, Local: f.ID.Local, At: time.Now().Unix()}
		if f.ID.Delim != 0 {
			h.Delim = string(f.ID.Delim)
		}
		f.pending = append(f.pending, h)
		if err := f.Commit(); err != nil {
			return err
		}
	}
	st, err := f.mbox.Stat()
	if err != nil {
		return err
	}
	switch {
	case st.Size() < f.end:
		return &DamagedError{f.ID, fmt.Sprintf("%s has %d bytes but its log records messages up to byte %d", mboxPath, st.Size(), f.end)}
	case st.Size() > f.end && !haveLog:
		return f.adopt(f.end, "Lifeboat's records of this folder were missing")
	case st.Size() > f.end:
		f.pos = f.end
		return f.adopt(f.end, "bytes past the last logged message (an interrupted write, or a log older than the mbox)")
	}
	f.pos = f.end
	if len(f.Quarantined) == 0 {
		f.opened = f.logEnd
	}
	return nil
}

// quarantine copies file[from:to] to a new quarantine file, fsyncs it, and
// only then truncates file to from.
func (f *Folder) quarantine(file *os.File, path string, from, to int64, kind, why string) error {
	qpath := filepath.Join(f.a.stateDir(f.ID.Account), quarantineDir,
		f.ID.relPath()+"."+kind+"."+time.Now().UTC().Format("20060102T150405.000000000")+".tail")
	if err := f.a.saveQuarantine(qpath, io.NewSectionReader(file, from, to-from)); err != nil {
		return fmt.Errorf("cannot quarantine %d bytes of %s (%s): %w (nothing was cut)", to-from, path, why, err)
	}
	if err := file.Truncate(from); err != nil {
		return err
	}
	if err := file.Sync(); err != nil {
		return err
	}
	f.Quarantined = append(f.Quarantined, Quarantine{From: path, To: qpath, Bytes: to - from, Why: why})
	return nil
}

// saveQuarantine writes r to a new file at qpath and makes it durable; on
// failure nothing is left behind.
func (a *Archive) saveQuarantine(qpath string, r io.Reader) error {
	if err := mkdirAllSync(filepath.Dir(qpath)); err != nil {
		return err
	}
	q, err := os.OpenFile(qpath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	_, err = io.Copy(q, r)
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
		os.Remove(qpath)
	}
	return err
}

// badLine is a log line that could not be applied.
type badLine struct {
	no       int
	off      int64
	text     []byte
	problem  string
	lastLine bool
}

// replay applies every complete log line; it returns the byte length of the
// complete lines and the file size. A damaged line that is not the last is
// a *DamagedError, unless bad is set: then damaged lines are collected there
// and skipped (for verify and repair).
func (f *Folder) replay(r io.Reader, bad *[]badLine) (good, size int64, err error) {
	replays.Add(1)
	if st, ok := r.(interface{ Stat() (os.FileInfo, error) }); ok && len(f.entries) == 0 {
		if fi, err := st.Stat(); err == nil {
			f.presize(int(min(fi.Size()/220, 50_000_000))) // a message record is about 220 bytes
		}
	}
	br := bufio.NewReaderSize(r, 256*1024)
	lineNo := 0
	var long []byte // a line longer than br's buffer, gathered
	var rec record  // one for every line (decodeRecord zeroes it): not 400 bytes of garbage each
	for {
		line, err := br.ReadSlice('\n') // valid until the next read: copied where kept
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		start := size
		size += int64(len(line))
		if err == io.EOF {
			return good, size, nil // nothing more, or a torn last line
		}
		if err != nil {
			return good, size, err
		}
		lineNo++
		problem := ""
		if jerr := decodeRecord(line, &rec); jerr != nil {
			if _, perr := br.Peek(1); perr == io.EOF && bad == nil {
				return good, size, nil // a torn last line that happens to end in LF
			}
			problem = fmt.Sprintf("damaged log record (%v)", jerr)
		} else if lineNo == 1 && rec.T != recHeader {
			problem = "the first line is not a folder header"
		} else if aerr := f.apply(&rec); aerr != nil {
			problem = aerr.Error()
		}
		if problem != "" {
			if bad == nil {
				return good, size, &DamagedError{f.ID, fmt.Sprintf("%s:%d: %s", f.a.LogPath(f.ID), lineNo, problem)}
			}
			_, perr := br.Peek(1)
			*bad = append(*bad, badLine{no: lineNo, off: start, text: bytes.Clone(line), problem: problem, lastLine: perr == io.EOF})
			continue
		}
		good = size
	}
}

func parseSHA(s string) ([32]byte, error) {
	var sum [32]byte
	if n, err := hex.Decode(sum[:], []byte(s)); err != nil || n != len(sum) {
		return sum, fmt.Errorf("bad hash %q", s)
	}
	return sum, nil
}

// entryAt finds the entry a record refers to: by offset when it gives one,
// else by (UIDVALIDITY, UID).
func (f *Folder) entryAt(r *record) *Entry {
	if r.Off != nil {
		return f.byOff[*r.Off]
	}
	return f.byLoc[loc{r.UV, r.UID}]
}

func (f *Folder) index(e *Entry) {
	f.byOff[e.Offset] = e
	if e.GmailID != 0 {
		if f.byGM == nil {
			f.byGM = map[uint64]*Entry{}
		}
		f.byGM[e.GmailID] = e
	}
	if e.UID != 0 {
		f.byLoc[loc{e.UIDValidity, e.UID}] = e
	}
	f.byHash.add(e.SHA, e)
	for _, r := range e.alts {
		f.byHash.add(r.sha, e)
	}
}

func (f *Folder) unhash(e *Entry, sha [32]byte) { f.byHash.remove(sha, e) }

// hashIndex finds entries by hash. Nearly every hash is one entry's: those
// take no slice of their own (one allocation less per message when a
// folder of 100,000 is read).
type hashIndex struct {
	one  map[[32]byte]*Entry   // the first entry with the hash
	more map[[32]byte][]*Entry // the others, in the order added
}

func (h *hashIndex) add(sha [32]byte, e *Entry) {
	if _, ok := h.one[sha]; !ok {
		h.one[sha] = e
		return
	}
	if h.more == nil {
		h.more = map[[32]byte][]*Entry{}
	}
	h.more[sha] = append(h.more[sha], e)
}

func (h *hashIndex) remove(sha [32]byte, e *Entry) {
	more := h.more[sha]
	if h.one[sha] == e {
		if len(more) == 0 {
			delete(h.one, sha)
			return
		}
		h.one[sha], more = more[0], more[1:]
	} else {
		for i, x := range more {
			if x == e {
				more = append(more[:i:i], more[i+1:]...)
				break
			}
		}
	}
	if len(more) == 0 {
		delete(h.more, sha)
	} else {
		h.more[sha] = more
	}
}

func (h *hashIndex) get(sha [32]byte) []*Entry {
	e, ok := h.one[sha]
	if !ok {
		return nil
	}
	return append([]*Entry{e}, h.more[sha]...)
}

func (f *Folder) apply(r *record) error {
	switch r.T {
	case recHeader:
	case recMessage:
		if r.Off == nil {
			return errors.New("message record without offset")
		}
		e := &Entry{Offset: *r.Off, Length: r.Len, Size: r.Size, MessageID: r.MID, Flags: r.Flags, Labels: r.Labels,
			GmailID: r.GM, ThreadID: r.Thr, UIDValidity: r.UV, UID: r.UID, Added: time.Unix(r.At, 0), Recovered: r.Rec}
		var err error
		if e.SHA, err = parseSHA(r.SHA); err != nil {
			return err
		}
		if r.Date != "" {
			d, err := time.Parse(time.RFC3339, r.Date)
			if err != nil {
				return fmt.Errorf("bad date: %v", err)
			}
			e.Date = d
		}
		e.Meta.EOL = eolOf(r.EOL)
		e.Meta.NoFinalNewline = r.NoNL
		if r.Trail != nil {
			e.Meta.Adopted, e.Meta.Trail = true, *r.Trail
		}
		for _, alt := range r.Alts {
			sum, err := parseSHA(alt.SHA)
			if err != nil {
				return err
			}
			e.alts = append(e.alts, reading{sum, mboxrd.Meta{Adopted: true, EOL: eolOf(alt.EOL), Trail: alt.Trail}})
		}
		if old := f.byOff[e.Offset]; old != nil {
			return fmt.Errorf("a second message record at byte %d", e.Offset)
		}
		f.entries = append(f.entries, e)
		f.index(e)
		f.end = max(f.end, e.Offset+e.Length)
		if f.UIDValidity == 0 {
			f.UIDValidity = r.UV
		}
	case recFlags:
		if e := f.entryAt(r); e != nil {
			e.Flags = r.Flags
		}
	case recGone:
		if e := f.entryAt(r); e != nil {
			e.Gone = time.Unix(r.At, 0)
		} else if r.Off == nil {
			delete(f.links, loc{r.UV, r.UID})
		}
	case recLabels:
		if e := f.entryAt(r); e != nil {
			e.Labels = r.Labels
			if r.GM != 0 {
				if e.GmailID != 0 && f.byGM[e.GmailID] == e {
					delete(f.byGM, e.GmailID)
				}
				e.GmailID, e.ThreadID = r.GM, r.Thr
				if f.byGM == nil {
					f.byGM = map[uint64]*Entry{}
				}
				f.byGM[r.GM] = e
			}
		}
	case recLink:
		if r.UID == 0 || r.GM == 0 {
			return errors.New("link without UID or X-GM-MSGID")
		}
		if f.links == nil {
			f.links = map[loc]*Link{}
		}
		f.links[loc{r.UV, r.UID}] = &Link{UIDValidity: r.UV, UID: r.UID, GmailID: r.GM, In: r.Name, Labels: r.Labels, Added: time.Unix(r.At, 0)}
	case recRemap:
		if r.Off == nil || f.byOff[*r.Off] == nil {
			return errors.New("remap of an unknown message")
		}
		e := f.byOff[*r.Off]
		if r.SHA != "" { // found by another reading of an adopted record
			sum, err := parseSHA(r.SHA)
			if err != nil {
				return err
			}
			f.settle(e, sum)
		}
		if e.UID != 0 && f.byLoc[loc{e.UIDValidity, e.UID}] == e {
			delete(f.byLoc, loc{e.UIDValidity, e.UID})
		}
		e.UIDValidity, e.UID, e.Gone = r.UV, r.UID, time.Time{}
		f.byLoc[loc{r.UV, r.UID}] = e
	case recValidity:
		f.UIDValidity = r.UV
	case recState:
		role := f.State.Role
		if r.Use != "" {
			role = r.Use
		}
		f.State = State{UIDValidity: r.UV, UIDNext: r.UIDNext, HighestModSeq: r.ModSeq, Messages: r.Count, Role: role}
		if r.At != 0 {
			f.State.At = time.Unix(r.At, 0)
		}
	case recIntent:
		if r.Off == nil {
			return errors.New("intent record without offset")
		}
		if *r.Off <= f.end { // a new batch of writes: what an earlier one announced is logged or gone
			f.ends = f.ends[:0]
		}
		f.ends = append(f.ends, r.Ends...)
		f.upTo = *r.Off + r.Len
	case recAdopt:
		f.Adoptions = append(f.Adoptions, Adoption{At: time.Unix(r.At, 0), Count: int(r.Count), Why: r.Why})
		f.end = max(f.end, r.End)
	case recDamaged:
		if r.Off == nil {
			return errors.New("damage record without offset")
		}
		if e := f.byOff[*r.Off]; e != nil {
			f.drop(e, r.Why)
		}
		if r.Cut != nil {
			f.end = *r.Cut
		}
	default:
		// Unknown record types from a newer Lifeboat are skipped, not fatal.
	}
	return nil
}

// settle makes the reading with this hash an adopted entry's only one.
func (f *Folder) settle(e *Entry, sha [32]byte) {
	if sha == e.SHA {
		return
	}
	for _, r := range e.alts {
		if r.sha == sha {
			f.unhash(e, e.SHA)
			e.SHA, e.Meta = r.sha, r.meta
		}
	}
	for _, r := range e.alts {
		if r.sha != e.SHA {
			f.unhash(e, r.sha)
		}
	}
	e.alts = nil
}

// drop takes a damaged entry out of the folder's messages.
func (f *Folder) drop(e *Entry, why string) {
	e.Damaged = why
	for i, x := range f.entries {
		if x == e {
			f.entries = append(f.entries[:i:i], f.entries[i+1:]...)
			break
		}
	}
	f.damaged = append(f.damaged, e)
	delete(f.byOff, e.Offset)
	if e.GmailID != 0 && f.byGM[e.GmailID] == e {
		delete(f.byGM, e.GmailID)
	}
	if f.byLoc[loc{e.UIDValidity, e.UID}] == e {
		delete(f.byLoc, loc{e.UIDValidity, e.UID})
	}
	f.unhash(e, e.SHA)
	for _, r := range e.alts {
		f.unhash(e, r.sha)
	}
}

// End is where the bytes the log accounts for end: the mbox's size when the
// two agree.
func (f *Folder) End() int64 { return f.end }

// Unmatched counts the recovered messages not found on the server yet (and
// not known to be gone from it).
func (f *Folder) Unmatched() int {
	n := 0
	for _, e := range f.entries {
		if e.Recovered && e.UID == 0 && e.Gone.IsZero() {
			n++
		}
	}
	return n
}

// Entries returns the archived messages in archive order (without those
// marked damaged).
func (f *Folder) Entries() []*Entry { return f.entries }

// Damaged returns the entries repair marked damaged, in the order marked.
func (f *Folder) Damaged() []*Entry { return f.damaged }

// Lookup returns the archived message at (UIDVALIDITY, UID), or nil.
func (f *Folder) Lookup(uidValidity, uid uint32) *Entry { return f.byLoc[loc{uidValidity, uid}] }

// ByHash returns the archived messages with this identity (for a recovered
// message, under any reading of its bytes).
func (f *Folder) ByHash(sha [32]byte) []*Entry { return f.byHash.get(sha) }

// Current returns the messages believed to be on the server now, by UID.
func (f *Folder) Current() map[uint32]*Entry {
	out := make(map[uint32]*Entry)
	for _, e := range f.entries {
		if e.UID != 0 && e.UIDValidity == f.UIDValidity && e.Gone.IsZero() {
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
	Labels    []string   // Gmail labels, when known
	GmailID   uint64     // X-GM-MSGID (0: not Gmail)
	ThreadID  uint64     // X-GM-THRID
	SHA       [32]byte   // mboxrd.Hash of the bytes
	EOL       mboxrd.EOL // mboxrd.Detect of the bytes
	Body      io.Reader  // the bytes
}

// Append writes a message to the mbox (buffered; durable at Commit) and
// queues its log record. The caller must have set UIDVALIDITY first (a
// local folder has none: its messages have UID 0).
func (f *Folder) Append(m *Message) (*Entry, error) {
	if f.readOnly {
		return nil, errors.New("archive: folder opened read-only")
	}
	if f.broken != nil {
		return nil, f.broken
	}
	if f.w == nil {
		f.w = &mboxWriter{f: f, at: f.pos}
	}
	start := f.pos
	sep := mboxrd.Separator(m.Date)
	f.w.Write(sep)
	enc := mboxrd.NewEncoder(f.w, m.EOL)
	if _, err := io.Copy(enc, m.Body); err != nil {
		return nil, f.failWrite(err)
	}
	meta, n, err := enc.Close()
	if err != nil {
		return nil, f.failWrite(err)
	}
	uv := f.UIDValidity
	if f.ID.Local || m.UID == 0 {
		uv = 0
	}
	e := &Entry{Offset: start, Length: int64(len(sep)) + n, SHA: m.SHA, Date: m.Date, Size: m.Size,
		MessageID: m.MessageID, Meta: meta, Flags: m.Flags, Labels: m.Labels, GmailID: m.GmailID, ThreadID: m.ThreadID,
		UIDValidity: uv, UID: m.UID, Added: time.Now()}
	f.pos += e.Length
	f.w.ends = append(f.w.ends, f.pos)
	off := e.Offset
	rec := record{T: recMessage, UV: e.UIDValidity, UID: e.UID, Off: &off, Len: e.Length,
		SHA: hex.EncodeToString(e.SHA[:]), Size: e.Size, Flags: e.Flags, Labels: e.Labels, GM: e.GmailID, Thr: e.ThreadID, MID: e.MessageID,
		NoNL: meta.NoFinalNewline, EOL: eolName(meta.EOL), At: e.Added.Unix()}
	if !m.Date.IsZero() {
		rec.Date = m.Date.Format(time.RFC3339)
	}
	f.pending = append(f.pending, rec)
	f.entries = append(f.entries, e)
	f.index(e)
	f.touch(e)
	return e, nil
}

// fail marks the folder broken: nothing pending is logged, so the partial
// record and any messages not yet committed are not part of the archive;
// the next open adopts or quarantines their bytes and the next backup
// fetches those messages again.
func (f *Folder) fail(err error) error {
	f.broken = fmt.Errorf("writing %s: %w", f.a.MboxPath(f.ID), err)
	f.pending = nil
	return f.broken
}

// failWrite is fail after a write of this process's own failed (a full
// disk): its bytes past the last logged message were never part of the
// archive (invariant 2), so they are cut at once (a full disk has no room
// to quarantine them), and the next run starts where the log ends.
func (f *Folder) failWrite(err error) error {
	if f.w != nil && f.pos > f.end && f.mbox.Truncate(f.end) == nil {
		f.pos = f.end
	}
	if errors.Is(err, syscall.ENOSPC) {
		err = fmt.Errorf("%w — the disk is full: make room, then run the backup again (nothing archived was lost)", err)
	}
	return f.fail(err)
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

// Remap records that an archived message is on the server (again) at uid
// under the current UIDVALIDITY: after a UIDVALIDITY reset, or a recovered
// message found. sha is the server message's hash; for a recovered entry it
// tells which reading of its bytes was right.
func (f *Folder) Remap(e *Entry, uid uint32, flags []string, sha [32]byte) {
	off := e.Offset
	r := record{T: recRemap, UV: f.UIDValidity, UID: uid, Off: &off, At: time.Now().Unix()}
	if sha != e.SHA {
		r.SHA = hex.EncodeToString(sha[:])
	}
	f.pending = append(f.pending, r)
	if err := f.apply(&r); err != nil {
		panic(err) // e is this folder's: cannot happen
	}
	f.touch(e)
	if !equalFlags(e.Flags, flags) {
		f.SetFlags(e, flags)
	}
}

// SetFlags records the server's new flags for an archived message.
func (f *Folder) SetFlags(e *Entry, flags []string) {
	off := e.Offset
	f.pending = append(f.pending, record{T: recFlags, UV: e.UIDValidity, UID: e.UID, Off: &off, Flags: flags, SetFlags: true, At: time.Now().Unix()})
	e.Flags = flags
	f.touch(e)
}

// SetLabels records a message's new Gmail labels (the whole set).
func (f *Folder) SetLabels(e *Entry, labels []string) { f.SetGmail(e, 0, 0, labels) }

// SetGmail records a message's Gmail labels and, when id is not 0, its
// Gmail id and thread, learnt after it was archived (archived before Gmail
// mode, or adopted after a crash).
func (f *Folder) SetGmail(e *Entry, id, thread uint64, labels []string) {
	off := e.Offset
	if labels == nil {
		labels = []string{}
	}
	r := record{T: recLabels, UV: e.UIDValidity, UID: e.UID, Off: &off, Labels: labels, GM: id, Thr: thread, At: time.Now().Unix()}
	f.pending = append(f.pending, r)
	if err := f.apply(&r); err != nil {
		panic(err) // e is this folder's: cannot happen
	}
	f.touch(e)
}

// Link is a message this folder shows on the server that the archive
// keeps in another folder of the account: Gmail shows one message in
// several folders with the same X-GM-MSGID, and it is stored once.
type Link struct {
	UIDValidity, UID uint32
	GmailID          uint64
	In               string   // the path of the folder that holds it
	Labels           []string // its labels as this folder's server listing gave them
	Added            time.Time
}

// AddLink records that the server shows the message of another folder at
// (UIDVALIDITY, UID) of this one; a link already there for that place is
// replaced.
func (f *Folder) AddLink(l Link) {
	if l.Added.IsZero() {
		l.Added = time.Now()
	}
	r := record{T: recLink, UV: l.UIDValidity, UID: l.UID, GM: l.GmailID, Name: l.In, Labels: l.Labels, At: l.Added.Unix()}
	f.pending = append(f.pending, r)
	if err := f.apply(&r); err != nil {
		panic(err) // the caller gave no UID or id
	}
}

// LinkAt returns the link at (UIDVALIDITY, UID), or nil.
func (f *Folder) LinkAt(uidValidity, uid uint32) *Link { return f.links[loc{uidValidity, uid}] }

// Links returns the folder's links, by UID.
func (f *Folder) Links() []*Link {
	out := make([]*Link, 0, len(f.links))
	for _, l := range f.links {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].UIDValidity != out[j].UIDValidity {
			return out[i].UIDValidity < out[j].UIDValidity
		}
		return out[i].UID < out[j].UID
	})
	return out
}

// Unlink records that the server no longer shows a linked message here.
func (f *Folder) Unlink(l *Link, at time.Time) {
	f.pending = append(f.pending, record{T: recGone, UV: l.UIDValidity, UID: l.UID, At: at.Unix()})
	delete(f.links, loc{l.UIDValidity, l.UID})
}

// ByGmailID returns the entry with this X-GM-MSGID, or nil.
func (f *Folder) ByGmailID(id uint64) *Entry { return f.byGM[id] }

// MarkGone records that a message is no longer on the server. Its bytes stay.
func (f *Folder) MarkGone(e *Entry, at time.Time) {
	off := e.Offset
	f.pending = append(f.pending, record{T: recGone, UV: e.UIDValidity, UID: e.UID, Off: &off, At: at.Unix()})
	e.Gone = at
	f.touch(e)
}

// Checkpoint records the server's state at the end of a complete sync. The
// record also sums the folder up as it is then (see PeekFolder), unless
// opening it left bytes in place that the next opening must report again.
func (f *Folder) Checkpoint(s State) {
	if s.Role == "" {
		s.Role = f.State.Role
	}
	rec := record{T: recState, UV: s.UIDValidity, UIDNext: s.UIDNext, ModSeq: s.HighestModSeq, Count: s.Messages, At: s.At.Unix(), Use: s.Role}
	if f.LeftInPlace == 0 {
		held, cur := f.base.Messages+len(f.entries), f.base.Current+len(f.Current())
		for _, l := range f.links {
			if l.UIDValidity == f.UIDValidity {
				cur++
			}
		}
		fgn, top := f.base.Foreign, f.base.TopUID
		for _, e := range f.entries {
			if e.UIDValidity != f.UIDValidity {
				fgn++
			} else if e.UID > top {
				top = e.UID
			}
		}
		rec.Top = top
		rec.Held, rec.Unm, rec.End, rec.Cur, rec.Fgn = &held, f.base.Unmatched+f.Unmatched(), f.pos, &cur, fgn
		rec.Whole = time.Now().Unix() // read whole when it was opened, a backup's moment ago
		if f.partial {
			rec.Whole = f.base.ReadWhole.Unix()
		}
	}
	f.pending = append(f.pending, rec)
	f.State = s
}

var replays atomic.Int64

// Replays counts the folder logs this process has read whole (for tests
// and benchmarks of what a run reads).
func Replays() int64 { return replays.Load() }

// Summary is what a folder's last checkpoint says of the whole folder.
type Summary struct {
	State     State
	Messages  int // archived messages (Entries)
	Unmatched int // of them, adopted and not found on the server yet
	// Current counts the messages on the server under the checkpoint's
	// UIDVALIDITY (Current, and Gmail's links), Foreign those archived
	// under another or none; Current is -1 when the checkpoint does not
	// say (an earlier Lifeboat's).
	Current, Foreign int
	// ReadWhole is when the folder's log was last read whole, its records
	// checked (zero: not known). TopUID is the highest UID held under the
	// checkpoint's UIDVALIDITY.
	ReadWhole time.Time
	TopUID    uint32
	end       int64 // the mbox's length
	logSize   int64
}

// peekTail is how much of the end of a log PeekFolder reads: a checkpoint
// record is a line of about 150 bytes.
const peekTail = 4096

// PeekFolder reads only the last line of a folder's log: when it is a
// checkpoint that summed the folder up, and the mbox is exactly as long as
// that checkpoint left it, nothing happened to the folder since and the
// summary is its state: a backup can tell an unchanged folder without
// reading its whole log. ok is false for anything else (a log written
// before summaries, records after the checkpoint, a torn last line, bytes a
// crash left in the mbox, a folder never checkpointed): the
// caller then opens the folder, which recovers and reports as ever.
func (a *Archive) PeekFolder(id FolderID) (s Summary, ok bool) {
	lf, err := os.Open(a.LogPath(id))
	if err != nil {
		return s, false
	}
	defer lf.Close()
	st, err := lf.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return s, false
	}
	n := min(st.Size(), peekTail)
	buf := make([]byte, n)
	if n == 0 {
		return s, false
	}
	if _, err := lf.ReadAt(buf, st.Size()-n); err != nil || buf[n-1] != '\n' {
		return s, false // a torn last line: opening quarantines it
	}
	i := bytes.LastIndexByte(buf[:n-1], '\n')
	if i < 0 {
		return s, false // the only line (no header), or a line too long to be a checkpoint
	}
	var rec record
	if err := decodeRecord(buf[i+1:], &rec); err != nil || rec.T != recState || rec.Held == nil {
		return s, false
	}
	mst, err := os.Stat(a.MboxPath(id))
	if err != nil || !mst.Mode().IsRegular() || mst.Size() != rec.End {
		return s, false
	}
	s.State = State{UIDValidity: rec.UV, UIDNext: rec.UIDNext, HighestModSeq: rec.ModSeq, Messages: rec.Count, Role: rec.Use}
	if rec.At != 0 {
		s.State.At = time.Unix(rec.At, 0)
	}
	s.Messages, s.Unmatched, s.Current, s.Foreign, s.end, s.logSize = *rec.Held, rec.Unm, -1, rec.Fgn, rec.End, st.Size()
	if rec.Cur != nil {
		s.Current = *rec.Cur
	}
	if rec.Whole != 0 {
		s.ReadWhole = time.Unix(rec.Whole, 0)
	}
	s.TopUID = rec.Top
	return s, true
}

// OpenAppend opens a folder for appending new messages without reading its
// log, from the summary PeekFolder gave (the caller holds the account's
// lock, so nothing changed it since). Such a folder is partial: its
// Entries, Current, Lookup and ByHash know only the messages appended
// since it was opened, which is all a backup needs when the server shows
// only new mail and the summary says no archived message is under another
// UIDVALIDITY or unmatched. Its checkpoints sum the whole folder up as
// ever. It fails with ErrNotAsPeeked when the files are no longer as the
// summary describes them; the caller then opens the folder whole.
func (a *Archive) OpenAppend(id FolderID, s Summary) (*Folder, error) {
	if s.Current < 0 || s.logSize == 0 {
		return nil, ErrNotAsPeeked
	}
	again, ok := a.PeekFolder(id)
	if !ok || again != s {
		return nil, ErrNotAsPeeked
	}
	f := newFolder(a, id)
	f.partial, f.base = true, s
	f.State, f.UIDValidity = s.State, s.State.UIDValidity
	var err error
	if f.logf, err = os.OpenFile(a.LogPath(id), os.O_RDWR, 0); err != nil {
		return nil, err
	}
	if f.mbox, err = os.OpenFile(a.MboxPath(id), os.O_RDWR|os.O_APPEND, 0); err != nil {
		f.logf.Close()
		return nil, err
	}
	ls, err1 := f.logf.Stat()
	ms, err2 := f.mbox.Stat()
	if err1 != nil || err2 != nil || ls.Size() != s.logSize || ms.Size() != s.end {
		f.mbox.Close()
		f.logf.Close()
		return nil, ErrNotAsPeeked
	}
	if _, err := f.logf.Seek(s.logSize, io.SeekStart); err != nil {
		f.mbox.Close()
		f.logf.Close()
		return nil, err
	}
	f.end, f.pos, f.logEnd, f.opened = s.end, s.end, s.logSize, s.logSize
	return f, nil
}

// ErrNotAsPeeked: the folder's files changed since PeekFolder read them.
var ErrNotAsPeeked = errors.New("archive: the folder changed since it was peeked at")

// Partial reports a folder opened by OpenAppend: it holds only the
// messages appended since.
func (f *Folder) Partial() bool { return f.partial }

// Pending reports how many records were queued since the last Commit.
func (f *Folder) Pending() int { return len(f.pending) }

// mboxWriter buffers the records Append writes and writes them to the mbox
// in large pieces. Before each piece reaches the file, an intent record
// says in the log where it starts, how long it is and where the records in
// it end: after a kill, the records past the last logged one are known
// complete or torn from these, whatever their bytes look like.
type mboxWriter struct {
	f    *Folder
	buf  []byte
	at   int64   // file offset of buf[0]
	ends []int64 // ends of the records appended and not yet announced
}

const mboxWriteSize = 1 << 20

func (w *mboxWriter) Write(p []byte) (int, error) {
	if len(w.buf) > 0 && len(w.buf)+len(p) > mboxWriteSize { // keep the buffer within its size
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, mboxWriteSize)
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= mboxWriteSize {
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (w *mboxWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if st, err := w.f.mbox.Stat(); err != nil {
		return err
	} else if st.Size() != w.at {
		return errForeignWrite(st.Size(), w.at)
	}
	off := w.at
	if err := w.f.writeLog([]record{{T: recIntent, Off: &off, Len: int64(len(w.buf)), Ends: w.ends}}, false); err != nil {
		return err
	}
	w.ends = w.ends[:0]
	n, err := w.f.mbox.Write(w.buf)
	w.at += int64(n)
	if err != nil {
		return err
	}
	w.buf = w.buf[:0]
	if cap(w.buf) > mboxWriteSize {
		w.buf = nil
	}
	return nil
}

// foreignWrite means the mbox is not as long as this process made it:
// another program wrote to it.
type foreignWrite struct{ size, want int64 }

func errForeignWrite(size, want int64) error { return foreignWrite{size, want} }

func (e foreignWrite) Error() string {
	return fmt.Sprintf("the file is %d bytes long, this process wrote it up to byte %d: another program wrote to it; nothing was logged", e.size, e.want)
}

// Commit makes everything appended so far durable: the mbox bytes are
// written (announced first, see mboxWriter) and fsynced, the mbox is checked
// to be exactly as long as this process made it, and only then the log
// records are written and fsynced.
func (f *Folder) Commit() error {
	if f.readOnly {
		return nil
	}
	if f.broken != nil {
		return f.broken
	}
	if f.w != nil && f.pos > f.end {
		if err := f.w.flush(); errors.As(err, new(foreignWrite)) {
			return f.fail(err)
		} else if err != nil {
			return f.failWrite(err)
		}
		if err := f.mbox.Sync(); err != nil {
			return f.failWrite(fmt.Errorf("fsync: %w", err))
		}
		st, err := f.mbox.Stat()
		if err != nil {
			return f.fail(err)
		}
		if st.Size() != f.pos {
			return f.fail(errForeignWrite(st.Size(), f.pos))
		}
	}
	if len(f.pending) == 0 {
		f.end = max(f.end, f.pos)
		return nil
	}
	if err := f.writeLog(f.pending, true); err != nil {
		return err
	}
	f.end = max(f.end, f.pos)
	f.ends = f.ends[:0]
	f.pending = f.pending[:0]
	return nil
}

// writeLog appends records to the log, fsynced when sync is set.
func (f *Folder) writeLog(recs []record, sync bool) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			return err
		}
	}
	if _, err := f.logf.Write(buf.Bytes()); err != nil {
		// The log may now end in a torn line; the next open quarantines it.
		f.broken = fmt.Errorf("writing %s: %w", f.a.LogPath(f.ID), err)
		return f.broken
	}
	if sync {
		if err := f.logf.Sync(); err != nil {
			f.broken = fmt.Errorf("fsync %s: %w", f.a.LogPath(f.ID), err)
			return f.broken
		}
	}
	f.logEnd += int64(buf.Len())
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
