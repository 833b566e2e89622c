package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
)

// The earlier layout kept Lifeboat's state inside each account directory.
const (
	oldMetaDir       = ".meta"
	oldQuarantineDir = ".quarantine"
	oldRunsLog       = ".runs.log"
	oldLock          = ".lock"
	oldIndex         = ".index.sqlite"
	oldSentFolder    = "Sent via Lifeboat"
)

// SentFolder is the local folder that keeps copies of mail Lifeboat sent.
const SentFolder = "Sent"

// migrate moves an archive of the earlier layout into the current one.
// Each step is one rename (or, where both places hold something, a merge
// file by file), checked before it is done, so running it again after a
// crash finishes what was left.
func (a *Archive) migrate() error {
	des, err := os.ReadDir(a.Root)
	if err != nil {
		return err
	}
	// The index is derived; its files move with it (WAL first, so that a
	// database never meets another's WAL).
	for _, suffix := range []string{"-wal", "-shm", ""} {
		if err := renameIfFree(filepath.Join(a.Root, oldIndex+suffix), a.StatePath("index.sqlite"+suffix)); err != nil {
			return err
		}
	}
	for _, de := range des {
		if !de.IsDir() || de.Name() == stateDirName {
			continue
		}
		account, err := unescapeComponent(de.Name())
		if err != nil {
			continue
		}
		if err := a.migrateAccount(account); err != nil {
			return err
		}
	}
	return nil
}

// migrateAccount moves one account's state of the earlier layout, if it has
// any, under the account's lock (LockAccount does the work); an account
// another process holds is left for later.
func (a *Archive) migrateAccount(account string) error {
	if !a.needsMigration(account) {
		return nil
	}
	unlock, err := a.LockAccount(account)
	if errors.Is(err, ErrLocked) {
		return nil // the holder migrates it, or an earlier Lifeboat is writing it: later
	}
	if err != nil {
		return err
	}
	unlock()
	return nil
}

// needsMigration reports whether an account has state of the earlier layout
// or an unfinished journal of moves.
func (a *Archive) needsMigration(account string) bool {
	dir := a.accountDir(account)
	for _, name := range []string{oldMetaDir, oldQuarantineDir, oldRunsLog, oldLock} {
		if exists1(filepath.Join(dir, name)) {
			return true
		}
	}
	return exists1(filepath.Join(a.stateDir(account), movesName))
}

// migrateLocked does the moves of migrateAccount; the caller holds the
// account's (new) lock. While an earlier Lifeboat holds the old lock it
// changes nothing and says so, wrapping ErrLocked: the two must never write
// the same files.
func (a *Archive) migrateLocked(account string) error {
	dir, state := a.accountDir(account), a.stateDir(account)
	if ok, _ := exists(filepath.Join(dir, oldLock)); ok {
		unlockOld, err := lockPath(filepath.Join(dir, oldLock))
		if errors.Is(err, ErrLocked) {
			return fmt.Errorf("%w: an earlier version of Lifeboat is writing it (it holds %s); try again when it has finished",
				ErrLocked, filepath.Join(dir, oldLock))
		}
		if err != nil {
			return err
		}
		defer unlockOld()
	}
	for _, m := range [][2]string{{oldMetaDir, metaDir}, {oldQuarantineDir, quarantineDir}, {oldRunsLog, runsLog}} {
		if err := mergeInto(filepath.Join(dir, m[0]), filepath.Join(state, m[1])); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(dir, oldLock)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists1(dir) {
		if err := fsutil.SyncDir(dir); err != nil {
			return err
		}
	}
	if err := a.moveOldSentFolder(account); err != nil {
		return err
	}
	return a.finishMoves(account)
}

// mergeInto moves src (a file or a directory tree) to dst. Where dst exists
// already (an earlier Lifeboat ran after this one had moved things), files
// move one by one; a run history is appended; a folder log at both places
// is left where it is, and reported.
func mergeInto(src, dst string) error {
	st, err := os.Lstat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := renameIfFree(src, dst); err != nil || !exists1(src) {
		return err
	}
	if !st.IsDir() {
		if filepath.Base(dst) != runsLog {
			return fmt.Errorf("both %s and %s exist; nothing was moved", src, dst)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return os.Remove(src)
	}
	des, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, de := range des {
		if err := mergeInto(filepath.Join(src, de.Name()), filepath.Join(dst, de.Name())); err != nil {
			return err
		}
	}
	return os.Remove(src)
}

func exists1(path string) bool { ok, _ := exists(path); return ok }

// renameIfFree renames src to dst when src exists and dst does not, making
// dst's directory first and fsyncing both directories.
func renameIfFree(src, dst string) error {
	if !exists1(src) || exists1(dst) {
		return nil
	}
	if err := mkdirAllSync(filepath.Dir(dst)); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	if err := fsutil.SyncDir(filepath.Dir(src)); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(dst))
}

// moveOldSentFolder moves the copies of sent mail that an earlier Lifeboat
// kept in a folder named "Sent via Lifeboat" among the server's folders into
// the local folder. A folder of that name that a backup also wrote (the
// server has one) is left alone: its bytes stay where they are.
func (a *Archive) moveOldSentFolder(account string) error {
	old := FolderID{Account: account, Name: oldSentFolder, Delim: '/'}
	b, err := os.ReadFile(a.LogPath(old))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.T == recState {
			return nil // a server folder too
		}
	}
	local := FolderID{Account: account, Name: SentFolder, Delim: '/', Local: true}
	if exists1(a.LogPath(local)) || exists1(a.MboxPath(local)) {
		return nil
	}
	return a.moveFiles(account, []move{
		{a.rel(a.MboxPath(old)), a.rel(a.MboxPath(local))},
		{a.rel(a.LogPath(old)), a.rel(a.LogPath(local))},
	})
}

// move is one rename of a journal of moves, paths relative to the root.
type move struct {
	From string `json:"from"`
	To   string `json:"to"`
}

func (a *Archive) rel(path string) string {
	r, err := filepath.Rel(a.Root, path)
	if err != nil {
		panic(err) // every path here is under the root
	}
	return filepath.ToSlash(r)
}

func (a *Archive) abs(rel string) string { return filepath.Join(a.Root, filepath.FromSlash(rel)) }

// moveFiles renames several files as one step: the journal of the moves is
// made durable first, so that after a crash finishMoves completes them
// (each rename is done only while its source exists and its target does
// not). The caller holds the account lock.
func (a *Archive) moveFiles(account string, moves []move) error {
	b, err := json.Marshal(moves)
	if err != nil {
		return err
	}
	state := a.stateDir(account)
	if err := mkdirAllSync(state); err != nil {
		return err
	}
	if err := fsutil.WriteFileSync(filepath.Join(state, movesName), b, fileMode); err != nil {
		return err
	}
	return a.finishMoves(account)
}

// finishMoves completes the account's journal of moves, if there is one.
func (a *Archive) finishMoves(account string) error {
	path := filepath.Join(a.stateDir(account), movesName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var moves []move
	if err := json.Unmarshal(b, &moves); err != nil {
		return fmt.Errorf("%s is damaged (%v); no file was moved — look at it, then remove it", path, err)
	}
	for _, m := range moves {
		src, dst := a.abs(m.From), a.abs(m.To)
		if exists1(src) && exists1(dst) {
			return fmt.Errorf("cannot move %s to %s: both exist; both were kept", src, dst)
		}
		if err := renameIfFree(src, dst); err != nil {
			return err
		}
		removeEmptyDirs(filepath.Dir(src), a.Root)
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// removeEmptyDirs removes dir and its parents up to (not including) stop
// while they are empty.
func removeEmptyDirs(dir, stop string) {
	for dir != stop && strings.HasPrefix(dir, stop) {
		if os.Remove(dir) != nil {
			return
		}
		fsutil.SyncDir(filepath.Dir(dir))
		dir = filepath.Dir(dir)
	}
}

// RenameFolder moves an archived folder (its mbox and its log) to another
// name, crash-safely; for a folder whose name changes (the server's
// namespace prefix, no longer part of archive names). The caller holds the
// account lock; nothing is done when to already exists.
func (a *Archive) RenameFolder(from, to FolderID) error {
	if exists1(a.LogPath(to)) || exists1(a.MboxPath(to)) {
		return fmt.Errorf("cannot rename %s to %s: %s exists already", from, to.Path(), to.Path())
	}
	var moves []move
	for _, p := range [][2]string{{a.MboxPath(from), a.MboxPath(to)}, {a.LogPath(from), a.LogPath(to)}} {
		if exists1(p[0]) {
			moves = append(moves, move{a.rel(p[0]), a.rel(p[1])})
		}
	}
	if len(moves) == 0 {
		return nil
	}
	return a.moveFiles(from.Account, moves)
}

// Note is something Prepare found or did, in words. Warn marks what the
// user should look at (messages adopted from bytes nothing explains, bytes
// quarantined, files that are not mbox); the others are recovery done as
// promised (an interrupted run's messages, copies that waited).
type Note struct {
	Text string
	Warn bool
}

// Prepare readies an account for writing; the caller holds its lock. It
// finishes an interrupted rename, clears the spool of an interrupted run,
// moves copies waiting in the pending directory into their folders, and
// adopts mbox files no log describes (or describes only in part). Problems
// of single folders are returned as notes, not as an error.
func (a *Archive) Prepare(account string) (notes []Note, err error) {
	warn := func(texts ...string) {
		for _, t := range texts {
			notes = append(notes, Note{t, true})
		}
	}
	if err := a.finishMoves(account); err != nil {
		return nil, err
	}
	tmp := filepath.Join(a.stateDir(account), tmpDir)
	if des, err := os.ReadDir(tmp); err == nil {
		for _, de := range des {
			os.RemoveAll(filepath.Join(tmp, de.Name()))
		}
	}
	n, dnotes, err := a.drainPending(account)
	warn(dnotes...)
	if err != nil {
		return notes, err
	}
	if n > 0 {
		notes = append(notes, Note{Text: fmt.Sprintf("%d copies of sent mail that waited for the archive were added", n)})
	}
	inv, err := a.Inventory(account)
	if err != nil {
		return notes, err
	}
	var open []FolderID
	for _, path := range inv.Unlogged {
		rel, _ := filepath.Rel(a.accountDir(account), path)
		id, err := folderOf(account, strings.TrimSuffix(rel, mboxExt), 0)
		if err != nil {
			warn(fmt.Sprintf("%s: %v (left as it is)", path, err))
			continue
		}
		open = append(open, id)
	}
	unlogged := len(open)
	for _, id := range inv.Folders {
		ms, err1 := os.Stat(a.MboxPath(id))
		ls, err2 := os.Stat(a.LogPath(id))
		if err1 == nil && err2 == nil && ms.ModTime().After(ls.ModTime()) {
			open = append(open, id) // written after its log: maybe by someone else
		}
	}
	for i, id := range open {
		f, err := a.OpenFolder(id)
		if errors.Is(err, ErrDamaged) && i >= unlogged {
			continue // said where the folder is used (backup, status, verify)
		}
		if err != nil {
			warn(err.Error())
			continue
		}
		warn(f.Notes()...)
		if r := f.Recovery(); r != "" {
			notes = append(notes, Note{Text: r})
		}
		if err := f.Close(); err != nil {
			warn(err.Error())
		}
	}
	return notes, nil
}

// Notes says in words what opening the folder found that the user should
// know: messages adopted from bytes no log described, bytes quarantined.
func (f *Folder) Notes() []string {
	var out []string
	switch {
	case f.Adopted > 0 && (!f.Interrupted || f.LeftInPlace > 0):
		out = append(out, fmt.Sprintf("%s: %d messages adopted from %s: %s", f.ID.Path(), f.Adopted, f.a.MboxPath(f.ID), f.AdoptedWhy))
	case f.LeftInPlace > 0:
		out = append(out, fmt.Sprintf("%s: %d bytes of %s that no log record describes are not a message either: left in place", f.ID.Path(), f.LeftInPlace, f.a.MboxPath(f.ID)))
	}
	for _, q := range f.Quarantined {
		out = append(out, f.ID.Path()+": "+q.String())
	}
	return out
}

// Recovery says in words what opening the folder recovered of an
// interrupted run ("" when nothing).
func (f *Folder) Recovery() string {
	if f.Adopted == 0 || !f.Interrupted {
		return ""
	}
	return fmt.Sprintf("%s: recovered %d messages that an interrupted run had written but not yet logged", f.ID.Path(), f.Adopted)
}

// TempDir is a directory for an account's temporary files (a message too
// big to hold in memory); Prepare empties it.
func (a *Archive) TempDir(account string) (string, error) {
	dir := filepath.Join(a.stateDir(account), tmpDir)
	return dir, mkdirAllSync(dir)
}
