// Package export writes an archived account out in formats other programs
// import: one mboxrd file per folder, one .eml file per message, or a
// Thunderbird "Local Folders" tree. Every message is the bytes the server
// gave, except in the Thunderbird tree, where X-Mozilla-Status headers
// carry the flags Thunderbird would otherwise lose. Nothing existing is
// ever overwritten: the destination must be empty or new.
package export

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// Format is an export format.
type Format string

const (
	Mbox        Format = "mbox"        // <folder path>.mbox, mboxrd, one per folder
	EML         Format = "eml"         // <folder path>/<n> <subject>.eml, one per message
	Thunderbird Format = "thunderbird" // a Local Folders tree: Inbox, Work, Work.sbd/2026
)

// Options say what to export.
type Options struct {
	Format Format
	// Folders limits the export to these archive folders (paths) and
	// their subfolders; empty: all.
	Folders []string
	// SkipDeleted leaves out messages deleted on the server.
	SkipDeleted bool
	// ByLabel (mbox only) writes one mbox per Gmail label, under
	// "Labels/": a message with three labels is in three files. Messages
	// without a label stay in their folder's file, and so does all of
	// Trash and Spam.
	ByLabel bool
	// Progress is told of each folder written.
	Progress func(folder string, messages int)
}

// Result counts what was written.
type Result struct {
	Folders, Messages int
	Labels            int // label files written (ByLabel)
	Bytes             int64
	Files             []string // the folder files (mbox, thunderbird) or directories (eml) written
}

// Export writes account's archive to dest.
func Export(a *archive.Archive, account, dest string, o Options) (Result, error) {
	var res Result
	switch o.Format {
	case Mbox, EML, Thunderbird:
	default:
		return res, fmt.Errorf("unknown export format %q: use mbox, eml or thunderbird", o.Format)
	}
	if o.ByLabel && o.Format != Mbox {
		return res, fmt.Errorf("one file per label is written as mbox only: use --format mbox with --by-label")
	}
	if err := emptyDest(dest); err != nil {
		return res, err
	}
	ids, err := a.Folders(account)
	if err != nil {
		return res, err
	}
	if len(ids) == 0 {
		return res, fmt.Errorf("the archive %s holds no folders of an account %q", a.Root, account)
	}
	ids = selected(ids, o.Folders)
	if len(ids) == 0 {
		return res, fmt.Errorf("the archive of %s has no folder %s", account, strings.Join(o.Folders, ", "))
	}
	var tb *tbNames
	if o.Format == Thunderbird {
		tb = newTBNames(a, ids)
	}
	lf := labelFiles{items: map[string][]item{}, names: map[string]string{}}
	wrote := func(what, path string, n int, b int64) {
		res.Messages += n
		res.Bytes += b
		res.Files = append(res.Files, path)
		if o.Progress != nil {
			o.Progress(what, n)
		}
	}
	for _, id := range ids {
		f, err := a.ReadFolder(id)
		if err != nil {
			return res, fmt.Errorf("reading %s: %w", id, err)
		}
		var n int
		var b int64
		var path string
		switch o.Format {
		case Mbox:
			path = filepath.Join(dest, filepath.FromSlash(safePath(comps(id)))+".mbox")
			var rest []item
			for _, e := range f.Entries() {
				if !wanted(e, o) {
					continue
				}
				if !o.ByLabel || len(e.Labels) == 0 || f.State.Role == `\Trash` || f.State.Role == `\Junk` {
					rest = append(rest, item{f, e})
				} else {
					lf.add(f, e)
				}
			}
			if o.ByLabel && len(rest) == 0 {
				continue // every message is in its labels' files
			}
			n, b, err = writeItems(path, rest, false)
		case Thunderbird:
			path = filepath.Join(dest, filepath.FromSlash(tb.path(id)))
			n, b, err = writeMbox(path, f, o, true)
		case EML:
			path = filepath.Join(dest, filepath.FromSlash(safePath(comps(id))))
			n, b, err = writeEML(path, f, o)
		}
		if err != nil {
			return res, err
		}
		res.Folders++
		wrote(id.Path(), path, n, b)
	}
	for _, rel := range lf.order {
		path := filepath.Join(dest, filepath.FromSlash(rel))
		n, b, err := writeItems(path, lf.items[rel], false)
		if err != nil {
			return res, err
		}
		res.Labels++
		wrote("Label: "+lf.names[rel], path, n, b)
	}
	if tb != nil {
		// Thunderbird shows a folder's subfolders only when the parent has
		// a file of its own: an empty one where the archive has none.
		for _, p := range tb.parents() {
			path := filepath.Join(dest, filepath.FromSlash(p))
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					return res, err
				}
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					return res, err
				}
			}
		}
	}
	return res, nil
}

// emptyDest makes sure dest is a new or empty directory.
func emptyDest(dest string) error {
	des, err := os.ReadDir(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dest, 0o700)
	}
	if err != nil {
		return fmt.Errorf("the export destination: %w", err)
	}
	if len(des) > 0 {
		return fmt.Errorf("%s is not empty: export into a new or empty directory (nothing is ever overwritten)", dest)
	}
	return nil
}

func selected(ids []archive.FolderID, folders []string) []archive.FolderID {
	if len(folders) == 0 {
		return ids
	}
	var out []archive.FolderID
	for _, id := range ids {
		if id.Under(folders...) {
			out = append(out, id)
		}
	}
	return out
}

// comps is a folder's path, level by level, as a person reads it.
func comps(id archive.FolderID) []string {
	var c []string
	if id.Delim == 0 {
		c = []string{id.Name}
	} else {
		c = strings.Split(id.Name, string(id.Delim))
	}
	if id.Local {
		c = append([]string{"Lifeboat"}, c...)
	}
	return c
}

func wanted(e *archive.Entry, o Options) bool {
	return !o.SkipDeleted || e.Gone.IsZero()
}

// writeMbox writes one folder as an mboxrd file of the original bytes
// (their line ends untouched). With mozilla, each message starts with the
// X-Mozilla-Status headers of its flags.
func writeMbox(path string, f *archive.Folder, o Options, mozilla bool) (n int, size int64, err error) {
	var items []item
	for _, e := range f.Entries() {
		if wanted(e, o) {
			items = append(items, item{f, e})
		}
	}
	return writeItems(path, items, mozilla)
}

// labelFiles gathers the messages of each label's file (ByLabel), by the
// file's path relative to the destination: \Inbox and a Takeout's "Inbox",
// or names that are one once made safe, share a file, and a message is in
// it once.
type labelFiles struct {
	items map[string][]item
	names map[string]string // a label the file is named after, as a person reads it
	order []string          // the files in the order first met
}

func (lf *labelFiles) add(f *archive.Folder, e *archive.Entry) {
	var files []string
	for _, l := range e.Labels {
		rel := "Labels/" + safePath(strings.Split(archive.LabelName(l), "/")) + ".mbox"
		if slices.Contains(files, rel) {
			continue
		}
		files = append(files, rel)
		if lf.items[rel] == nil {
			lf.order = append(lf.order, rel)
			lf.names[rel] = archive.LabelName(l)
		}
		lf.items[rel] = append(lf.items[rel], item{f, e})
	}
}

// item is one archived message and its folder.
type item struct {
	f *archive.Folder
	e *archive.Entry
}

// writeItems writes messages as an mboxrd file (see writeMbox).
func writeItems(path string, items []item, mozilla bool) (n int, size int64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, 0, err
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(out, 1<<20)
	for _, it := range items {
		f, e := it.f, it.e
		if _, err := w.Write(mboxrd.Separator(e.Date)); err != nil {
			return n, size, err
		}
		enc := mboxrd.NewEncoder(w, mboxrd.EOLRaw)
		var dst io.Writer = enc
		var moz *mozHeaders
		if mozilla {
			moz = &mozHeaders{w: enc, flags: e.Flags}
			dst = moz
		}
		cw := &counter{w: dst}
		err := f.WriteOriginal(cw, e)
		if err == nil && moz != nil {
			err = moz.finish()
		}
		if err != nil {
			return n, size, fmt.Errorf("%s: the message at byte %d: %w (run lifeboat verify)", f.ID, e.Offset, err)
		}
		if _, _, err := enc.Close(); err != nil {
			return n, size, err
		}
		n++
		size += cw.n
	}
	if err := w.Flush(); err != nil {
		return n, size, err
	}
	return n, size, out.Sync()
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeEML writes one file per message into dir, named by its number,
// date and subject (safe on Windows), dated by its INTERNALDATE.
func writeEML(dir string, f *archive.Folder, o Options) (n int, size int64, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, 0, err
	}
	var buf bytes.Buffer
	for i, e := range f.Entries() {
		if !wanted(e, o) {
			continue
		}
		buf.Reset()
		if err := f.WriteOriginal(&buf, e); err != nil {
			return n, size, fmt.Errorf("%s: the message at byte %d: %w (run lifeboat verify)", f.ID, e.Offset, err)
		}
		name := fmt.Sprintf("%05d %s %s", i+1, e.Date.UTC().Format("2006-01-02"), subject(buf.Bytes()))
		name = safeName(strings.TrimSpace(name), 120) + ".eml"
		path := filepath.Join(dir, name)
		if err := writeNew(path, buf.Bytes()); err != nil {
			return n, size, err
		}
		if !e.Date.IsZero() {
			os.Chtimes(path, e.Date, e.Date)
		}
		n++
		size += int64(buf.Len())
	}
	return n, size, nil
}

func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// subject is the message's Subject header, raw (encoded words stay
// encoded: a file name needs no decoding to be safe).
func subject(msg []byte) string {
	head := msg
	if i := bytes.Index(head, []byte("\n\r\n")); i >= 0 {
		head = head[:i]
	} else if i := bytes.Index(head, []byte("\n\n")); i >= 0 {
		head = head[:i]
	}
	for _, line := range strings.Split(string(head), "\n") {
		if len(line) > 8 && strings.EqualFold(line[:8], "subject:") {
			return strings.TrimSpace(line[8:])
		}
	}
	return ""
}

// safePath makes a folder path whose every level is a name Windows, macOS
// and Linux all accept.
func safePath(c []string) string {
	out := make([]string, len(c))
	for i, s := range c {
		out[i] = safeName(s, 100)
	}
	return strings.Join(out, "/")
}

var reserved = map[string]bool{"CON": true, "PRN": true, "AUX": true, "NUL": true}

func init() {
	for i := 1; i <= 9; i++ {
		reserved[fmt.Sprintf("COM%d", i)] = true
		reserved[fmt.Sprintf("LPT%d", i)] = true
	}
}

// safeName replaces what a file name cannot hold on Windows (<>:"/\|?*,
// control characters, a trailing dot or space, device names) and cuts it
// to max bytes at a character boundary.
func safeName(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || strings.ContainsRune(`<>:"/\|?*`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	for len(out) > max {
		_, size := lastRune(out)
		out = out[:len(out)-size]
	}
	out = strings.TrimRight(out, ". ")
	if out == "" {
		out = "_"
	}
	if base, _, _ := strings.Cut(out, "."); reserved[strings.ToUpper(base)] {
		out = "_" + out
	}
	return out
}

func lastRune(s string) (rune, int) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i]&0xC0 != 0x80 {
			return []rune(s[i:])[0], len(s) - i
		}
	}
	return 0, 1
}
