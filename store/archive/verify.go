package archive

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

func writeOriginal(w io.Writer, mb io.ReaderAt, e *Entry) error {
	trail := int64(1)
	if e.Meta.NoFinalNewline {
		trail = 2
	}
	br := bufio.NewReaderSize(io.NewSectionReader(mb, e.Offset, e.Length), 64*1024)
	sep, err := br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(sep, []byte("From ")) {
		return fmt.Errorf("no \"From \" separator at byte %d", e.Offset)
	}
	bodyLen := e.Length - int64(len(sep)) - trail
	if bodyLen < 0 {
		return fmt.Errorf("record at byte %d is shorter than its framing", e.Offset)
	}
	dec := mboxrd.NewDecoder(w, e.Meta.EOL)
	n, err := io.Copy(dec, io.LimitReader(br, bodyLen))
	if err != nil {
		return err
	}
	if n != bodyLen {
		return fmt.Errorf("record at byte %d is cut short: %d of %d bytes", e.Offset, n, bodyLen)
	}
	if _, err := dec.Close(); err != nil {
		return err
	}
	tail := make([]byte, trail)
	if _, err := io.ReadFull(br, tail); err != nil || !bytes.Equal(tail, []byte("\n\n")[:trail]) {
		return fmt.Errorf("record at byte %d does not end with the blank line of mbox framing", e.Offset)
	}
	return nil
}

// Damage is one problem found by Verify.
type Damage struct {
	Folder      FolderID
	UIDValidity uint32
	UID         uint32
	MessageID   string
	Offset      int64
	Problem     string
}

func (d Damage) String() string {
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
// hash against the log. progress, if set, is called after each message.
func (a *Archive) VerifyFolder(id FolderID, progress func(done, total int)) (checked int, damage []Damage, err error) {
	f, err := a.ReadFolder(id)
	if err != nil {
		return 0, nil, err
	}
	mb, err := os.Open(a.MboxPath(id))
	if err != nil {
		return 0, nil, err
	}
	defer mb.Close()
	st, err := mb.Stat()
	if err != nil {
		return 0, nil, err
	}
	for i, e := range f.entries {
		h := mboxrd.NewHasher()
		problem := ""
		if e.Offset+e.Length > st.Size() {
			problem = fmt.Sprintf("the mbox ends at byte %d, before this message's end (%d)", st.Size(), e.Offset+e.Length)
		} else if err := writeOriginal(h, mb, e); err != nil {
			problem = err.Error()
		} else if sum := h.Sum(); sum != e.SHA {
			problem = fmt.Sprintf("content changed: SHA-256 %s, log says %s", hex.EncodeToString(sum[:8]), hex.EncodeToString(e.SHA[:8]))
		}
		if problem != "" {
			damage = append(damage, Damage{Folder: id, UIDValidity: e.UIDValidity, UID: e.UID, MessageID: e.MessageID, Offset: e.Offset, Problem: problem})
		}
		checked++
		if progress != nil {
			progress(i+1, len(f.entries))
		}
	}
	if st.Size() > f.end {
		damage = append(damage, Damage{Folder: id, Offset: f.end, Problem: fmt.Sprintf(
			"%d bytes after the last logged message (an interrupted write; the next backup moves them to quarantine)", st.Size()-f.end)})
	}
	return checked, damage, nil
}

// ErrNoArchive means the archive has nothing for what was asked.
var ErrNoArchive = errors.New("nothing archived yet")
