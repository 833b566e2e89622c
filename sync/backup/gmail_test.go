package backup

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/gmailfake"
)

func gmailAccount(g *gmailfake.Server) Account {
	return Account{Name: "gm", Endpoint: g.Endpoint(), Password: func() (string, error) { return g.Password, nil }}
}

func gmailFolder(t *testing.T, a *archive.Archive, name string) *archive.Folder {
	t.Helper()
	f, err := a.ReadFolder(archive.FolderID{Account: "gm", Name: name, Delim: '/'})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

func labelsOf(t *testing.T, f *archive.Folder, id uint64) []string {
	t.Helper()
	e := f.ByGmailID(id)
	if e == nil {
		t.Fatalf("%s: no message %d", f.ID.Path(), id)
	}
	return e.Labels
}

func mustOK(t *testing.T, r Result) {
	t.Helper()
	if r.Err != nil || r.Run.Result != archive.ResultOK {
		t.Fatalf("run: %v (%s) %v", r.Err, r.Run.Result, r.Run.Warnings)
	}
}

// A Gmail account is backed up from All Mail, Trash and Spam only: each
// message downloaded once however many labels show it, with its
// X-GM-MSGID, thread and labels; label changes, a move to Trash and back
// are recorded at later runs without downloading anything again.
func TestGmailEachMessageOnceWithLabels(t *testing.T) {
	g := gmailfake.Start(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	raws := map[string][]byte{}
	add := func(name string, labels ...string) uint64 {
		raws[name] = gmailfake.Message(name, strings.Repeat(name+" body ", 50))
		return g.Add(t, raws[name], day, 0, labels...)
	}
	a := add("alpha", `\Inbox`, "Work")
	b := add("beta", `\Sent`)
	c := add("gamma", "Work", "Straße", `\Starred`)
	add("spam", `\Spam`)
	add("trashed", `\Trash`)
	var total int64
	for _, r := range raws {
		total += int64(len(r))
	}
	arch := newArchive(t)
	r := backupOnce(t, arch, gmailAccount(g))
	mustOK(t, r)

	folders, err := arch.Folders("gm")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range folders {
		paths = append(paths, f.Path())
	}
	sort.Strings(paths)
	if want := []string{gmailfake.AllMail, gmailfake.Spam, gmailfake.Trash}; !reflect.DeepEqual(paths, want) {
		t.Fatalf("archived folders %v, want %v", paths, want)
	}
	bodies := g.Bodies()
	for _, label := range []string{"INBOX", "Work", "Straße", gmailfake.Sent, gmailfake.Starred} {
		if bodies[label] > 0 {
			t.Errorf("%d messages downloaded from the label folder %s", bodies[label], label)
		}
	}
	if got := g.Served(); got != total {
		t.Errorf("downloaded %d bytes, want each message once: %d", got, total)
	}
	all := gmailFolder(t, arch, gmailfake.AllMail)
	if n := len(all.Entries()); n != 3 {
		t.Fatalf("All Mail: %d messages, want 3", n)
	}
	for id, want := range map[uint64][]string{a: {`\Inbox`, "Work"}, b: {`\Sent`}, c: {"Work", "Straße", `\Starred`}} {
		if got := labelsOf(t, all, id); !reflect.DeepEqual(got, want) {
			t.Errorf("labels of %d: %q, want %q", id, got, want)
		}
		if e := all.ByGmailID(id); e.ThreadID != id || e.UID == 0 {
			t.Errorf("message %d: thread %d, UID %d", id, e.ThreadID, e.UID)
		}
	}
	if n := len(gmailFolder(t, arch, gmailfake.Spam).Entries()); n != 1 {
		t.Errorf("Spam: %d messages, want 1", n)
	}

	// Nothing new: nothing downloaded.
	served := g.Served()
	mustOK(t, backupOnce(t, arch, gmailAccount(g)))
	if g.Served() != served {
		t.Errorf("a second run downloaded %d bytes", g.Served()-served)
	}

	// Labels change.
	g.SetLabels(t, a, "Work")
	r = backupOnce(t, arch, gmailAccount(g))
	mustOK(t, r)
	if got := labelsOf(t, gmailFolder(t, arch, gmailfake.AllMail), a); !reflect.DeepEqual(got, []string{"Work"}) {
		t.Errorf("labels after the change: %q", got)
	}
	if fr := folderRun(r, gmailfake.AllMail); fr.LabelChanges != 1 {
		t.Errorf("label changes counted: %+v", fr)
	}

	// To Trash: gone from All Mail, linked from Trash; not downloaded.
	g.SetLabels(t, c, `\Trash`)
	r = backupOnce(t, arch, gmailAccount(g))
	mustOK(t, r)
	all = gmailFolder(t, arch, gmailfake.AllMail)
	if e := all.ByGmailID(c); e == nil || e.Gone.IsZero() {
		t.Fatalf("trashed message in All Mail: %+v", e)
	}
	trash := gmailFolder(t, arch, gmailfake.Trash)
	if l := trash.Links(); len(l) != 1 || l[0].GmailID != c || l[0].In != gmailfake.AllMail {
		t.Fatalf("Trash links: %+v", l)
	}
	if n := len(trash.Entries()); n != 1 {
		t.Errorf("Trash holds %d messages of its own, want 1", n)
	}
	if fr := folderRun(r, gmailfake.Trash); fr.Linked != 1 || fr.New != 0 {
		t.Errorf("Trash run: %+v", fr)
	}

	// And back: the archived copy is on the server again, the link gone.
	g.SetLabels(t, c, "Work")
	mustOK(t, backupOnce(t, arch, gmailAccount(g)))
	all = gmailFolder(t, arch, gmailfake.AllMail)
	if e := all.ByGmailID(c); e == nil || !e.Gone.IsZero() || e.UID != g.UIDs(gmailfake.AllMail, c)[0] {
		t.Fatalf("restored message: %+v (server UIDs %v)", e, g.UIDs(gmailfake.AllMail, c))
	}
	if n := len(all.Entries()); n != 3 {
		t.Errorf("All Mail: %d messages after the round trip, want 3", n)
	}
	if l := gmailFolder(t, arch, gmailfake.Trash).Links(); len(l) != 0 {
		t.Errorf("Trash still links %+v", l)
	}
	if g.Served() != served {
		t.Errorf("label changes and moves downloaded %d bytes", g.Served()-served)
	}
}

// Past Gmail's daily allowance the run stops that account with a warning
// that says so, keeps what it downloaded, and the next run fetches only
// the rest.
func TestGmailDailyLimit(t *testing.T) {
	g := gmailfake.Start(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var total int64
	for i := range 8 {
		raw := gmailfake.Message("msg "+string(rune('a'+i)), strings.Repeat("x", 10_000))
		total += int64(len(raw))
		g.Add(t, raw, day, 0, `\Inbox`)
	}
	g.Limit(25_000)
	arch := newArchive(t)
	tune := func(o *Options) { o.FetchChunk = 2 }
	r := backupOnce(t, arch, gmailAccount(g), tune)
	if r.Err != nil || r.Run.Result != archive.ResultWarnings {
		t.Fatalf("run at the limit: %v, %s", r.Err, r.Run.Result)
	}
	if len(r.Run.Warnings) != 1 || !strings.Contains(r.Run.Warnings[0], "Gmail's daily download limit reached after 41 KB") ||
		!strings.Contains(r.Run.Warnings[0], `the server said "Account exceeded command or bandwidth limits. (Failure)"`) ||
		!strings.Contains(r.Run.Warnings[0], "the next run continues") {
		t.Fatalf("warnings: %q", r.Run.Warnings)
	}
	first := len(gmailFolder(t, arch, gmailfake.AllMail).Entries())
	if first != 4 {
		t.Fatalf("%d messages kept from the first run, want 4 (two FETCHes of two before the allowance was used up)", first)
	}
	firstBytes := g.Served()
	g.Limit(0) // the next day
	mustOK(t, backupOnce(t, arch, gmailAccount(g), tune))
	if n := len(gmailFolder(t, arch, gmailfake.AllMail).Entries()); n != 8 {
		t.Fatalf("%d messages after the second run, want 8", n)
	}
	if got := g.Served(); got != total-firstBytes {
		t.Errorf("second run downloaded %d bytes, want only the rest: %d", got, total-firstBytes)
	}
}

// Lifeboat's own budget stops a Gmail run before Gmail's limit would lock
// the account, counting the earlier runs of the day; the next day's run
// continues without fetching anything twice.
func TestGmailOwnDailyBudget(t *testing.T) {
	g := gmailfake.Start(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		g.Add(t, gmailfake.Message("msg "+string(rune('a'+i)), strings.Repeat("x", 10_000)), day, 0, `\Inbox`)
	}
	arch := newArchive(t)
	budget := func(n int64) func(*Options) { return func(o *Options) { o.GmailDailyBytes = n } }
	r := backupOnce(t, arch, gmailAccount(g), budget(35_000))
	if r.Err != nil || r.Run.Result != archive.ResultWarnings || len(r.Run.Warnings) != 1 ||
		!strings.Contains(r.Run.Warnings[0], "stopped after 31 KB today (31 KB this run) to stay under Gmail's daily download limit") {
		t.Fatalf("first run: %v %s %q", r.Err, r.Run.Result, r.Run.Warnings)
	}
	if n := len(gmailFolder(t, arch, gmailfake.AllMail).Entries()); n != 3 {
		t.Fatalf("%d messages kept, want 3 (a fourth would pass the budget)", n)
	}
	if g.Served() > 3*10_200 {
		t.Fatalf("%d bytes downloaded for 3 messages: some were thrown away", g.Served())
	}
	// Later the same day: the budget is spent; nothing is fetched.
	before := g.Served()
	r = backupOnce(t, arch, gmailAccount(g), budget(35_000))
	if len(r.Run.Warnings) != 1 || !strings.Contains(r.Run.Warnings[0], "stopped after 31 KB today (0 KB this run)") || g.Served() != before {
		t.Fatalf("second run: %q, %d bytes", r.Run.Warnings, g.Served()-before)
	}
	served := g.Served()
	mustOK(t, backupOnce(t, arch, gmailAccount(g), budget(-1)))
	all := gmailFolder(t, arch, gmailfake.AllMail)
	if n := len(all.Entries()); n != 10 {
		t.Fatalf("%d messages at the end, want 10", n)
	}
	if got := g.Served() - served; got > 7*10_200 {
		t.Errorf("the last run downloaded %d bytes: more than the 7 messages left", got)
	}
}

// An archive made before Gmail mode (every folder, no Gmail ids): the
// first Gmail run gives All Mail's messages their ids, threads and labels
// without downloading them again.
func TestGmailIDsForAnOlderArchive(t *testing.T) {
	g := gmailfake.Start(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	a := g.Add(t, gmailfake.Message("alpha", "x"), day, 0, `\Inbox`, "Work")
	b := g.Add(t, gmailfake.Message("beta", "y"), day, 0, `\Sent`)
	g.Plain(true)
	arch := newArchive(t)
	mustOK(t, backupOnce(t, arch, gmailAccount(g)))
	if f := gmailFolder(t, arch, "INBOX"); len(f.Entries()) != 1 {
		t.Fatalf("without X-GM-EXT-1 INBOX was not backed up: %d", len(f.Entries()))
	}
	if e := gmailFolder(t, arch, gmailfake.AllMail).Entries()[0]; e.GmailID != 0 {
		t.Fatalf("a Gmail id without X-GM-EXT-1: %+v", e)
	}
	g.Plain(false)
	served := g.Served()
	mustOK(t, backupOnce(t, arch, gmailAccount(g)))
	if g.Served() != served {
		t.Errorf("the ids cost %d bytes of downloads", g.Served()-served)
	}
	all := gmailFolder(t, arch, gmailfake.AllMail)
	if len(all.Entries()) != 2 || !reflect.DeepEqual(labelsOf(t, all, a), []string{`\Inbox`, "Work"}) ||
		!reflect.DeepEqual(labelsOf(t, all, b), []string{`\Sent`}) || all.ByGmailID(b).ThreadID != b {
		t.Fatalf("All Mail after the first Gmail run: %+v", all.Entries())
	}
	// And the next run asks only for what changed (nothing).
	r := backupOnce(t, arch, gmailAccount(g))
	mustOK(t, r)
	if fr := folderRun(r, gmailfake.AllMail); fr.New != 0 || fr.LabelChanges != 0 {
		t.Errorf("third run: %+v", fr)
	}
}
