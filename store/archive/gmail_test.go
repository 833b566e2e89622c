package archive

import (
	"reflect"
	"testing"
	"time"
)

// X-GM-MSGID, X-GM-THRID, label changes and links to another folder
// survive a reopen; a link that went is gone after it.
func TestGmailRecordsReplay(t *testing.T) {
	a := newArchive(t)
	all := FolderID{Account: "acct", Name: "[Gmail]/All Mail", Delim: '/'}
	trash := FolderID{Account: "acct", Name: "[Gmail]/Trash", Delim: '/'}
	f, err := a.OpenFolder(all)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(5)
	m := msg(1, "Subject: a\r\n\r\nx\r\n")
	m.GmailID, m.ThreadID, m.Labels = 1<<62+3, 77, []string{`\Inbox`, "Work"}
	if _, err := f.Append(m); err != nil {
		t.Fatal(err)
	}
	f.SetLabels(f.ByGmailID(1<<62+3), []string{"Work", "Straße"})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	tr, err := a.OpenFolder(trash)
	if err != nil {
		t.Fatal(err)
	}
	tr.SetUIDValidity(9)
	tr.AddLink(Link{UIDValidity: 9, UID: 4, GmailID: 1<<62 + 3, In: all.Path(), Labels: []string{"Work"}})
	tr.AddLink(Link{UIDValidity: 9, UID: 5, GmailID: 12, In: all.Path()})
	tr.Unlink(tr.LinkAt(9, 5), time.Now())
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	g, err := a.ReadFolder(all)
	if err != nil {
		t.Fatal(err)
	}
	e := g.ByGmailID(1<<62 + 3)
	if e == nil || e.ThreadID != 77 || !reflect.DeepEqual(e.Labels, []string{"Work", "Straße"}) || g.ByGmailID(12) != nil {
		t.Fatalf("after replay: %+v", e)
	}
	h, err := a.ReadFolder(trash)
	if err != nil {
		t.Fatal(err)
	}
	links := h.Links()
	if len(links) != 1 || links[0].UID != 4 || links[0].In != all.Path() || links[0].GmailID != 1<<62+3 ||
		!reflect.DeepEqual(links[0].Labels, []string{"Work"}) || h.LinkAt(9, 5) != nil {
		t.Fatalf("links after replay: %+v", links)
	}
	if len(h.Entries()) != 0 {
		t.Fatalf("a link became an entry: %d", len(h.Entries()))
	}
	if n, damage, err := a.VerifyFolder(trash, nil); err != nil || n != 0 || len(damage) != 0 {
		t.Fatalf("verify of a folder of links: %d, %v, %v", n, damage, err)
	}
}
