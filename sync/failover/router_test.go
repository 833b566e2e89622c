package failover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/smtpsend"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/smtpsink"
)

type env struct {
	t        *testing.T
	ob       *outbox.Outbox
	arch     *archive.Archive
	bt, gm   *smtpsink.Server
	accounts []Account
	health   *fakeHealth
	notices  []string
	now      time.Time
	sent     map[string]map[string]bool // account -> Message-IDs in its Sent folder
	mu       sync.Mutex
}

type fakeHealth struct {
	mu   sync.Mutex
	down map[string]bool
	obs  []string
}

func (h *fakeHealth) Unusable(a string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down[a] {
		return "known to be down"
	}
	return ""
}
func (h *fakeHealth) Observe(a string, ok bool, f *smtpsend.Failure, _ time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.obs = append(h.obs, fmt.Sprintf("%s:%v", a, ok))
}

func ep(s *smtpsink.Server) smtpsend.Endpoint {
	return smtpsend.Endpoint{Host: s.Host, Port: s.Port, Security: "starttls", Username: "user1", TLSConfig: s.ClientTLS,
		Timeout: 3 * time.Second, FinalReplyTimeout: 2 * time.Second}
}

func newEnv(t *testing.T) *env {
	ob, err := outbox.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := archive.Open(t.TempDir())
	e := &env{t: t, ob: ob, arch: arch, health: &fakeHealth{down: map[string]bool{}}, now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		sent: map[string]map[string]bool{}}
	e.bt = smtpsink.Start(t, smtpsink.Options{})
	e.gm = smtpsink.Start(t, smtpsink.Options{})
	pw := func() (string, error) { return "pass1", nil }
	check := func(name string) func(context.Context, string, time.Time) (bool, error) {
		return func(_ context.Context, mid string, _ time.Time) (bool, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.sent[name][mid], nil
		}
	}
	e.accounts = []Account{
		{Name: "bt", Email: "jane@bt.test", SMTP: ep(e.bt), Password: pw, CheckSent: check("bt")},
		{Name: "gmail", Email: "jane@gmail.test", SMTP: ep(e.gm), Password: pw, CheckSent: check("gmail")},
	}
	return e
}

func (e *env) router(mod ...func(*Options)) *Router {
	o := Options{Outbox: e.ob, Accounts: e.accounts, Health: e.health, Archive: e.arch, Now: func() time.Time { return e.now },
		Notify: func(n Notice) { e.mu.Lock(); e.notices = append(e.notices, n.Text); e.mu.Unlock() }}
	for _, m := range mod {
		m(&o)
	}
	return New(o)
}

const msg = "From: Jane Doe <jane@bt.test>\r\nTo: tom@x.test, ann@y.test\r\nSubject: Saturday\r\nIn-Reply-To: <prev@x.test>\r\n\r\nSee you then.\r\n"

func (e *env) queue(raw string) string {
	e.t.Helper()
	p, err := Prepare([]byte(raw), "", nil, "")
	if err != nil {
		e.t.Fatal(err)
	}
	env, err := e.ob.Enqueue(outbox.Envelope{From: p.From, To: p.To, MessageID: p.MessageID}, bytes.NewReader(p.Raw))
	if err != nil {
		e.t.Fatal(err)
	}
	return env.ID
}

func (e *env) deliver(r *Router, id string) Outcome {
	e.t.Helper()
	out, err := r.Deliver(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestPrimaryUp(t *testing.T) {
	e := newEnv(t)
	id := e.queue(msg)
	out := e.deliver(e.router(), id)
	if out.State != outbox.Sent || out.Account != "bt" {
		t.Fatalf("%+v", out)
	}
	got := e.bt.Messages()
	if len(got) != 1 || got[0].From != "jane@bt.test" || !strings.Contains(string(got[0].Data), "From: Jane Doe <jane@bt.test>") ||
		strings.Contains(string(got[0].Data), "\r\nReply-To:") {
		t.Fatalf("primary got %+v", got)
	}
	if len(e.gm.Messages()) != 0 {
		t.Fatal("the secondary was used with the primary up")
	}
	f, err := e.arch.ReadFolder(archive.LocalFolder("bt", archive.SentFolder))
	if err != nil || len(f.Entries()) != 1 {
		t.Fatalf("no archive copy: %v", err)
	}
	if done, _ := e.ob.Done(time.Time{}); len(done) != 1 {
		t.Fatal("not moved to done/")
	}
}

func TestFailoverWhenPrimaryRefuses(t *testing.T) {
	e := newEnv(t)
	// The primary refuses connections: nothing listens on its port.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	e.accounts[0].SMTP.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	id := e.queue(msg)
	start := time.Now()
	out := e.deliver(e.router(), id)
	took := time.Since(start)
	if out.State != outbox.Sent || out.Account != "gmail" || !strings.Contains(out.Why, "bt: cannot connect") {
		t.Fatalf("%+v", out)
	}
	if took > 2*time.Second {
		t.Fatalf("failover took %s", took)
	}
	got := e.gm.Messages()
	data := string(got[0].Data)
	if got[0].From != "jane@gmail.test" || !strings.Contains(data, "From: \"Jane Doe\" <jane@gmail.test>") ||
		!strings.Contains(data, "Reply-To: Jane Doe <jane@bt.test>") || !strings.Contains(data, "In-Reply-To: <prev@x.test>") {
		t.Fatalf("secondary got:\n%s", data)
	}
	it, _ := e.ob.Done(time.Time{})
	if !strings.Contains(data, "Message-ID: "+it[0].MessageID) {
		t.Fatal("Message-ID changed")
	}
}

func TestKnownDownIsSkipped(t *testing.T) {
	e := newEnv(t)
	e.health.down["bt"] = true
	out := e.deliver(e.router(), e.queue(msg))
	if out.Account != "gmail" || e.bt.Connections() != 0 {
		t.Fatalf("%+v, primary contacted %d times", out, e.bt.Connections())
	}
	if !strings.Contains(out.Why, "bt: known to be down") {
		t.Fatal(out.Why)
	}
}

func TestSendAsKeepsFrom(t *testing.T) {
	e := newEnv(t)
	e.health.down["bt"] = true
	e.accounts[1].SendAs = []string{"jane@bt.test"}
	e.deliver(e.router(), e.queue(msg))
	got := e.gm.Messages()
	if got[0].From != "jane@bt.test" || strings.Contains(string(got[0].Data), "\r\nReply-To:") {
		t.Fatalf("send_as alias rewritten: %s", got[0].Data)
	}
}

func TestAllDownQueuesThenDelivers(t *testing.T) {
	e := newEnv(t)
	e.bt.Set(smtpsink.Faults{Mail: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "down"}})
	e.gm.Set(smtpsink.Faults{RefuseConnections: true})
	r := e.router()
	id := e.queue(msg)
	out := e.deliver(r, id)
	if out.State != outbox.Queued || !strings.Contains(out.Why, "stays in the outbox") {
		t.Fatalf("%+v", out)
	}
	it, _ := e.ob.Get(id)
	nb := it.NotBefore()
	if d := nb.Sub(e.now); d < 30*time.Second || d > time.Minute {
		t.Fatalf("first retry in %s, want 30-60 s", d)
	}
	// Not due yet: RunOnce leaves it and says when.
	next, err := r.RunOnce(context.Background())
	if err != nil || !next.Equal(nb) || len(e.bt.Messages()) != 0 {
		t.Fatalf("next %v want %v", next, nb)
	}
	// Second failure: the wait doubles.
	e.now = nb
	r.RunOnce(context.Background())
	it, _ = e.ob.Get(id)
	if d := it.NotBefore().Sub(e.now); d < time.Minute || d > 2*time.Minute {
		t.Fatalf("second retry in %s, want 1-2 min", d)
	}
	// The primary comes back: the next pass delivers through it (failback).
	e.bt.Set(smtpsink.Faults{})
	e.now = it.NotBefore()
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(e.bt.Messages()) != 1 {
		t.Fatal("not delivered once the primary was back")
	}
	if items, _ := e.ob.List(); len(items) != 0 {
		t.Fatal("still queued")
	}
}

func TestBadRecipientDoesNotFailOver(t *testing.T) {
	e := newEnv(t)
	e.bt.Set(smtpsink.Faults{Rcpt: map[string]*smtp.SMTPError{"ann@y.test": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
	out := e.deliver(e.router(), e.queue(msg))
	if out.State != outbox.Sent || out.Account != "bt" || out.Rejected["ann@y.test"] == "" {
		t.Fatalf("%+v", out)
	}
	if len(e.gm.Messages()) != 0 || strings.Join(e.bt.Messages()[0].To, ",") != "tom@x.test" {
		t.Fatal("failed over for a recipient problem")
	}
}

func TestAmbiguousIsCheckedBeforeResend(t *testing.T) {
	for _, found := range []bool{true, false} {
		t.Run(fmt.Sprint("found=", found), func(t *testing.T) {
			e := newEnv(t)
			e.bt.Set(smtpsink.Faults{AcceptThenDrop: true})
			r := e.router()
			id := e.queue(msg)
			out := e.deliver(r, id)
			if out.State != outbox.Ambiguous || len(e.gm.Messages()) != 0 {
				t.Fatalf("%+v", out)
			}
			it, _ := e.ob.Get(id)
			if found {
				e.sent["bt"] = map[string]bool{it.MessageID: true}
			}
			e.bt.Set(smtpsink.Faults{})
			out = e.deliver(r, id)
			total := len(e.bt.Messages()) + len(e.gm.Messages())
			if found && (out.State != outbox.Sent || total != 1) {
				t.Fatalf("found in Sent but sent again: %+v, %d copies", out, total)
			}
			if !found && (out.State != outbox.Sent || total != 2) {
				t.Fatalf("not found in Sent and not resent: %+v, %d copies", out, total)
			}
		})
	}
}

func TestContentRefusedAsksUser(t *testing.T) {
	e := newEnv(t)
	e.bt.Set(smtpsink.Faults{Data: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}})
	out := e.deliver(e.router(), e.queue(msg))
	if out.State != outbox.NeedsUser || len(e.gm.Messages()) != 0 {
		t.Fatalf("%+v", out)
	}
}

func TestTooBigGoesWhereSizeAllows(t *testing.T) {
	e := newEnv(t)
	small := smtpsink.Start(t, smtpsink.Options{MaxSize: 100})
	e.accounts[0].SMTP = ep(small)
	out := e.deliver(e.router(), e.queue(msg))
	if out.Account != "gmail" {
		t.Fatalf("%+v", out)
	}
}

func TestRecipientStormIsHeld(t *testing.T) {
	e := newEnv(t)
	var to []string
	for i := 0; i < 5; i++ {
		to = append(to, fmt.Sprintf("r%d@x.test", i))
	}
	raw := "From: jane@bt.test\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: all\r\n\r\nhi\r\n"
	out := e.deliver(e.router(func(o *Options) { o.RecipientLimit = 3 }), e.queue(raw))
	if out.State != outbox.NeedsUser || e.bt.Connections() != 0 {
		t.Fatalf("%+v", out)
	}
}

func TestPrepare(t *testing.T) {
	p, err := Prepare([]byte("From: a@x\nTo: b@y\nBcc: secret@z\nSubject: s\n\nbody\n"), "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := string(p.Raw)
	if strings.Join(p.To, ",") != "b@y,secret@z" || strings.Contains(raw, "secret@z") || !strings.Contains(raw, "\r\nbody\r\n") {
		t.Fatalf("%+v\n%s", p, raw)
	}
	if !strings.HasPrefix(p.MessageID, "<") || !strings.Contains(raw, "Message-ID: "+p.MessageID) || !strings.Contains(raw, "Date: ") {
		t.Fatalf("no Message-ID/Date added:\n%s", raw)
	}
	if _, err := Prepare([]byte("Subject: x\r\n\r\n"), "", nil, ""); err == nil {
		t.Fatal("a message without From was accepted")
	}
	if _, err := Prepare([]byte("From: a@x\r\nSubject: x\r\n\r\n"), "", nil, ""); err == nil {
		t.Fatal("a message without recipients was accepted")
	}
}

func TestOldMessageAsksTheUser(t *testing.T) {
	e := newEnv(t)
	e.bt.Set(smtpsink.Faults{RefuseConnections: true})
	e.gm.Set(smtpsink.Faults{RefuseConnections: true})
	r := e.router()
	id := e.queue(msg)
	e.now = time.Now().Add(MaxAge + time.Hour)
	out := e.deliver(r, id)
	if out.State != outbox.NeedsUser || !strings.Contains(out.Why, "still not sent after 5 days") {
		t.Fatalf("%+v", out)
	}
	// The user says go on: it is tried again.
	e.ob.Append(id, outbox.Step{Step: outbox.StepRetry, Reason: "confirmed by the user"})
	e.bt.Set(smtpsink.Faults{})
	if out := e.deliver(r, id); out.State != outbox.Sent {
		t.Fatalf("after confirmation: %+v", out)
	}
}

// A panic while delivering (here in an account's password callback) is
// reported by RunOnce; the message stays in the outbox and goes out on the
// next pass.
func TestPanicWhileDeliveringIsReported(t *testing.T) {
	e := newEnv(t)
	id := e.queue(msg)
	crash := true
	e.accounts[0].Password = func() (string, error) {
		if crash {
			panic("injected")
		}
		return "pass1", nil
	}
	r := e.router()
	if _, err := r.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("RunOnce: %v", err)
	}
	if _, err := e.ob.Get(id); err != nil {
		t.Fatalf("the message left the outbox: %v", err)
	}
	crash = false
	if _, err := r.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(e.bt.Messages()) != 1 {
		t.Fatalf("%d messages sent after the panic", len(e.bt.Messages()))
	}
}

// Without a Sent folder that files submissions, "not found" means nothing:
// the message is held for the user with a question, never resent blindly;
// the user's "send it again" sends it once more.
func TestAmbiguousThatCannotBeCheckedIsHeld(t *testing.T) {
	e := newEnv(t)
	e.accounts[0].CheckSent = func(context.Context, string, time.Time) (bool, error) {
		return false, fmt.Errorf("%w: it has no Sent folder", ErrCannotCheck)
	}
	e.bt.Set(smtpsink.Faults{AcceptThenDrop: true})
	r := e.router()
	id := e.queue(msg)
	if out := e.deliver(r, id); out.State != outbox.Ambiguous {
		t.Fatalf("%+v", out)
	}
	e.bt.Set(smtpsink.Faults{})
	out := e.deliver(r, id)
	if out.State != outbox.NeedsUser || !strings.Contains(out.Why, "may have accepted this message") ||
		!strings.Contains(out.Why, "no Sent folder") || !strings.Contains(out.Why, "lifeboat outbox retry "+id) {
		t.Fatalf("held? %+v", out)
	}
	if out := e.deliver(r, id); out.State != outbox.NeedsUser || len(e.bt.Messages())+len(e.gm.Messages()) != 1 {
		t.Fatalf("a held message was sent again: %+v", out)
	}
	out, err := r.Retry(context.Background(), id)
	if err != nil || out.State != outbox.Sent || len(e.bt.Messages()) != 2 {
		t.Fatalf("after the user's send-again: %+v %v, %d copies", out, err, len(e.bt.Messages()))
	}
}

// Searched too soon after the send, the Sent folder is no answer yet: the
// message waits until it is.
func TestAmbiguousSearchedTooEarlyWaits(t *testing.T) {
	e := newEnv(t)
	until := e.now.Add(SentSettle)
	e.accounts[0].CheckSent = func(context.Context, string, time.Time) (bool, error) { return false, &TooEarly{Until: until} }
	e.bt.Set(smtpsink.Faults{AcceptThenDrop: true})
	r := e.router()
	id := e.queue(msg)
	e.deliver(r, id)
	e.bt.Set(smtpsink.Faults{})
	out := e.deliver(r, id)
	it, _ := e.ob.Get(id)
	if out.State != outbox.Ambiguous || !it.NotBefore().Equal(until) || len(e.bt.Messages()) != 1 {
		t.Fatalf("%+v, not before %v", out, it.NotBefore())
	}
}

// Stopping Lifeboat while it waits for the answer to the final dot (Ctrl-C,
// SIGTERM, closing the app) is no failure to retry: the outcome is unknown.
func TestCancelAfterTheFinalDotIsAmbiguous(t *testing.T) {
	e := newEnv(t)
	e.bt.Set(smtpsink.Faults{DelayFinalReply: 5 * time.Second})
	r := e.router()
	id := e.queue(msg)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(e.bt.Messages()) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	out, err := r.Deliver(ctx, id)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	it, _ := e.ob.Get(id)
	if it.State() != outbox.Ambiguous || len(e.gm.Messages()) != 0 {
		t.Fatalf("after a cancel at the final dot: %s %+v, gmail got %d", it.State(), out, len(e.gm.Messages()))
	}
}

// Two routers (two processes) on one outbox: one message, one delivery.
func TestTwoRoutersDeliverOnce(t *testing.T) {
	e := newEnv(t)
	e.bt.Set(smtpsink.Faults{DelayFinalReply: 300 * time.Millisecond})
	other, err := outbox.Open(e.ob.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r1 := e.router()
	r2 := e.router(func(o *Options) { o.Outbox = other })
	id := e.queue(msg)
	var wg sync.WaitGroup
	for _, r := range []*Router{r1, r2, r1, r2} {
		wg.Add(1)
		go func() { defer wg.Done(); r.RunOnce(context.Background()) }()
	}
	out, err := r2.Deliver(context.Background(), id) // waits for whoever has it
	wg.Wait()
	if err != nil && !errors.Is(err, outbox.ErrNotFound) {
		t.Fatal(err)
	}
	if n := len(e.bt.Messages()); n != 1 {
		t.Fatalf("delivered %d times (%+v)", n, out)
	}
}

// A login refused during a real send (not a probe) puts the account into
// needs-you with the server's words, exactly as a probe's refusal does: one
// failure model for the sender and the health model.
func TestRefusedLoginDuringASendNeedsYou(t *testing.T) {
	e := newEnv(t)
	e.bt.Set(smtpsink.Faults{Auth: &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Username and Password not accepted"}})
	tr := health.NewTracker(health.DefaultConfig(), health.Hooks{})
	r := e.router(func(o *Options) { o.Health = TrackerHealth(tr) })
	id := e.queue(msg)
	if out := e.deliver(r, id); out.State != outbox.Sent || out.Account != "gmail" {
		t.Fatalf("%+v", out)
	}
	st, _ := tr.Status("bt")
	if st.State != health.NeedsYou || !strings.Contains(st.Cause, "login refused") || !strings.Contains(st.Cause, "535 5.7.8 Username and Password not accepted") {
		t.Fatalf("bt after a refused login in a real send: %s (%s)", st.State, st.Cause)
	}
	// And a probe's refusal reads the same.
	kind, cause := health.Classify(health.SMTP, health.PhaseLogin, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Username and Password not accepted"})
	if kind != health.KindAuth || !strings.Contains(st.Cause, cause) {
		t.Fatalf("probe: %s %q; send: %q", kind, cause, st.Cause)
	}
}
