package imapconn_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/gmailfake"
)

// The same message shows in All Mail and in each of its labels' folders
// with one X-GM-MSGID; its labels come back decoded.
func TestGmailMetaAgainstGmailLikeServer(t *testing.T) {
	g := gmailfake.Start(t)
	date := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	a := g.Add(t, gmailfake.Message("one", "x"), date, 0, `\Inbox`, "Work")
	b := g.Add(t, gmailfake.Message("two", "y"), date, a, `\Sent`, "Straße")
	ap, err := imapconn.DialAppender(context.Background(), g.Endpoint(), g.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer ap.Close()
	if !ap.Has(imapconn.CapGmail) {
		t.Fatal("X-GM-EXT-1 not advertised")
	}
	for folder, want := range map[string][]imapconn.GmailMeta{
		gmailfake.AllMail: {{UID: 1, MsgID: a, ThrID: a, Labels: []string{`\Inbox`, "Work"}}, {UID: 2, MsgID: b, ThrID: a, Labels: []string{`\Sent`, "Straße"}}},
		"Work":            {{UID: 1, MsgID: a, ThrID: a, Labels: []string{`\Inbox`, "Work"}}},
	} {
		uv, err := ap.Examine(folder)
		if err != nil || uv == 0 {
			t.Fatalf("EXAMINE %s: %d, %v", folder, uv, err)
		}
		var got []imapconn.GmailMeta
		if _, err := ap.GmailMeta("1:*", func(m imapconn.GmailMeta) { got = append(got, m) }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", folder, got, want)
		}
	}
	if _, err := ap.Examine("No such folder"); err == nil {
		t.Error("EXAMINE of a missing folder: no error")
	}
}
