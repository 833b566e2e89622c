package failover

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// sentOf returns the flags and internal dates of the messages in folder of
// the demo provider, with their Message-IDs.
func sentOf(t *testing.T, p *demo.Provider, folder string) map[string]*imapFacts {
	t.Helper()
	c, err := imapconn.Dial(context.Background(), p.Endpoint(), p.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]*imapFacts{}
	sel, err := c.Select(folder, nil).Wait()
	if err != nil || sel.NumMessages == 0 { // none yet
		return out
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, InternalDate: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		f := out[m.Envelope.MessageID]
		if f == nil {
			f = &imapFacts{}
			out[m.Envelope.MessageID] = f
		}
		f.n++
		f.date = m.InternalDate
		f.seen = false
		for _, fl := range m.Flags {
			f.seen = f.seen || fl == imap.FlagSeen
		}
	}
	return out
}

type imapFacts struct {
	n    int
	date time.Time
	seen bool
}

// After a failover, the sender's own account gets a copy in its Sent
// folder once it is back: \Seen, dated when it was sent, exactly once —
// also when a process died between the APPEND and its ledger line — and
// never for what went out through the account itself.
func TestCopyIntoTheSendersSentFolder(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	e := newEnv(t)
	filer := SentFiler(p.Endpoint(), func() (string, error) { return p.Password, nil })
	e.accounts[0].FileSent = filer
	ctx := context.Background()

	e.health.down["bt"] = true
	first := e.queue(msg)
	if out := e.deliver(e.router(), first); out.Account != "gmail" {
		t.Fatalf("%+v", out)
	}
	r := e.router()
	if n, err := r.FileCopies(ctx); n != 0 || err != nil {
		t.Fatalf("with bt down: filed %d, %v", n, err)
	}
	if got := sentOf(t, p, "Sent"); len(got) != 0 {
		t.Fatalf("filed while bt is down: %v", got)
	}

	delete(e.health.down, "bt")
	if n, err := r.FileCopies(ctx); n != 1 || err != nil {
		t.Fatalf("bt back: filed %d, %v", n, err)
	}
	it, _ := e.ob.GetDone(first)
	got := sentOf(t, p, "Sent")
	if f := got[strings.Trim(it.MessageID, "<>")]; f == nil || f.n != 1 || !f.seen || !f.date.Equal(e.now) {
		t.Fatalf("bt's Sent: %+v (want one \\Seen copy dated %v)", f, e.now)
	}
	if !it.FiledIn("bt") {
		t.Fatal("the ledger does not say the copy was filed")
	}
	if n, err := r.FileCopies(ctx); n != 0 || err != nil {
		t.Fatalf("a second pass filed %d, %v", n, err)
	}

	// A process appended the copy and died before its ledger line: the
	// next pass finds it by Message-ID and only notes it.
	e.health.down["bt"] = true
	second := e.queue(strings.Replace(msg, "Saturday", "Sunday", 1))
	e.deliver(e.router(), second)
	it2, _ := e.ob.GetDone(second)
	raw := []byte("Message-ID: " + it2.MessageID + "\r\nSubject: Sunday\r\n\r\nx\r\n")
	if _, err := filer(ctx, raw, it2.MessageID, e.now); err != nil {
		t.Fatal(err)
	}
	delete(e.health.down, "bt")
	if n, err := r.FileCopies(ctx); n != 1 || err != nil {
		t.Fatalf("after a crash: filed %d, %v", n, err)
	}
	if f := sentOf(t, p, "Sent")[strings.Trim(it2.MessageID, "<>")]; f == nil || f.n != 1 {
		t.Fatalf("after a crash, bt's Sent holds %+v of the message, want exactly one", f)
	}

	// Sent through bt itself: nothing to file.
	e.deliver(e.router(), e.queue(strings.Replace(msg, "Saturday", "Monday", 1)))
	if n, _ := r.FileCopies(ctx); n != 0 || len(sentOf(t, p, "Sent")) != 2 {
		t.Fatalf("filed %d for a message bt sent itself", n)
	}
}

// A Sent folder that cannot be reached is an error naming the message and
// the account; the account then rests for 5 minutes before the next try.
func TestCopyIntoSentFailsAndRests(t *testing.T) {
	e := newEnv(t)
	calls := 0
	e.accounts[0].FileSent = func(context.Context, []byte, string, time.Time) (string, error) {
		calls++
		return "", errors.New("cannot connect to imap.bt.test:993")
	}
	e.health.down["bt"] = true
	id := e.queue(msg)
	e.deliver(e.router(), id)
	delete(e.health.down, "bt")
	r := e.router()
	_, err := r.FileCopies(context.Background())
	if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "bt's Sent folder") || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if _, err := r.FileCopies(context.Background()); err != nil || calls != 1 {
		t.Fatalf("tried again at once (%d calls, %v)", calls, err)
	}
	e.now = e.now.Add(6 * time.Minute)
	if _, err := r.FileCopies(context.Background()); err == nil || calls != 2 {
		t.Fatalf("not tried again after the rest (%d calls)", calls)
	}
	if it, _ := e.ob.GetDone(id); it.FiledIn("bt") || it.State() != outbox.Sent {
		t.Fatalf("failed filing changed the ledger: %+v", it.Steps)
	}
}

// Two processes filing at once (two routers over one outbox): one copy.
func TestTwoFilersFileOnce(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	e := newEnv(t)
	e.accounts[0].FileSent = SentFiler(p.Endpoint(), func() (string, error) { return p.Password, nil })
	e.health.down["bt"] = true
	for _, subj := range []string{"one", "two", "three"} {
		e.deliver(e.router(), e.queue(strings.Replace(msg, "Saturday", subj, 1)))
	}
	delete(e.health.down, "bt")
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		r := e.router()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			counts[i], err = r.FileCopies(context.Background())
			if err != nil {
				t.Errorf("filer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	got := sentOf(t, p, "Sent")
	if len(got) != 3 || total != 3 {
		t.Fatalf("%d filings reported, Sent holds %d distinct messages", total, len(got))
	}
	for id, f := range got {
		if f.n != 1 {
			t.Errorf("%s is in Sent %d times", id, f.n)
		}
	}
}
