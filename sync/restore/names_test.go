package restore

import (
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

func TestFoldersMapToTheTargetsNamesAndRoles(t *testing.T) {
	list := []*imap.ListData{
		{Mailbox: "INBOX", Delim: '.'},
		{Mailbox: "INBOX.Sent Messages", Delim: '.', Attrs: []imap.MailboxAttr{imap.MailboxAttrSent}},
		{Mailbox: "INBOX.Deleted Messages", Delim: '.', Attrs: []imap.MailboxAttr{imap.MailboxAttrTrash}},
		{Mailbox: "INBOX.Junk", Delim: '.', Attrs: []imap.MailboxAttr{imap.MailboxAttrJunk}},
	}
	tg := newTarget(list, "INBOX.", '.')
	id := func(name string) archive.FolderID { return archive.FolderID{Account: "old", Name: name, Delim: '/'} }
	for _, c := range []struct {
		id       archive.FolderID
		recorded string
		into     string
		want     string
		role     string
		noted    bool
	}{
		{id("INBOX"), "", "", "INBOX", "", false},
		{id("Sent"), `\Sent`, "", "INBOX.Sent Messages", `\Sent`, false},
		{id("Sent Items"), "", "", "INBOX.Sent Messages", `\Sent`, false},        // Outlook's name, guessed
		{id("[Gmail]/Trash"), "", "", "INBOX.Deleted Messages", `\Trash`, false}, // Gmail's
		{id("Papierkorb"), "", "", "INBOX.Deleted Messages", `\Trash`, false},
		{id("Spam"), "", "", "INBOX.Junk", `\Junk`, false},
		{id("Sent"), `\Archive`, "", "INBOX.Sent", "", false}, // the recorded role wins over the name; the target has no Archive
		{id("Drafts"), "", "", "INBOX.Drafts", "", false},     // a role the target has no folder for: its own name
		{id("Work/2026"), "", "", "INBOX.Work.2026", "", false},
		{id("Lists/go.dev"), "", "", "INBOX.Lists.go_dev", "", true},
		{id("Projects/Sent"), "", "", "INBOX.Projects.Sent", "", false}, // only top-level names are guessed
		{archive.LocalFolder("old", "Sent"), "", "", "INBOX.Sent Messages", `\Sent`, false},
		{id("INBOX"), "", "Restored 2026-12-01", "INBOX.Restored 2026-12-01.INBOX", "", false},
		{id("Sent"), `\Sent`, "Restored/Old", "INBOX.Restored.Old.Sent", "", false},
	} {
		m := tg.mapFolder(c.id, c.recorded, c.into)
		if m.name != c.want || m.role != c.role || (m.note != "") != c.noted {
			t.Errorf("%s (role %q, into %q) → %q %q %q; want %q %q noted=%v", c.id.Path(), c.recorded, c.into, m.name, m.role, m.note, c.want, c.role, c.noted)
		}
	}
	// A flat server: no subfolders.
	flat := newTarget([]*imap.ListData{{Mailbox: "INBOX"}}, "", 0)
	if m := flat.mapFolder(id("Work/2026"), "", ""); m.name != "Work_2026" || m.note == "" {
		t.Errorf("flat: %+v", m)
	}
}

func TestFlagsTheTargetKeeps(t *testing.T) {
	flags := []string{`\Seen`, `\Recent`, `\Flagged`, "$Label1", "custom"}
	kept, dropped := keepFlags(flags, []imap.Flag{imap.FlagSeen, imap.FlagFlagged, `\*`}, true, false)
	if len(kept) != 4 || dropped != 0 {
		t.Errorf("with \\*: kept %v, dropped %d", kept, dropped)
	}
	kept, dropped = keepFlags(flags, []imap.Flag{imap.FlagSeen, "$Label1"}, false, false)
	if len(kept) != 2 || dropped != 2 {
		t.Errorf("without \\*: kept %v, dropped %d", kept, dropped)
	}
}

// The ledger belongs to one server account: the same account name pointed
// at another server or user starts a ledger of its own (Dovecot's
// UIDVALIDITY is the clock's second, so two servers' folders can share one
// and an old ledger would be believed).
func TestLedgerPerServerAccount(t *testing.T) {
	a := &archive.Archive{Root: t.TempDir()}
	ep := func(user, host string, port int) Target {
		return Target{Name: "new", Endpoint: imapconn.Endpoint{Host: host, Port: port, Username: user}}
	}
	base := LedgerPath(a, ep("me@x.test", "imap.x.test", 993))
	if LedgerPath(a, ep("ME@X.test", "IMAP.x.test", 993)) != base {
		t.Error("user and host names differing in case only should share a ledger")
	}
	for _, other := range []Target{ep("me@x.test", "imap.x.test", 143), ep("you@x.test", "imap.x.test", 993), ep("me@x.test", "imap.y.test", 993), {Name: "old", Endpoint: ep("me@x.test", "imap.x.test", 993).Endpoint}} {
		if p := LedgerPath(a, other); p == base {
			t.Errorf("%+v shares the ledger %s", other, p)
		}
	}
}
