package archive

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Names of Lifeboat's own state, all under <root>/.lifeboat/. The account
// directories beside it hold mbox files and folder directories only.
const (
	stateDirName  = ".lifeboat"
	metaDir       = "meta"
	quarantineDir = "quarantine"
	pendingDir    = "pending"
	tmpDir        = "tmp"
	runsLog       = "runs.log"
	lockName      = "lock"
	movesName     = "moves.json"
	mboxExt       = ".mbox"
	logExt        = ".log"
)

// LocalDir is the directory, inside an account's directory, of the folders
// Lifeboat keeps itself (copies of mail it sent, imports): no server folder
// can map to it, since escapeComponent writes every '%' of a server's
// folder name as "%25" and "%Li" is no escape.
const LocalDir = "%Lifeboat"

// escapeComponent turns one folder-name component into a file-name
// component that every common file system accepts, reversibly: bytes that
// are unsafe are written as %XX, and so is '%' itself.
func escapeComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		unsafe := c < 0x20 || c == 0x7f || c == '%' || c == '/' || c == '\\' ||
			strings.IndexByte(`:*?"<>|`, c) >= 0 ||
			(i == 0 && c == '.') || // hidden files, "." and ".."
			(i == len(s)-1 && (c == ' ' || c == '.')) // Windows drops these
		if unsafe {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "%" // an empty component still needs a name; never a valid %XX escape
	}
	return b.String()
}

func unescapeComponent(s string) (string, error) {
	if s == "%" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		var c byte
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), nil
}

// relPath is the path, relative to an account's directory and without
// extension, that holds a folder.
func (id FolderID) relPath() string {
	comps := id.components()
	parts := make([]string, 0, len(comps)+1)
	if id.Local {
		parts = append(parts, LocalDir)
	}
	for _, c := range comps {
		parts = append(parts, escapeComponent(c))
	}
	return filepath.Join(parts...)
}

// folderOf inverts relPath: the folder a file at rel (relative to the
// account's directory or its meta directory, extension removed) holds.
// The delimiter comes from the folder's log header (0 when unknown: '/').
func folderOf(account, rel string, delim rune) (FolderID, error) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	id := FolderID{Account: account, Delim: delim}
	if len(parts) > 1 && parts[0] == LocalDir {
		id.Local, parts = true, parts[1:]
	}
	for i, p := range parts {
		c, err := unescapeComponent(p)
		if err != nil {
			return FolderID{}, err
		}
		parts[i] = c
	}
	if len(parts) > 1 && (id.Delim == 0 || anyContains(parts, id.Delim)) {
		// Not known (a file no log describes yet), or not one the names
		// can be joined with: any delimiter none of them holds.
		for _, d := range "/.\\|\x1f" {
			if !anyContains(parts, d) {
				id.Delim = d
				break
			}
		}
	}
	id.Name = strings.Join(parts, string(id.Delim))
	return id, nil
}

func anyContains(parts []string, r rune) bool {
	for _, p := range parts {
		if strings.ContainsRune(p, r) {
			return true
		}
	}
	return false
}

// Paths of an account's state.
func (a *Archive) stateRoot() string { return filepath.Join(a.Root, stateDirName) }

func (a *Archive) stateDir(account string) string {
	return filepath.Join(a.stateRoot(), escapeComponent(account))
}

func (a *Archive) accountDir(account string) string {
	return filepath.Join(a.Root, escapeComponent(account))
}

// StatePath is where Lifeboat keeps a file of its own for the whole archive
// (the index, for one), beside the accounts' state.
func (a *Archive) StatePath(name string) string { return filepath.Join(a.stateRoot(), name) }

// MboxPath is where a folder's messages are.
func (a *Archive) MboxPath(id FolderID) string {
	return filepath.Join(a.accountDir(id.Account), id.relPath()+mboxExt)
}

// LogPath is where a folder's metadata log is.
func (a *Archive) LogPath(id FolderID) string {
	return filepath.Join(a.stateDir(id.Account), metaDir, id.relPath()+logExt)
}
