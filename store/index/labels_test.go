package index

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lifeboat-mail/lifeboat/store/archive"
)

// Labels are listed with their counts, each label lists its messages
// newest first, and a label change at the next backup moves the message
// between labels (through the writer's changes or a full derive alike).
func TestLabels(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	all := archive.FolderID{Account: "gm", Name: "[Gmail]/All Mail", Delim: '/'}
	f, err := a.OpenFolder(all)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(7)
	for i, labels := range [][]string{{`\Inbox`, "Work"}, {"Work"}, nil, {`\Sent`}} {
		m := msg(uint32(i+1), day.AddDate(0, 0, i), "Subject: m"+string(rune('0'+i))+"\r\n\r\nbody\r\n")
		m.Labels, m.GmailID = labels, uint64(100+i)
		if _, err := f.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// A trashed message keeps its labels, but Gmail lists it under none.
	tr, err := a.OpenFolder(archive.FolderID{Account: "gm", Name: "[Gmail]/Trash", Delim: '/'})
	if err != nil {
		t.Fatal(err)
	}
	tr.SetUIDValidity(8)
	m := msg(1, day, "Subject: binned\r\n\r\nbody\r\n")
	m.Labels, m.GmailID = []string{"Work"}, 200
	if _, err := tr.Append(m); err != nil {
		t.Fatal(err)
	}
	tr.Checkpoint(archive.State{UIDValidity: 8, UIDNext: 2, Messages: 1, At: day, Role: `\Trash`})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	ix := open(t, filepath.Join(t.TempDir(), "ix.sqlite"))
	if _, err := ix.Update(a, ""); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want []LabelStat, work []string) {
		t.Helper()
		got, err := ix.Labels("gm")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: labels %+v, %v; want %+v", when, got, err, want)
		}
		rows, n, err := ix.LabelMessages("gm", "Work", 0, 10)
		var subj []string
		for _, r := range rows {
			subj = append(subj, r.Subject)
		}
		if err != nil || n != len(work) || !reflect.DeepEqual(subj, work) {
			t.Errorf("%s: Work lists %q (%d), %v; want %q", when, subj, n, err, work)
		}
	}
	check("first", []LabelStat{{"Work", 2}, {`\Inbox`, 1}, {`\Sent`, 1}}, []string{"m1", "m0"})
	rows, _ := ix.Messages("gm", all.Path(), 0, 10)
	if len(rows) != 4 || !reflect.DeepEqual(rows[3].Labels, []string{`\Inbox`, "Work"}) || rows[1].Labels != nil {
		t.Fatalf("rows' labels: %+v", rows)
	}

	// Labels change: the writer's changes are derived.
	f, err = a.OpenFolder(all)
	if err != nil {
		t.Fatal(err)
	}
	f.SetLabels(f.ByGmailID(100), []string{`\Inbox`})
	f.SetLabels(f.ByGmailID(102), []string{"Work", "Straße"})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.UpdateFolder(a, all, f); err != nil {
		t.Fatal(err)
	}
	check("after a change", []LabelStat{{"Straße", 1}, {"Work", 2}, {`\Inbox`, 1}, {`\Sent`, 1}}, []string{"m2", "m1"})
	// And a rebuild agrees.
	if _, err := ix.Rebuild(a, nil); err != nil {
		t.Fatal(err)
	}
	check("after a rebuild", []LabelStat{{"Straße", 1}, {"Work", 2}, {`\Inbox`, 1}, {`\Sent`, 1}}, []string{"m2", "m1"})
}

// An archive imported from a Takeout by an older Lifeboat has "Inbox"
// where IMAP says \Inbox: both are listed as one label, each message once.
func TestTakeoutSystemLabelsAreIMAPs(t *testing.T) {
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.OpenFolder(archive.FolderID{Account: "gm", Name: "[Gmail]/All Mail", Delim: '/'})
	if err != nil {
		t.Fatal(err)
	}
	f.SetUIDValidity(7)
	for i, labels := range [][]string{{`\Inbox`}, {"Inbox", "Work"}, {"Inbox", `\Inbox`}, {"Sent"}} {
		m := msg(uint32(i+1), day.AddDate(0, 0, i), "Subject: m\r\n\r\nbody\r\n")
		m.Labels = labels
		if _, err := f.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ix := open(t, filepath.Join(t.TempDir(), "ix.sqlite"))
	if _, err := ix.Update(a, ""); err != nil {
		t.Fatal(err)
	}
	got, err := ix.Labels("gm")
	if want := []LabelStat{{"Work", 1}, {`\Inbox`, 3}, {`\Sent`, 1}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("labels %+v, %v; want %+v", got, err, want)
	}
}
