package export

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lifeboat-mail/lifeboat/store/archive"
)

// tbNames maps archive folders to the files of a Thunderbird "Local
// Folders" directory: a folder is a file without an extension, its
// subfolders live in NAME.sbd/, INBOX is Inbox, and the folders with a
// role take the names Thunderbird gives its own (Sent, Drafts, Trash,
// Junk, Archives), unless the archive has a folder of that name already.
type tbNames struct {
	byID map[archive.FolderID]string
	all  map[string]bool
}

var tbRoles = map[string]string{`\Sent`: "Sent", `\Drafts`: "Drafts", `\Trash`: "Trash", `\Junk`: "Junk", `\Archive`: "Archives"}

func newTBNames(a *archive.Archive, ids []archive.FolderID) *tbNames {
	t := &tbNames{byID: map[archive.FolderID]string{}, all: map[string]bool{}}
	taken := map[string]bool{}
	for _, id := range ids {
		if c := comps(id); len(c) == 1 && !id.Local {
			taken[strings.ToLower(c[0])] = true
		}
	}
	for _, id := range ids {
		c := comps(id)
		for i := range c {
			c[i] = safeName(c[i], 100)
		}
		if len(c) == 1 && !id.Local {
			if strings.EqualFold(c[0], "INBOX") {
				c[0] = "Inbox"
			} else if f, err := a.ReadFolder(id); err == nil {
				if name, ok := tbRoles[f.State.Role]; ok && !taken[strings.ToLower(name)] {
					c[0] = name
					taken[strings.ToLower(name)] = true
				}
			}
		}
		if id.Local {
			c = []string{"Sent via Lifeboat"}
			if len(comps(id)) > 2 || !strings.EqualFold(id.Name, "Sent") {
				c = append([]string{"Lifeboat"}, c[1:]...)
			}
		}
		for i := 0; i < len(c)-1; i++ {
			c[i] += ".sbd"
		}
		p := strings.Join(c, "/")
		t.byID[id] = p
		t.all[p] = true
	}
	return t
}

func (t *tbNames) path(id archive.FolderID) string { return t.byID[id] }

// parents lists the files every folder's parents need.
func (t *tbNames) parents() []string {
	set := map[string]bool{}
	for p := range t.all {
		c := strings.Split(p, "/")
		for i := 1; i < len(c); i++ {
			set[strings.TrimSuffix(strings.Join(c[:i], "/"), ".sbd")] = true
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Thunderbird's message flags (nsMsgMessageFlags).
const (
	mozRead      = 0x0001
	mozReplied   = 0x0002
	mozMarked    = 0x0004
	mozForwarded = 0x1000
)

// mozHeaders writes the X-Mozilla-Status headers of flags before the
// message, with the message's own line end, then the message.
type mozHeaders struct {
	w       io.Writer
	flags   []string
	started bool
	head    []byte
}

func (m *mozHeaders) Write(p []byte) (int, error) {
	if m.started {
		return m.w.Write(p)
	}
	m.head = append(m.head, p...)
	if !bytes.Contains(m.head, []byte("\n")) && len(m.head) < 4096 {
		return len(p), nil
	}
	if err := m.finish(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// finish writes the headers and what was held back, if not done yet (a
// message of one line without a line end).
func (m *mozHeaders) finish() error {
	if m.started {
		return nil
	}
	eol := "\n"
	if i := bytes.IndexByte(m.head, '\n'); i > 0 && m.head[i-1] == '\r' {
		eol = "\r\n"
	}
	var status int
	var keys []string
	for _, f := range m.flags {
		switch strings.ToLower(f) {
		case `\seen`:
			status |= mozRead
		case `\answered`:
			status |= mozReplied
		case `\flagged`:
			status |= mozMarked
		case "$forwarded":
			status |= mozForwarded
		case `\deleted`, `\draft`, `\recent`:
		default:
			if !strings.HasPrefix(f, `\`) {
				keys = append(keys, strings.ToLower(f))
			}
		}
	}
	hdr := fmt.Sprintf("X-Mozilla-Status: %04x%sX-Mozilla-Status2: 00000000%s", status, eol, eol)
	if len(keys) > 0 {
		hdr += "X-Mozilla-Keys: " + strings.Join(keys, " ") + eol
	}
	m.started = true
	if _, err := io.WriteString(m.w, hdr); err != nil {
		return err
	}
	_, err := m.w.Write(m.head)
	return err
}
