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
	Via       string    `json:"via,omitempty"` // "send", "relay", "compose"
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
)

// Item is a spooled message with its ledger.
type Item struct {
	Envelope
	Steps []Step
}

// State derives the message's state from its ledger.
func (it *Item) State() State {
	st := Queued
	for _, s := range it.Steps {
		switch s.Step {
		case StepSubmitting:
			st = Submitting
		case StepDataSent, StepAmbiguous:
			st = Ambiguous
		case StepAccepted:
			st = Sent
		case StepResolved:
			if s.Outcome == "accepted" {
				st = Sent
			} else {
				st = Queued
			}
		case StepRetry, StepRequeue:
			st = Queued
		case StepNeedsUser:
			st = NeedsUser
		case StepDropped:
			st = Dropped
		case StepRejected:
			if s.Recipient == "" {
				st = Failed
			}
		}
	}
	if (st == Queued || st == Submitting) && len(it.Pending()) == 0 {
		if len(it.Accepted()) > 0 {
			return Sent
		}
		return Failed
	}
	return st
}

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

// Outbox is a spool directory.
type Outbox struct {
	dir string
	mu  sync.Mutex
}

// Open opens (creating) the spool at dir.
func Open(dir string) (*Outbox, error) {
	for _, d := range []string{dir, filepath.Join(dir, "done"), filepath.Join(dir, "dropped")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the outbox %s: %w", d, err)
		}
	}
	return &Outbox{dir: dir}, nil
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
	tmp, err := os.CreateTemp(o.dir, ".incoming-*")
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

// Append adds a step to a message's ledger, fsynced.
func (o *Outbox) Append(id string, s Step) error {
	if !validID(id) {
		return ErrNotFound
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := os.Stat(o.msgPath(id)); err != nil {
		return ErrNotFound
	}
	_, statErr := os.Stat(o.ledgerPath(id))
	f, err := os.OpenFile(o.ledgerPath(id), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
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
		return fsutil.SyncDir(o.dir)
	}
	return nil
}

// Get loads one message's envelope and ledger.
func (o *Outbox) Get(id string) (*Item, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	return o.load(o.dir, id)
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
	line, err := bufio.NewReaderSize(f, 4096).ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%s: damaged spool file: %v", f.Name(), err)
	}
	it := &Item{}
	if err := json.Unmarshal(bytes.TrimSpace(line), &it.Envelope); err != nil {
		return nil, fmt.Errorf("%s: damaged envelope: %v", f.Name(), err)
	}
	lf, err := os.Open(filepath.Join(dir, id+".ledger"))
	if errors.Is(err, fs.ErrNotExist) {
		return it, nil
	}
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	sc := bufio.NewScanner(lf)
	for sc.Scan() {
		var s Step
		if json.Unmarshal(sc.Bytes(), &s) == nil { // a torn last line is skipped
			it.Steps = append(it.Steps, s)
		}
	}
	return it, sc.Err()
}

// Open returns the raw message (without the envelope line).
func (o *Outbox) Open(id string) (io.ReadSeekCloser, int64, error) {
	if !validID(id) {
		return nil, 0, ErrNotFound
	}
	f, err := os.Open(o.msgPath(id))
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
	return o.list(o.dir)
}

// Done lists finished messages, oldest first.
func (o *Outbox) Done() ([]*Item, error) {
	return o.list(filepath.Join(o.dir, "done"))
}

func (o *Outbox) list(dir string) ([]*Item, error) {
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
		it, err := o.load(dir, id)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// Finish moves a message that reached a final state to done/ (or dropped/).
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
	if err := fsutil.SyncDir(dest); err != nil {
		return err
	}
	return fsutil.SyncDir(o.dir)
}

// Recover cleans up after a crash: temporary files of unacknowledged
// messages are moved to <dir>/incomplete/ (never deleted), and ledgers
// whose message already moved to done/ follow it.
func (o *Outbox) Recover() error {
	des, err := os.ReadDir(o.dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, ".incoming-"):
			inc := filepath.Join(o.dir, "incomplete")
			if err := os.MkdirAll(inc, 0o700); err != nil {
				return err
			}
			if err := os.Rename(filepath.Join(o.dir, name), filepath.Join(inc, name)); err != nil {
				return err
			}
		case strings.HasSuffix(name, ".ledger"):
			id := strings.TrimSuffix(name, ".ledger")
			if _, err := os.Stat(o.msgPath(id)); errors.Is(err, fs.ErrNotExist) {
				for _, sub := range []string{"done", "dropped"} {
					if _, err := os.Stat(filepath.Join(o.dir, sub, id+".msg")); err == nil {
						os.Rename(filepath.Join(o.dir, name), filepath.Join(o.dir, sub, name))
					}
				}
			}
		}
	}
	return fsutil.SyncDir(o.dir)
}
