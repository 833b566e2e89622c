// Package outbox is Lifeboat's crash-safe spool of outgoing mail.
//
// A message is acknowledged (relay "250", `lifeboat send` exit 0) only after
// Enqueue returns, and Enqueue returns only after the message and its
// envelope are fsynced into the spool:
//
//	<dir>/<id>.msg      one JSON line (the envelope) then the raw message;
//	                    written to a temporary file, fsynced, renamed, and
//	                    the directory fsynced: it exists whole or not at all
//	<dir>/<id>.ledger   append-only JSON lines, one per step, each fsynced
//	                    before the step it announces is taken
//
// The ledger steps are queued → submitting(account) → data-sent(account) →
// accepted(account, reply) | rejected(recipient, reason) | ambiguous(account).
// "data-sent" is written before the final "." of DATA goes out: a crash
// after it is therefore ambiguous (the server may have accepted the message)
// and must be resolved by looking for the Message-ID in that account's Sent
// folder, never by a blind resend. A crash before it leaves the message
// queued, since no server can have accepted it.
//
// Nothing is deleted: finished messages are moved to <dir>/done/, dropped
// ones to <dir>/dropped/, with their ledgers.
//
// Several Lifeboat processes may share one outbox (a relay, the desktop
// app, `lifeboat send`s). Each open Outbox holds a lock file of its own in
// <dir>/owners/ and names its temporary files after it, so that Recover
// moves aside only what a dead process left; and a message is delivered by
// one process at a time, the one holding its lock (<dir>/locks/<id>.lock,
// see Lock). Locks are released by the kernel when a process dies.
//
// Damage is never skipped silently: a torn last ledger line (a crash while
// it was written) is moved to <dir>/quarantine/ and reported; a damaged line
// before the end holds the message for the user, with the file and offset.
package outbox

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/fsutil"
)

// Envelope is what the spool knows of a message besides its bytes.
type Envelope struct {
	ID        string    `json:"id"`
	From      string    `json:"from"` // MAIL FROM of the original (the user's address)
	To        []string  `json:"to"`   // every recipient
	MessageID string    `json:"message_id,omitempty"`
	QueuedAt  time.Time `json:"queued_at"`
	Size      int64     `json:"size"`
	Via       string    `json:"via,omitempty"` // "send", "relay", "compose", "resend"
	// Through, when set, is the only account the message may go through
	// (the user's "send it again through …").
	Through string `json:"through,omitempty"`
}

// Step names of the ledger.
const (
	StepSubmitting = "submitting"
	StepDataSent   = "data-sent"
	StepAccepted   = "accepted"
	StepRejected   = "rejected"   // one recipient (Recipient) or the whole message
	StepAmbiguous  = "ambiguous"  // the outcome of a data-sent step is unknown
	StepResolved   = "resolved"   // an ambiguous outcome was resolved (Outcome: accepted | not-found)
	StepRetry      = "retry"      // a temporary failure; next attempt not before NotBefore
	StepRequeue    = "requeue"    // only Recipients remain to be delivered
	StepNeedsUser  = "needs-user" // held until the user decides (content refused, too big, too old)
	StepDropped    = "dropped"
	// StepBounced: a delivery status notification came back for this sent
	// message (Recipient, Reason: the remote server's words; Account: the
	// one it went through).
	StepBounced = "bounced"
	// StepFiled: a copy of this message, sent through another account,
	// was put into the Sent folder (Reason) of Account, the sender's own,
	// once it was back.
	StepFiled = "filed"
)

// Step is one ledger line.
type Step struct {
	Step       string    `json:"step"`
	At         time.Time `json:"at"`
	Account    string    `json:"account,omitempty"`
	Reply      string    `json:"reply,omitempty"` // the server's reply, e.g. "250 2.0.0 Ok: queued as 4F2"
	Recipient  string    `json:"recipient,omitempty"`
	Recipients []string  `json:"recipients,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	NotBefore  time.Time `json:"not_before,omitempty"`
	Attempt    int       `json:"attempt,omitempty"`
}

// State is where a message stands, derived from its ledger.
type State string

const (
	Queued     State = "queued"     // waiting for (another) attempt
	Submitting State = "submitting" // an attempt was under way (crash: safe to retry)
	Ambiguous  State = "ambiguous"  // the final "." went out; outcome unknown
	Sent       State = "sent"       // every recipient accepted or finally rejected, at least one accepted
	Failed     State = "failed"     // every recipient finally rejected
	NeedsUser  State = "needs-user"
	Dropped    State = "dropped"
	Bounced    State = "bounced" // sent, and a bounce came back for a recipient
)

// Item is a spooled message with its ledger.
type Item struct {
	Envelope
	Steps []Step
	// Damage says where its files are damaged ("" when they are not): the
	// message is held for the user until they decide (retry or drop).
	Damage string
	// damagedAt is how many steps came before the damage.
	damagedAt int
}

// State derives the message's state from its ledger.
func (it *Item) State() State {
	if it.Damage != "" && !it.decidedSince(it.damagedAt) {
		return NeedsUser
	}
	st := Queued
	// Once the final dot may have gone out (data-sent), only an answer
	// clears the doubt: accepted, resolved by the Sent folder, a final
	// rejection, the user's decision. Any other step (a retry written by
	// mistake, an interruption) leaves the message ambiguous: never a blind
	// resend.
	doubt := false
	for _, s := range it.Steps {
		switch s.Step {
		case StepSubmitting:
			if !doubt {
				st = Submitting
			}
		case StepDataSent, StepAmbiguous:
			st, doubt = Ambiguous, true
		case StepAccepted:
			st, doubt = Sent, false
		case StepResolved:
			doubt = false
			if s.Outcome == "accepted" {
				st = Sent
			} else {
				st = Queued
			}
		case StepRetry:
			if s.Reason == ReasonConfirmed {
				doubt = false
			}
			if !doubt {
				st = Queued
			}
		case StepRequeue:
			if !doubt {
				st = Queued
			}
		case StepNeedsUser:
			st = NeedsUser
		case StepDropped:
			st, doubt = Dropped, false
		case StepRejected:
			if s.Recipient == "" {
				st, doubt = Failed, false
			}
		}
	}
	if doubt && st != NeedsUser {
		return Ambiguous
	}
	if st == Sent && len(it.Bounces()) > 0 {
		return Bounced
	}
	if (st == Queued || st == Submitting) && len(it.Pending()) == 0 {
		if len(it.Accepted()) > 0 {
			return Sent
		}
		return Failed
	}
	return st
}

// decidedSince reports whether the user decided about the message (send
// again, or drop) in a step after the first n.
func (it *Item) decidedSince(n int) bool {
	for _, s := range it.Steps[min(n, len(it.Steps)):] {
		if (s.Step == StepRetry && s.Reason == ReasonConfirmed) || s.Step == StepDropped {
			return true
		}
	}
	return false
}

// ReasonConfirmed is the reason of the retry step the user's "send it
// again" writes.
const ReasonConfirmed = "confirmed by the user"

// Pending returns the recipients still to be delivered: all of them, less
// those accepted or finally rejected, narrowed by the last requeue.
func (it *Item) Pending() []string {
	pending := append([]string(nil), it.To...)
	for _, s := range it.Steps {
		switch s.Step {
		case StepRequeue:
			pending = append([]string(nil), s.Recipients...)
		case StepRejected:
			if s.Recipient != "" {
				pending = remove(pending, s.Recipient)
			}
		case StepAccepted:
			if len(s.Recipients) > 0 {
				for _, r := range s.Recipients {
					pending = remove(pending, r)
				}
			} else {
				pending = nil
			}
		case StepResolved:
			if s.Outcome == "accepted" {
				pending = nil
			}
		}
	}
	return pending
}

// Accepted returns the recipients a server accepted the message for.
func (it *Item) Accepted() []string {
	var out []string
	for _, s := range it.Steps {
		if s.Step == StepAccepted {
			out = append(out, s.Recipients...)
		}
	}
	return out
}

// Rejected returns the finally rejected recipients with the reason.
func (it *Item) Rejected() map[string]string {
	out := map[string]string{}
	for _, s := range it.Steps {
		if s.Step == StepRejected && s.Recipient != "" {
			out[s.Recipient] = s.Reason
		}
	}
	return out
}

// Attempts counts submission attempts.
func (it *Item) Attempts() int {
	n := 0
	for _, s := range it.Steps {
		if s.Step == StepSubmitting {
			n++
		}
	}
	return n
}

// Waits counts the delivery passes that ended waiting (every account failed,
// or an ambiguous outcome could not be checked yet): the backoff exponent.
func (it *Item) Waits() int {
	n := 0
	for _, s := range it.Steps {
		if (s.Step == StepRetry || s.Step == StepAmbiguous) && !s.NotBefore.IsZero() {
			n++
		}
	}
	return n
}

// NotBefore is when the next attempt may start (zero: now).
func (it *Item) NotBefore() time.Time {
	for i := len(it.Steps) - 1; i >= 0; i-- {
		switch it.Steps[i].Step {
		case StepRetry, StepAmbiguous:
			if !it.Steps[i].NotBefore.IsZero() {
				return it.Steps[i].NotBefore
			}
		case StepSubmitting:
			return time.Time{}
		}
	}
	return time.Time{}
}

// Last is the last ledger step, if any.
func (it *Item) Last() *Step {
	if len(it.Steps) == 0 {
		return nil
	}
	return &it.Steps[len(it.Steps)-1]
}

func remove(list []string, x string) []string {
	out := list[:0:0]
	for _, v := range list {
		if !strings.EqualFold(v, x) {
			out = append(out, v)
		}
	}
	return out
}

// Outbox is a spool directory, open in this process.
type Outbox struct {
	dir     string
	mu      sync.Mutex
	ownerID string
	owner   *os.File // locked while open: this process's temporary files are live
	// Report, when set, hears what recovery did (a torn ledger line moved
	// to quarantine); nil: it is not told.
	Report func(string)
}

// Open opens (creating) the spool at dir. Close releases it.
func Open(dir string) (*Outbox, error) {
	for _, d := range []string{dir, filepath.Join(dir, "done"), filepath.Join(dir, "dropped"), filepath.Join(dir, "owners"), filepath.Join(dir, "locks")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the outbox %s: %w", d, err)
		}
	}
	var b [6]byte
	rand.Read(b[:])
	o := &Outbox{dir: dir, ownerID: hex.EncodeToString(b[:])}
	// Locked before it has its name: whoever sees an owner file sees it
	// locked while its process lives.
	tmp := filepath.Join(dir, "owners", ".new-"+o.ownerID)
	f, err := fsutil.LockFile(tmp)
	if err == nil {
		if rerr := os.Rename(tmp, o.ownerPath(o.ownerID)); rerr != nil {
			// Windows renames no file that is open. There, an open file
			// cannot be removed either, so another process's cleanup cannot
			// take it away between its making and its locking.
			f.Close()
			os.Remove(tmp)
			f, err = fsutil.LockFile(o.ownerPath(o.ownerID))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open the outbox %s: %w", dir, err)
	}
	o.owner = f
	return o, nil
}

// Close releases the outbox (its owner lock); temporary files of an
// Enqueue still running are then fair game for another process's Recover.
func (o *Outbox) Close() error {
	if o.owner == nil {
		return nil
	}
	os.Remove(o.ownerPath(o.ownerID))
	err := o.owner.Close()
	o.owner = nil
	return err
}

func (o *Outbox) ownerPath(id string) string { return filepath.Join(o.dir, "owners", id+".lock") }
func (o *Outbox) lockPath(id string) string  { return filepath.Join(o.dir, "locks", id+".lock") }

func (o *Outbox) report(format string, args ...any) {
	if o.Report != nil {
		o.Report(fmt.Sprintf(format, args...))
	}
}

// ErrBusy means another Lifeboat process (or another worker of this one)
// is delivering the message right now.
var ErrBusy = errors.New("another Lifeboat process is delivering this message right now")

// Lock takes the message's delivery lock, trying again for up to wait
// while another holds it (then ErrBusy). Only its holder delivers the
// message, appends to its ledger or finishes it. ErrNotFound: the message
// left the spool meanwhile (finished by the one who held the lock).
func (o *Outbox) Lock(id string, wait time.Duration) (unlock func(), err error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	deadline := time.Now().Add(wait)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		f, err := fsutil.LockFile(o.lockPath(id))
		if err == nil {
			if _, err := os.Stat(o.msgPath(id)); err != nil {
				f.Close()
				return nil, ErrNotFound
			}
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, fsutil.ErrLocked) {
			return nil, err
		}
		if !time.Now().Before(deadline) {
			return nil, ErrBusy
		}
		time.Sleep(min(delay, time.Until(deadline)))
	}
}

// Busy reports whether someone holds the message's delivery lock now.
func (o *Outbox) Busy(id string) bool {
	unlock, err := o.Lock(id, 0)
	if err == nil {
		unlock()
	}
	return errors.Is(err, ErrBusy)
}

// Dir is the spool directory.
func (o *Outbox) Dir() string { return o.dir }

// NewID returns a sortable, unique message id.
func NewID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

// ErrNotFound means no spooled message has that id.
var ErrNotFound = errors.New("no such message in the outbox")

func (o *Outbox) msgPath(id string) string    { return filepath.Join(o.dir, id+".msg") }
func (o *Outbox) ledgerPath(id string) string { return filepath.Join(o.dir, id+".ledger") }

func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, `/\`) && !strings.HasPrefix(id, ".")
}

// Enqueue writes the message durably and returns its envelope (ID set). Only
// after it returns may the message be acknowledged.
func (o *Outbox) Enqueue(env Envelope, raw io.Reader) (Envelope, error) {
	if len(env.To) == 0 {
		return env, errors.New("the message has no recipients")
	}
	if env.QueuedAt.IsZero() {
		env.QueuedAt = time.Now()
	}
	env.ID = NewID(env.QueuedAt)
	// Named after this Outbox, whose owner lock tells Recover it is live.
	tmp, err := os.CreateTemp(o.dir, ".incoming-"+o.ownerID+"-*")
	if err != nil {
		return env, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	// The size is known only after copying: write a placeholder envelope,
	// then the message, then rewrite the envelope line in place (same length).
	w := bufio.NewWriterSize(tmp, 256*1024)
	hdr, _ := json.Marshal(env)
	pad := 24 // room for the size digits
	w.Write(hdr)
	w.Write(bytes.Repeat([]byte(" "), pad))
	w.WriteByte('\n')
	n, err := io.Copy(w, raw)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		tmp.Close()
		return env, fmt.Errorf("cannot spool the message: %w", err)
	}
	env.Size = n
	hdr2, _ := json.Marshal(env)
	if len(hdr2) > len(hdr)+pad {
		tmp.Close()
		return env, errors.New("envelope grew unexpectedly")
	}
	line := append(hdr2, bytes.Repeat([]byte(" "), len(hdr)+pad-len(hdr2))...)
	if _, err := tmp.WriteAt(line, 0); err != nil {
		tmp.Close()
		return env, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return env, fmt.Errorf("cannot spool the message (fsync): %w", err)
	}
	if err := tmp.Close(); err != nil {
		return env, err
	}
	if err := os.Rename(tmp.Name(), o.msgPath(env.ID)); err != nil {
		return env, err
	}
	if err := fsutil.SyncDir(o.dir); err != nil {
		return env, err
	}
	return env, nil
}

// Append adds a step to a message's ledger, fsynced. The caller holds the
// message's lock (Lock). A torn last line another process left is moved to
// quarantine first, so that the new line starts a line of its own.
func (o *Outbox) Append(id string, s Step) error { return o.appendIn(o.dir, id, s) }

func (o *Outbox) appendIn(dir, id string, s Step) error {
	if !validID(id) {
		return ErrNotFound
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, id+".msg")); err != nil {
		return ErrNotFound
	}
	ledger := filepath.Join(dir, id+".ledger")
	_, statErr := os.Stat(ledger)
	f, err := os.OpenFile(ledger, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := o.cutTornLine(f, id); err != nil {
		f.Close()
		return err
	}
	b, _ := json.Marshal(s)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		return fsutil.SyncDir(dir)
	}
	return nil
}

// Resend queues again, to the recipients it bounced for only, a sent
// message a bounce came back for, to go through account only. The copy
// keeps the bytes and the Message-ID (replies thread, and a bounce of the
// copy is matched to the copy, found first in the spool).
func (o *Outbox) Resend(id, account string) (Envelope, error) {
	if !validID(id) {
		return Envelope{}, ErrNotFound
	}
	dir := filepath.Join(o.dir, "done")
	it, err := o.load(dir, id)
	if errors.Is(err, ErrNotFound) {
		dir = o.dir
		it, err = o.load(dir, id)
	}
	if err != nil {
		return Envelope{}, err
	}
	var to []string
	for _, b := range it.Bounces() {
		if b.Recipient != "" {
			to = append(to, b.Recipient)
		}
	}
	if len(to) == 0 {
		to = it.To // a bounce that named no recipient: all of them
		if len(it.Bounces()) == 0 {
			return Envelope{}, fmt.Errorf("%s did not bounce: nothing to send again (lifeboat outbox retry is for queued messages)", id)
		}
	}
	f, err := os.Open(filepath.Join(dir, id+".msg"))
	if err != nil {
		return Envelope{}, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if _, err := br.ReadBytes('\n'); err != nil { // the envelope line
		return Envelope{}, err
	}
	env := Envelope{From: it.From, To: to, MessageID: it.MessageID, Via: "resend", Through: account}
	return o.Enqueue(env, br)
}

// AcceptedBy is the account whose server last accepted the message ("").
func (it *Item) AcceptedBy() string {
	for i := len(it.Steps) - 1; i >= 0; i-- {
		if s := it.Steps[i]; s.Step == StepAccepted && s.Account != "" {
			return s.Account
		}
	}
	return ""
}

// FiledIn reports whether a copy of the message was put into account's
// Sent folder (StepFiled).
func (it *Item) FiledIn(account string) bool {
	for _, s := range it.Steps {
		if s.Step == StepFiled && s.Account == account {
			return true
		}
	}
	return false
}

// Filed records that a copy of the finished message id is in folder of
// account. The caller holds FilingLock(id).
func (o *Outbox) Filed(id, account, folder string) error {
	return o.appendIn(filepath.Join(o.dir, "done"), id, Step{Step: StepFiled, Account: account, Reason: folder})
}

// FilingLock takes the lock under which one process at a time files a copy
// of the finished message id (ErrBusy when another holds it).
func (o *Outbox) FilingLock(id string) (unlock func(), err error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	f, err := fsutil.LockFile(filepath.Join(o.dir, "locks", id+".filing"))
	if errors.Is(err, fsutil.ErrLocked) {
		return nil, ErrBusy
	}
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Bounces are the message's bounced steps, one per recipient (the first
// recorded, should two processes have recorded one each).
func (it *Item) Bounces() []Step {
	var out []Step
	seen := map[string]bool{}
	for _, s := range it.Steps {
		if s.Step == StepBounced && !seen[strings.ToLower(s.Recipient)] {
			seen[strings.ToLower(s.Recipient)] = true
			out = append(out, s)
		}
	}
	return out
}

// Bounce records that a bounce came back for recipient of the sent
// message whose Message-ID is messageID (found in the spool or done/). It
// returns the message and whether this is news (a bounce for that
// recipient is recorded once); ErrNotFound when no message of the outbox
// has that Message-ID.
func (o *Outbox) Bounce(messageID, recipient, reason, account string) (*Item, bool, error) {
	want := strings.ToLower(strings.Trim(strings.TrimSpace(messageID), "<>"))
	if want == "" {
		return nil, false, ErrNotFound
	}
	for _, dir := range []string{o.dir, filepath.Join(o.dir, "done")} {
		items, err := o.list(dir, time.Time{})
		if err != nil {
			continue
		}
		for _, it := range items {
			if strings.ToLower(strings.Trim(it.MessageID, "<>")) != want {
				continue
			}
			for _, b := range it.Bounces() {
				if strings.EqualFold(b.Recipient, recipient) {
					return it, false, nil
				}
			}
			step := Step{Step: StepBounced, Recipient: recipient, Reason: reason, Account: account}
			if err := o.appendIn(dir, it.ID, step); err != nil {
				return nil, false, err
			}
			it, err := o.load(dir, it.ID)
			return it, true, err
		}
	}
	return nil, false, ErrNotFound
}

// cutTornLine moves a ledger's last line to quarantine when it has no line
// end (a crash while it was written), then cuts it.
func (o *Outbox) cutTornLine(f *os.File, id string) error {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	tail := make([]byte, min(st.Size(), 64<<10))
	base := st.Size() - int64(len(tail))
	if _, err := f.ReadAt(tail, base); err != nil {
		return err
	}
	if tail[len(tail)-1] == '\n' {
		return nil
	}
	i := bytes.LastIndexByte(tail, '\n')
	if i < 0 && base > 0 {
		return fmt.Errorf("%s: its last line is longer than 64 KB and torn; nothing was changed", f.Name())
	}
	start, torn := base+int64(i+1), tail[i+1:]
	qdir := filepath.Join(o.dir, "quarantine")
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		return err
	}
	q := filepath.Join(qdir, id+".ledger."+time.Now().UTC().Format("20060102T150405.000000000")+".tail")
	if err := fsutil.WriteFileSync(q, torn, 0o600); err != nil {
		return fmt.Errorf("cannot quarantine the torn last line of %s: %w (nothing was cut)", f.Name(), err)
	}
	if err := f.Truncate(start); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	o.report("%s: the last line of its ledger was torn (a crash while it was written): %d bytes moved to %s", id, st.Size()-start, q)
	return nil
}

// Get loads one message's envelope and ledger.
func (o *Outbox) Get(id string) (*Item, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	return o.load(o.dir, id)
}

// GetDone is Get for a finished message (in done/).
func (o *Outbox) GetDone(id string) (*Item, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	return o.load(filepath.Join(o.dir, "done"), id)
}

func (o *Outbox) load(dir, id string) (*Item, error) {
	f, err := os.Open(filepath.Join(dir, id+".msg"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	it := &Item{Envelope: Envelope{ID: id}}
	line, err := bufio.NewReaderSize(f, 4096).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(bytes.TrimSpace(line), &it.Envelope)
	}
	if err != nil {
		it.Envelope = Envelope{ID: id}
		it.Damage = fmt.Sprintf("%s: its envelope (the first line) is damaged (%v): who it is for is not known", f.Name(), err)
		return it, nil
	}
	lf, err := os.Open(filepath.Join(dir, id+".ledger"))
	if errors.Is(err, fs.ErrNotExist) {
		return it, nil
	}
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	br := bufio.NewReaderSize(lf, 64<<10)
	for off := int64(0); ; {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if err == io.EOF {
			break // a torn last line (no line end): not a step; Append and Recover quarantine it
		}
		var s Step
		if jerr := json.Unmarshal(line, &s); jerr != nil || s.Step == "" {
			if _, perr := br.Peek(1); perr == io.EOF && jerr != nil {
				break // a torn last line that happens to end in a line end
			}
			if it.Damage == "" {
				it.Damage = fmt.Sprintf("%s: damaged record at byte %d: what happened to the message after it is not known", lf.Name(), off)
				it.damagedAt = len(it.Steps)
			}
		} else {
			it.Steps = append(it.Steps, s)
		}
		off += int64(len(line))
	}
	return it, nil
}

// Open returns the raw message (without the envelope line).
func (o *Outbox) Open(id string) (io.ReadSeekCloser, int64, error) { return o.openIn(o.dir, id) }

// OpenDone is Open for a finished message (in done/).
func (o *Outbox) OpenDone(id string) (io.ReadSeekCloser, int64, error) {
	return o.openIn(filepath.Join(o.dir, "done"), id)
}

func (o *Outbox) openIn(dir, id string) (io.ReadSeekCloser, int64, error) {
	if !validID(id) {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(filepath.Join(dir, id+".msg"))
	if err != nil {
		return nil, 0, ErrNotFound
	}
	line, err := bufio.NewReaderSize(f, 4096).ReadBytes('\n')
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	st, _ := f.Stat()
	start := int64(len(line))
	return &section{SectionReader: io.NewSectionReader(f, start, st.Size()-start), f: f}, st.Size() - start, nil
}

type section struct {
	*io.SectionReader
	f *os.File
}

func (s *section) Close() error { return s.f.Close() }

// List returns the messages in the spool (not done or dropped), oldest
// first.
func (o *Outbox) List() ([]*Item, error) {
	return o.list(o.dir, time.Time{})
}

// Done lists finished messages whose ledger changed at or after since (a
// step appended: accepted, bounced, filed; zero: all), oldest first. done/
// keeps every message ever sent: the ones older are passed over by their
// ledger's time, without reading them.
func (o *Outbox) Done(since time.Time) ([]*Item, error) {
	return o.list(filepath.Join(o.dir, "done"), since)
}

func (o *Outbox) list(dir string, since time.Time) ([]*Item, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, de := range des {
		if name := de.Name(); strings.HasSuffix(name, ".msg") && !strings.HasPrefix(name, ".") {
			ids = append(ids, strings.TrimSuffix(name, ".msg"))
		}
	}
	sort.Strings(ids)
	var out []*Item
	for _, id := range ids {
		if !since.IsZero() {
			// A minute's leeway for file systems with coarse times.
			if st, err := os.Stat(filepath.Join(dir, id+".ledger")); err == nil && st.ModTime().Before(since.Add(-time.Minute)) {
				continue
			}
		}
		it, err := o.load(dir, id)
		if errors.Is(err, ErrNotFound) {
			continue // finished (moved on) by another process since the directory was read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// Finish moves a message that reached a final state to done/ (or dropped/).
// The caller holds its lock.
func (o *Outbox) Finish(id string) error {
	it, err := o.Get(id)
	if err != nil {
		return err
	}
	sub := "done"
	switch it.State() {
	case Sent, Failed:
	case Dropped:
		sub = "dropped"
	default:
		return fmt.Errorf("message %s is %s, not finished", id, it.State())
	}
	dest := filepath.Join(o.dir, sub)
	// The message moves first, then its ledger: a crash between the two
	// leaves a ledger without its message, which Recover moves along. (The
	// other order would leave a message without its ledger, which reads as
	// queued and could be sent twice.)
	if err := os.Rename(o.msgPath(id), filepath.Join(dest, id+".msg")); err != nil {
		return err
	}
	if err := os.Rename(o.ledgerPath(id), filepath.Join(dest, id+".ledger")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Whoever waits for the lock finds the message gone (Lock checks).
	os.Remove(o.lockPath(id))
	if err := fsutil.SyncDir(dest); err != nil {
		return err
	}
	return fsutil.SyncDir(o.dir)
}

// Recover cleans up after a crash: temporary files of unacknowledged
// messages whose process is gone are moved to <dir>/incomplete/ (never
// deleted; those of live processes are left alone), torn last ledger lines
// of messages nobody is delivering go to quarantine, and ledgers whose
// message already moved to done/ follow it. It returns what it did, in
// words; it is safe to run while other processes use the outbox.
func (o *Outbox) Recover() ([]string, error) {
	var notes []string
	report := o.Report
	o.Report = func(s string) { notes = append(notes, s) }
	defer func() { o.Report = report }()
	des, err := os.ReadDir(o.dir)
	if err != nil {
		return nil, err
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, ".incoming-"):
			if o.liveTemp(name) {
				continue
			}
			inc := filepath.Join(o.dir, "incomplete")
			if err := os.MkdirAll(inc, 0o700); err != nil {
				return notes, err
			}
			err := os.Rename(filepath.Join(o.dir, name), filepath.Join(inc, name))
			if err != nil && !errors.Is(err, fs.ErrNotExist) { // another Recover was quicker
				return notes, err
			}
			if err == nil {
				notes = append(notes, fmt.Sprintf("a message whose writer stopped before it was acknowledged was moved to %s", filepath.Join(inc, name)))
			}
		case strings.HasSuffix(name, ".ledger"):
			id := strings.TrimSuffix(name, ".ledger")
			if _, err := os.Stat(o.msgPath(id)); errors.Is(err, fs.ErrNotExist) {
				for _, sub := range []string{"done", "dropped"} {
					if _, err := os.Stat(filepath.Join(o.dir, sub, id+".msg")); err == nil {
						os.Rename(filepath.Join(o.dir, name), filepath.Join(o.dir, sub, name))
					}
				}
				continue
			}
			if err := o.recoverLedger(id); err != nil && !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNotFound) {
				return notes, err
			}
		}
	}
	o.cleanOwners()
	return notes, fsutil.SyncDir(o.dir)
}

// recoverLedger quarantines a torn last line of a message nobody delivers.
func (o *Outbox) recoverLedger(id string) error {
	unlock, err := o.Lock(id, 0)
	if err != nil {
		return err
	}
	defer unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	f, err := os.OpenFile(o.ledgerPath(id), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return o.cutTornLine(f, id)
}

// liveTemp reports whether a temporary file belongs to a process that is
// still running: its owner lock is held. A file of an earlier Lifeboat (no
// owner in its name) counts as live for ten minutes.
func (o *Outbox) liveTemp(name string) bool {
	owner, _, ok := strings.Cut(strings.TrimPrefix(name, ".incoming-"), "-")
	if !ok {
		st, err := os.Stat(filepath.Join(o.dir, name))
		return err == nil && time.Since(st.ModTime()) < 10*time.Minute
	}
	if owner == o.ownerID {
		return true
	}
	f, err := os.OpenFile(o.ownerPath(owner), os.O_RDWR, 0)
	if err != nil {
		return false // no owner file: its process is gone
	}
	defer f.Close()
	return errors.Is(fsutil.TryLock(f), fsutil.ErrLocked)
}

// cleanOwners removes the owner files of processes that are gone.
func (o *Outbox) cleanOwners() {
	des, _ := os.ReadDir(filepath.Join(o.dir, "owners"))
	for _, de := range des {
		id, ok := strings.CutSuffix(de.Name(), ".lock")
		if !ok || id == o.ownerID {
			continue // not an owner file (one being made), or ours
		}
		f, err := os.OpenFile(o.ownerPath(id), os.O_RDWR, 0)
		if err != nil {
			continue
		}
		dead := fsutil.TryLock(f) == nil
		f.Close()
		if dead {
			os.Remove(o.ownerPath(id))
		}
	}
}
