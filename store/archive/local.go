package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// LocalFolder names a folder Lifeboat keeps itself in an account's archive.
func LocalFolder(account, name string) FolderID {
	return FolderID{Account: account, Name: name, Delim: '/', Local: true}
}

// pendingHead is the first line of a file in the pending directory; the
// message's bytes follow it.
type pendingHead struct {
	Folder string    `json:"folder"` // a local folder's name
	Date   time.Time `json:"date"`
	Flags  []string  `json:"flags,omitempty"`
}

const pendingExt = ".msg"

// AddLocal keeps a message in a local folder of an account (SentFolder:
// copies of mail Lifeboat sent). The message is first written to the
// account's pending directory and made durable, so that it is never lost;
// then, if the account lock can be had within wait, it is moved into the
// folder (with any other copies waiting there). When the lock stays taken
// (a backup is running), queued is true and the copy waits for whichever
// writer takes the lock next: every backup moves them in before it ends.
// Adding the same bytes twice keeps one copy.
func (a *Archive) AddLocal(ctx context.Context, account, folder string, raw []byte, date time.Time, flags []string,
	wait time.Duration) (queued bool, err error) {
	if err := a.writePending(account, pendingHead{Folder: folder, Date: date, Flags: flags}, raw); err != nil {
		return false, fmt.Errorf("cannot keep a copy in the archive: %w", err)
	}
	unlock, err := a.LockAccountWait(ctx, account, wait)
	if errors.Is(err, ErrLocked) {
		return true, nil
	}
	if err != nil {
		return true, err // kept in pending all the same: the next writer adds it
	}
	defer unlock()
	if err := a.finishMoves(account); err != nil {
		return true, err
	}
	if _, _, err := a.drainPending(account); err != nil {
		return true, err
	}
	return false, nil
}

func (a *Archive) writePending(account string, h pendingHead, raw []byte) error {
	dir := filepath.Join(a.stateDir(account), pendingDir)
	if err := mkdirAllSync(dir); err != nil {
		return err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	name := time.Now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(rnd[:]) + pendingExt
	return fsutil.WriteFromSync(filepath.Join(dir, name), func(w io.Writer) error {
		b, err := json.Marshal(h)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
		_, err = w.Write(raw)
		return err
	}, fileMode)
}

// PendingCopies counts the copies waiting in an account's pending directory.
func (a *Archive) PendingCopies(account string) int {
	names, _ := filepath.Glob(filepath.Join(a.stateDir(account), pendingDir, "*"+pendingExt))
	return len(names)
}

// DrainPending moves the copies waiting in an account's pending directory
// into their folders; the caller holds the account lock (see AddLocal).
func (a *Archive) DrainPending(account string) (added int, notes []string, err error) {
	return a.drainPending(account)
}

// drainPending moves every waiting copy into its local folder; the caller
// holds the account lock. A copy is removed only after the folder holding
// it is committed, and one whose bytes the folder holds already is not
// added again, so a crash in between costs nothing. A pending file that
// cannot be read goes to quarantine.
func (a *Archive) drainPending(account string) (added int, notes []string, err error) {
	dir := filepath.Join(a.stateDir(account), pendingDir)
	names, err := filepath.Glob(filepath.Join(dir, "*"+pendingExt))
	if err != nil || len(names) == 0 {
		return 0, nil, err
	}
	sort.Strings(names)
	folders := map[string]*Folder{}
	defer func() {
		for _, f := range folders {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}()
	var done []string
	for _, name := range names {
		b, rerr := os.ReadFile(name)
		if rerr != nil {
			return added, notes, rerr
		}
		var h pendingHead
		line, raw, ok := bytes.Cut(b, []byte("\n"))
		if !ok || json.Unmarshal(line, &h) != nil || h.Folder == "" {
			q := filepath.Join(a.stateDir(account), quarantineDir, pendingDir, filepath.Base(name))
			if err := a.saveQuarantine(q, bytes.NewReader(b)); err != nil {
				return added, notes, err
			}
			notes = append(notes, fmt.Sprintf("%s could not be read; moved to %s", name, q))
			done = append(done, name)
			continue
		}
		f := folders[h.Folder]
		if f == nil {
			if f, err = a.OpenFolder(LocalFolder(account, h.Folder)); err != nil {
				return added, notes, err
			}
			folders[h.Folder] = f
			notes = append(notes, f.Notes()...)
		}
		sha := mboxrd.Hash(raw)
		if len(f.ByHash(sha)) == 0 {
			if _, err := f.Append(&Message{Date: h.Date, Size: int64(len(raw)), Flags: h.Flags, MessageID: MessageID(raw),
				SHA: sha, EOL: mboxrd.Detect(raw), Body: bytes.NewReader(raw)}); err != nil {
				return added, notes, err
			}
			added++
		}
		done = append(done, name)
	}
	for _, f := range folders {
		if err := f.Commit(); err != nil {
			return 0, notes, err
		}
	}
	for _, name := range done {
		if err := os.Remove(name); err != nil {
			return added, notes, err
		}
	}
	return added, notes, fsutil.SyncDir(dir)
}
