package restore

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/gmailfake"
)

// A Gmail account, backed up (each message once, with its labels), is
// restored into an IMAP account of another provider (Dovecot) with its
// labels as folders: Inbox, Sent, Work/2026; the unlabelled messages in
// the target's Archive, Trash in Trash. A second restore adds nothing.
func TestGmailLabelsBecomeFolders(t *testing.T) {
	g := gmailfake.Start(t)
	day := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	g.Add(t, gmailfake.Message("both", "x"), day, 0, `\Inbox`, "Work/2026", `\Important`)
	g.Add(t, gmailfake.Message("sent", "x"), day, 0, `\Sent`)
	g.Add(t, gmailfake.Message("archived", "x"), day, 0)
	g.Add(t, gmailfake.Message("binned", "x"), day, 0, `\Trash`)
	moved := g.Add(t, gmailfake.Message("moved", "x"), day, 0, `\Inbox`)
	back := g.Add(t, gmailfake.Message("back", "x"), day, 0, `\Trash`)
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	acct := backup.Account{Name: "old", Endpoint: g.Endpoint(), Password: func() (string, error) { return g.Password, nil }}
	backUp := func() {
		t.Helper()
		if res := backup.Backup(context.Background(), []backup.Account{acct}, backup.Options{Archive: a}); res[0].Err != nil || res[0].Run.Result != archive.ResultOK {
			t.Fatalf("backup: %v %v", res[0].Err, res[0].Run.Warnings)
		}
	}
	backUp()
	// Deleted after the first backup (All Mail → Trash: a link), and one
	// taken out of Trash into Work (Trash → All Mail: a link the other way).
	g.SetLabels(t, moved, `\Trash`)
	g.SetLabels(t, back, "Work/2026")
	backUp()

	s := dovecot.StartT(t, dovecot.Options{Users: map[string]string{"dst": "pw-dst", "dst2": "pw-dst2"}})
	// The target has its own Trash and Archive (special-use \Trash,
	// \Archive): Gmail's Trash and archived mail go there.
	c, err := s.Dial("dst")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Trash", "Archive"} {
		if err := c.Create(f, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	rep := restoreOK(t, a, targetOf(s, "dst"), Options{})
	got := map[string][]string{}
	for folder, msgs := range mailOf(t, s, "dst", "", '/') {
		for _, m := range msgs {
			_, rest, _ := strings.Cut(m.raw, "Subject: ")
			subj, _, _ := strings.Cut(rest, "\r\n")
			got[folder] = append(got[folder], subj)
		}
		sort.Strings(got[folder])
	}
	want := map[string][]string{"INBOX": {"both"}, "Work/2026": {"back", "both"}, "Sent": {"sent"}, "Archive": {"archived"}, "Trash": {"binned", "moved"}}
	for folder, subj := range want {
		if !reflect.DeepEqual(got[folder], subj) {
			t.Errorf("%s on the target: %q, want %q (all: %v)", folder, got[folder], subj, got)
		}
	}
	for folder, subj := range got {
		if want[folder] == nil && len(subj) > 0 {
			t.Errorf("unexpected folder %s with %q", folder, subj)
		}
	}
	if app, _ := totals(rep); app != 7 {
		t.Errorf("appended %d, want 7", app)
	}
	rep = restoreOK(t, a, targetOf(s, "dst"), Options{})
	if app, there := totals(rep); app != 0 || there != 7 {
		t.Errorf("second restore: %d appended, %d there", app, there)
	}
	// Leaving out what was deleted on the server keeps the moved messages:
	// they are deleted only from the folder that stores them.
	rep = restoreOK(t, a, targetOf(s, "dst2"), Options{SkipDeleted: true})
	if app, _ := totals(rep); app != 7 {
		t.Errorf("--skip-deleted appended %d, want 7", app)
	}
}
