// Package importer brings mail from other programs into the archive: mbox
// files of every common variant (mboxrd, mboxo, mboxcl2 with
// Content-Length; Google Takeout, Thunderbird, mutt, Apple Mail's .mbox
// bundles) and directories of .eml files. Each message is appended to an
// archive folder, once: a message whose content (SHA-256) the folder
// already holds is skipped, so importing the same file twice adds nothing.
// Flags come from the headers mail programs keep them in (Status and
// X-Status, X-Mozilla-Status); Takeout's X-Gmail-Labels are kept as the
// message's labels in the metadata log. The source is only read.
package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// Options say where imported mail goes.
type Options struct {
	// Folder puts every message into this archive folder ("Old/2019");
	// empty: a folder per source file or directory, named after it.
	Folder string
	// Progress is told of each source as it is done.
	Progress func(source, folder string, added, skipped int)
}

// Result counts what an import did.
type Result struct {
	Sources  int
	Added    int // new in the archive
	Skipped  int // already there (same content)
	Folders  []string
	Problems []string // sources or messages that could not be read
}

// source is one mbox file or .eml directory and the folder it goes to.
type source struct {
	path   string
	folder string
	eml    bool
}

// Import imports path (a file or a directory) into account's archive. The
// caller holds no lock; Import takes the account's.
func Import(a *archive.Archive, account, path string, o Options) (Result, error) {
	var res Result
	srcs, err := sources(path, o.Folder)
	if err != nil {
		return res, err
	}
	if len(srcs) == 0 {
		return res, fmt.Errorf("%s holds no mbox file and no .eml file", path)
	}
	unlock, err := a.LockAccount(account)
	if err != nil {
		return res, err
	}
	defer unlock()
	folders := map[string]*archive.Folder{}
	defer func() {
		for _, f := range folders {
			f.Close()
		}
	}()
	for _, s := range srcs {
		f := folders[s.folder]
		if f == nil {
			if f, err = a.OpenFolder(archive.FolderID{Account: account, Name: s.folder, Delim: '/'}); err != nil {
				return res, fmt.Errorf("the archive folder %s: %w", s.folder, err)
			}
			folders[s.folder] = f
			res.Folders = append(res.Folders, s.folder)
		}
		added, skipped := 0, 0
		add := func(m parsed) error {
			sha := mboxrd.Hash(m.raw)
			if len(f.ByHash(sha)) > 0 {
				skipped++
				return nil
			}
			flags, labels := flagsOf(m.raw)
			date := m.date
			if date.IsZero() {
				date = dateHeader(m.raw)
			}
			_, err := f.Append(&archive.Message{Date: date, Size: int64(len(m.raw)), Flags: flags, Labels: labels,
				MessageID: archive.MessageID(m.raw), SHA: sha, EOL: mboxrd.Detect(m.raw), Body: bytes.NewReader(m.raw)})
			if err != nil {
				return err
			}
			added++
			if f.Pending() >= 1000 {
				return f.Commit()
			}
			return nil
		}
		var perr error
		if s.eml {
			perr = readEMLDir(s.path, add, &res.Problems)
		} else {
			perr = readMbox(s.path, add)
		}
		if err := f.Commit(); err != nil {
			return res, err
		}
		if perr != nil {
			var pe *parseError
			if !errors.As(perr, &pe) {
				return res, perr
			}
			res.Problems = append(res.Problems, perr.Error())
		}
		res.Sources++
		res.Added += added
		res.Skipped += skipped
		if o.Progress != nil {
			o.Progress(s.path, s.folder, added, skipped)
		}
	}
	return res, nil
}

// sources finds what path holds: an mbox file; a directory of .eml files;
// a tree with mbox files (by extension or by their first line),
// Thunderbird's NAME.sbd directories and Apple Mail's NAME.mbox bundles.
func sources(path, folder string) ([]source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	name := func(rel string) string {
		if folder != "" {
			return folder
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		for i, p := range parts {
			p = strings.TrimSuffix(p, ".sbd")
			p = strings.TrimSuffix(p, ".mbox")
			p = strings.TrimSuffix(p, ".mbx")
			if strings.EqualFold(p, "inbox") && len(parts) == 1 {
				p = "INBOX"
			}
			parts[i] = p
		}
		return strings.Join(parts, "/")
	}
	if !st.IsDir() {
		if !isMbox(path) {
			return nil, fmt.Errorf("%s is not an mbox file (its first line is not a \"From \" line) nor a directory", path)
		}
		return []source{{path: path, folder: name(filepath.Base(path))}}, nil
	}
	var out []source
	emlDirs := map[string]bool{}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		if d.IsDir() {
			// Apple Mail: Work.mbox/ holding the file "mbox".
			if strings.HasSuffix(d.Name(), ".mbox") {
				if inner := filepath.Join(p, "mbox"); isMbox(inner) {
					out = append(out, source{path: inner, folder: name(rel)})
				}
			}
			return nil
		}
		switch {
		case strings.EqualFold(filepath.Ext(p), ".eml"):
			dir := filepath.Dir(p)
			if !emlDirs[dir] {
				emlDirs[dir] = true
				r, _ := filepath.Rel(path, dir)
				if r == "." {
					r = filepath.Base(path)
				}
				out = append(out, source{path: dir, folder: name(r), eml: true})
			}
		case d.Name() == "mbox" && strings.HasSuffix(filepath.Dir(p), ".mbox"):
			// an Apple Mail bundle, found above
		case isMbox(p):
			out = append(out, source{path: p, folder: name(rel)})
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, err
}

// isMbox: the file starts with a separator line.
func isMbox(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := io.ReadFull(f, buf)
	line := buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i+1]
	}
	_, _, ok := mboxrd.ParseSeparator(line)
	return ok
}

type parseError struct{ msg string }

func (e *parseError) Error() string { return e.msg }

// readEMLDir adds every .eml file of dir, in name order.
func readEMLDir(dir string, add func(parsed) error, problems *[]string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range des {
		if d.IsDir() || !strings.EqualFold(filepath.Ext(d.Name()), ".eml") {
			continue
		}
		p := filepath.Join(dir, d.Name())
		raw, err := os.ReadFile(p)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		var date time.Time
		if st, err := d.Info(); err == nil {
			date = st.ModTime()
		}
		if hd := dateHeader(raw); !hd.IsZero() {
			date = hd
		}
		if err := add(parsed{raw: raw, date: date}); err != nil {
			return err
		}
	}
	return nil
}

// flagsOf reads the flags mail programs keep in headers: Status/X-Status
// (mutt, Pine, Apple Mail's exports), X-Mozilla-Status (Thunderbird), and
// Takeout's X-Gmail-Labels (returned as labels, the system ones as IMAP
// names them, \Inbox for "Inbox"; "Unread" and "Opened" are flags, not
// labels, "Starred" both, and "Archived" is left out: over IMAP, a message
// out of the Inbox simply lacks \Inbox).
func flagsOf(raw []byte) (flags, labels []string) {
	set := map[string]bool{}
	h := headers(raw)
	if v, ok := h["status"]; ok && strings.ContainsRune(v, 'R') {
		set[`\Seen`] = true
	}
	if v, ok := h["x-status"]; ok {
		for c, f := range map[rune]string{'A': `\Answered`, 'F': `\Flagged`, 'T': `\Draft`, 'D': `\Deleted`} {
			if strings.ContainsRune(v, c) {
				set[f] = true
			}
		}
	}
	if v, ok := h["x-mozilla-status"]; ok {
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 32); err == nil {
			for bit, f := range map[uint64]string{0x1: `\Seen`, 0x2: `\Answered`, 0x4: `\Flagged`, 0x1000: "$Forwarded"} {
				if n&bit != 0 {
					set[f] = true
				}
			}
		}
	}
	if v, ok := h["x-mozilla-keys"]; ok {
		for _, k := range strings.Fields(v) {
			set[k] = true
		}
	}
	if v, ok := h["x-gmail-labels"]; ok {
		unread := false
		for _, l := range splitLabels(v) {
			switch l {
			case "Unread":
				unread = true
				continue // a state, not a label
			case "Opened":
				set[`\Seen`] = true
				continue
			case "Archived":
				continue // not in the Inbox: no label says so over IMAP either
			case "Starred":
				set[`\Flagged`] = true
			}
			labels = append(labels, archive.CanonicalLabel(l))
		}
		if !unread {
			set[`\Seen`] = true
		}
	}
	for f := range set {
		flags = append(flags, f)
	}
	sort.Strings(flags)
	return flags, labels
}

// splitLabels splits X-Gmail-Labels: commas, with "quoted, labels" kept.
func splitLabels(v string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// headers returns the message's header fields (lower-cased names,
// unfolded values; the first of each name).
func headers(raw []byte) map[string]string {
	out := map[string]string{}
	head := raw
	if i := bytes.Index(head, []byte("\n\r\n")); i >= 0 {
		head = head[:i+1]
	}
	if i := bytes.Index(head, []byte("\n\n")); i >= 0 {
		head = head[:i+1]
	}
	var name string
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && name != "" {
			out[name] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			name = ""
			continue
		}
		name = strings.ToLower(strings.TrimSpace(k))
		if _, seen := out[name]; seen {
			name = "" // keep the first
			continue
		}
		out[name] = strings.TrimSpace(v)
	}
	return out
}

// dateHeader is the message's Date header as a time (zero if none reads).
func dateHeader(raw []byte) time.Time {
	v := headers(raw)["date"]
	if v == "" {
		return time.Time{}
	}
	if i := strings.Index(v, " ("); i > 0 {
		v = v[:i]
	}
	for _, layout := range []string{time.RFC1123Z, "Mon, _2 Jan 2006 15:04:05 -0700", "_2 Jan 2006 15:04:05 -0700", time.RFC1123, "Mon, _2 Jan 2006 15:04:05 MST"} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t
		}
	}
	return time.Time{}
}
