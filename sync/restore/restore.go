// Package restore puts an archived account back into an IMAP account: the
// same provider after it lost the mail, or a new one. The archive is only
// read.
//
// Faithful: each message is APPENDed with the bytes that were backed up
// (CRLF line ends restored), the INTERNALDATE and flags of the archive's
// metadata log (keywords included, filtered by the target's
// PERMANENTFLAGS), into the folder of the same path under the target's
// namespace prefix and hierarchy separator; a folder with a SPECIAL-USE
// role (recorded at backup, else recognised by its name) goes to the
// target's own folder of that role.
//
// Idempotent and resumable, with or without UIDPLUS: what was put into
// each target folder is recorded in a ledger (package store/restorelog),
// keyed by the folder's name and UIDVALIDITY and each message's SHA-256. A
// batch of APPENDs is announced in the ledger (with the folder's UIDNEXT)
// before it is sent, so after a crash or a dropped connection the messages
// from that UID on are fetched and hashed, and nothing is sent twice. When
// the ledger knows nothing of a folder (it was lost, or the folder's
// UIDVALIDITY changed), what the folder holds is learned from the server:
// every Message-ID, then the full content of the candidates, by hash, so
// two different messages with one Message-ID are both restored.
//
// Fast: APPENDs are pipelined (LITERAL+ where offered, so no round trip per
// message), several folders are restored at once on their own
// connections, and APPENDLIMIT is honoured up front.
package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/restorelog"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Source is what to restore: an account of the archive, all its folders or
// those named (archive paths, "Work/2026"; a folder includes its
// subfolders).
type Source struct {
	Archive *archive.Archive
	Account string
	Folders []string
}

// Target is the IMAP account restored into.
type Target struct {
	Name     string
	Endpoint imapconn.Endpoint
	Password func() (string, error)
}

// Options tune a restore. The zero value of each field picks the default.
type Options struct {
	// Into puts every folder under this one parent folder ("Restored
	// 2026-12-01"), INBOX included, instead of in its own place.
	Into string
	// SkipDeleted leaves out messages the source server had deleted (kept
	// in the archive, marked deleted-on-server).
	SkipDeleted bool
	// SkipCopies leaves out Lifeboat's own copies of mail it sent through
	// another account (the archive's %Lifeboat folders).
	SkipCopies bool
	// DryRun connects and learns what the target holds, then reports what
	// would be done: nothing is created, appended or recorded.
	DryRun bool
	// Connections is how many folders are restored at once (default 4).
	Connections int
	// Batch is how many messages go into one MULTIAPPEND, or are sent as
	// APPENDs before their replies are read (default 256); BatchBytes
	// bounds their bytes (default 8 MB).
	Batch      int
	BatchBytes int64
	// Attempts is how many failures in a row, without progress, a folder
	// tolerates before it is given up (default 5); Backoff is the first
	// retry delay, doubled each time up to a minute (default 2 s).
	Attempts int
	Backoff  time.Duration
	// Progress receives events from the restore's goroutines; it must not
	// block for long.
	Progress func(Event)
	// NoMultiAppend sends one APPEND per message even to a server that
	// offers MULTIAPPEND (to compare the two).
	NoMultiAppend bool
	// LedgerPath overrides where the ledger is kept (default: in the
	// archive's state directory, one file per target account).
	LedgerPath string
}

func (o *Options) defaults() {
	if o.Connections <= 0 {
		o.Connections = 4
	}
	if o.Batch <= 0 {
		o.Batch = 128
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 3 << 20
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
}

// EventKind tells what an Event reports.
type EventKind int

const (
	Learned    EventKind = iota // Report: what the folder already holds and what will be appended
	Progress                    // a message was appended (or refused)
	FolderDone                  // Report holds the folder's outcome
	Retry                       // Text says why; a retry follows after a pause
	Warning                     // Text says what
)

// Event reports progress. Messages and Bytes count what was appended to the
// folder so far, of ToAppend and ToAppendBytes in its Report.
type Event struct {
	Kind     EventKind
	Folder   string // the target folder
	Messages int
	Bytes    int64
	Text     string
	Report   *FolderReport
}

// Refusal is a message the target did not take, with the server's words.
type Refusal struct {
	MessageID string
	Date      time.Time
	Size      int64
	Why       string
}

// FolderReport is what happened to one target folder.
type FolderReport struct {
	Target  string   // the target folder
	Sources []string // the archive folders it was restored from
	Role    string   // the SPECIAL-USE role it was mapped by
	Created bool
	Notes   []string
	// Archived counts the messages of the source folders; Deleted and
	// Copies those of them deleted on the source server and Lifeboat's own
	// copies of sent mail (each counted whether or not it was skipped).
	Archived, Deleted, Copies int
	// Skipped: left out on request (--skip-deleted, --skip-copies);
	// Damaged: marked damaged in the archive, so not restorable.
	Skipped, Damaged int
	// There: already in the target folder; ToAppend/ToAppendBytes: what
	// the restore appends (a dry run: would append); Appended/Bytes: done.
	There         int
	ToAppend      int
	ToAppendBytes int64
	Appended      int
	Bytes         int64
	Refused       []Refusal
	// FlagsDropped counts flags the target does not keep (PERMANENTFLAGS).
	FlagsDropped int
	Err          string // the folder could not be finished
}

// Problems reports whether the folder finished with refusals or an error.
func (r *FolderReport) Problems() bool { return r.Err != "" || len(r.Refused) > 0 }

// Report is the outcome of a restore.
type Report struct {
	Target  string
	DryRun  bool
	Folders []*FolderReport
	Err     error // the restore as a whole failed (login, listing, the ledger)
}

// Problems reports whether anything did not go as asked.
func (r *Report) Problems() bool {
	if r.Err != nil {
		return true
	}
	for _, f := range r.Folders {
		if f.Problems() {
			return true
		}
	}
	return false
}

// LedgerPath is where a restore into tgt keeps its ledger: one per account
// name and server identity (user, host and port), so that an account
// pointed at another server, or two servers whose folders happen to share
// a UIDVALIDITY (Dovecot's is the clock's second), never share a ledger.
func LedgerPath(a *archive.Archive, tgt Target) string {
	e := tgt.Endpoint
	id := sha256.Sum256([]byte(strings.ToLower(e.Username) + "\x00" + strings.ToLower(e.Host) + "\x00" + strconv.Itoa(e.Port)))
	return a.StatePath(filepath.Join("restore", url.PathEscape(tgt.Name)+"-"+hex.EncodeToString(id[:5])+".ledger"))
}

// job is one target folder and the archived messages that belong in it.
type job struct {
	gmailAll bool // Gmail's All Mail: nothing to create when every message went to its labels
	rep      *FolderReport
	name     string
	want     []*want // in restore order (the source folders' order)
	bytes    int64
	refused  map[*want]bool
}

type want struct {
	src   *archive.Folder
	entry *archive.Entry
}

// Restore restores src into tgt.
func Restore(ctx context.Context, src Source, tgt Target, opts Options) (rep *Report) {
	opts.defaults()
	rep = &Report{Target: tgt.Name, DryRun: opts.DryRun}
	defer func() {
		if p := recover(); p != nil {
			rep.Err = fmt.Errorf("internal error (please report): %v\n%s", p, debug.Stack())
		}
	}()
	r := &run{src: src, tgt: tgt, opts: &opts, rep: rep}
	rep.Err = r.run(ctx)
	return rep
}

type run struct {
	src     Source
	tgt     Target
	opts    *Options
	rep     *Report
	pw      string
	ledger  *restorelog.Ledger
	caps    imap.CapSet
	limit   int64 // APPENDLIMIT (0: none)
	uidPlus bool
	multi   bool // MULTIAPPEND: one command, one transaction, per batch
	t       *target
	mu      sync.Mutex // guards t.exists
}

func (r *run) emit(ev Event) {
	if r.opts.Progress != nil {
		r.opts.Progress(ev)
	}
}

func (r *run) run(ctx context.Context) (err error) {
	folders, err := r.sourceFolders()
	if err != nil {
		return err
	}
	path := r.opts.LedgerPath
	if path == "" {
		path = LedgerPath(r.src.Archive, r.tgt)
	}
	if r.ledger, err = restorelog.Open(path); err != nil {
		return err
	}
	defer func() {
		if cerr := r.ledger.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if r.tgt.Password != nil {
		if r.pw, err = r.tgt.Password(); err != nil {
			return err
		}
	}
	c, err := r.dial(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if c != nil {
			c.Logout().Wait()
			c.Close()
		}
	}()
	if err := r.listTarget(c); err != nil {
		return imapconn.Classify(r.tgt.Endpoint.Addr(), err)
	}
	jobs, err := r.plan(folders)
	if err != nil {
		return err
	}
	if r.opts.Into != "" && !r.opts.DryRun {
		parent := r.t.prefix + strings.Join(splitInto(r.opts.Into, r.t.delim), string(r.t.delimOr('/')))
		if err := create(c, parent); err != nil {
			return fmt.Errorf("creating %q on %s: %w", parent, r.tgt.Name, err)
		}
	}
	// Folders are created first, in order and on one connection: parents
	// before children, and no server has to create several at once (a
	// Dovecot 2.3 process can die of a lock deadlock doing that).
	if !r.opts.DryRun {
		names := make([]*job, len(jobs))
		copy(names, jobs)
		sort.Slice(names, func(i, j int) bool { return names[i].name < names[j].name })
		for _, j := range names {
			if r.t.exists[j.name] {
				continue
			}
			if err := create(c, j.name); err != nil {
				return imapconn.Classify(r.tgt.Endpoint.Addr(), fmt.Errorf("creating the folder %q: %w", j.name, err))
			}
			j.rep.Created = true
			r.t.exists[j.name] = true
		}
	}
	// The biggest folders first, so that the last to finish is a small one.
	order := append([]*job(nil), jobs...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].bytes > order[j].bytes })
	queue := make(chan *job)
	var wg sync.WaitGroup
	for i := 0; i < min(r.opts.Connections, len(order)); i++ {
		w := &worker{r: r}
		if i == 0 {
			w.c, c = c, nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.close()
			for j := range queue {
				w.do(ctx, j)
			}
		}()
	}
feed:
	for _, j := range order {
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	for _, j := range jobs {
		rep := j.rep
		rep.Sources = rep.Sources[:len(rep.Sources):len(rep.Sources)]
		r.rep.Folders = append(r.rep.Folders, rep)
	}
	if ctx.Err() != nil {
		return errors.New("stopped before the restore finished; run the same command again to continue (nothing is appended twice)")
	}
	return nil
}

func (r *run) dial(ctx context.Context) (*imapclient.Client, error) {
	c, err := imapconn.Dial(ctx, r.tgt.Endpoint, r.pw, nil)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.caps == nil {
		r.caps = c.Caps()
		r.uidPlus = r.caps.Has(imap.CapUIDPlus) || r.caps.Has(imap.CapIMAP4rev2)
		r.multi = r.caps.Has(imap.CapMultiAppend) && !r.opts.NoMultiAppend
		if l, ok := r.caps.AppendLimit(); ok && l != nil {
			r.limit = int64(*l)
		}
	}
	r.mu.Unlock()
	return c, nil
}

// sourceFolders lists the archive folders to restore.
func (r *run) sourceFolders() ([]archive.FolderID, error) {
	all, err := r.src.Archive.Folders(r.src.Account)
	if err != nil {
		return nil, fmt.Errorf("reading the archive of %s: %w", r.src.Account, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("the archive %s holds no folders of an account %q", r.src.Archive.Root, r.src.Account)
	}
	var out []archive.FolderID
	for _, id := range all {
		if id.Local && r.opts.SkipCopies {
			continue
		}
		if len(r.src.Folders) == 0 || id.Under(r.src.Folders...) {
			out = append(out, id)
		}
	}
	for _, f := range r.src.Folders {
		found := false
		for _, id := range all {
			if id.Under(f) {
				found = true
			}
		}
		if !found {
			var names []string
			for _, id := range all {
				names = append(names, id.Path())
			}
			return nil, fmt.Errorf("the archive of %s has no folder %q; it has: %s", r.src.Account, f, strings.Join(names, ", "))
		}
	}
	return out, nil
}

func (t *target) delimOr(d rune) rune {
	if t.delim == 0 {
		return d
	}
	return t.delim
}

// listTarget learns the target's namespace, separator and folders.
func (r *run) listTarget(c *imapclient.Client) error {
	var ns *imapclient.NamespaceCommand
	if r.caps.Has(imap.CapNamespace) || r.caps.Has(imap.CapIMAP4rev2) {
		ns = c.Namespace()
	}
	root, err := c.List("", "", nil).Collect()
	if err != nil {
		return err
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: r.caps.Has(imap.CapSpecialUse)}).Collect()
	if err != nil {
		return err
	}
	var prefix string
	var delim rune
	if len(root) > 0 {
		delim = root[0].Delim
	}
	if ns != nil {
		nd, err := ns.Wait()
		if err != nil {
			return err
		}
		if len(nd.Personal) > 0 {
			prefix = nd.Personal[0].Prefix
			if nd.Personal[0].Delim != 0 {
				delim = nd.Personal[0].Delim
			}
		}
	}
	r.t = newTarget(list, prefix, delim)
	return nil
}

// plan reads the source folders and groups them by target folder.
func (r *run) plan(ids []archive.FolderID) ([]*job, error) {
	byName := map[string]*job{}
	var jobs []*job
	jobFor := func(m mapped, source string) *job {
		j := byName[m.name]
		if j == nil {
			j = &job{name: m.name, rep: &FolderReport{Target: m.name, Role: m.role}, refused: map[*want]bool{}}
			byName[m.name] = j
			jobs = append(jobs, j)
		}
		if !slices.Contains(j.rep.Sources, source) {
			j.rep.Sources = append(j.rep.Sources, source)
			if m.note != "" {
				j.rep.Notes = append(j.rep.Notes, source+": "+m.note)
			}
		}
		return j
	}
	folders := make([]*archive.Folder, 0, len(ids))
	byPath := map[string]*archive.Folder{}
	for _, id := range ids {
		f, err := r.src.Archive.ReadFolder(id)
		if err != nil {
			return nil, fmt.Errorf("reading %s from the archive: %w", id, err)
		}
		folders = append(folders, f)
		byPath[id.Path()] = f
	}
	// Gmail keeps a message once: a folder may show one that another
	// folder holds (a link). Where the holder's copy is deleted there, the
	// message is now where the link is (moved to Trash, or back).
	moved := map[*archive.Entry]bool{}
	type linked struct {
		from  *archive.Folder // the folder that holds it
		entry *archive.Entry
		link  *archive.Link
	}
	links := map[*archive.Folder][]linked{}
	for _, f := range folders {
		for _, l := range f.Links() {
			h := byPath[l.In]
			if h == nil {
				var err error
				if h, err = r.src.Archive.ReadFolder(archive.FolderID{Account: f.ID.Account, Name: l.In, Delim: '/'}); err != nil {
					continue // its holder is gone from the archive: nothing to restore
				}
				byPath[l.In] = h
			}
			if e := h.ByGmailID(l.GmailID); e != nil && !e.Gone.IsZero() {
				moved[e] = true
				links[f] = append(links[f], linked{h, e, l})
			}
		}
	}
	// Labels recreated as folders: the same message may already come from
	// an archived folder of that label (an archive made before Gmail mode):
	// once only.
	type labelled struct {
		j    *job
		w    *want
		gone bool
	}
	var fromLabels []labelled
	for _, f := range folders {
		id := f.ID
		gmail := f.State.Role == `\All` && hasGmailIDs(f)
		role := f.State.Role
		if gmail {
			// Gmail's All Mail: what is left in it (no label) is what Gmail
			// calls archived, so the target's Archive folder where it has
			// one, else a folder of All Mail's name (on Gmail, All Mail).
			role = `\Archive`
		}
		j := jobFor(r.t.mapFolder(id, role, r.opts.Into), id.Path())
		j.gmailAll = j.gmailAll || gmail
		j.rep.Damaged += len(f.Damaged())
		type item struct {
			src    *archive.Folder
			e      *archive.Entry
			labels []string
			gone   bool
		}
		var items []item
		for _, e := range f.Entries() {
			if !moved[e] {
				items = append(items, item{f, e, e.Labels, !e.Gone.IsZero()})
			}
		}
		for _, l := range links[f] {
			items = append(items, item{l.from, l.entry, l.link.Labels, false})
		}
		for _, it := range items {
			// Gmail's All Mail: a labelled message goes to its labels'
			// folders (Inbox, Sent, Work), recreating the labels; only
			// those with none stay in All Mail's.
			into, byLabel := []*job{j}, false
			if gmail {
				if ls := r.labelJobs(it.labels, f, jobFor); len(ls) > 0 {
					into, byLabel = ls, true
				}
			}
			for _, j := range into {
				j.rep.Archived++
				if it.gone {
					j.rep.Deleted++
				}
				if id.Local {
					j.rep.Copies++
				}
				if r.opts.SkipDeleted && it.gone {
					j.rep.Skipped++
					continue
				}
				w := &want{src: it.src, entry: it.e}
				if byLabel {
					fromLabels = append(fromLabels, labelled{j, w, it.gone})
					continue
				}
				j.want = append(j.want, w)
				j.bytes += it.e.Length
			}
		}
	}
	have := map[*job]map[[32]byte]int{}
	for _, lw := range fromLabels {
		if have[lw.j] == nil {
			have[lw.j] = map[[32]byte]int{}
			for _, w := range lw.j.want {
				have[lw.j][w.entry.SHA]++
			}
		}
		if have[lw.j][lw.w.entry.SHA] > 0 { // counted once, as the folder's
			have[lw.j][lw.w.entry.SHA]--
			lw.j.rep.Archived--
			if lw.gone {
				lw.j.rep.Deleted--
			}
			continue
		}
		lw.j.want = append(lw.j.want, lw.w)
		lw.j.bytes += lw.w.entry.Length
	}
	kept := jobs[:0]
	for _, j := range jobs {
		if !(j.gmailAll && j.rep.Archived == 0) {
			kept = append(kept, j)
		}
	}
	return kept, nil
}

// hasGmailIDs reports whether f holds messages with Gmail ids (an All Mail
// backed up in Gmail mode, not another server's \All folder).
func hasGmailIDs(f *archive.Folder) bool {
	for _, e := range f.Entries() {
		if e.GmailID != 0 {
			return true
		}
	}
	return false
}

// labelFolders is the folder and role of Gmail's system labels that are
// folders elsewhere; the others (\Starred: the \Flagged flag, \Important)
// make none.
var labelFolders = map[string]struct{ name, role string }{
	`\Inbox`: {"INBOX", ""}, `\Sent`: {"Sent", `\Sent`}, `\Draft`: {"Drafts", `\Drafts`}}

// labelJobs are the jobs of the folders a message's Gmail labels make.
func (r *run) labelJobs(labels []string, f *archive.Folder, jobFor func(mapped, string) *job) []*job {
	var out []*job
	for _, l := range labels {
		l = archive.CanonicalLabel(l)                                      // a Takeout's "Inbox" is \Inbox
		id := archive.FolderID{Account: f.ID.Account, Name: l, Delim: '/'} // Gmail's separator
		role := ""
		if sys, ok := labelFolders[l]; ok {
			id.Name, role = sys.name, sys.role
		} else if strings.HasPrefix(l, `\`) || l == "" {
			continue
		}
		j := jobFor(r.t.mapFolder(id, role, r.opts.Into), "label "+archive.LabelName(l))
		if !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out
}

// worker restores folders on one connection.
type worker struct {
	r     *run
	c     *imapclient.Client
	app   *imapconn.Appender // MULTIAPPEND connection, dialled on first use
	buf   bytes.Buffer
	arena []byte // a MULTIAPPEND batch's messages (fixed capacity)
}

func (w *worker) close() {
	if w.app != nil {
		w.app.Close()
		w.app = nil
	}
	if w.c != nil {
		w.c.Logout().Wait()
		w.c.Close()
		w.c = nil
	}
}

// do restores one folder, retrying temporary failures.
func (w *worker) do(ctx context.Context, j *job) {
	r := w.r
	defer func() {
		if p := recover(); p != nil {
			j.rep.Err = fmt.Sprintf("internal error (please report): %v\n%s", p, debug.Stack())
		}
		rep := *j.rep
		r.emit(Event{Kind: FolderDone, Folder: j.name, Report: &rep})
	}()
	delay := r.opts.Backoff
	for failures := 0; ; {
		before := j.rep.Appended
		err := w.folder(ctx, j)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			j.rep.Err = "stopped"
			return
		}
		if w.c != nil && imapconn.Closed(w.c) && !errors.As(err, new(*imap.Error)) {
			err = imapconn.Dropped(r.tgt.Endpoint.Addr(), err)
		}
		err = imapconn.Classify(r.tgt.Endpoint.Addr(), err)
		var ce *imapconn.Error
		if errors.As(err, &permanentErr{}) || !errors.As(err, &ce) || !ce.Temporary() {
			j.rep.Err = err.Error()
			return
		}
		if j.rep.Appended > before {
			failures, delay = 0, r.opts.Backoff
		}
		failures++
		if failures >= r.opts.Attempts {
			j.rep.Err = fmt.Sprintf("gave up after %d attempts: %v; run the same command again to continue", failures, err)
			return
		}
		w.close()
		wait := delay/2 + rand.N(delay/2+1)
		r.emit(Event{Kind: Retry, Folder: j.name, Text: fmt.Sprintf("%s: %v; retrying in %s", j.name, err, wait.Round(100*time.Millisecond))})
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			j.rep.Err = "stopped"
			return
		}
		delay = min(2*delay, time.Minute)
	}
}

// permanentErr is a failure retrying cannot help.
type permanentErr struct{ err error }

func (e permanentErr) Error() string { return e.err.Error() }
func (e permanentErr) Unwrap() error { return e.err }

func create(c *imapclient.Client, name string) error {
	err := c.Create(name, nil).Wait()
	var ie *imap.Error
	if errors.As(err, &ie) && (ie.Code == imap.ResponseCodeAlreadyExists || strings.Contains(strings.ToLower(ie.Text), "exists")) {
		return nil
	}
	if err != nil {
		return err
	}
	c.Subscribe(name).Wait() // a client that shows only subscribed folders shows it too
	return nil
}

// folder makes one attempt at restoring j.
func (w *worker) folder(ctx context.Context, j *job) error {
	r := w.r
	if w.c == nil || imapconn.Closed(w.c) {
		c, err := r.dial(ctx)
		if err != nil {
			return err
		}
		w.c = c
	}
	c := w.c
	r.mu.Lock()
	exists := r.t.exists[j.name]
	r.mu.Unlock()
	if !exists {
		if r.opts.DryRun {
			w.account(j, nil)
			r.emit(Event{Kind: Learned, Folder: j.name, Report: copyRep(j.rep)})
			return nil
		}
		if err := create(c, j.name); err != nil {
			if errors.As(err, new(*imap.Error)) {
				return permanentErr{fmt.Errorf("creating the folder %q: %w", j.name, err)}
			}
			return err // a drop: tried again
		}
		j.rep.Created = true
		r.mu.Lock()
		r.t.exists[j.name] = true
		r.mu.Unlock()
	}
	var sel *imap.SelectData
	var err error
	if r.opts.DryRun {
		sel, err = c.Select(j.name, &imap.SelectOptions{ReadOnly: true}).Wait()
	} else {
		sel, err = c.Select(j.name, nil).Wait()
	}
	if err != nil {
		return err
	}
	have, err := w.learn(ctx, j, sel)
	if err != nil {
		return err
	}
	needs := w.account(j, have)
	r.emit(Event{Kind: Learned, Folder: j.name, Report: copyRep(j.rep)})
	if r.opts.DryRun || len(needs) == 0 {
		return nil
	}
	perm := sel.PermanentFlags
	anyKeyword := permits(perm, `\*`)
	all := perm == nil && sel.Flags == nil
	if perm == nil {
		perm = sel.Flags
	}
	// APPENDs into the selected mailbox make the server report each new
	// message to this session (Dovecot syncs its view after every one):
	// leave it. CLOSE is never used, as it would expunge \Deleted messages.
	if r.caps.Has(imap.CapUnselect) || r.caps.Has(imap.CapIMAP4rev2) {
		if err := c.Unselect().Wait(); err != nil {
			return err
		}
	} else if _, err := c.Select(j.name, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return err
	}
	uidNext := uint32(sel.UIDNext)
	for len(needs) > 0 {
		n, size := 0, int64(0)
		for n < len(needs) && n < r.opts.Batch && (n == 0 || size+needs[n].entry.Length <= r.opts.BatchBytes) {
			size += needs[n].entry.Length
			n++
		}
		batch := w.batch
		if r.multi {
			batch = w.multiBatch
		}
		if err := batch(ctx, j, sel.UIDValidity, uidNext, needs[:n], perm, anyKeyword, all); err != nil {
			return err
		}
		needs = needs[n:]
		if len(needs) > 0 {
			st, err := c.Status(j.name, &imap.StatusOptions{UIDNext: true}).Wait()
			if err != nil {
				return err
			}
			uidNext = uint32(st.UIDNext)
		}
	}
	return nil
}

func copyRep(r *FolderReport) *FolderReport {
	c := *r
	return &c
}

// account sets what is there and what is to append, from what the target
// folder holds (have: the count of copies of each hash), and returns the
// messages to append: for each content, as many copies as the archive has
// and the target lacks. Messages refused earlier in this run are not tried
// again.
func (w *worker) account(j *job, have map[[32]byte][]uint32) []*want {
	left := make(map[[32]byte]int, len(have))
	for sha, uids := range have {
		left[sha] = len(uids)
	}
	var needs []*want
	var bytes int64
	for _, x := range j.want {
		if left[x.entry.SHA] > 0 {
			left[x.entry.SHA]--
			continue
		}
		if j.refused[x] {
			continue
		}
		needs = append(needs, x)
		bytes += x.entry.Length
	}
	j.rep.ToAppend = len(needs) + j.rep.Appended
	j.rep.ToAppendBytes = bytes + j.rep.Bytes
	j.rep.There = len(j.want) - len(needs) - len(j.refused) - j.rep.Appended
	return needs
}

// batch appends msgs, pipelined, after announcing them in the ledger.
func (w *worker) batch(ctx context.Context, j *job, uv, uidNext uint32, msgs []*want, perm []imap.Flag, anyKeyword, all bool) error {
	r := w.r
	if err := r.ledger.Begin(j.name, uv, uidNext, len(msgs)); err != nil {
		return permanentErr{err}
	}
	type sent struct {
		x    *want
		cmd  *imapclient.AppendCommand
		size int64
	}
	var inflight []sent
	var werr error
	for _, x := range msgs {
		if ctx.Err() != nil {
			werr = ctx.Err()
			break
		}
		size, data, stream, err := w.original(x)
		if err != nil {
			// The archive's bytes do not read back: a damaged record the
			// next verify reports; the rest are restored.
			j.refused[x] = true
			j.rep.Refused = append(j.rep.Refused, refusal(x, size, "cannot be read from the archive: "+err.Error()+" (run lifeboat verify)"))
			continue
		}
		if r.limit > 0 && size > r.limit {
			j.refused[x] = true
			j.rep.Refused = append(j.rep.Refused, refusal(x, size, fmt.Sprintf("larger than the target accepts (APPENDLIMIT %d bytes); not sent", r.limit)))
			continue
		}
		flags, dropped := keepFlags(x.entry.Flags, perm, anyKeyword, all)
		j.rep.FlagsDropped += dropped
		cmd := w.c.Append(j.name, size, &imap.AppendOptions{Flags: flags, Time: x.entry.Date})
		if data != nil {
			_, err = cmd.Write(data)
		} else {
			err = stream(cmd)
		}
		if cerr := cmd.Close(); err == nil {
			err = cerr
		}
		inflight = append(inflight, sent{x, cmd, size})
		if err != nil {
			werr = err
			break
		}
	}
	for _, s := range inflight {
		data, err := s.cmd.Wait()
		if err == nil {
			uid := uint32(data.UID)
			if !r.uidPlus || data.UIDValidity != uv {
				uid = 0 // without UIDPLUS, or for another UIDVALIDITY, an APPENDUID means nothing here
			}
			if err := r.ledger.Have(j.name, uv, s.x.entry.SHA, uid); err != nil {
				return permanentErr{err}
			}
			j.rep.Appended++
			j.rep.Bytes += s.x.entry.Length
			r.emit(Event{Kind: Progress, Folder: j.name, Messages: j.rep.Appended, Bytes: j.rep.Bytes})
			continue
		}
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Type == imap.StatusResponseTypeBad {
			if werr == nil {
				werr = err
			}
			continue
		}
		switch {
		case ie.Code == imap.ResponseCodeOverQuota:
			j.refused[s.x] = true
			j.rep.Refused = append(j.rep.Refused, refusal(s.x, s.size, "the server said: "+ie.Text))
			if werr == nil {
				werr = permanentErr{fmt.Errorf("the target account is full (%s); make room there and run the same command again (nothing is appended twice)", ie.Text)}
			}
		case temporaryNo(ie):
			// Sent again after a pause: the batch stays open, and the next
			// attempt finds what the server did take.
			if werr == nil {
				werr = imapconn.Dropped(r.tgt.Endpoint.Addr(), fmt.Errorf("the server asked to slow down: %s", ie.Text))
			}
		default:
			j.refused[s.x] = true
			j.rep.Refused = append(j.rep.Refused, refusal(s.x, s.size, "the server said: "+ie.Text))
			r.emit(Event{Kind: Progress, Folder: j.name, Messages: j.rep.Appended, Bytes: j.rep.Bytes})
		}
	}
	if werr != nil {
		return werr // the batch stays open: the next attempt recovers it
	}
	if err := r.ledger.End(j.name, uv); err != nil {
		return permanentErr{err}
	}
	return nil
}

// temporaryNo: a NO that asks the client to come back later (RFC 5530
// UNAVAILABLE, INUSE; providers' throttling texts). LIMIT is an
// implementation limit (a message too big): not temporary.
func temporaryNo(ie *imap.Error) bool {
	switch ie.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeInUse:
		return true
	}
	t := strings.ToLower(ie.Text)
	for _, s := range []string{"try again", "too many", "throttl", "rate limit", "temporar", "bandwidth"} {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

func refusal(x *want, size int64, why string) Refusal {
	return Refusal{MessageID: x.entry.MessageID, Date: x.entry.Date, Size: size, Why: why}
}

// bigMessage: above this, a message's original is streamed from the
// archive after one pass that counts its bytes, instead of held in memory.
const bigMessage = 4 << 20

// original returns the message as it was backed up: in memory (data), or
// for a big one its size and a function that streams it.
func (w *worker) original(x *want) (size int64, data []byte, stream func(io.Writer) error, err error) {
	if x.entry.Length <= bigMessage {
		w.buf.Reset()
		if err := x.src.WriteOriginal(&w.buf, x.entry); err != nil {
			return 0, nil, nil, err
		}
		return int64(w.buf.Len()), w.buf.Bytes(), nil, nil
	}
	var cw countWriter
	if err := x.src.WriteOriginal(&cw, x.entry); err != nil {
		return 0, nil, nil, err
	}
	return cw.n, nil, func(dst io.Writer) error { return x.src.WriteOriginal(dst, x.entry) }, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
