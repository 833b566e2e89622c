package archive

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Run results.
const (
	ResultOK          = "ok"
	ResultWarnings    = "warnings"
	ResultFailed      = "failed"
	ResultInterrupted = "interrupted"
)

// Run is one backup run of one account.
type Run struct {
	Start    time.Time   `json:"start"`
	End      time.Time   `json:"end"`
	Result   string      `json:"result"`
	Error    string      `json:"error,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
	Folders  []FolderRun `json:"folders,omitempty"`
}

// FolderRun is what a run did to one folder.
type FolderRun struct {
	Path        string `json:"path"`
	OnServer    uint32 `json:"on_server"`
	Archived    int    `json:"archived"`
	New         int    `json:"new,omitempty"`
	NewBytes    int64  `json:"new_bytes,omitempty"`
	Gone        int    `json:"gone,omitempty"`
	FlagChanges int    `json:"flag_changes,omitempty"`
	Remapped    int    `json:"remapped,omitempty"`
	// Gmail: LabelChanges counts messages whose labels changed; Linked
	// those the folder shows that the archive keeps in another folder
	// (the same X-GM-MSGID), recorded without downloading them again.
	LabelChanges int `json:"label_changes,omitempty"`
	Linked       int `json:"linked,omitempty"`
	// Adopted counts messages adopted from the mbox file this run (bytes no
	// log record described); Recovered those of the folder's recovered
	// messages that were found on the server this run.
	Adopted   int    `json:"adopted,omitempty"`
	Recovered int    `json:"recovered,omitempty"`
	Damaged   string `json:"damaged,omitempty"` // the folder was skipped: why
	Unchanged bool   `json:"unchanged,omitempty"`
	Warning   string `json:"warning,omitempty"`
}

// AppendRun adds a run to the account's history (fsynced).
func (a *Archive) AppendRun(account string, r Run) error {
	dir := a.stateDir(account)
	if err := mkdirAllSync(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, runsLog), os.O_RDWR|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	// After a failed write (a full disk) the file may end mid-line: start
	// on a line of our own, so only the torn line is lost.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], st.Size()-1); err != nil || last[0] != '\n' {
			b = append([]byte{'\n'}, b...)
		}
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

// Runs returns the account's run history, oldest first (damaged lines are
// skipped: the history is informative, the folder logs are the truth).
func (a *Archive) Runs(account string) ([]Run, error) {
	f, err := os.Open(filepath.Join(a.stateDir(account), runsLog))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Run
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r Run
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}
