package outbox

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newOutbox(t *testing.T) *Outbox {
	o, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

const raw = "From: jane@example.test\r\nTo: a@x, b@x\r\nMessage-ID: <m1@example.test>\r\nSubject: hi\r\n\r\nhello\r\n"

func enqueue(t *testing.T, o *Outbox) Envelope {
	t.Helper()
	env, err := o.Enqueue(Envelope{From: "jane@example.test", To: []string{"a@x", "b@x"}, MessageID: "<m1@example.test>"}, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestEnqueueIsDurableAndExact(t *testing.T) {
	o := newOutbox(t)
	env := enqueue(t, o)
	if env.ID == "" || env.Size != int64(len(raw)) {
		t.Fatalf("envelope: %+v", env)
	}
	r, n, err := o.Open(env.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != raw || n != int64(len(raw)) {
		t.Fatalf("spooled bytes differ: %q", b)
	}
	it, err := o.Get(env.ID)
	if err != nil || it.State() != Queued || len(it.Pending()) != 2 {
		t.Fatalf("fresh item: %+v %v", it, err)
	}
	st, _ := os.Stat(filepath.Join(o.Dir(), env.ID+".msg"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if _, err := o.Enqueue(Envelope{From: "x"}, strings.NewReader("x")); err == nil {
		t.Fatal("a message without recipients was accepted")
	}
}

func TestLedgerStates(t *testing.T) {
	o := newOutbox(t)
	id := enqueue(t, o).ID
	step := func(s Step) {
		t.Helper()
		if err := o.Append(id, s); err != nil {
			t.Fatal(err)
		}
	}
	state := func() State {
		it, err := o.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		return it.State()
	}
	step(Step{Step: StepSubmitting, Account: "bt", Attempt: 1})
	if state() != Submitting {
		t.Fatal(state())
	}
	step(Step{Step: StepRetry, Account: "bt", Reason: "421", NotBefore: time.Now().Add(time.Minute)})
	if state() != Queued {
		t.Fatal(state())
	}
	step(Step{Step: StepSubmitting, Account: "gmail", Attempt: 2})
	step(Step{Step: StepRejected, Account: "gmail", Recipient: "b@x", Reason: "550 5.1.1 no such user"})
	step(Step{Step: StepDataSent, Account: "gmail"})
	if state() != Ambiguous {
		t.Fatal(state())
	}
	step(Step{Step: StepAccepted, Account: "gmail", Recipients: []string{"a@x"}, Reply: "250 2.0.0 OK"})
	it, _ := o.Get(id)
	if it.State() != Sent || len(it.Pending()) != 0 || it.Rejected()["b@x"] == "" || it.Attempts() != 2 {
		t.Fatalf("after acceptance: %s pending %v rejected %v", it.State(), it.Pending(), it.Rejected())
	}
	if err := o.Finish(id); err != nil {
		t.Fatal(err)
	}
	if items, _ := o.List(); len(items) != 0 {
		t.Fatal("finished message still listed")
	}
	if done, _ := o.Done(time.Time{}); len(done) != 1 || done[0].State() != Sent {
		t.Fatal("finished message not in done/")
	}
	// Listed since a time: by when its ledger last changed.
	if done, _ := o.Done(time.Now().Add(-time.Hour)); len(done) != 1 {
		t.Fatal("a message finished just now is not listed since an hour ago")
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(o.Dir(), "done", id+".ledger"), old, old); err != nil {
		t.Fatal(err)
	}
	if done, _ := o.Done(time.Now().Add(-24 * time.Hour)); len(done) != 0 {
		t.Fatal("a message whose ledger last changed two days ago is listed since yesterday")
	}
	if done, _ := o.Done(time.Time{}); len(done) != 1 {
		t.Fatal("Done(zero) left out an old message")
	}
}

func TestAllRejectedIsFailed(t *testing.T) {
	o := newOutbox(t)
	id := enqueue(t, o).ID
	o.Append(id, Step{Step: StepSubmitting, Account: "bt"})
	o.Append(id, Step{Step: StepRejected, Recipient: "a@x", Reason: "550 5.1.1"})
	o.Append(id, Step{Step: StepRejected, Recipient: "b@x", Reason: "550 5.1.1"})
	it, _ := o.Get(id)
	if it.State() != Failed {
		t.Fatal(it.State())
	}
}

func TestAmbiguousResolution(t *testing.T) {
	o := newOutbox(t)
	id := enqueue(t, o).ID
	o.Append(id, Step{Step: StepSubmitting, Account: "bt"})
	o.Append(id, Step{Step: StepDataSent, Account: "bt"})
	o.Append(id, Step{Step: StepResolved, Account: "bt", Outcome: "not-found"})
	it, _ := o.Get(id)
	if it.State() != Queued || len(it.Pending()) != 2 {
		t.Fatalf("not found in Sent: %s %v", it.State(), it.Pending())
	}
	o.Append(id, Step{Step: StepSubmitting, Account: "bt"})
	o.Append(id, Step{Step: StepDataSent, Account: "bt"})
	o.Append(id, Step{Step: StepResolved, Account: "bt", Outcome: "accepted"})
	it, _ = o.Get(id)
	if it.State() != Sent {
		t.Fatalf("found in Sent: %s", it.State())
	}
}

func TestTornLedgerLineAndRecover(t *testing.T) {
	o := newOutbox(t)
	id := enqueue(t, o).ID
	o.Append(id, Step{Step: StepSubmitting, Account: "bt"})
	f, _ := os.OpenFile(filepath.Join(o.Dir(), id+".ledger"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"step":"data-se`)
	f.Close()
	it, err := o.Get(id)
	if err != nil || it.State() != Submitting || it.Damage != "" {
		t.Fatalf("torn ledger: %v %v %q", it.State(), err, it.Damage)
	}
	// An unacknowledged half-written message of a process that is gone (an
	// earlier Lifeboat's: no owner in its name, and old) is kept aside.
	half := filepath.Join(o.Dir(), ".incoming-123")
	os.WriteFile(half, []byte("half"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(half, old, old)
	notes, err := o.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(o.Dir(), "incomplete", ".incoming-123")); err != nil || !bytes.Equal(b, []byte("half")) {
		t.Fatal("incomplete message not kept")
	}
	// The torn line is quarantined and reported; the ledger ends whole.
	all := strings.Join(notes, "\n")
	if !strings.Contains(all, "torn") || !strings.Contains(all, "quarantine") {
		t.Fatalf("recover said: %q", notes)
	}
	q, _ := filepath.Glob(filepath.Join(o.Dir(), "quarantine", id+".ledger.*"))
	if len(q) != 1 {
		t.Fatalf("quarantine: %v", q)
	}
	if b, _ := os.ReadFile(q[0]); string(b) != `{"step":"data-se` {
		t.Fatalf("quarantined %q", b)
	}
	ledger, _ := os.ReadFile(filepath.Join(o.Dir(), id+".ledger"))
	if !bytes.HasSuffix(ledger, []byte("}\n")) {
		t.Fatalf("ledger after recovery: %q", ledger)
	}
	if items, _ := o.List(); len(items) != 1 {
		t.Fatalf("%d items", len(items))
	}
}

// A ledger damaged before its end: the message is held for the user, with
// the file and offset, until they decide; no step is guessed.
func TestDamagedLedgerHoldsTheMessage(t *testing.T) {
	o := newOutbox(t)
	id := enqueue(t, o).ID
	o.Append(id, Step{Step: StepSubmitting, Account: "bt"})
	o.Append(id, Step{Step: StepDataSent, Account: "bt"})
	path := filepath.Join(o.Dir(), id+".ledger")
	b, _ := os.ReadFile(path)
	i := bytes.IndexByte(b, '\n') + 1
	b[i+2] = 0xff // the data-sent line
	b[i] = 'X'
	os.WriteFile(path, b, 0o600)
	o.Append(id, Step{Step: StepAmbiguous, Account: "bt"})
	it, err := o.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if it.State() != NeedsUser || !strings.Contains(it.Damage, path) || !strings.Contains(it.Damage, fmt.Sprintf("byte %d", i)) {
		t.Fatalf("state %s, damage %q", it.State(), it.Damage)
	}
	// The user decides: send it again.
	o.Append(id, Step{Step: StepRetry, Reason: ReasonConfirmed})
	if it, _ := o.Get(id); it.State() != Queued {
		t.Fatalf("after the user's decision: %s", it.State())
	}
}

func TestDamagedEnvelopeHoldsTheMessage(t *testing.T) {
	o := newOutbox(t)
	id := enqueue(t, o).ID
	path := filepath.Join(o.Dir(), id+".msg")
	b, _ := os.ReadFile(path)
	b[0] = 'X'
	os.WriteFile(path, b, 0o600)
	items, err := o.List()
	if err != nil || len(items) != 1 || items[0].State() != NeedsUser || !strings.Contains(items[0].Damage, "envelope") {
		t.Fatalf("list: %v %v", items, err)
	}
}

func TestBadIDs(t *testing.T) {
	o := newOutbox(t)
	for _, id := range []string{"", "../x", ".hidden", "a/b"} {
		if _, err := o.Get(id); err != ErrNotFound {
			t.Errorf("%q: %v", id, err)
		}
		if err := o.Append(id, Step{Step: StepDropped}); err != ErrNotFound {
			t.Errorf("%q: %v", id, err)
		}
	}
}

// slowReader gives a message in two halves, with a pause between.
type slowReader struct {
	parts [][]byte
	pause chan struct{}
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	if len(s.parts) == 1 && s.pause != nil {
		<-s.pause
		s.pause = nil
	}
	n := copy(p, s.parts[0])
	s.parts = s.parts[1:]
	return n, nil
}

// Another process's recovery must not take a message this one is still
// writing: the message is either acknowledged, or refused with a reason.
func TestRecoverLeavesOtherWritersAlone(t *testing.T) {
	dir := t.TempDir()
	writer, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	other, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r := &slowReader{parts: [][]byte{[]byte(raw[:20]), []byte(raw[20:])}, pause: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := writer.Enqueue(Envelope{From: "jane@example.test", To: []string{"a@x"}}, r)
		done <- err
	}()
	for i := 0; i < 200; i++ { // the writer's temporary file exists
		if m, _ := filepath.Glob(filepath.Join(dir, ".incoming-*")); len(m) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := other.Recover(); err != nil {
		t.Fatal(err)
	}
	close(r.pause)
	if err := <-done; err != nil {
		t.Fatalf("a live writer's message was refused after another's recovery: %v", err)
	}
	if items, _ := other.List(); len(items) != 1 {
		t.Fatalf("%d messages spooled, want 1", len(items))
	}
}

// Once the final dot may have gone out, only an answer clears the doubt: a
// plain retry (an interruption taken for a failure) leaves the message
// ambiguous; the user's "send it again" does not.
func TestNoBlindResendAfterDataSent(t *testing.T) {
	o := newOutbox(t)
	id := enqueue(t, o).ID
	for _, s := range []Step{{Step: StepSubmitting, Account: "bt"}, {Step: StepDataSent, Account: "bt"},
		{Step: StepRetry, Account: "bt", Reason: "context canceled"}} {
		o.Append(id, s)
	}
	if it, _ := o.Get(id); it.State() != Ambiguous {
		t.Fatalf("after data-sent and a retry: %s", it.State())
	}
	o.Append(id, Step{Step: StepNeedsUser, Account: "bt", Reason: "the server may have accepted it; send it again?"})
	if it, _ := o.Get(id); it.State() != NeedsUser {
		t.Fatalf("held: %s", it.State())
	}
	o.Append(id, Step{Step: StepRetry, Reason: ReasonConfirmed})
	if it, _ := o.Get(id); it.State() != Queued {
		t.Fatalf("after the user's decision: %s", it.State())
	}
}

// List while other processes finish messages (the relay moving them to
// done/): a message that moves between reading the directory and reading
// it is left out of the list, not an error.
func TestListWhileMessagesAreFinished(t *testing.T) {
	o := newOutbox(t)
	var ids []string
	for range 200 {
		id := enqueue(t, o).ID
		o.Append(id, Step{Step: StepSubmitting, Account: "bt"})
		o.Append(id, Step{Step: StepRejected, Recipient: "a@x", Reason: "550 5.1.1"})
		o.Append(id, Step{Step: StepRejected, Recipient: "b@x", Reason: "550 5.1.1"})
		ids = append(ids, id)
	}
	done := make(chan error, 1)
	go func() {
		for _, id := range ids {
			if err := o.Finish(id); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	lists := 0
	for finished := false; !finished; lists++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		items, err := o.List()
		if err != nil {
			t.Fatalf("List while messages are finished (after %d lists): %v", lists, err)
		}
		if finished && len(items) != 0 {
			t.Fatalf("%d messages listed after all were finished", len(items))
		}
	}
}
