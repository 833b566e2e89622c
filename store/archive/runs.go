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

// runsLog is the per-account run history; a folder can never have this
// path, since a leading '.' of a folder name is escaped.
const runsLog = ".runs.log"

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
	Unchanged   bool   `json:"unchanged,omitempty"`
	Warning     string `json:"warning,omitempty"`
}

// AppendRun adds a run to the account's history (fsynced).
func (a *Archive) AppendRun(account string, r Run) error {
	dir := a.accountDir(account)
	if err := mkdirAllSync(dir); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, runsLog), os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

// Runs returns the account's run history, oldest first (damaged lines are
// skipped: the history is informative, the folder logs are the truth).
func (a *Archive) Runs(account string) ([]Run, error) {
	f, err := os.Open(filepath.Join(a.accountDir(account), runsLog))
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
