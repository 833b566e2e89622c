package ui

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/incidents"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/store/msgtext"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/oauth"
)

type fake struct {
	mu       sync.Mutex
	accounts []engine.Account
	backups  []string
	drafts   []engine.Draft
	retried  []string
	outage   bool
	outbox   []*outbox.Item
	events   []incidents.Event
	order    []string
	applied  []engine.Settings
	relay    bool
	outboxN  int           // calls of Outbox (each Refresh makes one)
	slow     time.Duration // Retry takes this long
	restores []restoreCall
	signIns  []string
	history  map[string]engine.History
	resent   []string
}

func (f *fake) SignIn(ctx context.Context, account string, b oauth.Browser) error {
	f.mu.Lock()
	f.signIns = append(f.signIns, account)
	f.mu.Unlock()
	b.Show("https://login.example.test/authorize")
	if b.Open != nil {
		b.Open("https://login.example.test/authorize")
	}
	return nil
}

type restoreCall struct {
	req    engine.RestoreRequest
	dryRun bool
}

func (f *fake) Accounts() []engine.Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]engine.Account(nil), f.accounts...)
}
func (f *fake) BackupNow(a string)                { f.mu.Lock(); f.backups = append(f.backups, a); f.mu.Unlock() }
func (f *fake) Incidents(n int) []incidents.Event { return f.events }
func (f *fake) Runs(a string) []archive.Run {
	if a != "bt" {
		return nil
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.Local)
	return []archive.Run{{Start: t0, End: t0.Add(time.Second), Result: "ok"},
		{Start: t0.Add(time.Hour), End: t0.Add(time.Hour + 2*time.Second), Result: "warnings", Warnings: []string{"MASS DELETION: 60 of 100"},
			Folders: []archive.FolderRun{{Path: "INBOX", OnServer: 40, Archived: 100, Gone: 60}}}}
}
func (f *fake) Outbox() []*outbox.Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outboxN++
	return f.outbox
}
func (f *fake) Retry(id string) error {
	f.mu.Lock()
	f.retried = append(f.retried, id)
	slow := f.slow
	f.mu.Unlock()
	time.Sleep(slow)
	return nil
}
func (f *fake) Drop(id string) error { return nil }
func (f *fake) History(a string) engine.History {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.history[a]
}
func (f *fake) ResendVia(it *outbox.Item) string {
	if it.AcceptedBy() == "bt" {
		return "gmail"
	}
	return "bt"
}
func (f *fake) Resend(id, account string) (failover.Outcome, error) {
	f.mu.Lock()
	f.resent = append(f.resent, id+" via "+account)
	f.mu.Unlock()
	return failover.Outcome{State: outbox.Sent, Account: account}, nil
}
func (f *fake) Folders(string) []string { return []string{"INBOX", "Sent"} }
func (f *fake) Labels(string) []string  { return []string{`\Inbox`, "Work"} }
func (f *fake) LabelMessages(account, label string, offset, limit int) ([]index.Row, int, error) {
	if label != "Work" {
		return nil, 0, nil
	}
	return []index.Row{{Account: account, Folder: "[Gmail]/All Mail", UID: 7, Subject: "Quarterly plan", From: "Ann <ann@example.com>",
		Date: time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC), Labels: []string{`\Inbox`, "Work"}}}, 1, nil
}
func (f *fake) Demo() bool                   { return true }
func (f *fake) SimulateOutage(on bool) error { f.outage = on; return nil }
func (f *fake) OutageSimulated() bool        { return f.outage }
func (f *fake) Send(ctx context.Context, d engine.Draft) (failover.Outcome, error) {
	f.mu.Lock()
	f.drafts = append(f.drafts, d)
	f.mu.Unlock()
	return failover.Outcome{State: outbox.Sent, Account: "gmail", Why: "because bt: known to be down, skipped"}, nil
}
func (f *fake) Messages(account, folder string, offset, limit int) ([]index.Row, int, error) {
	if folder != "INBOX" {
		return nil, 0, nil
	}
	rows := []index.Row{{Account: account, Folder: folder, UID: 1, Subject: "Invoice 2026-118", From: "Tom <tom@example.co.uk>",
		Date: time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC), MessageID: "<1@x>", Gone: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}}
	return rows, 1, nil
}

func (f *fake) Search(q string, limit int) ([]index.Row, int, error) {
	if q != "invoice" {
		return nil, 0, nil
	}
	rows, n, err := f.Messages("bt", "INBOX", 0, limit)
	return rows, n, err
}

func (f *fake) Read(r index.Row) (*msgtext.Message, error) {
	return &msgtext.Message{Text: "Please find the invoice attached.", Attachments: []msgtext.Attachment{{Filename: "invoice.pdf", ContentType: "application/pdf", Size: 1234}}}, nil
}

func (f *fake) Settings() engine.Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := engine.Settings{ArchiveDir: "/home/jane/Mail/Lifeboat", BackupEvery: 30 * time.Minute, Order: append([]string(nil), f.order...),
		FromPolicy: "rewrite", RelayListen: "127.0.0.1:1587", RelayOn: f.relay, RelayUser: "lifeboat", Notifications: "all"}
	if f.relay {
		s.RelayPassword = "generated-pw"
	}
	return s
}

func (f *fake) Apply(s engine.Settings) error {
	f.mu.Lock()
	f.order, f.applied = s.Order, append(f.applied, s)
	f.mu.Unlock()
	return nil
}

func (f *fake) SaveAttachment(r index.Row, part []int, path string) error { return nil }

func (f *fake) SetRelay(on bool) error { f.mu.Lock(); f.relay = on; f.mu.Unlock(); return nil }

func newFake() *fake {
	return &fake{order: []string{"bt", "gmail"}, accounts: []engine.Account{
		{Name: "bt", Email: "jane@bt.demo", State: health.Up, CanSend: true, LastResult: "ok", Archived: 59, Bytes: 30 << 10, LastBackup: time.Now()},
		{Name: "gmail", Email: "jane@gmail.demo", State: health.Unknown, CanSend: true},
	}}
}

func setup(t *testing.T) (*fake, *Window) {
	t.Setenv("LANG", "en_US.UTF-8")
	a := test.NewTempApp(t)
	f := newFake()
	win := a.NewWindow("Lifeboat")
	w := New(f, win)
	t.Cleanup(w.Wait) // before the app goes: nothing of this test runs into the next
	win.SetContent(w.Content())
	return f, w
}

// rowLabel renders row i of a list the way the list would and returns the
// text of its first label.
func rowLabel(t *testing.T, l *widget.List, i int) string {
	t.Helper()
	obj := l.CreateItem()
	l.UpdateItem(i, obj)
	if lbl := firstLabel(obj); lbl != nil {
		return lbl.Text
	}
	t.Fatal("no label in the row")
	return ""
}

func firstLabel(o fyne.CanvasObject) *widget.Label {
	switch v := o.(type) {
	case *widget.Label:
		return v
	case *fyne.Container:
		for _, c := range v.Objects {
			if l := firstLabel(c); l != nil {
				return l
			}
		}
	}
	return nil
}

func findButton(o fyne.CanvasObject, text string) *widget.Button {
	switch v := o.(type) {
	case *widget.Button:
		if v.Text == text {
			return v
		}
	case *fyne.Container:
		for _, c := range v.Objects {
			if b := findButton(c, text); b != nil {
				return b
			}
		}
	}
	return nil
}

func TestAccountsShowStateAndBackUp(t *testing.T) {
	f, w := setup(t)
	if got := rowLabel(t, w.AccountsList, 0); !strings.Contains(got, "bt — Operational") || !strings.Contains(got, "59 messages archived (30 KB)") {
		t.Fatalf("row 0: %q", got)
	}
	test.Tap(w.BackupAll)
	if len(f.backups) != 1 || f.backups[0] != "" {
		t.Fatalf("backups asked: %v", f.backups)
	}
	// Selecting an account shows its end-of-run summary and history.
	w.AccountsList.Select(0)
	if s := w.RunSummary.Text; !strings.Contains(s, "MASS DELETION") || !strings.Contains(s, "60 deleted on the server (kept here)") || !strings.Contains(s, "Earlier runs") {
		t.Fatalf("run summary: %q", s)
	}
	// A change of health reaches the row (word beside the light).
	f.mu.Lock()
	f.accounts[0].State, f.accounts[0].Cause = health.Down, "cannot connect"
	f.mu.Unlock()
	w.Refresh()
	if got := rowLabel(t, w.AccountsList, 0); !strings.Contains(got, "Outage (cannot connect)") {
		t.Fatalf("after the outage: %q", got)
	}
	if stateColor(health.Down) == stateColor(health.Up) {
		t.Fatal("down and up look alike")
	}
}

func TestDemoOutageSwitch(t *testing.T) {
	f, w := setup(t)
	if w.OutageSwitch == nil {
		t.Fatal("no outage switch in the demo")
	}
	test.Tap(w.OutageSwitch)
	if !f.outage {
		t.Fatal("the switch did not reach the engine")
	}
}

func TestComposeSends(t *testing.T) {
	f, w := setup(t)
	c := w.Compose
	test.Type(c.To, "tom@example.org")
	test.Type(c.Subject, "Saturday")
	test.Type(c.Body, "See you then.")
	c.AddAttachment("/home/jane/map.pdf")
	if !strings.Contains(c.AttachList.Text, "map.pdf") {
		t.Fatalf("attachments: %q", c.AttachList.Text)
	}
	test.Tap(c.SendButton)
	select {
	case <-c.sent:
	case <-time.After(5 * time.Second):
		t.Fatal("send did not finish")
	}
	if len(f.drafts) != 1 || f.drafts[0].To != "tom@example.org" || f.drafts[0].From != "jane@bt.demo" || f.drafts[0].Body != "See you then." ||
		len(f.drafts[0].Attachments) != 1 {
		t.Fatalf("draft: %+v", f.drafts)
	}
	if !strings.Contains(c.Result.Text, "Sent through gmail") || !strings.Contains(c.Result.Text, "bt: known to be down") {
		t.Fatalf("result: %q", c.Result.Text)
	}
	if c.To.Text != "" {
		t.Fatal("the form was not cleared after sending")
	}
}

func TestOutboxRetry(t *testing.T) {
	f, w := setup(t)
	f.outbox = []*outbox.Item{{Envelope: outbox.Envelope{ID: "m1", To: []string{"tom@example.org"}, QueuedAt: time.Now()},
		Steps: []outbox.Step{{Step: outbox.StepRetry, Reason: "every account failed", NotBefore: time.Now().Add(time.Minute)}}}}
	w.Refresh()
	if got := rowLabel(t, w.OutboxList, 0); !strings.Contains(got, "queued") || !strings.Contains(got, "every account failed") {
		t.Fatalf("outbox row: %q", got)
	}
	w.OutboxList.Select(0)
	w.Tabs.SelectIndex(4)
	retry := findButton(w.Tabs.Items[4].Content, "Send again now")
	if retry == nil {
		t.Fatal("no retry button")
	}
	test.Tap(retry)
	for i := 0; i < 100 && func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.retried) == 0 }(); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.retried) != 1 || f.retried[0] != "m1" {
		t.Fatalf("retried: %v", f.retried)
	}
}

// Work a view started off the UI goroutine is waited for (tests wait for
// it before the next test's app exists): here a slow retry, whose refresh
// of the outbox has run once Wait returns.
func TestWaitCoversBackgroundWork(t *testing.T) {
	f, w := setup(t)
	f.outbox = []*outbox.Item{{Envelope: outbox.Envelope{ID: "m1", To: []string{"tom@example.org"}, QueuedAt: time.Now()}}}
	f.slow = 200 * time.Millisecond
	w.Refresh()
	w.OutboxList.Select(0)
	f.mu.Lock()
	before := f.outboxN
	f.mu.Unlock()
	test.Tap(findButton(w.Tabs.Items[4].Content, "Send again now"))
	w.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.retried) != 1 || f.outboxN <= before {
		t.Fatalf("Wait returned before the background work was done: %d retried, outbox read %d → %d", len(f.retried), before, f.outboxN)
	}
}

func waitArchive(t *testing.T, v *ArchiveView) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the archive view did not finish loading")
	}
}

func TestArchiveBrowseAndSearch(t *testing.T) {
	_, w := setup(t)
	v := w.Archive
	if len(v.folders) != 2 {
		t.Fatalf("folders: %v", v.folders)
	}
	// Gmail labels are listed after the folders, and each lists its messages.
	if got := []string{v.folderText(2), v.folderText(3)}; got[0] != "Label: Inbox" || got[1] != "Label: Work" {
		t.Fatalf("label rows: %q", got)
	}
	v.Folders.Select(3)
	waitArchive(t, v)
	if v.total != 1 || v.Status.Text != "1 messages labelled Work" || !strings.Contains(rowLabel(t, v.List, 0), "Quarterly plan") {
		t.Fatalf("label Work: %q, %d rows", v.Status.Text, v.total)
	}
	if txt := ReaderText(v.rows[0], nil); !strings.Contains(txt, "Labels: Inbox, Work\n") {
		t.Fatalf("reader of a labelled message: %q", txt)
	}
	v.Folders.Select(0)
	waitArchive(t, v)
	if v.total != 1 || !strings.Contains(v.Status.Text, "1 messages in INBOX") {
		t.Fatalf("status: %q", v.Status.Text)
	}
	if got := rowLabel(t, v.List, 0); !strings.Contains(got, "Invoice 2026-118") || !strings.Contains(got, "deleted on the server, kept here") {
		t.Fatalf("row: %q", got)
	}
	v.List.Select(0)
	waitArchive(t, v)
	if !strings.Contains(v.Reader.Text, "Subject: Invoice 2026-118") || !strings.Contains(v.Reader.Text, "Please find the invoice attached.") ||
		!strings.Contains(v.Reader.Text, "Attachment: invoice.pdf") || !strings.Contains(v.Reader.Text, "kept in the archive") {
		t.Fatalf("reader: %q", v.Reader.Text)
	}
	if len(v.Attachments.Objects) != 1 || v.Attachments.Objects[0].(*widget.Button).Text != "Save invoice.pdf" {
		t.Fatalf("attachment buttons: %v", v.Attachments.Objects)
	}
	// The keyboard moves through the list.
	if !v.HandleKey(&fyne.KeyEvent{Name: fyne.KeyEnd}) || v.selected != 0 {
		t.Fatalf("End in a one-message list: selected %d", v.selected)
	}
	if v.HandleKey(&fyne.KeyEvent{Name: fyne.KeyA}) {
		t.Fatal("a letter was taken as navigation")
	}
	// Typing a search shows the matches across the archive.
	test.Type(v.Search, "invoice")
	v.Search.OnSubmitted(v.Search.Text)
	waitArchive(t, v)
	if v.total != 1 || !strings.Contains(v.Status.Text, `1 messages match "invoice"`) {
		t.Fatalf("search status: %q", v.Status.Text)
	}
	// A filter chip adds its term to the search.
	findButton(v.Chips, "Has attachment").OnTapped()
	waitArchive(t, v)
	if v.Search.Text != "invoice has:attachment" {
		t.Fatalf("search after the chip: %q", v.Search.Text)
	}
	v.Search.SetText("nothing-like-this")
	v.Search.OnSubmitted(v.Search.Text)
	waitArchive(t, v)
	if v.total != 0 || len(v.rows) != 0 {
		t.Fatalf("a search with no match shows %d rows", len(v.rows))
	}
}

func TestProgressText(t *testing.T) {
	got := ProgressText(engine.Account{Name: "bt", Running: true, Progress: []engine.Progress{
		{Folder: "INBOX", Messages: 5, TotalMessages: 10, Bytes: 2048, TotalBytes: 4096}}})
	if !strings.Contains(got, "INBOX") || !strings.Contains(got, "▓▓▓▓▓▓▓▓▓▓░░░░░░░░░░ 5/10 messages, 2 KB of 4 KB") {
		t.Fatalf("%q", got)
	}
}

// The Health view says in words what its bars and chart show: checks,
// typical and slowest answers, slow and failed ones, the last delivery
// check; the heartbeat marks each block with a glyph as well as a colour;
// the chart flags a failed quarter of an hour and leaves out what is older
// than a day.
func TestHealthView(t *testing.T) {
	f, w := setup(t)
	now := time.Now()
	var imapChecks []health.Check
	for i := 0; i < 10; i++ {
		imapChecks = append(imapChecks, health.Check{Time: now.Add(time.Duration(i-12) * time.Minute), OK: true, Latency: 100 * time.Millisecond})
	}
	imapChecks = append(imapChecks,
		health.Check{Time: now.Add(-2 * time.Minute), OK: true, Latency: 6 * time.Second},
		health.Check{Time: now.Add(-time.Minute), OK: false, Cause: "cannot connect"})
	f.mu.Lock()
	f.history = map[string]engine.History{"bt": {Slow: 5 * time.Second, Checks: map[string][]health.Check{"imap": imapChecks},
		Canary: []health.Check{{Time: now.Add(-3 * time.Hour), OK: true, Latency: 8 * time.Second}, {Time: now.Add(-time.Hour), OK: false, Cause: "not delivered within 15 min"}}}}
	f.mu.Unlock()
	w.Refresh()
	card := w.HealthCards["bt"]
	for _, want := range []string{"bt — Operational",
		"IMAP: 12 checks in 24 h, answered in 100 ms typically, 6.0 s at the slowest, 1 slow, 1 failed",
		"✗ cannot connect",
		"SMTP: no checks in the last 24 hours",
		"Delivery checks in 24 h: 1 of 2 arrived; the last, at", "did NOT arrive ✗ — mail accepted but not delivered: not delivered within 15 min"} {
		if !strings.Contains(card, want) {
			t.Errorf("the card lacks %q:\n%s", want, card)
		}
	}
	if gm := w.HealthCards["gmail"]; !strings.Contains(gm, "Delivery checks: none in the last 24 hours") {
		t.Errorf("gmail's card: %s", gm)
	}
	var glyphs string
	for _, b := range Beats(imapChecks, 5*time.Second) {
		glyphs += b.Glyph
	}
	if glyphs != "✓✓✓✓✓✓✓✓✓✓!✗" {
		t.Errorf("heartbeat %q", glyphs)
	}
	pts := ChartPoints(append([]health.Check{{Time: now.Add(-25 * time.Hour), OK: false}}, imapChecks...), now)
	failed, checks := 0, 0
	for _, p := range pts {
		checks += p.Checks
		if p.Failed {
			failed++
		}
	}
	if len(pts) != 96 || checks != 12 || failed != 1 || pts[95].Latency != 6*time.Second {
		t.Errorf("chart: %d points, %d checks, %d failed, last %v", len(pts), checks, failed, pts[95].Latency)
	}
}

// Incidents are listed newest first under a heading per day.
func TestIncidentsByDay(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.Local)
	evs := []incidents.Event{
		{Time: now.Add(-50 * time.Hour), Account: "bt", From: "up", To: "down"},
		{Time: now.Add(-20 * time.Hour), Account: "bt", From: "down", To: "up"},
		{Time: now.Add(-time.Hour), Account: "bt", From: "up", To: "degraded", Cause: "SMTP: slow"},
		{Time: now.Add(-30 * time.Minute), Account: "bt", From: "degraded", To: "up"},
	}
	var got []string
	for _, r := range IncidentRows(evs, now) {
		if r.Heading {
			got = append(got, "# "+r.Text)
		} else {
			got = append(got, r.Text[strings.Index(r.Text, "bt:"):])
		}
	}
	want := []string{"# Today", "bt: Degraded → Operational", "bt: Operational → Degraded — SMTP: slow",
		"# Yesterday", "bt: Outage → Operational", "# Sunday 29 November 2026", "bt: Operational → Outage"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A bounced message stands out in the Outbox with the remote server's
// words, and offers to go again through the next account (off the UI
// goroutine); Retry and Drop are not offered for it.
func TestBouncedInTheOutbox(t *testing.T) {
	f, w := setup(t)
	it := &outbox.Item{Envelope: outbox.Envelope{ID: "20261201T100000.000Z-0001", To: []string{"tom@x.test"}, QueuedAt: time.Now()},
		Steps: []outbox.Step{{Step: outbox.StepAccepted, Account: "bt", Recipients: []string{"tom@x.test"}},
			{Step: outbox.StepBounced, Account: "bt", Recipient: "tom@x.test", Reason: "550 5.7.1 rejected by policy"}}}
	f.mu.Lock()
	f.outbox = []*outbox.Item{it}
	f.mu.Unlock()
	w.Refresh()
	if got := OutboxText(it); !strings.Contains(got, "BOUNCED · sent through bt") || !strings.Contains(got, "tom@x.test: 550 5.7.1 rejected by policy") {
		t.Fatalf("row %q", got)
	}
	w.OutboxList.Select(0)
	if !w.ResendButton.Visible() || w.ResendButton.Text != "Send again through gmail" {
		t.Fatalf("resend button: visible %v, %q", w.ResendButton.Visible(), w.ResendButton.Text)
	}
	if !strings.Contains(w.OutboxDetail.Text, "to tom@x.test: 550 5.7.1 rejected by policy") {
		t.Fatalf("detail %q", w.OutboxDetail.Text)
	}
	test.Tap(w.ResendButton)
	w.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.resent) != 1 || f.resent[0] != it.ID+" via gmail" {
		t.Fatalf("resent %v", f.resent)
	}
}

func TestIncidentText(t *testing.T) {
	ev := incidents.Event{Time: time.Date(2026, 11, 22, 10, 2, 0, 0, time.Local), Account: "bt", From: "up", To: "down", Cause: "cannot connect"}
	if got := IncidentText(ev); !strings.Contains(got, "bt: Operational → Outage — cannot connect") {
		t.Fatal(got)
	}
}

func TestSettingsOrderAndRelay(t *testing.T) {
	f, w := setup(t)
	v := w.Settings
	if got := rowLabel(t, v.Order, 0); got != "1. bt (primary)" {
		t.Fatalf("order row: %q", got)
	}
	v.Order.Select(1)
	test.Tap(v.Up)
	v.Every.SetSelected("1 hour")
	v.Notify.SetSelected("problems")
	test.Tap(v.Save)
	waitSettings(t, v)
	if len(f.applied) != 1 || strings.Join(f.applied[0].Order, ",") != "gmail,bt" || f.applied[0].BackupEvery != time.Hour || f.applied[0].Notifications != "problems" {
		t.Fatalf("applied: %+v", f.applied)
	}
	if !strings.Contains(v.Status.Text, "gmail first") {
		t.Fatalf("status: %q", v.Status.Text)
	}
	test.Tap(v.Relay)
	waitSettings(t, v)
	if !f.relay || !strings.Contains(v.RelayInfo.Text, "password: generated-pw") || !strings.Contains(v.RelayInfo.Text, "127.0.0.1:1587") {
		t.Fatalf("relay info: %q", v.RelayInfo.Text)
	}
}

func waitSettings(t *testing.T, v *SettingsView) {
	t.Helper()
	select {
	case <-v.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the settings step did not finish")
	}
}

// A message whose fate is unknown is held with a question, which the
// Outbox shows whole for the selected message.
func TestOutboxShowsTheQuestion(t *testing.T) {
	f, w := setup(t)
	q := "bt may have accepted this message (it sent no answer after the message went out at 10:02), and it has no Sent folder. Send it again?"
	f.outbox = []*outbox.Item{{Envelope: outbox.Envelope{ID: "m1", To: []string{"tom@example.org"}, QueuedAt: time.Now()},
		Steps: []outbox.Step{{Step: outbox.StepDataSent, Account: "bt"}, {Step: outbox.StepNeedsUser, Account: "bt", Reason: q}}}}
	w.Refresh()
	w.OutboxList.Select(0)
	if got := w.OutboxDetail.Text; !strings.Contains(got, "Lifeboat needs you: "+q) || !strings.Contains(got, "Send again now") {
		t.Fatalf("detail: %q", got)
	}
}

// An OAuth2 account the provider no longer accepts: its row offers "Sign
// in again" instead of a backup; the sign-in runs and the dialog closes.
func TestSignInAgainButton(t *testing.T) {
	f, w := setup(t)
	f.mu.Lock()
	f.accounts[0].State, f.accounts[0].Cause = health.NeedsYou, "login refused: account \"bt\" must sign in again"
	f.accounts[0].SignInWith, f.accounts[0].NeedsSignIn = "Microsoft", true
	f.mu.Unlock()
	w.Refresh()
	row := w.AccountsList.CreateItem()
	w.AccountsList.UpdateItem(0, row)
	btn := findButton(row, "Sign in again")
	if btn == nil {
		t.Fatal("no Sign in again button on the account that needs it")
	}
	other := w.AccountsList.CreateItem()
	w.AccountsList.UpdateItem(1, other)
	if findButton(other, "Back up now") == nil {
		t.Fatal("the other account lost its Back up now")
	}
	var opened []string
	w.OpenURL = func(u string) error { opened = append(opened, u); return nil }
	test.Tap(btn)
	if w.SignInPanel == nil || w.SignInPanel.Button.Text != "Sign in with Microsoft" {
		t.Fatal("no sign-in panel")
	}
	test.Tap(w.SignInPanel.Button)
	select {
	case <-w.SignInPanel.changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the sign-in did not end")
	}
	w.Wait()
	if len(f.signIns) != 1 || f.signIns[0] != "bt" || len(opened) != 1 || w.SignInPanel.Status.Text != "Signed in." {
		t.Fatalf("sign-ins %v, opened %v, status %q", f.signIns, opened, w.SignInPanel.Status.Text)
	}
}
