package archive

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// NotMboxError means a file in the mbox tree does not read as an mbox.
type NotMboxError struct{ Path string }

func (e *NotMboxError) Error() string {
	return fmt.Sprintf("%s does not start with a \"From \" line: it is not an mbox file; nothing was changed — move it out of the archive", e.Path)
}

// checkIsMbox reads the first line of a non-empty file that no log
// describes yet: adopting starts only with a file that reads as an mbox.
func checkIsMbox(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	line, err := bufio.NewReader(fh).ReadSlice('\n')
	if len(line) == 0 && err == io.EOF {
		return nil // empty: a new folder
	}
	if _, _, ok := mboxrd.ParseSeparator(line); !ok {
		return &NotMboxError{path}
	}
	return nil
}

// adopt logs the mbox bytes from `from` to the end of the file, which no log
// record describes, as recovered messages (invariant 3). Only a record that
// a crash cut short is moved to quarantine: what follows the last record
// end the intent records announced, or, without them, a last record that
// carries Lifeboat's separator and lacks the blank line every record of
// Lifeboat's ends with. A record another program wrote without that blank
// line gets one appended (at the end of the file, invariant 1) and counted
// in its framing, so the next record starts on a line of its own.
func (f *Folder) adopt(from int64, why string) error {
	st, err := f.mbox.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	var found []mboxrd.Found
	lead, err := mboxrd.Scan(f.mbox, from, size, func(r mboxrd.Found) error {
		found = append(found, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.a.MboxPath(f.ID), err)
	}
	mboxPath := f.a.MboxPath(f.ID)
	// Bytes this folder's own writes left past the log: intent records
	// announced every piece written (up to f.upTo) and where each record in
	// it ends, so what follows the last record end that made it to the file
	// is a record cut short, whatever its bytes look like.
	own := f.upTo > from && size <= f.upTo
	complete := from
	bounds := map[int64]bool{}
	for _, r := range found {
		bounds[r.Offset+r.Length] = true
	}
	for _, e := range f.ends {
		if e > from && e <= size {
			complete = max(complete, e)
			own = own && bounds[e] // else the file is not as announced: someone else wrote it too
		}
	}
	switch n := len(found); {
	case own:
		if complete < size {
			if err := f.quarantine(f.mbox, mboxPath, complete, size, "mbox", "a message cut short by an interrupted write"); err != nil {
				return err
			}
			for len(found) > 0 && found[len(found)-1].Offset+found[len(found)-1].Length > complete {
				found = found[:len(found)-1]
			}
			size, lead = complete, 0
		}
	case n > 0:
		// No word from our own writes (a lost or stale log, another
		// program's mail): a last record of ours without the blank line
		// every record of ours ends with was cut short.
		if last := found[n-1]; last.Ours && !last.Blank {
			if err := f.quarantine(f.mbox, mboxPath, last.Offset, size, "mbox", "a message cut short by an interrupted write"); err != nil {
				return err
			}
			found, size = found[:n-1], last.Offset
		}
	}
	// The file must end with a blank line, so that the next record starts a
	// line of its own in every reader's eyes.
	if pad := padding(f.mbox, size); pad != "" {
		if _, err := f.mbox.WriteString(pad); err != nil {
			return f.fail(err) // not failWrite: the bytes before it are being adopted
		}
		if err := f.mbox.Sync(); err != nil {
			return f.fail(err)
		}
		if n := len(found); n > 0 && found[n-1].Offset+found[n-1].Length == size {
			found[n-1].Length += int64(len(pad))
			found[n-1].Meta.Trail += len(pad)
			found[n-1].Alts = nil
		}
		size += int64(len(pad))
	}
	if err := f.adoptRecords(found); err != nil {
		return err
	}
	if lead > 0 {
		why += fmt.Sprintf(" (%d bytes at byte %d that are not a message were left in place)", lead, from)
		f.LeftInPlace += lead
	}
	f.noteAdoption(len(found), why, size)
	f.Interrupted = own
	f.end, f.pos = size, size
	return f.Commit()
}

// adoptGap adopts the records in mbox bytes [from, to) between logged
// messages that no record describes (repair: a log line was lost).
func (f *Folder) adoptGap(from, to int64, why string) error {
	var found []mboxrd.Found
	lead, err := mboxrd.Scan(f.mbox, from, to, func(r mboxrd.Found) error {
		found = append(found, r)
		return nil
	})
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return nil
	}
	if err := f.adoptRecords(found); err != nil {
		return err
	}
	if lead > 0 {
		why += fmt.Sprintf(" (%d bytes at byte %d that are not a message were left in place)", lead, from)
		f.LeftInPlace += lead
	}
	f.noteAdoption(len(found), why, 0)
	return f.Commit()
}

func (f *Folder) noteAdoption(n int, why string, end int64) {
	at := time.Now()
	f.pending = append(f.pending, record{T: recAdopt, Count: uint32(n), Why: why, End: end, At: at.Unix()})
	f.Adoptions = append(f.Adoptions, Adoption{At: at, Count: n, Why: why})
	f.Adopted += n
	f.AdoptedWhy = why
}

// adoptRecords queues a recovered-message record for each found record,
// its identity read from its bytes: the hash of each reading of its
// framing, the Message-ID and size of its most likely reading.
func (f *Folder) adoptRecords(found []mboxrd.Found) error {
	at := time.Now()
	for _, r := range found {
		e := &Entry{Offset: r.Offset, Length: r.Length, Date: r.Date, Meta: r.Meta, Recovered: true, Added: at}
		h := mboxrd.NewHasher()
		head := &headSaver{limit: 64 << 10}
		if err := writeOriginal(io.MultiWriter(h, head), f.mbox, e); err != nil {
			return fmt.Errorf("adopting the record at byte %d of %s: %w", r.Offset, f.a.MboxPath(f.ID), err)
		}
		e.SHA = h.Sum()
		e.Size = head.n
		e.MessageID = MessageID(head.b)
		for _, m := range r.Alts {
			h := mboxrd.NewHasher()
			if writeOriginal(h, f.mbox, &Entry{Offset: r.Offset, Length: r.Length, Meta: m}) == nil {
				if sum := h.Sum(); sum != e.SHA {
					e.alts = append(e.alts, reading{sum, m})
				}
			}
		}
		off, trail := e.Offset, e.Meta.Trail
		rec := record{T: recMessage, Off: &off, Len: e.Length, SHA: hex.EncodeToString(e.SHA[:]), Size: e.Size,
			MID: e.MessageID, EOL: eolName(e.Meta.EOL), Trail: &trail, Rec: true, At: at.Unix()}
		if !e.Date.IsZero() {
			rec.Date = e.Date.Format(time.RFC3339)
		}
		for _, alt := range e.alts {
			rec.Alts = append(rec.Alts, altRead{SHA: hex.EncodeToString(alt.sha[:]), EOL: eolName(alt.meta.EOL), Trail: alt.meta.Trail})
		}
		f.pending = append(f.pending, rec)
		f.entries = append(f.entries, e)
		f.index(e)
	}
	return nil
}

// padding is what must follow the first size bytes of an mbox for it to
// end with a blank line ("" for an empty file).
func padding(r io.ReaderAt, size int64) string {
	if size == 0 {
		return ""
	}
	var b [2]byte
	n := min(size, 2)
	if _, err := r.ReadAt(b[2-n:], size-n); err != nil {
		return ""
	}
	switch {
	case b[1] != '\n':
		return "\n\n"
	case n == 2 && b[0] == '\n':
		return ""
	}
	return "\n"
}

// headSaver keeps the first bytes written to it and counts them all.
type headSaver struct {
	b     []byte
	limit int
	n     int64
}

func (h *headSaver) Write(p []byte) (int, error) {
	if room := h.limit - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	h.n += int64(len(p))
	return len(p), nil
}
