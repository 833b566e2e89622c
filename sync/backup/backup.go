// Package backup copies every folder of IMAP accounts into the archive
// (package store/archive), incrementally and append-only.
//
// For each account (accounts run in parallel, each on one connection):
//
//  1. LIST every folder, with STATUS in the same round trip when the server
//     offers LIST-STATUS; a folder whose UIDVALIDITY, UIDNEXT, MESSAGES and
//     HIGHESTMODSEQ match the last checkpoint is skipped without SELECT.
//  2. EXAMINE (read-only: nothing on the server changes, \Seen included),
//     then one FETCH of UID, FLAGS and RFC822.SIZE for all messages: UIDs
//     that vanished are recorded as deleted-on-server, changed flags are
//     logged, new UIDs are fetched.
//  3. New messages come with BODY.PEEK[] in UID FETCH commands of up to
//     2,000 messages, streamed;
//     each body is read whole (in memory up to 8 MB, else spooled to disk)
//     before it is appended, so a dropped connection never leaves half a
//     message. Messages are committed (fsync mbox, then log) every 1,000
//     messages or 64 MB, and at the end of the folder.
//  4. After a UIDVALIDITY change, a message whose content hash matches one
//     archived under the old UIDVALIDITY is re-mapped, not stored again.
//  5. A folder that lost more than MassDeletePercent % and more than
//     MassDeleteMin of its messages since the last run raises a warning.
//
// Temporary failures (drops, timeouts, throttling) are retried with
// exponential backoff, resuming from what was committed; a run that did not
// finish is never reported as a success.
package backup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/canary"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Account is one IMAP account to back up.
type Account struct {
	Name     string
	Endpoint imapconn.Endpoint
	// Password returns the password; it is called once per run.
	Password func() (string, error)
	// Wants reports whether a folder should be backed up; nil means all.
	Wants func(folder string) bool
}

// Options tune a run. The zero value of each field picks the default.
type Options struct {
	Archive           *archive.Archive
	MassDeletePercent float64 // default 20
	MassDeleteMin     int     // default 50
	// Progress receives events; it is called from the accounts' goroutines
	// and must not block for long.
	Progress func(Event)
	// Attempts is how many failures in a row, without progress, a run
	// tolerates before giving up (default 5).
	Attempts int
	// Backoff is the first retry delay, doubled each time up to a minute
	// (default 2 s).
	Backoff        time.Duration
	CommitMessages int   // default 1000
	CommitBytes    int64 // default 64 MB
	FetchChunk     int   // UIDs per FETCH command, default 2000
	// Connections is how many connections an account's folders are backed
	// up over (at most MaxConnections); 0 picks: several against a server
	// far away, one nearby.
	Connections int
	// FullList lists every message of a changed folder even where
	// CONDSTORE could tell only what changed (tests compare the two).
	FullList bool
	// GmailDailyBytes is how much a Gmail account may download in 24
	// hours (this run and the earlier ones) before the run stops for the
	// day: Gmail allows about 2,500 MB and then locks IMAP for every
	// program of the account, the user's phone included; the default,
	// 2,000 MB, leaves them room. Negative: no limit but Gmail's own.
	GmailDailyBytes int64
	// Observe, when set, is told how each account's run went (nil err: it
	// logged in and finished), so backups feed the health model too.
	Observe func(account string, err error)
}

func (o *Options) defaults() {
	if o.MassDeletePercent == 0 {
		o.MassDeletePercent = 20
	}
	if o.MassDeleteMin == 0 {
		o.MassDeleteMin = 50
	}
	if o.Attempts == 0 {
		o.Attempts = 5
	}
	if o.Backoff == 0 {
		o.Backoff = 2 * time.Second
	}
	if o.CommitMessages == 0 {
		o.CommitMessages = 1000
	}
	if o.CommitBytes == 0 {
		o.CommitBytes = 64 << 20
	}
	if o.FetchChunk == 0 {
		o.FetchChunk = 2000
	}
	if o.GmailDailyBytes == 0 {
		o.GmailDailyBytes = 2000e6
	}
}

// EventKind tells what an Event reports.
type EventKind int

const (
	FolderStart EventKind = iota // Total* known
	Progress                     // a message was archived
	FolderDone                   // Folder holds the summary
	Warning                      // Text says what
	Retry                        // Text says why; a retry follows after a pause
	AccountDone                  // Result holds the outcome
	Info                         // Text says what was recovered (not a warning)
)

// Event reports progress. Messages/Bytes count what this run archived in
// the folder so far.
type Event struct {
	Kind          EventKind
	Account       string
	Folder        string
	Messages      int
	TotalMessages int
	Bytes         int64
	TotalBytes    int64
	Text          string
	Summary       *archive.FolderRun
	// Archived is, with FolderDone, the folder as the run left it, closed:
	// read-only, for the search index (which need not read its metadata
	// log again). Nil when the folder was not opened.
	Archived *archive.Folder
	Result   *Result
}

// Result is the outcome of one account's run.
type Result struct {
	Account string
	Run     archive.Run
	Err     error
	// Inbox is the account's INBOX as the run left it, closed (read-only:
	// the bounce watch reads its new messages without parsing its
	// metadata log again); nil when the run did not open it.
	Inbox *archive.Folder
}

// Backup runs every account in parallel and returns their results in the
// order given. Each run is also appended to the account's run history.
func Backup(ctx context.Context, accounts []Account, opts Options) []Result {
	opts.defaults()
	results := make([]Result, len(accounts))
	var wg sync.WaitGroup
	for i, acct := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runAccount(ctx, acct, &opts)
		}()
	}
	wg.Wait()
	return results
}

type engine struct {
	mu      *sync.Mutex // guards run and inbox, shared by the connections of a parallel run
	inbox   **archive.Folder
	opts    *Options
	acct    Account
	pw      string
	c       *imapclient.Client
	caps    imap.CapSet
	run     *archive.Run
	emit    func(Event)
	bodyBuf body
	// closed is the folder the last successful folder() call committed
	// and closed (for FolderDone).
	closed *archive.Folder
	// nsPrefix is the server's personal namespace prefix ("INBOX." on
	// Cyrus), not part of archive folder names.
	nsPrefix string
	// gm is set for a Gmail account (X-GM-EXT-1 with an \All folder).
	gm *gmail
	// asked is what appendOnly asked the server of a folder it then left
	// to the usual way: that way starts from it instead of asking again.
	asked *asked
}

// asked is a folder selected on the engine's connection and its changes
// since a checkpoint, as changesSince would list them.
type asked struct {
	mailbox string
	st      archive.State
	sel     *imap.SelectData
	listed  map[uint32]serverMsg
	flags   map[uint32][]string
}

func runAccount(ctx context.Context, acct Account, opts *Options) (res Result) {
	e := &engine{mu: &sync.Mutex{}, opts: opts, acct: acct, run: &archive.Run{Start: time.Now()}, inbox: &res.Inbox}
	e.emit = func(ev Event) {
		if opts.Progress != nil {
			ev.Account = acct.Name
			opts.Progress(ev)
		}
	}
	res.Account = acct.Name
	defer func() {
		if p := recover(); p != nil {
			res.Err = fmt.Errorf("internal error (please report): %v\n%s", p, debug.Stack())
		}
		if e.c != nil {
			e.c.Close()
		}
		e.gm.close()
		e.bodyBuf.closeSpool()
		e.run.End = time.Now()
		switch {
		case res.Err != nil && (errors.Is(res.Err, context.Canceled) || ctx.Err() != nil):
			e.run.Result = archive.ResultInterrupted
			res.Err = errors.New("stopped before the backup finished; the next run continues where this one stopped")
		case res.Err != nil:
			e.run.Result = archive.ResultFailed
		case len(e.run.Warnings) > 0:
			e.run.Result = archive.ResultWarnings
		default:
			e.run.Result = archive.ResultOK
		}
		if res.Err != nil {
			e.run.Error = res.Err.Error()
		}
		if werr := opts.Archive.AppendRun(acct.Name, *e.run); werr != nil && res.Err == nil {
			res.Err = fmt.Errorf("cannot record the run: %w", werr)
			e.run.Result = archive.ResultFailed
		}
		res.Run = *e.run
		if opts.Observe != nil && e.run.Result != archive.ResultInterrupted {
			opts.Observe(acct.Name, res.Err)
		}
		r := res
		e.emit(Event{Kind: AccountDone, Result: &r})
	}()
	unlock, err := opts.Archive.LockAccount(acct.Name)
	if err != nil {
		return Result{Account: acct.Name, Err: err}
	}
	defer unlock()
	notes, err := opts.Archive.Prepare(acct.Name)
	for _, n := range notes {
		if n.Warn {
			e.warn("", n.Text)
		} else {
			e.info("", n.Text)
		}
	}
	if err != nil {
		res.Err = err
		return res
	}
	if e.bodyBuf.spoolDir, err = opts.Archive.TempDir(acct.Name); err != nil {
		res.Err = err
		return res
	}
	if acct.Password != nil {
		if e.pw, err = acct.Password(); err != nil {
			res.Err = err
			return res
		}
	}
	res.Err = e.backup(ctx)
	// Copies of sent mail that waited while this run held the lock.
	if _, notes, err := opts.Archive.DrainPending(acct.Name); err != nil || len(notes) > 0 {
		for _, n := range notes {
			e.warn("", n)
		}
		if err != nil {
			e.warn("", fmt.Sprintf("copies of sent mail could not be added to the archive yet (%v); they wait and are tried again", err))
		}
	}
	return res
}

// info reports what a run recovered as promised (not a warning).
func (e *engine) info(folder, text string) {
	e.emit(Event{Kind: Info, Folder: folder, Text: text})
}

func (e *engine) warn(folder, text string) {
	e.mu.Lock()
	for _, w := range e.run.Warnings {
		if w == text {
			e.mu.Unlock()
			return
		}
	}
	e.run.Warnings = append(e.run.Warnings, text)
	e.mu.Unlock()
	e.emit(Event{Kind: Warning, Folder: folder, Text: text})
}

// retry runs op until it succeeds, fails permanently, or fails Attempts
// times in a row without progress. op reports whether it made progress.
func (e *engine) retry(ctx context.Context, what string, op func() (progress bool, err error)) error {
	delay := e.opts.Backoff
	for failures := 0; ; {
		progress, err := op()
		if err == nil {
			return nil
		}
		if e.gm != nil && gmailLimit(err) {
			return &errGmailLimit{err: err}
		}
		var perm *permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if e.c != nil && imapconn.Closed(e.c) && !errors.As(err, new(*imap.Error)) {
			err = imapconn.Dropped(e.acct.Endpoint.Addr(), err)
		}
		err = imapconn.Classify(e.acct.Endpoint.Addr(), err)
		if ctx.Err() != nil {
			return context.Canceled
		}
		var ce *imapconn.Error
		if !errors.As(err, &ce) || !ce.Temporary() {
			return err
		}
		if progress {
			failures, delay = 0, e.opts.Backoff
		}
		failures++
		if failures >= e.opts.Attempts {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, failures, err)
		}
		if e.c != nil {
			e.c.Close()
			e.c = nil
		}
		wait := delay/2 + rand.N(delay/2+1)
		e.emit(Event{Kind: Retry, Text: fmt.Sprintf("%s: %v; retrying in %s", what, err, wait.Round(100*time.Millisecond))})
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return context.Canceled
		}
		delay = min(2*delay, time.Minute)
	}
}

func (e *engine) connect(ctx context.Context) error {
	if e.c != nil {
		if !imapconn.Closed(e.c) {
			return nil
		}
		e.c = nil
	}
	c, err := imapconn.Dial(ctx, e.acct.Endpoint, e.pw, nil)
	if err != nil {
		return err
	}
	e.c, e.caps = c, c.Caps()
	return nil
}

type folderInfo struct {
	list   *imap.ListData
	status *imap.StatusData
}

func (e *engine) backup(ctx context.Context) error {
	var folders []folderInfo
	err := e.retry(ctx, "listing folders", func() (bool, error) {
		if err := e.connect(ctx); err != nil {
			return false, err
		}
		var err error
		folders, err = e.list()
		return false, err
	})
	if err != nil {
		return err
	}
	if gf, ok := gmailFolders(e.caps, folders); ok {
		folders = gf
		if err := e.startGmail(folders); err != nil {
			return err
		}
	} else if n := e.connections(ctx, folders); n > 1 {
		return e.parallel(ctx, folders, n)
	}
	for _, fi := range folders {
		if ctx.Err() != nil {
			return context.Canceled
		}
		if err := e.oneFolder(ctx, fi); err != nil {
			var limit *errGmailLimit
			if errors.As(err, &limit) {
				e.warn(fi.list.Mailbox, limit.message(e.gm, e.opts.GmailDailyBytes))
				break
			}
			return err
		}
	}
	if e.c != nil {
		e.c.Logout().Wait()
	}
	return nil
}

// oneFolder backs up one folder, with retries, and reports it done.
func (e *engine) oneFolder(ctx context.Context, fi folderInfo) error {
	// Figures add up over the attempts: what an attempt committed before
	// it failed is part of this run.
	var summary archive.FolderRun
	e.closed = nil
	err := e.retry(ctx, fi.list.Mailbox, func() (bool, error) {
		before := summary.New + summary.Remapped + summary.Recovered
		err := e.folder(ctx, fi, &summary)
		return summary.New+summary.Remapped+summary.Recovered > before, err
	})
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeNonExistent {
		e.warn(fi.list.Mailbox, fmt.Sprintf("%s: disappeared from the server during the run (its archive is kept)", fi.list.Mailbox))
		return nil
	}
	if errors.Is(err, errSkipped) {
		err = nil
	}
	if errors.As(err, new(*errGmailLimit)) {
		// What came before the stop counts toward the day's budget.
		e.mu.Lock()
		e.run.Folders = append(e.run.Folders, summary)
		e.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", fi.list.Mailbox, err)
	}
	e.mu.Lock()
	e.run.Folders = append(e.run.Folders, summary)
	if strings.EqualFold(summary.Path, "INBOX") && e.closed != nil {
		*e.inbox = e.closed
	}
	e.mu.Unlock()
	s := summary
	e.emit(Event{Kind: FolderDone, Folder: summary.Path, Summary: &s, Archived: e.closed})
	e.closed = nil
	return nil
}

var statusItems = imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true}

// folderID is where the archive keeps a server folder: its name relative to
// the personal namespace (RFC 2342), so that "INBOX.Lists.go" on a server
// with the namespace "INBOX." and "Lists/go" on one without are the same
// archive folder. INBOX is INBOX everywhere.
func (e *engine) folderID(l *imap.ListData) archive.FolderID {
	name := l.Mailbox
	if p := e.nsPrefix; p != "" && len(name) > len(p) && strings.HasPrefix(name, p) && !strings.EqualFold(name, "INBOX") {
		name = name[len(p):]
	}
	return archive.FolderID{Account: e.acct.Name, Name: name, Delim: l.Delim}
}

func (e *engine) list() ([]folderInfo, error) {
	var ns *imapclient.NamespaceCommand
	if e.caps.Has(imap.CapNamespace) || e.caps.Has(imap.CapIMAP4rev2) {
		ns = e.c.Namespace()
	}
	opts := &imap.ListOptions{ReturnSpecialUse: e.caps.Has(imap.CapSpecialUse)}
	so := statusItems
	so.HighestModSeq = e.caps.Has(imap.CapCondStore)
	if e.caps.Has(imap.CapListStatus) || e.caps.Has(imap.CapIMAP4rev2) {
		opts.ReturnStatus = &so
	}
	data, err := e.c.List("", "*", opts).Collect()
	if err != nil {
		return nil, err
	}
	e.nsPrefix = ""
	if ns != nil {
		nd, err := ns.Wait()
		if err != nil {
			return nil, err
		}
		if len(nd.Personal) > 0 {
			e.nsPrefix = nd.Personal[0].Prefix
		}
	}
	var out []folderInfo
	for _, d := range data {
		if imapconn.HasAttr(d.Attrs, imap.MailboxAttrNoSelect) || imapconn.HasAttr(d.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		if e.acct.Wants != nil && !e.acct.Wants(d.Mailbox) {
			continue
		}
		out = append(out, folderInfo{list: d, status: d.Status})
	}
	// INBOX first, then by name: the mail people look for first.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := strings.EqualFold(out[i].list.Mailbox, "INBOX"), strings.EqualFold(out[j].list.Mailbox, "INBOX")
		if a != b {
			return a
		}
		return out[i].list.Mailbox < out[j].list.Mailbox
	})
	if opts.ReturnStatus == nil {
		// One STATUS per folder, pipelined.
		cmds := make([]*imapclient.StatusCommand, len(out))
		for i, fi := range out {
			cmds[i] = e.c.Status(fi.list.Mailbox, &so)
		}
		for i, cmd := range cmds {
			st, err := cmd.Wait()
			if err != nil {
				return nil, err
			}
			out[i].status = st
		}
	}
	return out, nil
}

// specialUse lists the SPECIAL-USE attributes (RFC 6154), recorded with a
// folder's checkpoint so that a restore finds the target's own folder for
// the role.
var specialUse = []imap.MailboxAttr{imap.MailboxAttrSent, imap.MailboxAttrDrafts, imap.MailboxAttrTrash,
	imap.MailboxAttrJunk, imap.MailboxAttrArchive, imap.MailboxAttrAll, imap.MailboxAttrFlagged}

// role is the folder's SPECIAL-USE attribute ("" for none).
func role(l *imap.ListData) string {
	for _, a := range specialUse {
		if imapconn.HasAttr(l.Attrs, a) {
			return string(a)
		}
	}
	return ""
}

func unchanged(s archive.State, st *imap.StatusData) bool {
	return st != nil && !s.At.IsZero() && st.NumMessages != nil && st.UIDNext != 0 &&
		st.UIDValidity == s.UIDValidity && uint32(st.UIDNext) == s.UIDNext &&
		*st.NumMessages == s.Messages && st.HighestModSeq == s.HighestModSeq
}

type serverMsg struct {
	flags []string
	size  int64
}

// flagStrings keeps the flags worth archiving: \Recent is per session
// (RFC 3501 2.3.2) and would look like a change on every run.
func flagStrings(fl []imap.Flag) []string {
	out := make([]string, 0, len(fl))
	for _, f := range fl {
		if !strings.EqualFold(string(f), `\Recent`) {
			out = append(out, string(f))
		}
	}
	return out
}

// errSkipped: a folder was left out of the run (reported as a warning).
var errSkipped = errors.New("folder skipped")

// folder backs up one folder, adding what it did to sum; it may be called
// again after a failure and then continues from what was committed. A
// folder whose archive is damaged is reported and skipped (errSkipped), so
// the other folders of the account are still backed up.
func (e *engine) folder(ctx context.Context, fi folderInfo, sum *archive.FolderRun) (err error) {
	id := e.folderID(fi.list)
	sum.Path = id.Path()
	arch := e.opts.Archive
	if full := (archive.FolderID{Account: id.Account, Name: fi.list.Mailbox, Delim: id.Delim}); full != id &&
		arch.HasFolder(full) && !arch.HasFolder(id) {
		// Archived by an earlier Lifeboat under its full name.
		if err := arch.RenameFolder(full, id); err != nil {
			return &permanent{err}
		}
	}
	// An unchanged folder is told from its last checkpoint alone, without
	// reading its log (Gmail's folders are read whole: their ids count
	// toward the day's downloads).
	if e.gm == nil && fi.status != nil {
		if s, ok := arch.PeekFolder(id); ok && s.Unmatched == 0 && s.State.Role == role(fi.list) {
			if unchanged(s.State, fi.status) {
				sum.Unchanged = true
				sum.OnServer = s.State.Messages
				sum.Archived = s.Messages
				return nil
			}
			// Only new mail, most likely: appended without reading the
			// folder, if the server confirms it.
			if done, err := e.appendOnly(ctx, fi, id, s, sum); done || err != nil {
				return err
			}
		}
	}
	f, err := arch.OpenFolder(id)
	var damaged *archive.DamagedError
	var notMbox *archive.NotMboxError
	if errors.As(err, &damaged) || errors.As(err, &notMbox) {
		sum.Damaged = err.Error()
		e.warn(sum.Path, err.Error()+"; the account's other folders are backed up")
		return errSkipped
	}
	if err != nil {
		return &permanent{err}
	}
	defer e.closeFolder(f, &err)
	for _, n := range f.Notes() {
		e.warn(sum.Path, n)
	}
	if r := f.Recovery(); r != "" {
		e.info(sum.Path, r)
	}
	sum.Adopted += f.Adopted
	unmatched := f.Unmatched()
	if e.gm != nil {
		e.gm.note(f)
	}
	// Gmail without CONDSTORE: labels may change with nothing else, so
	// such a folder is listed every run.
	labelsKnown := e.gm == nil || e.caps.Has(imap.CapCondStore)
	if unmatched == 0 && labelsKnown && unchanged(f.State, fi.status) && f.State.Role == role(fi.list) {
		sum.Unchanged = true
		sum.OnServer = f.State.Messages
		sum.Archived = len(f.Entries())
		return nil
	}
	pre := e.asked
	e.asked = nil
	var sel *imap.SelectData
	if pre != nil && pre.mailbox == fi.list.Mailbox && pre.st == f.State {
		sel = pre.sel // selected by appendOnly a moment ago
	} else {
		pre = nil
		if err := e.connect(ctx); err != nil {
			return err
		}
		condstore := e.caps.Has(imap.CapCondStore)
		if sel, err = e.c.Select(fi.list.Mailbox, &imap.SelectOptions{ReadOnly: true, CondStore: condstore}).Wait(); err != nil {
			return err
		}
	}
	prevUV := f.UIDValidity
	reset := prevUV != 0 && sel.UIDValidity != prevUV
	current := f.Current()
	prevCount := len(current)
	if reset {
		e.warn(sum.Path, fmt.Sprintf("%s: the server renumbered this folder (UIDVALIDITY %d → %d); matching messages by content so nothing is archived twice",
			sum.Path, prevUV, sel.UIDValidity))
		current = nil
	}
	f.SetUIDValidity(sel.UIDValidity)
	uv := sel.UIDValidity

	// Pass 1: what is on the server now: only what changed since the last
	// run where CONDSTORE tells (changesSince), else the whole list.
	var links []*archive.Link
	for _, l := range f.Links() {
		if l.UIDValidity == sel.UIDValidity {
			links = append(links, l)
		} else {
			f.Unlink(l, time.Now()) // renumbered: found again below by X-GM-MSGID
		}
	}
	cs, ok := (*changes)(nil), false
	if !e.needGmailIDs(current) {
		cs, ok, err = e.changesSince(f, sel, current, links, reset, unmatched, pre)
	}
	if err == nil && !ok {
		cs, err = e.wholeList(sel, current, links)
	}
	if err != nil {
		return err
	}
	now := time.Now()
	for _, ent := range cs.gone {
		f.MarkGone(ent, now)
	}
	for _, l := range cs.goneLinks {
		f.Unlink(l, now)
	}
	gone := len(cs.gone)
	for uid, fl := range cs.flags {
		if ent := current[uid]; ent != nil && !archive.EqualFlags(ent.Flags, fl) {
			f.SetFlags(ent, fl)
			sum.FlagChanges++
		}
	}
	var want []uint32
	for uid := range cs.listed {
		if f.Lookup(uv, uid) == nil && f.LinkAt(uv, uid) == nil {
			want = append(want, uid)
		}
	}
	var meta map[uint32]imapconn.GmailMeta
	if e.gm != nil {
		if want, meta, err = e.gmailChanges(ctx, f, fi.list.Mailbox, uv, cs, current, want, sum); err != nil {
			return err
		}
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	var wantBytes int64
	overBudget := false
	for i, uid := range want {
		if e.gm != nil && !e.gm.fits(e.opts.GmailDailyBytes, wantBytes+cs.listed[uid].size) {
			// Only what fits in the day's Gmail budget: whole FETCHes, so
			// nothing is downloaded and thrown away.
			want, overBudget = want[:i], true
			break
		}
		wantBytes += cs.listed[uid].size
	}
	e.emit(Event{Kind: FolderStart, Folder: sum.Path, TotalMessages: len(want), TotalBytes: wantBytes})

	// Pass 2: the new messages.
	recoveredBefore := sum.Recovered
	complete, err := e.fetchNew(ctx, f, sum.Path, want, wantBytes, meta, sum)
	if err == nil && overBudget {
		err = &permanent{&errGmailLimit{own: true}}
	}
	if err != nil {
		sum.Gone += gone
		return err
	}
	if reset {
		for _, ent := range f.Entries() {
			if ent.UIDValidity == prevUV && ent.UID != 0 && ent.Gone.IsZero() {
				f.MarkGone(ent, now)
				gone++
			}
		}
	}
	sum.Gone += gone
	if prevCount > 0 && gone > e.opts.MassDeleteMin && float64(gone)*100 > e.opts.MassDeletePercent*float64(prevCount) {
		sum.Warning = fmt.Sprintf("MASS DELETION: %d of %d messages in %s disappeared from the server since the last backup; every one of them is still in the archive",
			gone, prevCount, sum.Path)
		e.warn(sum.Path, sum.Warning)
	}
	if complete && unmatched > 0 {
		// Recovered messages the server does not have (any more): kept,
		// and marked so.
		notThere := 0
		for _, ent := range f.Entries() {
			if ent.Recovered && ent.UID == 0 && ent.Gone.IsZero() {
				f.MarkGone(ent, now)
				notThere++
			}
		}
		text := fmt.Sprintf("%s: of the messages adopted from the mbox file, %d were found on the server and %d are not on it (kept in the archive, marked deleted on the server)",
			sum.Path, sum.Recovered-recoveredBefore, notThere)
		if notThere > 0 {
			e.warn(sum.Path, text)
		} else {
			e.info(sum.Path, text)
		}
	}
	sum.OnServer = cs.onServer
	sum.Archived = len(f.Entries())
	return checkpoint(f, fi, sel, complete, now)
}

// checkpoint records, when the folder's sync is complete, the server's
// state as sel gave it, and commits what the sync wrote.
func checkpoint(f *archive.Folder, fi folderInfo, sel *imap.SelectData, complete bool, at time.Time) error {
	if complete {
		f.Checkpoint(archive.State{UIDValidity: sel.UIDValidity, UIDNext: uint32(sel.UIDNext), HighestModSeq: sel.HighestModSeq,
			Messages: sel.NumMessages, At: at, Role: role(fi.list)})
	}
	if err := f.Commit(); err != nil {
		return &permanent{err}
	}
	return nil
}

// closeFolder closes the folder a backup of it opened (deferred, with the
// backup's error) and keeps it for FolderDone when all went well.
func (e *engine) closeFolder(f *archive.Folder, err *error) {
	if cerr := f.Close(); cerr != nil && *err == nil {
		*err = &permanent{cerr}
	}
	if *err == nil {
		e.closed = f
	}
}

// readWholeEvery is how long a folder may be appended to without its log
// being read whole: reading it checks every record, and a damaged one is
// then reported (and the folder left for repair) as ever, at most this
// late.
const readWholeEvery = 24 * time.Hour

// appendOnly backs up a folder to which the server only added messages
// since its last checkpoint, without reading the archived folder: one new
// message costs the same in a folder of 100 or of 100,000. It needs
// CONDSTORE to tell that nothing else changed (no flags changed on the
// archived messages, none deleted: the count adds up) and a summary saying
// that every archived message is matched to the server under the current
// UIDVALIDITY (so none of the new ones can be an archived message moved
// back). done is false when that does not hold and nothing was written:
// the caller then backs the folder up the usual way.
func (e *engine) appendOnly(ctx context.Context, fi folderInfo, id archive.FolderID, s archive.Summary, sum *archive.FolderRun) (done bool, err error) {
	st := s.State
	if s.Current < 0 || s.Foreign != 0 || time.Since(s.ReadWhole) > readWholeEvery || e.opts.FullList || st.At.IsZero() ||
		st.HighestModSeq == 0 || st.UIDNext == 0 || fi.status.UIDValidity != st.UIDValidity || uint32(fi.status.UIDNext) <= st.UIDNext {
		return false, nil
	}
	if err := e.connect(ctx); err != nil { // the usual way needs it too; a parallel run's connection learns its capabilities here
		return false, err
	}
	if !e.caps.Has(imap.CapCondStore) {
		return false, nil
	}
	sel, err := e.c.Select(fi.list.Mailbox, &imap.SelectOptions{ReadOnly: true, CondStore: true}).Wait()
	if err != nil {
		return false, err
	}
	if sel.UIDValidity != st.UIDValidity || sel.HighestModSeq == 0 {
		return false, nil
	}
	listed, flags, err := e.newAndChanged(st, sel)
	if err != nil {
		return false, err
	}
	// The new ones: listed and not archived (a message that came in
	// during the last run's listing may be both).
	want := make([]uint32, 0, len(listed))
	var wantBytes int64
	for uid, m := range listed {
		if uid > s.TopUID {
			want = append(want, uid)
			wantBytes += m.size
		}
	}
	if len(flags) > 0 || int(sel.NumMessages) != s.Current+len(want) {
		// Flags changed, or some were deleted too: the archived messages
		// are needed. The usual way starts from what was asked.
		e.asked = &asked{mailbox: fi.list.Mailbox, st: st, sel: sel, listed: listed, flags: flags}
		return false, nil
	}
	f, err := e.opts.Archive.OpenAppend(id, s)
	if errors.Is(err, archive.ErrNotAsPeeked) {
		return false, nil
	}
	if err != nil {
		return true, &permanent{err}
	}
	defer e.closeFolder(f, &err)
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	e.emit(Event{Kind: FolderStart, Folder: sum.Path, TotalMessages: len(want), TotalBytes: wantBytes})
	complete, err := e.fetchNew(ctx, f, sum.Path, want, wantBytes, nil, sum)
	if err != nil {
		return true, err
	}
	sum.OnServer = sel.NumMessages
	sum.Archived = s.Messages + len(f.Entries())
	return true, checkpoint(f, fi, sel, complete, time.Now())
}

// fetchNew downloads the wanted UIDs in pipelined chunks. It returns false
// when some message could not be fetched (the folder is then not
// checkpointed, so the next run tries again).
func (e *engine) fetchNew(ctx context.Context, f *archive.Folder, path string, want []uint32, totalBytes int64,
	meta map[uint32]imapconn.GmailMeta, sum *archive.FolderRun) (bool, error) {
	if len(want) == 0 {
		return true, nil
	}
	opts := &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	var chunks []imap.UIDSet
	for i := 0; i < len(want); i += e.opts.FetchChunk {
		var set imap.UIDSet
		for _, uid := range want[i:min(i+e.opts.FetchChunk, len(want))] {
			set.AddNum(imap.UID(uid))
		}
		chunks = append(chunks, set)
	}
	got := make(map[uint32]bool, len(want))
	var pendingBytes int64
	pendingMsgs := 0
	commit := func() error {
		pendingBytes, pendingMsgs = 0, 0
		return f.Commit()
	}
	// One FETCH at a time, each streaming up to FetchChunk messages. (Not
	// pipelined: Dovecot may start answering the next FETCH before it
	// completes the current one, and go-imap then blocks delivering the next
	// command's literal while we still wait on the current command.)
	for _, chunk := range chunks {
		cur := e.c.Fetch(chunk, opts)
		for msg := cur.Next(); msg != nil; msg = cur.Next() {
			if ctx.Err() != nil {
				cur.Close()
				return false, context.Canceled
			}
			m, ok, err := e.readMessage(msg)
			if err != nil {
				// Not cur.Close(): after a failed literal read, go-imap
				// would read that literal again while its decoder already
				// moved on. The connection is done for; drop it.
				e.c.Close()
				return false, err
			}
			if !ok {
				continue
			}
			got[m.UID] = true
			if canary.IsProbe(e.bodyBuf.head) {
				// A delivery check of Lifeboat's own (sync/canary), about to
				// be deleted by it: not the user's mail.
				e.bodyBuf.closeSpool()
				continue
			}
			if old := e.findMoved(f, m); old != nil {
				if old.Recovered && old.UID == 0 {
					sum.Recovered++
				} else {
					sum.Remapped++
				}
				f.Remap(old, m.UID, m.Flags, m.SHA)
				if e.gm != nil {
					gm, ok := meta[m.UID]
					if ok && old.GmailID == 0 {
						f.SetGmail(old, gm.MsgID, gm.ThrID, gm.Labels) // adopted after a crash: its id again
					}
					e.gm.took(e.bodyBuf.size, old.GmailID, path)
				}
			} else {
				if gm, ok := meta[m.UID]; ok {
					m.GmailID, m.ThreadID, m.Labels = gm.MsgID, gm.ThrID, gm.Labels
				}
				if _, err := f.Append(m); err != nil {
					cur.Close()
					return false, &permanent{err}
				}
				if e.gm != nil {
					e.gm.took(e.bodyBuf.size, m.GmailID, path)
				}
				sum.New++
				sum.NewBytes += e.bodyBuf.size
				pendingBytes += e.bodyBuf.size
			}
			pendingMsgs++
			e.bodyBuf.closeSpool()
			if pendingMsgs >= e.opts.CommitMessages || pendingBytes >= e.opts.CommitBytes {
				if err := commit(); err != nil {
					cur.Close()
					return false, &permanent{err}
				}
			}
			e.emit(Event{Kind: Progress, Folder: path, Messages: len(got), TotalMessages: len(want),
				Bytes: sum.NewBytes, TotalBytes: totalBytes})
		}
		if err := cur.Close(); err != nil {
			return false, err
		}
	}
	// The last messages are committed by the caller together with the
	// folder's checkpoint: one fsync of the mbox and one of the log.
	missing := 0
	for _, uid := range want {
		if !got[uid] {
			missing++
		}
	}
	if missing > 0 {
		// Expunged between the two passes, or a server that cannot read
		// them: either way the next run looks again.
		e.warn(path, fmt.Sprintf("%s: the server did not return %d message(s); they will be tried again next run", path, missing))
		return false, nil
	}
	return true, nil
}

// findMoved returns an archived message with the same content that is not
// on the server under the current UIDVALIDITY: archived under an earlier
// one, or recovered from the mbox file and not found yet.
func (e *engine) findMoved(f *archive.Folder, m *archive.Message) *archive.Entry {
	for _, old := range f.ByHash(m.SHA) {
		if old.UIDValidity != f.UIDValidity {
			return old
		}
	}
	return nil
}

// readMessage reads one FETCH response whole.
func (e *engine) readMessage(msg *imapclient.FetchMessageData) (*archive.Message, bool, error) {
	m := &archive.Message{}
	haveBody := false
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			m.UID = uint32(it.UID)
		case imapclient.FetchItemDataFlags:
			m.Flags = flagStrings(it.Flags)
		case imapclient.FetchItemDataInternalDate:
			m.Date = it.Time
		case imapclient.FetchItemDataRFC822Size:
			m.Size = it.Size
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			if err := e.bodyBuf.readFrom(it.Literal, it.Literal.Size()); err != nil {
				return nil, false, err
			}
			haveBody = true
		}
	}
	if !haveBody || m.UID == 0 {
		return nil, false, nil
	}
	m.SHA = e.bodyBuf.hasher.Sum()
	m.EOL = e.bodyBuf.scan.EOL()
	m.MessageID = archive.MessageID(e.bodyBuf.head)
	m.Body = e.bodyBuf.reader()
	if m.Size == 0 {
		m.Size = e.bodyBuf.size
	}
	return m, true, nil
}

// permanent marks an error that retrying cannot fix (disk errors).
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }
