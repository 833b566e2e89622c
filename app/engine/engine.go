// Package engine is what the desktop app drives: one object that holds the
// configuration, the archive, the health model, the outbox and its router,
// runs backups and probes in the background, and tells the UI what changed
// through callbacks. It imports no Fyne: the UI (app/ui) only wires and
// shows, and its tests drive a fake of the same interface.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/incidents"
	"github.com/lifeboat-mail/lifeboat/store/index"
	"github.com/lifeboat-mail/lifeboat/store/msgtext"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/idle"
	"github.com/lifeboat-mail/lifeboat/sync/relay"
)

// Account is what the accounts view shows of one account.
type Account struct {
	Name, Email string
	State       health.State
	Since       time.Time
	Cause       string
	CanSend     bool
	LastBackup  time.Time
	LastResult  string // ok, warnings, failed, interrupted, "" (never)
	LastError   string
	Archived    int
	Bytes       int64
	Running     bool
	Progress    []Progress // per folder, while a backup runs
	// LastActivity is when the running backup last made progress (a sign
	// that it is not stuck).
	LastActivity time.Time
	// SignInWith is who signs the account in with OAuth2 ("Microsoft",
	// "Google"); "" for a password account. NeedsSignIn: its sign-in
	// must be done (again) before anything works.
	SignInWith  string
	NeedsSignIn bool
}

// Progress of one folder during a backup.
type Progress struct {
	Folder                  string
	Messages, TotalMessages int
	Bytes, TotalBytes       int64
	Done                    bool
}

// Draft is a message written in the compose window.
type Draft struct {
	From, To, Cc, Subject, Body string
	Attachments                 []string // file paths
}

// Hooks are how the engine reaches the UI. They are called from background
// goroutines: the UI must hand them to its own loop (fyne.Do).
type Hooks struct {
	Changed func()                   // something the views show changed
	Notify  func(title, body string) // a desktop notification
}

// Engine is the running app's state.
type Engine struct {
	cfg     *config.Config
	secrets secrets.Store
	dataDir string
	arch    *archive.Archive
	tracker *health.Tracker
	ob      *outbox.Outbox
	router  *failover.Router
	inc     *incidents.Store
	hooks   Hooks
	ctx     context.Context
	cancel  context.CancelFunc
	demo    *demoWorld

	indexOnce     sync.Once
	relay         *relay.Relay
	relayPassword string

	mu       sync.Mutex
	running  map[string]bool
	activity map[string]time.Time
	// Caches of what the views show, so that the UI goroutine never reads
	// the disk: run histories, folder lists, incidents, outbox. They are
	// loaded at Open and kept current by the engine's own work.
	runs        map[string][]archive.Run
	folders     map[string][]string
	labels      map[string][]string // Gmail labels, raw (\Inbox, Work)
	sizes       map[string]int64
	incs        []incidents.Event
	outboxNow   []*outbox.Item
	progress    map[string]map[string]*Progress
	lastErr     map[string]string
	history     map[string]History
	historyN    int                // observations in it
	historyLast time.Time          // the newest one's
	historyTold time.Time          // when observed last refreshed the views
	shared      *wire.SharedHealth // nil: not shared
}

// Options open an engine.
type Options struct {
	Config  *config.Config
	Secrets secrets.Store
	DataDir string // outbox, incidents, index
	Hooks   Hooks

	demo *demoWorld
}

// Open starts the engine: the health monitor and the outbox router run in
// the background until Close.
func Open(o Options) (*Engine, error) {
	if o.Config == nil {
		return nil, errors.New("engine: no configuration")
	}
	arch, err := archive.Open(o.Config.ArchiveDir)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: o.Config, secrets: o.Secrets, dataDir: o.DataDir, arch: arch, hooks: o.Hooks, demo: o.demo,
		running: map[string]bool{}, activity: map[string]time.Time{}, runs: map[string][]archive.Run{}, folders: map[string][]string{}, labels: map[string][]string{}, sizes: map[string]int64{}, progress: map[string]map[string]*Progress{}, lastErr: map[string]string{}}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if e.inc, err = incidents.Open(incidents.DefaultPath(o.DataDir)); err != nil {
		return nil, err
	}
	w := e.wiring()
	hooks := health.Hooks{Store: e.inc, OnEvent: e.onHealthEvent}
	// One health state with every other Lifeboat process (relay, service,
	// one-shot commands): what they see counts here, and the other way.
	shared, err := wire.OpenSharedHealth(o.DataDir, func(err error) { log.Printf("health: %v", err) })
	if err == nil {
		hooks.OnObserve = func(o health.Observation) { shared.Observe(o); e.observed(o) }
	} else {
		log.Printf("health is not shared with other Lifeboat processes: %v", err)
	}
	e.tracker = health.NewTracker(w.HealthConfig(), hooks)
	if shared != nil {
		e.shared = shared
		shared.Load(e.tracker)
		e.reloadHistory()
		go func() { shared.Follow(e.ctx, e.tracker); shared.Close() }()
		go e.followHistory()
	}
	if e.ob, err = wire.OpenOutbox(o.DataDir, func(text string) { log.Printf("outbox: %s", text) }); err != nil {
		return nil, err
	}
	ro := w.RouterOptions(e.ob, arch, failover.TrackerHealth(e.tracker))
	ro.Notify = func(n failover.Notice) { e.reloadOutbox(); e.changed() }
	e.router = failover.New(ro)
	e.incs, _ = e.inc.Recent(200)
	for _, a := range o.Config.Accounts {
		e.reload(a.Name)
	}
	e.reloadOutbox()
	go e.router.Run(e.ctx)
	go health.NewMonitor(e.tracker, w.Targets()).Run(e.ctx)
	// Near-live backup of each inbox: IDLE wakes a backup of that account.
	for _, a := range o.Config.Accounts {
		a := a
		ba := w.BackupAccount(a)
		go idle.Watch(e.ctx, idle.Options{Endpoint: ba.Endpoint, Password: ba.Password,
			Changed: func() { e.BackupNow(a.Name) }})
	}
	return e, nil
}

// Close stops the background work.
func (e *Engine) Close() {
	e.cancel()
	e.SetRelay(false)
	if e.demo != nil {
		e.demo.close()
	}
	e.inc.Close()
}

// Done is closed when the engine is closed.
func (e *Engine) Done() <-chan struct{} { return e.ctx.Done() }

// Config is the configuration the engine runs with.
func (e *Engine) Config() *config.Config { return e.conf() }

// conf is the current configuration (Apply replaces it).
func (e *Engine) conf() *config.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Demo reports whether this is the built-in demo.
func (e *Engine) Demo() bool { return e.demo != nil }

func (e *Engine) changed() {
	if e.hooks.Changed != nil {
		e.hooks.Changed()
	}
}

func (e *Engine) notify(title, body string) {
	if e.hooks.Notify != nil && e.conf().Notifications != "none" {
		e.hooks.Notify(title, body)
	}
}

func (e *Engine) onHealthEvent(ev incidents.Event) {
	e.mu.Lock()
	e.incs = append(e.incs, ev)
	if len(e.incs) > 200 {
		e.incs = e.incs[len(e.incs)-200:]
	}
	e.mu.Unlock()
	to, _ := health.ParseState(ev.To)
	from, _ := health.ParseState(ev.From)
	switch {
	case to == health.Down:
		body := fmt.Sprintf("%s: outage since %s — %s", ev.Account, ev.Time.Local().Format("15:04"), ev.Cause)
		if next := e.nextSender(ev.Account); next != "" {
			body += "; outgoing mail now goes through " + next
		}
		e.notify(ev.Account+" is down", body)
	case to == health.NeedsYou:
		e.notify(ev.Account+" needs your attention", ev.Cause)
	case to == health.Degraded && ev.Phase == string(health.PhaseCanary):
		body := ev.Cause
		if next := e.nextSender(ev.Account); next != "" {
			body += "; outgoing mail now goes through " + next
		}
		e.notify(ev.Account+" is not delivering mail", body)
	case to == health.Up && (from == health.Down || from == health.NeedsYou || ev.Phase == string(health.PhaseCanary)) && e.conf().Notifications != "problems":
		e.notify(ev.Account+" is working again", fmt.Sprintf("%s is operational again since %s", ev.Account, ev.Time.Local().Format("15:04")))
	}
	e.changed()
}

// nextSender is the first other account mail would go through.
func (e *Engine) nextSender(down string) string {
	for _, name := range e.conf().Failover.Order {
		if name != down && e.tracker.UsableFor(name, health.SMTP) {
			return name
		}
	}
	return ""
}

// wiring is the current configuration with the engine's secrets (the
// demo's fixed passwords in the demo).
func (e *Engine) wiring() wire.Wiring {
	w := wire.Wiring{Config: e.conf(), Secrets: e.secrets}
	if e.demo != nil {
		w.Password = func(a config.Account, smtp bool) (string, error) { return e.demo.password(a.Name), nil }
	}
	return w
}

// Accounts returns every account with its health and last backup.
func (e *Engine) Accounts() []Account {
	var out []Account
	for _, a := range e.conf().Accounts {
		v := Account{Name: a.Name, Email: a.Email, CanSend: a.SMTP != nil}
		if a.AnyOAuth2() {
			if p, err := wire.OAuthProvider(a); err == nil {
				v.SignInWith = p.Name
			}
		}
		if st, ok := e.tracker.Status(a.Name); ok {
			v.State, v.Since, v.Cause = st.State, st.Since, st.Cause
			v.NeedsSignIn = v.SignInWith != "" && st.State == health.NeedsYou
		}
		e.mu.Lock()
		runs := e.runs[a.Name]
		v.Bytes = e.sizes[a.Name]
		e.mu.Unlock()
		if len(runs) > 0 {
			r := runs[len(runs)-1]
			v.LastBackup, v.LastResult, v.LastError = r.End, r.Result, r.Error
			for _, fr := range r.Folders {
				v.Archived += fr.Archived
			}
		}
		e.mu.Lock()
		v.Running = e.running[a.Name]
		v.LastActivity = e.activity[a.Name]
		if msg := e.lastErr[a.Name]; msg != "" && v.LastError == "" {
			v.LastError = msg
		}
		for _, p := range e.progress[a.Name] {
			v.Progress = append(v.Progress, *p)
		}
		e.mu.Unlock()
		sort.Slice(v.Progress, func(i, j int) bool { return v.Progress[i].Folder < v.Progress[j].Folder })
		out = append(out, v)
	}
	return out
}

// BackupNow starts a backup of one account ("" for all) in the background.
func (e *Engine) BackupNow(account string) {
	var accts []backup.Account
	w := e.wiring()
	cfg := w.Config
	e.mu.Lock()
	for _, a := range cfg.Accounts {
		a := a
		if (account != "" && a.Name != account) || e.running[a.Name] {
			continue
		}
		e.running[a.Name] = true
		e.progress[a.Name] = map[string]*Progress{}
		accts = append(accts, w.BackupAccount(a))
	}
	e.mu.Unlock()
	if len(accts) == 0 {
		return
	}
	e.changed()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				e.notify("Backup stopped", fmt.Sprintf("internal error: %v", p))
			}
		}()
		defer func() {
			for _, a := range accts {
				e.reload(a.Name)
			}
			e.changed()
		}()
		opts := w.BackupOptions(e.arch, e.tracker)
		opts.Progress = e.onProgress
		// The index is derived: a failure is logged ("lifeboat reindex"
		// rebuilds it).
		finishIndex := wire.IndexDuring(e.arch, &opts, func(err error) { log.Printf("search index: %v", err) })
		results := backup.Backup(e.ctx, accts, opts)
		finishIndex(accts)
		e.mu.Lock()
		for _, r := range results {
			e.running[r.Account] = false
			e.lastErr[r.Account] = ""
			if r.Err != nil {
				e.lastErr[r.Account] = r.Err.Error()
			}
		}
		e.mu.Unlock()
		for _, r := range results {
			switch {
			case r.Err != nil && r.Run.Result != archive.ResultInterrupted:
				e.notify("Backup of "+r.Account+" failed", r.Err.Error())
			case len(r.Run.Warnings) > 0:
				e.notify("Backup of "+r.Account+": warning", r.Run.Warnings[0])
			}
			// Bounces of mail Lifeboat sent, in what the backup brought in.
			found, err := wire.WatchBounces(e.arch, e.ob, r, e.tracker)
			if err != nil {
				log.Printf("bounce watch of %s: %v", r.Account, err)
			}
			for _, b := range found {
				e.notify("A message bounced", fmt.Sprintf("your message %s to %s came back: %s", b.Item.MessageID, b.To(), b.Reason))
			}
			if len(found) > 0 {
				e.reloadOutbox()
			}
		}
		e.changed()
	}()
}

func (e *Engine) onProgress(ev backup.Event) {
	e.mu.Lock()
	e.activity[ev.Account] = time.Now()
	m := e.progress[ev.Account]
	if m == nil {
		m = map[string]*Progress{}
		e.progress[ev.Account] = m
	}
	switch ev.Kind {
	case backup.FolderStart, backup.Progress:
		m[ev.Folder] = &Progress{Folder: ev.Folder, Messages: ev.Messages, TotalMessages: ev.TotalMessages, Bytes: ev.Bytes, TotalBytes: ev.TotalBytes}
	case backup.FolderDone:
		if p := m[ev.Folder]; p != nil {
			p.Done, p.Messages, p.Bytes = true, p.TotalMessages, p.TotalBytes
		} else {
			m[ev.Folder] = &Progress{Folder: ev.Folder, Done: true}
		}
	}
	e.mu.Unlock()
	if ev.Kind != backup.Progress || ev.Messages == ev.TotalMessages || ev.Messages%50 == 0 {
		e.changed()
	}
}

// Runs returns an account's backup history, oldest first.
func (e *Engine) Runs(account string) []archive.Run {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[account]
}

// reload re-reads an account's run history and folder list (after a
// backup, off the UI goroutine).
func (e *Engine) reload(account string) {
	runs, _ := e.arch.Runs(account)
	ids, _ := e.arch.Folders(account)
	var folders []string
	var size int64
	for _, id := range ids {
		folders = append(folders, id.Path())
		if st, err := os.Stat(e.arch.MboxPath(id)); err == nil {
			size += st.Size()
		}
	}
	var labels []string
	if ix, err := index.Open(index.DefaultPath(e.arch)); err == nil {
		stats, _ := ix.Labels(account)
		ix.Close()
		for _, s := range stats {
			labels = append(labels, s.Label)
		}
	}
	e.mu.Lock()
	e.runs[account], e.folders[account], e.sizes[account], e.labels[account] = runs, folders, size, labels
	e.mu.Unlock()
}

// Labels returns an account's Gmail labels as the last reload found them
// in the index (raw: \Inbox, Work; archive.LabelName says them).
func (e *Engine) Labels(account string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.labels[account]
}

// LabelName is a Gmail label as a person reads it (\Inbox → Inbox).
func LabelName(l string) string { return archive.LabelName(l) }

// LabelMessages lists the archived messages that carry a label, newest
// first, a page at a time, with how many there are.
func (e *Engine) LabelMessages(account, label string, offset, limit int) ([]index.Row, int, error) {
	ix, err := e.index()
	if err != nil {
		return nil, 0, err
	}
	defer ix.Close()
	return ix.LabelMessages(account, label, offset, limit)
}

func (e *Engine) reloadOutbox() {
	items, _ := e.ob.List()
	items = append(items, wire.RecentlyBounced(e.ob)...)
	e.mu.Lock()
	e.outboxNow = items
	e.mu.Unlock()
}

// Incidents returns the most recent incidents, newest last.
func (e *Engine) Incidents(n int) []incidents.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]incidents.Event(nil), e.incs[max(0, len(e.incs)-n):]...)
}

// Outbox lists the messages waiting to be sent, then the sent ones that
// bounced lately (wire.BouncedShown).
func (e *Engine) Outbox() []*outbox.Item {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.outboxNow
}

// Retry is the user's "send it again now" (it answers a held message's
// question too); it returns once the delivery pass is over. Not on the UI
// goroutine: it talks to servers.
func (e *Engine) Retry(id string) error {
	defer func() { e.reloadOutbox(); e.changed() }()
	_, err := e.router.Retry(e.ctx, id)
	return err
}

// ResendVia is the account a bounced message is offered to go through:
// the one after the account that carried it, in the sending order.
func (e *Engine) ResendVia(it *outbox.Item) string {
	return wire.NextAccount(e.conf().Failover.Order, it.AcceptedBy())
}

// Resend sends a bounced message again, to the recipients it bounced for,
// through account; it returns once the delivery pass is over. Not on the
// UI goroutine: it talks to servers.
func (e *Engine) Resend(id, account string) (failover.Outcome, error) {
	defer func() { e.reloadOutbox(); e.changed() }()
	env, err := e.ob.Resend(id, account)
	if err != nil {
		return failover.Outcome{}, err
	}
	return e.router.Deliver(e.ctx, env.ID)
}

// Drop removes a message from the outbox (it is kept in outbox/dropped).
func (e *Engine) Drop(id string) error {
	defer func() { e.reloadOutbox(); e.changed() }()
	return e.router.Drop(id)
}

// Send queues a composed message and tries to send it at once. It returns
// when the message is durably queued and one delivery pass is done.
func (e *Engine) Send(ctx context.Context, d Draft) (failover.Outcome, error) {
	raw, err := buildMessage(d)
	if err != nil {
		return failover.Outcome{}, err
	}
	p, err := failover.Prepare(raw, "", nil, "")
	if err != nil {
		return failover.Outcome{}, err
	}
	env, err := e.ob.Enqueue(outbox.Envelope{From: p.From, To: p.To, MessageID: p.MessageID, Via: "compose"}, bytes.NewReader(p.Raw))
	if err != nil {
		return failover.Outcome{}, fmt.Errorf("the message could not be saved in the outbox: %w", err)
	}
	defer func() { e.reloadOutbox(); e.changed() }()
	return e.router.Deliver(ctx, env.ID)
}

// Folders lists an account's archived folders.
func (e *Engine) Folders(account string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.folders[account]
}

// Archive is the archive the engine writes.
func (e *Engine) Archive() *archive.Archive { return e.arch }

// DataDir is where the outbox and incident history are.
func (e *Engine) DataDir() string { return e.dataDir }

// ErrNotDemo is returned by demo-only calls on a real engine.
var ErrNotDemo = errors.New("only the demo can simulate an outage")

// SimulateOutage turns the demo's primary provider off or on again.
func (e *Engine) SimulateOutage(down bool) error {
	if e.demo == nil {
		return ErrNotDemo
	}
	e.demo.setDown(down)
	return nil
}

// OutageSimulated reports whether the demo's primary is switched off.
func (e *Engine) OutageSimulated() bool { return e.demo != nil && e.demo.down() }

// Messages lists a folder's archived messages, newest first, from the
// derived index, with the folder's total. It reads disk: call it off the UI
// goroutine.
func (e *Engine) Messages(account, folder string, offset, limit int) ([]index.Row, int, error) {
	ix, err := e.index()
	if err != nil {
		return nil, 0, err
	}
	defer ix.Close()
	n, err := ix.Count(account, folder)
	if err != nil {
		return nil, 0, err
	}
	rows, err := ix.Messages(account, folder, offset, limit)
	return rows, n, err
}

// index opens the derived index, bringing it up to date the first time in
// this process (later, backups update it).
func (e *Engine) index() (*index.Index, error) {
	ix, err := index.Open(index.DefaultPath(e.arch))
	if err != nil {
		return nil, err
	}
	e.indexOnce.Do(func() { ix.Update(e.arch, "") })
	return ix, nil
}

// Search runs a query in the familiar syntax (words, "phrases", from:,
// to:, subject:, has:attachment, before:, after:, folder:) over every
// archived message, offline. It returns the first page and the total.
func (e *Engine) Search(q string, limit int) ([]index.Row, int, error) {
	query, err := index.ParseQuery(q)
	if err != nil {
		return nil, 0, err
	}
	query.Limit = limit
	ix, err := e.index()
	if err != nil {
		return nil, 0, err
	}
	defer ix.Close()
	return ix.Search(query)
}

// Read returns an archived message as a person reads it.
func (e *Engine) Read(r index.Row) (*msgtext.Message, error) {
	raw, err := e.original(r)
	if err != nil {
		return nil, err
	}
	return msgtext.Parse(raw), nil
}

// SaveAttachment writes one attachment of an archived message (its part
// numbers as msgtext lists them) to a new file at path.
func (e *Engine) SaveAttachment(r index.Row, part []int, path string) error {
	raw, err := e.original(r)
	if err != nil {
		return err
	}
	// The desktop's save dialog creates the file it offers (empty) before
	// handing over its path: that placeholder is replaced; a file with
	// anything in it never is.
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
		os.Remove(path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot save there: %w", err)
	}
	if err := msgtext.SaveAttachment(raw, part, f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// original returns an archived message's bytes.
func (e *Engine) original(r index.Row) ([]byte, error) {
	ids, err := e.arch.Folders(r.Account)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if id.Path() != r.Folder {
			continue
		}
		f, err := e.arch.ReadFolder(id)
		if err != nil {
			return nil, err
		}
		for _, ent := range f.Entries() {
			if ent.Offset == r.Offset {
				var b bytes.Buffer
				if err := f.WriteOriginal(&b, ent); err != nil {
					return nil, err
				}
				return b.Bytes(), nil
			}
		}
	}
	return nil, fmt.Errorf("message not found in the archive (%s/%s)", r.Account, r.Folder)
}
