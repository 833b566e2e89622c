// Package index keeps a SQLite index of the archive for lists, status and
// search.
//
// The index is derived data. Everything in it is read from the archive's
// files (package archive: the metadata logs, and the messages in the mbox
// files), and it can be deleted and rebuilt from them at any time (Rebuild,
// `lifeboat reindex`). It is never the source of truth:
// nothing is written to it that the archive does not hold, and nothing in the
// archive depends on it. That is why it runs with synchronous=NORMAL and why
// a schema it does not know is dropped, not migrated: losing the index costs
// a reindex, never mail.
//
// A folder is derived in two steps. The first, one short transaction, makes
// its rows match its log: a row per message with the headers a list shows,
// read from the header block. The second reads each new message whole
// (package msgtext) and adds its text to the full-text index (SQLite FTS5)
// in batches; until then the row is listed but not found by Search. An
// interrupted second step is finished by the next Update. See Search for
// the query syntax.
//
// The index parses no mbox framing of its own: a message is read through
// package mboxrd (OpenRecord, only as far as its header goes, for a row;
// ReadRecord, by way of the archive, for its text). Header values are
// decoded by msgtext.HeaderText, the decoder of the message view, so a list
// shows what the message shows.
package index

import (
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"

	_ "modernc.org/sqlite" // driver "sqlite", pure Go
)

// schemaVersion is kept in PRAGMA user_version. Any other value (an older
// index, or one written by a newer Lifeboat) makes Open drop every table and
// start empty; Rebuild or Update then fills it again.
const schemaVersion = 4

const schema = `
CREATE TABLE folders (
	id        INTEGER PRIMARY KEY,
	account   TEXT    NOT NULL,
	path      TEXT    NOT NULL, -- archive.FolderID.Path()
	log_size  INTEGER NOT NULL, -- the log file as it was when derived
	log_mtime INTEGER NOT NULL, -- (unix nanoseconds)
	messages  INTEGER NOT NULL,
	gone      INTEGER NOT NULL,
	bytes     INTEGER NOT NULL,
	newest    INTEGER,          -- unix seconds; NULL when no message has a date
	UNIQUE (account, path)
);
CREATE TABLE messages (
	id          INTEGER PRIMARY KEY,
	folder      INTEGER NOT NULL REFERENCES folders (id),
	uidvalidity INTEGER NOT NULL,
	uid         INTEGER NOT NULL,
	off         INTEGER NOT NULL,
	len         INTEGER NOT NULL,
	sha         TEXT    NOT NULL,
	date        INTEGER,          -- INTERNALDATE, unix seconds; NULL if unknown
	size        INTEGER NOT NULL,
	flags       TEXT    NOT NULL, -- space-separated
	message_id  TEXT    NOT NULL,
	subject     TEXT    NOT NULL,
	from_addr   TEXT    NOT NULL,
	to_addr     TEXT    NOT NULL,
	gone        INTEGER,          -- unix seconds; NULL while on the server
	has_attachment INTEGER NOT NULL DEFAULT 0,
	texted      INTEGER NOT NULL DEFAULT 0, -- 1 once the text is in messages_fts
	labels      TEXT    NOT NULL DEFAULT '' -- Gmail labels, one per line
);
-- Gmail labels, a row per message and label: a label is listed as a folder.
CREATE TABLE labels (
	message INTEGER NOT NULL REFERENCES messages (id),
	account TEXT    NOT NULL,
	label   TEXT    NOT NULL,
	date    INTEGER           -- the message's, for the newest-first list
);
CREATE INDEX labels_page ON labels (account, label, date DESC, message DESC);
CREATE INDEX labels_by_message ON labels (message);
CREATE INDEX messages_by_date ON messages (folder, date DESC, off DESC);
CREATE UNIQUE INDEX messages_by_off ON messages (folder, off);
CREATE INDEX messages_by_newest ON messages (date DESC, folder, off DESC);
CREATE INDEX messages_untexted_off ON messages (folder, off) WHERE texted = 0;
-- Full text, by messages.id. Contentless: the words are indexed, the text is
-- not kept twice (it is in the archive). to_addr holds To and Cc.
CREATE VIRTUAL TABLE messages_fts USING fts5 (subject, from_addr, to_addr, body,
	content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
`

// Index is an open index database. It is safe for concurrent use; several
// processes may have the same index open (SQLite WAL mode).
type Index struct {
	db *sql.DB

	derived atomic.Int64 // folders re-derived since Open (for tests)
	partial atomic.Int64 // of them, from a writer's changes only
}

// Stats says what Rebuild or Update did: the folders re-derived and the
// messages they hold, and the messages whose text was read and indexed for
// search (only new or changed ones: an Update after a backup reads the
// messages it added).
type Stats struct {
	Folders, Messages int
	Texts             int
	Duration          time.Duration
}

// FolderStat sums up one archived folder. Folder is archive.FolderID.Path().
// Messages counts every archived message, GoneOnServer those of them deleted
// on the server since; Bytes is the sum of their RFC822.SIZE and Newest the
// latest INTERNALDATE (zero when none is known).
type FolderStat struct {
	Account, Folder string
	Messages        int
	GoneOnServer    int
	Bytes           int64
	Newest          time.Time
}

// Row is one archived message. Folder is archive.FolderID.Path(); Date is
// INTERNALDATE; Gone is when the message was noticed gone from the server
// (zero while it is there). Subject, From and To are the decoded header
// texts, empty when the message lacks them. HasAttachment is known once the
// message's text is indexed (false until then).
type Row struct {
	Account, Folder              string
	UIDValidity, UID             uint32
	Offset, Length               int64
	SHA                          string
	Date                         time.Time
	Size                         int64
	Flags                        []string
	MessageID, Subject, From, To string
	Gone                         time.Time
	HasAttachment                bool
	Labels                       []string // Gmail labels (X-GM-LABELS or a Takeout's), raw: \Inbox, Work
}

// DefaultPath is where an archive's index lives: with Lifeboat's own state
// in the archive root.
func DefaultPath(a *archive.Archive) string {
	return a.StatePath("index.sqlite")
}

// Open opens the index at path, creating it when missing. It holds message
// headers, so a new file is made private (0600) like the archive; SQLite's
// -wal and -shm files take the same mode.
func Open(path string) (*Index, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs),
		RawQuery: "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	ix := &Index{db: db}
	if err := ix.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("index %s: %w (it is derived from the archive: delete it and run `lifeboat reindex`)", path, err)
	}
	return ix, nil
}

// migrate creates the schema, dropping whatever an unknown version left.
func (ix *Index) migrate() error {
	var v int
	if err := ix.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if v == schemaVersion {
		return ix.upgrade()
	}
	tx, err := ix.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v == schemaVersion {
		return err // another process just did it
	}
	// Virtual tables first: dropping one drops its shadow tables.
	rows, err := tx.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
		ORDER BY sql LIKE 'CREATE VIRTUAL TABLE%' DESC`)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := tx.Exec(`DROP TABLE IF EXISTS "` + strings.ReplaceAll(t, `"`, `""`) + `"`); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// upgrade brings an index of the current version to the current schema
// where it changed without a new version (an index of SQL's, nothing
// derived from the archive).
func (ix *Index) upgrade() error {
	var old int
	if err := ix.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'messages_untexted'`).Scan(&old); err != nil || old == 0 {
		return err
	}
	// The rows waiting for their text are read a page at a time, in
	// archive order.
	return ix.inTx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE INDEX IF NOT EXISTS messages_untexted_off ON messages (folder, off) WHERE texted = 0`); err != nil {
			return err
		}
		_, err := tx.Exec(`DROP INDEX IF EXISTS messages_untexted`)
		return err
	})
}

// Close closes the database.
func (ix *Index) Close() error { return ix.db.Close() }

// Rebuild empties the index and derives every folder of every account
// again. progress, if set, is called after each folder with the number of
// folders done and the total. A folder whose log cannot be read is left out
// and reported in the error, after all the others are indexed. Readers see
// the folders indexed so far while it runs; an interrupted Rebuild is
// completed by the next Update.
func (ix *Index) Rebuild(a *archive.Archive, progress func(done, total int)) (Stats, error) {
	start := time.Now()
	var ids []archive.FolderID
	accounts, err := a.Accounts()
	if err != nil {
		return Stats{}, err
	}
	for _, acct := range accounts {
		fs, err := a.Folders(acct)
		if err != nil {
			return Stats{}, err
		}
		ids = append(ids, fs...)
	}
	if err := ix.inTx(func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM labels`, `DELETE FROM messages`, `DELETE FROM folders`,
			`INSERT INTO messages_fts (messages_fts) VALUES ('delete-all')`} {
			if _, err := tx.Exec(q); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return Stats{}, err
	}
	var st Stats
	var errs []error
	for i, id := range ids {
		n, texts, err := ix.derive(a, id, nil, nil, false, 0, nil)
		st.Texts += texts
		if err != nil {
			errs = append(errs, err)
		} else {
			st.Folders++
			st.Messages += n
		}
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	st.Duration = time.Since(start)
	return st, errors.Join(errs...)
}

// Update brings the index up to date with the archive for one account (""
// for every account): it re-derives the folders whose log file changed size
// or modification time since they were indexed, indexes the text of the
// messages that are new to it (and of those an interrupted run left), and
// removes the folders (and accounts) no longer in the archive. Stats counts
// the folders re-derived and the texts indexed; when nothing changed they
// are zero. A folder that cannot be read keeps its old rows, is reported in
// the error and is tried again next time.
func (ix *Index) Update(a *archive.Archive, account string) (Stats, error) {
	start := time.Now()
	accounts := []string{account}
	if account == "" {
		var err error
		if accounts, err = a.Accounts(); err != nil {
			return Stats{}, err
		}
		if err := ix.removeOtherAccounts(accounts); err != nil {
			return Stats{}, err
		}
	}
	var st Stats
	var errs []error
	for _, acct := range accounts {
		ids, err := a.Folders(acct)
		if err != nil {
			return st, err
		}
		known, err := ix.known(acct)
		if err != nil {
			return st, err
		}
		for _, id := range ids {
			was, ok := known[id.Path()]
			delete(known, id.Path())
			if err := ix.updateFolder(a, id, was, ok, &st); err != nil {
				errs = append(errs, err)
			}
		}
		for _, gone := range known { // in the index, no longer on disk
			if err := ix.removeFolder(gone.id); err != nil {
				return st, err
			}
		}
	}
	st.Duration = time.Since(start)
	return st, errors.Join(errs...)
}

// updateFolder brings one folder's rows up to date; was is what the index
// knew of it (ok false: nothing).
func (ix *Index) updateFolder(a *archive.Archive, id archive.FolderID, was knownFolder, ok bool, st *Stats) error {
	return ix.updateFolderFrom(a, id, nil, was, ok, st, nil)
}

// updateFolderFrom is updateFolder with the folder already read (nil:
// read it here).
func (ix *Index) updateFolderFrom(a *archive.Archive, id archive.FolderID, f *archive.Folder, was knownFolder, ok bool, st *Stats, b *TextBatch) error {
	fi, err := os.Stat(a.LogPath(id))
	if err != nil {
		return err
	}
	if ok && was.size == fi.Size() && was.mtime == fi.ModTime().UnixNano() {
		if was.untexted { // an interrupted run: finish it
			texts, err := ix.indexFolderText(a, id, f, b)
			st.Texts += texts
			return err
		}
		return nil
	}
	n, texts, err := ix.derive(a, id, fi, f, ok, was.size, b)
	st.Texts += texts
	if err != nil {
		return err
	}
	st.Folders++
	st.Messages += n
	return nil
}

// UpdateFolder is Update for one folder (a backup indexes each folder as
// soon as it is archived, beside the next one's download). f, when not
// nil, is the folder as its writer left it, closed (its metadata log is
// then not read again).
func (ix *Index) UpdateFolder(a *archive.Archive, id archive.FolderID, f *archive.Folder) (Stats, error) {
	return ix.UpdateFolderInto(a, id, f, nil)
}

// UpdateFolderInto is UpdateFolder with the texts of a folder's new
// messages, when they are few, left in b to be indexed with other folders'
// in one transaction at b.Flush (nil: indexed now). Each transaction of the
// full-text index writes a segment and merges: a backup whose indexer is
// behind, with a few new messages in each of many folders, pays that once
// instead of once per folder.
func (ix *Index) UpdateFolderInto(a *archive.Archive, id archive.FolderID, f *archive.Folder, b *TextBatch) (Stats, error) {
	start := time.Now()
	var st Stats
	known, err := ix.knownWhere(`account = ? AND path = ?`, id.Account, id.Path())
	if err != nil {
		return st, err
	}
	was, ok := known[id.Path()]
	err = ix.updateFolderFrom(a, id, f, was, ok, &st, b)
	st.Duration = time.Since(start)
	return st, err
}

type knownFolder struct {
	id          int64
	size, mtime int64
	untexted    bool // some of its rows still wait for their text
}

func (ix *Index) known(account string) (map[string]knownFolder, error) {
	return ix.knownWhere(`account = ?`, account)
}

func (ix *Index) knownWhere(where string, args ...any) (map[string]knownFolder, error) {
	rows, err := ix.db.Query(`SELECT id, path, log_size, log_mtime,
		EXISTS (SELECT 1 FROM messages m WHERE m.folder = f.id AND m.texted = 0)
		FROM folders f WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]knownFolder)
	for rows.Next() {
		var k knownFolder
		var path string
		if err := rows.Scan(&k.id, &path, &k.size, &k.mtime, &k.untexted); err != nil {
			return nil, err
		}
		out[path] = k
	}
	return out, rows.Err()
}

func (ix *Index) removeFolder(id int64) error {
	return ix.inTx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE folder = ?)`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM labels WHERE message IN (SELECT id FROM messages WHERE folder = ?)`, id); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM messages WHERE folder = ?`, id); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM folders WHERE id = ?`, id)
		return err
	})
}

func (ix *Index) removeOtherAccounts(keep []string) error {
	rows, err := ix.db.Query(`SELECT id, account FROM folders`)
	if err != nil {
		return err
	}
	var drop []int64
	for rows.Next() {
		var id int64
		var acct string
		if err := rows.Scan(&id, &acct); err != nil {
			rows.Close()
			return err
		}
		if !contains(keep, acct) {
			drop = append(drop, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range drop {
		if err := ix.removeFolder(id); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// derive brings a folder's rows in line with what its files say now, in one
// transaction, then indexes the text of its new rows (indexFolderText); it
// returns how many messages the folder holds and how many texts were
// indexed. Rows are keyed by their offset in the mbox (stable: the mbox is
// append-only); a row whose hash still matches keeps its headers and text
// and is updated only where flags, location or deletion changed, so a
// backup that added a few messages costs a few reads, not a pass over the
// folder. fi is the log file's state taken before reading it (nil: stat it
// here), so that a log growing meanwhile is seen as changed by the next
// Update.
func (ix *Index) derive(a *archive.Archive, id archive.FolderID, fi os.FileInfo, f *archive.Folder, known bool, knownSize int64, b *TextBatch) (int, int, error) {
	if fi == nil {
		var err error
		if fi, err = os.Stat(a.LogPath(id)); err != nil {
			return 0, 0, err
		}
	}
	var err error
	if f != nil && f.LogSize() != fi.Size() {
		f = nil // another writer logged more since this one closed the folder: read it as it is now
	}
	if f != nil && f.Partial() {
		if since, _, ok := f.ChangedSince(); !ok || !known || since != knownSize {
			f = nil // only what its writer appended is at hand, and the index is behind: read it whole
		}
	}
	if f == nil {
		if f, err = a.ReadFolder(id); err != nil {
			return 0, 0, fmt.Errorf("indexing %s: %w", id, err)
		}
	}
	all := f.Entries()
	entries := all
	var have map[int64]existingRow
	full := true
	if since, changed, ok := f.ChangedSince(); ok && known && since == knownSize {
		// The index holds the log as it was when the backup opened the
		// folder: only what the backup changed needs looking at, and one
		// new message costs the same in a folder of 100 or 100,000.
		entries, full = changed, false
		have, err = ix.existingAt(id, changed)
		ix.partial.Add(1)
	} else {
		have, err = ix.existing(id)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("indexing %s: %w", id, err)
	}

	// Read the headers of new messages before the transaction, to keep it short.
	shas := make([]string, len(entries))
	hdrs := make([]headers, len(entries))
	var mb *os.File
	buf := make([]byte, maxHeaderRead)
	for i, e := range entries {
		shas[i] = hex.EncodeToString(e.SHA[:])
		if old, ok := have[e.Offset]; ok && old.sha == shas[i] {
			continue
		}
		if mb == nil {
			if mb, err = os.Open(a.MboxPath(id)); err != nil {
				mb = nil
				break // no mbox: rows without headers
			}
			defer mb.Close()
		}
		hdrs[i] = readHeaders(mb, e, buf)
	}

	var held int
	err = ix.inTx(func(tx *sql.Tx) error {
		var fid int64
		if err := tx.QueryRow(`INSERT INTO folders (account, path, log_size, log_mtime, messages, gone, bytes, newest)
			VALUES (?, ?, ?, ?, 0, 0, 0, NULL)
			ON CONFLICT (account, path) DO UPDATE SET log_size = excluded.log_size, log_mtime = excluded.log_mtime
			RETURNING id`,
			id.Account, id.Path(), fi.Size(), fi.ModTime().UnixNano()).Scan(&fid); err != nil {
			return err
		}
		ins, err := tx.Prepare(`INSERT INTO messages (folder, uidvalidity, uid, off, len, sha, date, size, flags,
			message_id, subject, from_addr, to_addr, gone, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
		if err != nil {
			return err
		}
		defer ins.Close()
		upd, err := tx.Prepare(`UPDATE messages SET uidvalidity = ?, uid = ?, flags = ?, gone = ?, labels = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		// Gmail does not show Trash and Spam under their messages' labels.
		lab := labelWriter{tx: tx, account: id.Account, none: f.State.Role == `\Trash` || f.State.Role == `\Junk`}
		defer lab.close()
		for i, e := range entries {
			flags, goneAt, labels := strings.Join(e.Flags, " "), unixOrNull(e.Gone), strings.Join(e.Labels, "\n")
			old, ok := have[e.Offset]
			delete(have, e.Offset)
			switch {
			case !ok || old.sha != shas[i]:
				if ok { // other bytes at the same place (an archive replaced by hand)
					if err := deleteRow(tx, old.id); err != nil {
						return err
					}
				}
				var mid int64
				if err = ins.QueryRow(fid, e.UIDValidity, e.UID, e.Offset, e.Length, shas[i],
					unixOrNull(e.Date), e.Size, flags, e.MessageID,
					hdrs[i].subject, hdrs[i].from, hdrs[i].to, goneAt, labels).Scan(&mid); err == nil {
					err = lab.set(mid, e, false)
				}
			case old.uv != e.UIDValidity || old.uid != e.UID || old.flags != flags || old.gone != goneAt || old.labels != labels:
				if _, err = upd.Exec(e.UIDValidity, e.UID, flags, goneAt, labels, old.id); err == nil && old.labels != labels {
					err = lab.set(old.id, e, true)
				}
			}
			if err != nil {
				return err
			}
		}
		for _, old := range have { // rows the files no longer hold (an archive replaced by hand)
			if !full {
				break // only the changed entries were looked up: there are none such
			}
			if err := deleteRow(tx, old.id); err != nil {
				return err
			}
		}
		// The folder's totals are summed from its rows now that they are
		// up to date: the entries at hand may be only those that changed.
		return tx.QueryRow(`UPDATE folders SET (messages, gone, bytes, newest) =
			(SELECT COUNT(*), COUNT(gone), COALESCE(SUM(size), 0), MAX(date) FROM messages WHERE folder = ?)
			WHERE id = ? RETURNING messages`, fid, fid).Scan(&held)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("indexing %s: %w", id, err)
	}
	ix.derived.Add(1)
	texts, err := ix.indexFolderText(a, id, f, b)
	return held, texts, err
}

// labelWriter keeps the labels table in step with rows' labels.
type labelWriter struct {
	tx       *sql.Tx
	account  string
	none     bool // the folder's messages are listed under no label
	ins, del *sql.Stmt
}

// set writes the label rows of message id (after deleting its old ones
// when replace).
func (w *labelWriter) set(id int64, e *archive.Entry, replace bool) error {
	var err error
	if replace {
		if w.del == nil {
			if w.del, err = w.tx.Prepare(`DELETE FROM labels WHERE message = ?`); err != nil {
				return err
			}
		}
		if _, err := w.del.Exec(id); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, l := range e.Labels {
		if w.none {
			break
		}
		if l = archive.CanonicalLabel(l); seen[l] { // an import's "Inbox" beside \Inbox
			continue
		}
		seen[l] = true
		if w.ins == nil {
			if w.ins, err = w.tx.Prepare(`INSERT INTO labels (message, account, label, date) VALUES (?, ?, ?, ?)`); err != nil {
				return err
			}
		}
		if _, err := w.ins.Exec(id, w.account, l, unixOrNull(e.Date)); err != nil {
			return err
		}
	}
	return nil
}

func (w *labelWriter) close() {
	for _, st := range []*sql.Stmt{w.ins, w.del} {
		if st != nil {
			st.Close()
		}
	}
}

// deleteRow removes a message's row, its words and its labels.
func deleteRow(tx *sql.Tx, id int64) error {
	if _, err := tx.Exec(`DELETE FROM messages_fts WHERE rowid = ?`, id); err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM labels WHERE message = ?`, id); err != nil {
		return err
	}
	_, err := tx.Exec(`DELETE FROM messages WHERE id = ?`, id)
	return err
}

type existingRow struct {
	id                 int64
	sha, flags, labels string
	uv, uid            uint32
	gone               sql.NullInt64
}

// existingAt returns the indexed rows of a folder at the offsets of
// entries, by offset.
func (ix *Index) existingAt(id archive.FolderID, entries []*archive.Entry) (map[int64]existingRow, error) {
	out := map[int64]existingRow{}
	var fid int64
	switch err := ix.db.QueryRow(`SELECT id FROM folders WHERE account = ? AND path = ?`, id.Account, id.Path()).Scan(&fid); {
	case errors.Is(err, sql.ErrNoRows):
		return out, nil
	case err != nil:
		return nil, err
	}
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), 500)]
		entries = entries[len(chunk):]
		args := []any{fid}
		for _, e := range chunk {
			args = append(args, e.Offset)
		}
		rows, err := ix.db.Query(`SELECT off, id, sha, flags, labels, uidvalidity, uid, gone FROM messages WHERE folder = ? AND off IN (?`+
			strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var off int64
			var r existingRow
			if err := rows.Scan(&off, &r.id, &r.sha, &r.flags, &r.labels, &r.uv, &r.uid, &r.gone); err != nil {
				rows.Close()
				return nil, err
			}
			out[off] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// existing returns a folder's indexed rows by mbox offset.
func (ix *Index) existing(id archive.FolderID) (map[int64]existingRow, error) {
	rows, err := ix.db.Query(`SELECT m.off, m.id, m.sha, m.flags, m.labels, m.uidvalidity, m.uid, m.gone FROM messages m
		JOIN folders f ON f.id = m.folder WHERE f.account = ? AND f.path = ?`, id.Account, id.Path())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]existingRow{}
	for rows.Next() {
		var off int64
		var r existingRow
		if err := rows.Scan(&off, &r.id, &r.sha, &r.flags, &r.labels, &r.uv, &r.uid, &r.gone); err != nil {
			return nil, err
		}
		out[off] = r
	}
	return out, rows.Err()
}

func (ix *Index) inTx(fn func(*sql.Tx) error) error {
	tx, err := ix.db.Begin()
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// FolderStats sums up the folders of an account ("" for every account),
// sorted by account and folder path.
func (ix *Index) FolderStats(account string) ([]FolderStat, error) {
	rows, err := ix.db.Query(`SELECT account, path, messages, gone, bytes, newest FROM folders
		WHERE ?1 = '' OR account = ?1 ORDER BY account, path`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FolderStat
	for rows.Next() {
		var s FolderStat
		var newest sql.NullInt64
		if err := rows.Scan(&s.Account, &s.Folder, &s.Messages, &s.GoneOnServer, &s.Bytes, &newest); err != nil {
			return nil, err
		}
		s.Newest = timeOf(newest)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Count is the number of archived messages of a folder (folder "" for every
// folder of the account, account "" for every account).
func (ix *Index) Count(account, folder string) (int, error) {
	var n int
	err := ix.db.QueryRow(`SELECT COALESCE(SUM(messages), 0) FROM folders
		WHERE (?1 = '' OR account = ?1) AND (?2 = '' OR path = ?2)`, account, folder).Scan(&n)
	return n, err
}

// Messages lists archived messages newest first (by INTERNALDATE; messages
// without a date last), skipping offset rows and returning at most limit
// (limit <= 0: all). folder "" means every folder of the account, account ""
// every account.
func (ix *Index) Messages(account, folder string, offset, limit int) ([]Row, error) {
	if limit <= 0 {
		limit = -1
	}
	var rows *sql.Rows
	var err error
	if account != "" && folder != "" { // one folder: walks the index, no sort
		rows, err = ix.db.Query(rowCols+` WHERE m.folder = (SELECT id FROM folders WHERE account = ? AND path = ?)
			ORDER BY m.date DESC, m.off DESC LIMIT ? OFFSET ?`, account, folder, limit, offset)
	} else {
		rows, err = ix.db.Query(rowCols+` WHERE (?1 = '' OR f.account = ?1) AND (?2 = '' OR f.path = ?2)
			ORDER BY m.date DESC, m.folder, m.off DESC LIMIT ?3 OFFSET ?4`, account, folder, limit, offset)
	}
	if err != nil {
		return nil, err
	}
	return scanRows(rows)
}

// rowCols selects what scanRows reads.
var rowCols = rowColsUsing("")

// rowColsUsing is rowCols with an INDEXED BY clause for messages.
func rowColsUsing(indexedBy string) string {
	return `SELECT f.account, f.path, m.uidvalidity, m.uid, m.off, m.len, m.sha, m.date, m.size,
		m.flags, m.message_id, m.subject, m.from_addr, m.to_addr, m.gone, m.has_attachment, m.labels
	FROM messages m ` + indexedBy + ` JOIN folders f ON f.id = m.folder`
}

func scanRows(rows *sql.Rows) ([]Row, error) {
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var date, gone sql.NullInt64
		var flags, labels string
		if err := rows.Scan(&r.Account, &r.Folder, &r.UIDValidity, &r.UID, &r.Offset, &r.Length, &r.SHA, &date, &r.Size,
			&flags, &r.MessageID, &r.Subject, &r.From, &r.To, &gone, &r.HasAttachment, &labels); err != nil {
			return nil, err
		}
		r.Date, r.Gone, r.Flags = timeOf(date), timeOf(gone), strings.Fields(flags)
		if labels != "" {
			r.Labels = strings.Split(labels, "\n")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func unixOrNull(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.Unix(), Valid: true}
}

func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(n.Int64, 0)
}
