package outbox

import (
	"bytes"
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
	if done, _ := o.Done(); len(done) != 1 || done[0].State() != Sent {
		t.Fatal("finished message not in done/")
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
	if err != nil || it.State() != Submitting {
		t.Fatalf("torn ledger: %v %v", it.State(), err)
	}
	// An unacknowledged half-written message is kept aside, not deleted.
	os.WriteFile(filepath.Join(o.Dir(), ".incoming-123"), []byte("half"), 0o600)
	if err := o.Recover(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(o.Dir(), "incomplete", ".incoming-123")); err != nil || !bytes.Equal(b, []byte("half")) {
		t.Fatal("incomplete message not kept")
	}
	if items, _ := o.List(); len(items) != 1 {
		t.Fatalf("%d items", len(items))
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
