package index

import (
	"bytes"
	"cmp"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/msgtext"
)

const (
	// maxTextRead is how much of a message is read for its text. The text
	// of a message comes before its attachments nearly always; a message
	// cut here is taken apart as far as it goes.
	maxTextRead = 1 << 20
	// keepTextBuffer is the largest buffer a reader keeps between messages.
	keepTextBuffer = 256 << 10
	// maxBodyText is how much body text of a message is indexed.
	maxBodyText = 64 << 10
	// textBatch is how many messages are indexed per transaction, at
	// most; textBatchBytes bounds a batch's text (each message counted as
	// its size, up to maxBodyText), so that the two batches in memory (one
	// read ahead of the one written) stay a few MB whatever the mail.
	textBatch      = 256
	textBatchBytes = 1 << 20
)

// pendingText is a row whose text is not indexed yet.
type pendingText struct {
	id                  int64
	off                 int64
	sha                 string
	subject, from, to   string
	body                string
	hasAttachment, read bool
	// skip: the folder at hand does not hold the row's message as the row
	// has it (the log changed since): left untexted, for the next Update.
	skip     bool
	panicked string // reading it panicked: why, with the stack
}

// parse takes a message apart for its text (a variable for tests that
// inject a failure).
var parse = msgtext.ParseForSearch

// indexFolderText reads the messages of a folder whose rows have no text in
// messages_fts yet and indexes them, a batch per transaction, and returns
// how many it indexed. f is the folder as derive read it (nil: read it
// here). A message that cannot be read is indexed by the headers of its
// row, so that it is found by those at least and not tried again forever.
func (ix *Index) indexFolderText(a *archive.Archive, id archive.FolderID, f *archive.Folder, b *TextBatch) (int, error) {
	if f == nil {
		var err error
		if f, err = a.ReadFolder(id); err != nil {
			return 0, fmt.Errorf("indexing the text of %s: %w", id, err)
		}
	}
	var folder int64
	if err := ix.db.QueryRow(`SELECT id FROM folders WHERE account = ? AND path = ?`, id.Account, id.Path()).Scan(&folder); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return 0, err
	}
	if f.Partial() {
		// Only what its writer appended is at hand: rows of earlier
		// messages still waiting (an interrupted run) need the rest.
		from := f.End()
		if es := f.Entries(); len(es) > 0 {
			from = es[0].Offset
		}
		var older bool
		if err := ix.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM messages WHERE folder = ? AND texted = 0 AND off < ?)`, folder, from).Scan(&older); err != nil {
			return 0, err
		}
		if older {
			var err error
			if f, err = a.ReadFolder(id); err != nil {
				return 0, fmt.Errorf("indexing the text of %s: %w", id, err)
			}
		}
	}
	entryAt := entryFinder(f.Entries())
	var first []pendingText // the first page, when b asked for it
	if b != nil {
		// A few new messages (less than a page): their texts wait in b.
		var err error
		if first, err = ix.untexted(folder, -1, textBatch); err != nil {
			return 0, err
		}
		if len(first) < textBatch {
			readTexts(f, entryAt, first)
			n, err := b.add(first)
			return n, errors.Join(append(readFailures(first, id), err)...)
		}
	}
	// Messages are read and taken apart a batch ahead of the one being
	// written: the writer is one connection, the readers all other CPUs.
	// The rows waiting for their text are read a page at a time (a folder
	// of 100,000 new messages does not hold 100,000 rows in memory).
	batches, stop := make(chan []pendingText, 1), make(chan struct{})
	var readerPanic, readerErr error
	go func() {
		defer close(batches)
		defer func() {
			if p := recover(); p != nil {
				readerPanic = fmt.Errorf("internal error while reading texts (please report): %v\n%s", p, debug.Stack())
			}
		}()
		after, todo := int64(-1), first
		for {
			if todo == nil {
				var err error
				if todo, err = ix.untexted(folder, after, textBatch); err != nil {
					readerErr = err
					return
				}
			}
			if len(todo) == 0 {
				return
			}
			after = todo[len(todo)-1].off
			for len(todo) > 0 {
				n, size := 0, int64(0)
				for n < len(todo) && (n == 0 || size < textBatchBytes) {
					if e := entryAt(todo[n].off); e != nil {
						size += min(e.Size, maxBodyText)
					}
					n++
				}
				batch := todo[:n:n]
				todo = todo[n:]
				readTexts(f, entryAt, batch)
				select {
				case batches <- batch:
				case <-stop:
					return
				}
			}
			todo = nil
		}
	}()
	done := 0
	var panics []error
	w := &textWriter{ix: ix}
	for batch := range batches {
		panics = append(panics, readFailures(batch, id)...)
		n, err := w.add(batch)
		done += n
		clear(batch) // let the texts go now, not when the page's array does
		if err != nil {
			w.abort()
			close(stop)
			for range batches { // let the reader finish
			}
			return done, fmt.Errorf("indexing the text of %s: %w", id, err)
		}
	}
	if readerErr != nil {
		w.abort()
		return done, fmt.Errorf("indexing the text of %s: %w", id, readerErr)
	}
	n, err := w.commit()
	done += n
	if err != nil {
		return done, fmt.Errorf("indexing the text of %s: %w", id, err)
	}
	if readerPanic != nil {
		panics = append(panics, readerPanic)
	}
	return done, errors.Join(panics...)
}

// readFailures are the messages of a batch whose reading panicked, as
// errors (they are indexed by the headers of their rows).
func readFailures(batch []pendingText, id archive.FolderID) []error {
	var out []error
	for _, p := range batch {
		if p.panicked != "" {
			out = append(out, fmt.Errorf("internal error reading the message at byte %d of %s (please report; it is indexed by its headers): %s", p.off, id, p.panicked))
		}
	}
	return out
}

// untexted returns up to n rows of a folder that wait for their text, in
// archive order from the byte after.
func (ix *Index) untexted(folder, after int64, n int) ([]pendingText, error) {
	rows, err := ix.db.Query(`SELECT id, off, sha, subject, from_addr, to_addr FROM messages
		WHERE folder = ? AND texted = 0 AND off > ? ORDER BY off LIMIT ?`, folder, after, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pendingText
	for rows.Next() {
		var p pendingText
		if err := rows.Scan(&p.id, &p.off, &p.sha, &p.subject, &p.from, &p.to); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// entryFinder looks entries up by offset: by binary search, as a folder's
// entries are in archive order, or through a map if they are not.
func entryFinder(entries []*archive.Entry) func(off int64) *archive.Entry {
	byOffset := func(e *archive.Entry, off int64) int { return cmp.Compare(e.Offset, off) }
	if !slices.IsSortedFunc(entries, func(x, y *archive.Entry) int { return cmp.Compare(x.Offset, y.Offset) }) {
		m := make(map[int64]*archive.Entry, len(entries))
		for _, e := range entries {
			m[e.Offset] = e
		}
		return func(off int64) *archive.Entry { return m[off] }
	}
	return func(off int64) *archive.Entry {
		if i, ok := slices.BinarySearchFunc(entries, off, byOffset); ok {
			return entries[i]
		}
		return nil
	}
}

// readTexts reads and takes apart the messages of batch, on all CPUs.
func readTexts(f *archive.Folder, entryAt func(int64) *archive.Entry, batch []pendingText) {
	var wg sync.WaitGroup
	next := make(chan *pendingText)
	for range min(runtime.GOMAXPROCS(0), len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for p := range next {
				readText(f, entryAt(p.off), p, &buf)
			}
		}()
	}
	for i := range batch {
		next <- &batch[i]
	}
	close(next)
	wg.Wait()
}

// readText reads one message's text into p. A panic (a message the parser
// cannot take) is caught and noted in p: the message is indexed by the
// headers of its row, and the others go on.
func readText(f *archive.Folder, e *archive.Entry, p *pendingText, buf *bytes.Buffer) {
	defer func() {
		if r := recover(); r != nil {
			*p = pendingText{id: p.id, off: p.off, sha: p.sha, subject: p.subject, from: p.from, to: p.to,
				panicked: fmt.Sprintf("%v\n%s", r, debug.Stack())}
			buf.Reset()
		}
	}()
	if e == nil || hex.EncodeToString(e.SHA[:]) != p.sha {
		p.skip = true // the log changed since the row was written: the next Update sees it
		return
	}
	buf.Reset()
	if want := int(min(e.Length, maxTextRead)); buf.Cap() < want {
		*buf = bytes.Buffer{}
		buf.Grow(want) // the size at once: growing by doubling would leave up to twice that
	}
	err := f.WriteOriginal(&capped{buf, maxTextRead}, e)
	if err != nil && !errors.Is(err, errCapped) {
		return
	}
	m := parse(buf.Bytes())
	p.read = true
	p.subject = orElse(m.Subject, p.subject)
	p.from = orElse(m.From, p.from)
	p.to = orElse(strings.TrimSuffix(m.To+", "+m.Cc, ", "), p.to)
	p.body = msgtext.SearchText(m, maxBodyText)
	p.hasAttachment = len(m.Attachments) > 0
	if buf.Cap() > keepTextBuffer { // a big message's buffer is not kept for the next one
		*buf = bytes.Buffer{}
	}
}

func orElse(s, fallback string) string {
	if strings.TrimSpace(strings.Trim(s, ",")) == "" {
		return fallback
	}
	return s
}

// TextBatch holds the texts of a few folders' new messages, read and taken
// apart, until Flush indexes them in one transaction (or until they make a
// transaction's worth). Texts never flushed (the process ended) are indexed
// by the next Update: their rows are still marked untexted. Not safe for
// concurrent use.
type TextBatch struct {
	ix   *Index
	held []pendingText
	size int
}

// NewTextBatch returns an empty batch for UpdateFolderInto.
func (ix *Index) NewTextBatch() *TextBatch { return &TextBatch{ix: ix} }

// heldTextBytes bounds the text a TextBatch holds in memory.
const heldTextBytes = 4 << 20

// add holds ps, and indexes all that is held once it is a transaction's
// worth; it returns how many texts that stored.
func (b *TextBatch) add(ps []pendingText) (int, error) {
	b.held = append(b.held, ps...)
	for _, p := range ps {
		b.size += len(p.body)
	}
	if len(b.held) >= textCommit || b.size >= heldTextBytes {
		return b.Flush()
	}
	return 0, nil
}

// Flush indexes the texts held, in one transaction, and returns how many
// it stored.
func (b *TextBatch) Flush() (int, error) {
	if len(b.held) == 0 {
		return 0, nil
	}
	held := b.held
	b.held, b.size = nil, 0
	w := &textWriter{ix: b.ix}
	n, err := w.add(held)
	if err != nil {
		w.abort()
		return n, fmt.Errorf("indexing the text of new messages: %w", err)
	}
	m, err := w.commit()
	if err != nil {
		return n, fmt.Errorf("indexing the text of new messages: %w", err)
	}
	return n + m, nil
}

// textWriter adds batches of texts to messages_fts, committing every
// textCommit messages or textCommitBytes of text: batches stay small in
// memory while each transaction, and so each FTS5 segment, stays large
// (small transactions made many small segments to merge). A row that
// changed or went away meanwhile (another process indexing the same
// archive) is left alone.
type textWriter struct {
	ix         *Index
	tx         *sql.Tx
	mark, ins  *sql.Stmt
	msgs, size int // in the open transaction
	pending    int // texts stored in it
}

const (
	textCommit      = 2048
	textCommitBytes = 16 << 20
)

func (w *textWriter) add(batch []pendingText) (committed int, err error) {
	if w.tx == nil {
		if w.tx, err = w.ix.db.Begin(); err != nil {
			w.tx = nil
			return 0, err
		}
		if w.mark, err = w.tx.Prepare(`UPDATE messages SET texted = 1, has_attachment = ? WHERE id = ? AND sha = ? AND texted = 0`); err != nil {
			return 0, err
		}
		if w.ins, err = w.tx.Prepare(`INSERT INTO messages_fts (rowid, subject, from_addr, to_addr, body) VALUES (?, ?, ?, ?, ?)`); err != nil {
			return 0, err
		}
	}
	for _, p := range batch {
		if p.skip {
			continue
		}
		w.msgs++
		w.size += len(p.body)
		res, err := w.mark.Exec(p.hasAttachment, p.id, p.sha)
		if err != nil {
			return 0, err
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			continue
		}
		if _, err := w.ins.Exec(p.id, p.subject, p.from, p.to, p.body); err != nil {
			return 0, err
		}
		w.pending++
	}
	if w.msgs >= textCommit || w.size >= textCommitBytes {
		return w.commit()
	}
	return 0, nil
}

// commit ends the open transaction and returns how many texts it stored.
func (w *textWriter) commit() (int, error) {
	if w.tx == nil {
		return 0, nil
	}
	w.mark.Close()
	w.ins.Close()
	err := w.tx.Commit()
	n := w.pending
	w.tx, w.msgs, w.size, w.pending = nil, 0, 0, 0
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (w *textWriter) abort() {
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
	}
}

var errCapped = errors.New("read enough")

// capped takes up to n bytes, then fails.
type capped struct {
	b *bytes.Buffer
	n int
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.n - c.b.Len()
	if len(p) > room {
		c.b.Write(p[:max(room, 0)])
		return max(room, 0), errCapped
	}
	return c.b.Write(p)
}
