package archive

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// RepairReport says what Repair did to a folder.
type RepairReport struct {
	Folder FolderID
	// Damaged lists the messages now marked damaged: their bytes were
	// changed or lost. A backup fetches each again while the server has it.
	Damaged []Damage
	// LogLines counts log lines that could not be read, dropped from the log
	// (a copy of the old log is in quarantine).
	LogLines    int
	Quarantined []Quarantine
	Adopted     int  // messages adopted from bytes no record described
	MboxMissing bool // the mbox file was gone (an empty one was made)
}

// Changed reports whether Repair changed anything.
func (r RepairReport) Changed() bool {
	return len(r.Damaged) > 0 || r.LogLines > 0 || len(r.Quarantined) > 0 || r.Adopted > 0 || r.MboxMissing
}

// Repair makes a folder consistent again without losing a byte, for
// whatever happened to its files: every message is re-read and checked
// against its hash; damaged ones are marked (their bytes stay, and the
// next backup fetches a good copy while the server has one); log lines that
// cannot be read are dropped from the log after the whole log is copied to
// quarantine; the remains of records cut off at the end of the mbox go to
// quarantine before the cut; bytes no record describes are adopted; and the
// folder's checkpoint is cleared so the next backup looks at every message
// on the server. The caller holds the account lock. A folder needing
// nothing is left as it is.
func (a *Archive) Repair(id FolderID) (rep RepairReport, err error) {
	rep.Folder = id
	logPath, mboxPath := a.LogPath(id), a.MboxPath(id)
	if !exists1(logPath) {
		if !exists1(mboxPath) {
			return rep, fmt.Errorf("%s: no such folder in the archive", id)
		}
		f, err := a.OpenFolder(id) // adopts it whole
		if err != nil {
			return rep, err
		}
		rep.Adopted, rep.Quarantined = f.Adopted, f.Quarantined
		return rep, f.Close()
	}
	f, bad, err := a.readLenient(id)
	if err != nil {
		return rep, err
	}
	rep.LogLines = len(bad)
	if !exists1(mboxPath) {
		rep.MboxMissing = true
	}
	mb, err := os.OpenFile(mboxPath, os.O_RDWR|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return rep, err
	}
	defer func() {
		if mb != nil {
			mb.Close()
		}
	}()
	st, err := mb.Stat()
	if err != nil {
		return rep, err
	}
	size := st.Size()

	// Every message, checked.
	type hurt struct {
		e       *Entry
		problem string
		framed  bool // its framing is intact: only its content changed
	}
	var hurts []hurt
	hurtAt := map[int64]bool{}
	cut := int64(-1)
	for _, e := range f.entries {
		problem := checkEntry(mb, size, e)
		if problem == "" {
			continue
		}
		if rep.MboxMissing {
			problem = "the mbox file was missing"
		}
		framed := e.Offset+e.Length <= size && framedAt(mb, e)
		hurts = append(hurts, hurt{e, problem, framed})
		hurtAt[e.Offset] = true
		if e.Offset+e.Length > size && (cut < 0 || e.Offset < cut) {
			cut = e.Offset
		}
	}
	if cut >= 0 { // everything from the first record cut off is gone or partial
		for _, e := range f.entries {
			if e.Offset >= cut && !hurtAt[e.Offset] {
				hurts = append(hurts, hurt{e, "the mbox was cut before this message", false})
			}
		}
	}
	sort.Slice(hurts, func(i, j int) bool { return hurts[i].e.Offset < hurts[j].e.Offset })
	if len(hurts) == 0 && len(bad) == 0 && size == f.end && !rep.MboxMissing {
		return rep, nil
	}

	// The log: without the lines that cannot be read (a copy first).
	if len(bad) > 0 {
		if err := a.dropLogLines(f, bad); err != nil {
			return rep, err
		}
	}
	w := newFolder(a, id)
	w.mbox, mb = mb, nil
	if w.logf, err = os.OpenFile(logPath, os.O_RDWR, 0); err != nil {
		w.Close()
		return rep, err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	good, _, err := w.replay(w.logf, nil)
	if err != nil {
		return rep, err
	}
	w.logEnd = good
	if _, err := w.logf.Seek(good, io.SeekStart); err != nil {
		return rep, err
	}

	// The remains of the records cut off: to quarantine, then cut.
	if cut >= 0 && size > cut {
		if err := w.quarantine(w.mbox, mboxPath, cut, size, "mbox", "the remains of messages cut off at its end"); err != nil {
			return rep, err
		}
		size = cut
	}
	now := time.Now().Unix()
	for _, h := range hurts {
		e := w.byOff[h.e.Offset]
		if e == nil {
			continue
		}
		off := e.Offset
		r := record{T: recDamaged, Off: &off, Why: h.problem, At: now}
		if off == cut {
			c := cut
			r.Cut = &c
		}
		w.pending = append(w.pending, r)
		w.apply(&r)
		rep.Damaged = append(rep.Damaged, Damage{Folder: id, UIDValidity: e.UIDValidity, UID: e.UID, MessageID: e.MessageID, SHA: e.SHA, Offset: e.Offset, Problem: h.problem})
	}
	if w.end > size { // the log still accounts for bytes the mbox lost (not a message's)
		c := size
		w.pending = append(w.pending, record{T: recDamaged, Off: &c, Cut: &c, Why: "the mbox was cut here", At: now})
		w.end = size
	}
	w.pending = append(w.pending, record{T: recState}) // the next backup looks at everything
	w.State = State{}
	w.pos = w.end
	if err := w.Commit(); err != nil {
		return rep, err
	}

	// Bytes no record describes: between the records (a log line was lost,
	// or the file was rewritten), and after them.
	covered := make([]span, 0, len(w.entries)+len(hurts))
	for _, e := range w.entries {
		covered = append(covered, span{e.Offset, e.Length})
	}
	for _, h := range hurts {
		if h.framed {
			covered = append(covered, span{h.e.Offset, h.e.Length})
		}
	}
	for _, g := range gaps(covered, min(w.end, size)) {
		before := w.Adopted
		if err := w.adoptGap(g.off, g.off+g.n, "bytes no log record described (repair)"); err != nil {
			return rep, err
		}
		rep.Adopted += w.Adopted - before
	}
	if size > w.end {
		before := w.Adopted
		w.pos = w.end
		if err := w.adopt(w.end, "bytes past the last logged message (repair)"); err != nil {
			return rep, err
		}
		rep.Adopted += w.Adopted - before
	}
	rep.Quarantined = append(rep.Quarantined, w.Quarantined...)
	return rep, nil
}

// framedAt reports whether a record starts with a separator where its entry
// says and ends with its framing.
func framedAt(mb io.ReaderAt, e *Entry) bool {
	return mboxrd.Framed(mb, e.Offset, e.Length, e.Meta)
}

// gaps returns the parts of [0, end) that no span covers.
func gaps(spans []span, end int64) []span {
	sort.Slice(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
	var out []span
	at := int64(0)
	for _, s := range spans {
		if s.off > at && at < end {
			out = append(out, span{at, min(s.off, end) - at})
		}
		at = max(at, s.off+s.n)
	}
	if at < end {
		out = append(out, span{at, end - at})
	}
	return out
}

// dropLogLines rewrites a folder's log without the lines that could not be
// read: the whole old log is copied to quarantine first, and the new one
// replaces it atomically.
func (a *Archive) dropLogLines(f *Folder, bad []badLine) error {
	logPath := a.LogPath(f.ID)
	old, err := os.ReadFile(logPath)
	if err != nil {
		return err
	}
	q := filepath.Join(a.stateDir(f.ID.Account), quarantineDir,
		f.ID.relPath()+".log."+time.Now().UTC().Format("20060102T150405.000000000")+".before-repair")
	if err := a.saveQuarantine(q, bytes.NewReader(old)); err != nil {
		return fmt.Errorf("cannot keep a copy of %s before repairing it: %w", logPath, err)
	}
	skip := map[int64]bool{}
	for _, b := range bad {
		skip[b.off] = true
	}
	return fsutil.WriteFromSync(logPath, func(w io.Writer) error {
		for off := 0; off < len(old); {
			n := bytes.IndexByte(old[off:], '\n') + 1
			if n == 0 {
				break // a torn last line: dropped
			}
			if !skip[int64(off)] {
				if _, err := w.Write(old[off : off+n]); err != nil {
					return err
				}
			}
			off += n
		}
		return nil
	}, fileMode)
}
