package archive

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// WriteOriginal writes the original bytes of an archived message to w,
// streaming, after checking the record's framing.
func (f *Folder) WriteOriginal(w io.Writer, e *Entry) error {
	mb, err := os.Open(f.a.MboxPath(f.ID))
	if err != nil {
		return err
	}
	defer mb.Close()
	return writeOriginal(w, mb, e)
}

// writeOriginal reads the record of e, whose framing mboxrd checks
// (ReadRecord); a framing error says at which byte and what is wrong.
func writeOriginal(w io.Writer, mb io.ReaderAt, e *Entry) error {
	return mboxrd.ReadRecord(w, mb, e.Offset, e.Length, e.Meta)
}

// Damage is one problem found by Verify (Offset -1: not a message's).
type Damage struct {
	Folder      FolderID
	UIDValidity uint32
	UID         uint32
	MessageID   string
	SHA         [32]byte
	Offset      int64
	Problem     string
}

func (d Damage) String() string {
	if d.Offset < 0 {
		return fmt.Sprintf("%s: %s", d.Folder, d.Problem)
	}
	where := fmt.Sprintf("%s: message at byte %d", d.Folder, d.Offset)
	if d.UID != 0 {
		where += fmt.Sprintf(" (UID %d/%d", d.UIDValidity, d.UID)
		if d.MessageID != "" {
			where += " " + d.MessageID
		}
		where += ")"
	}
	return where + ": " + d.Problem
}

// VerifyFolder re-reads every archived message of a folder and checks its
// hash against the log. progress, if set, is called after each message. It
// reads what it can: damaged log lines, a missing mbox and unlogged bytes
// are reported as damage, and every message that can be checked is.
func (a *Archive) VerifyFolder(id FolderID, progress func(done, total int)) (checked int, damage []Damage, err error) {
	f, bad, err := a.readLenient(id)
	if err != nil {
		return 0, nil, err
	}
	for _, b := range bad {
		damage = append(damage, Damage{Folder: id, Offset: -1, Problem: fmt.Sprintf("%s line %d: %s", a.LogPath(id), b.no, b.problem)})
	}
	mb, err := os.Open(a.MboxPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, append(damage, Damage{Folder: id, Offset: -1, Problem: fmt.Sprintf(
			"the mbox file %s is missing: %d archived messages are not there", a.MboxPath(id), len(f.entries))}), nil
	}
	if err != nil {
		return 0, nil, err
	}
	defer mb.Close()
	st, err := mb.Stat()
	if err != nil {
		return 0, nil, err
	}
	for i, e := range f.entries {
		if problem := checkEntry(mb, st.Size(), e); problem != "" {
			damage = append(damage, Damage{Folder: id, UIDValidity: e.UIDValidity, UID: e.UID, MessageID: e.MessageID, SHA: e.SHA, Offset: e.Offset, Problem: problem})
		}
		checked++
		if progress != nil {
			progress(i+1, len(f.entries))
		}
	}
	if st.Size() > f.end {
		damage = append(damage, Damage{Folder: id, Offset: f.end, Problem: fmt.Sprintf(
			"%d bytes after the last logged message (an interrupted write, or mail another program added; the next backup adopts them)", st.Size()-f.end)})
	}
	return checked, damage, nil
}

// checkEntry re-reads one message and says what is wrong with it ("" when
// nothing is).
func checkEntry(mb io.ReaderAt, size int64, e *Entry) string {
	if e.Offset+e.Length > size {
		return fmt.Sprintf("the mbox ends at byte %d, before this message's end (%d)", size, e.Offset+e.Length)
	}
	h := mboxrd.NewHasher()
	if err := writeOriginal(h, mb, e); err != nil {
		return err.Error()
	}
	if sum := h.Sum(); sum != e.SHA {
		return fmt.Sprintf("content changed: SHA-256 %s, log says %s", hex.EncodeToString(sum[:8]), hex.EncodeToString(e.SHA[:8]))
	}
	return ""
}

// Inspect loads a folder's log for reading like ReadFolder, but goes on past
// lines it cannot apply and says what they are; for status and the like.
func (a *Archive) Inspect(id FolderID) (*Folder, []string, error) {
	f, bad, err := a.readLenient(id)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	for _, b := range bad {
		problems = append(problems, fmt.Sprintf("%s line %d: %s", a.LogPath(id), b.no, b.problem))
	}
	return f, problems, nil
}

// readLenient loads a folder's log, skipping (and returning) the lines that
// cannot be applied.
func (a *Archive) readLenient(id FolderID) (*Folder, []badLine, error) {
	f := newFolder(a, id)
	f.readOnly = true
	lf, err := os.Open(a.LogPath(id))
	if err != nil {
		return nil, nil, err
	}
	defer lf.Close()
	var bad []badLine
	if _, _, err := f.replay(lf, &bad); err != nil {
		return nil, nil, err
	}
	return f, bad, nil
}

// ErrNoArchive means the archive has nothing for what was asked.
var ErrNoArchive = errors.New("nothing archived yet")
