package imapconn

import (
	"reflect"
	"testing"
)

func TestParseGmailFetch(t *testing.T) {
	for _, c := range []struct {
		in   string
		want GmailMeta
		ok   bool
	}{
		{`1 FETCH (UID 7 X-GM-MSGID 1278455344230334865 X-GM-THRID 1266894439832287888 X-GM-LABELS (\Inbox \Sent Important "Muy Importante"))`,
			GmailMeta{UID: 7, MsgID: 1278455344230334865, ThrID: 1266894439832287888, Labels: []string{`\Inbox`, `\Sent`, "Important", "Muy Importante"}}, true},
		// A literal, an escaped quote, modified UTF-7, items in another order, an empty list.
		{"2 FETCH (X-GM-LABELS ({5}\r\nab cd \"say \\\"hi\\\"\" Stra&AN8-e) X-GM-THRID 2 UID 9 X-GM-MSGID 3)",
			GmailMeta{UID: 9, MsgID: 3, ThrID: 2, Labels: []string{"ab cd", `say "hi"`, "Straße"}}, true},
		{`3 FETCH (UID 10 X-GM-MSGID 4 X-GM-THRID 4 X-GM-LABELS () FLAGS (\Seen))`,
			GmailMeta{UID: 10, MsgID: 4, ThrID: 4, Labels: []string{}}, true},
		{`4 FETCH (UID 11 X-GM-MSGID 5 X-GM-THRID 5 X-GM-LABELS NIL)`,
			GmailMeta{UID: 11, MsgID: 5, ThrID: 5, Labels: []string{}}, true},
		{`4 FETCH (UID 12 X-GM-MSGID 6 FLAGS (\Seen))`, GmailMeta{UID: 12, MsgID: 6}, true}, // no labels: nil
		{`4 EXISTS`, GmailMeta{}, false},
		{`5 FETCH (FLAGS (\Seen))`, GmailMeta{}, false},
	} {
		got, ok, err := parseGmailFetch(c.in)
		if err != nil || ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseGmailFetch(%q) = %+v, %v, %v; want %+v, %v", c.in, got, ok, err, c.want, c.ok)
		}
	}
	for _, bad := range []string{`1 FETCH (UID x)`, `1 FETCH (UID 1 X-GM-LABELS ("open)`, `1 FETCH (UID 1 X-GM-MSGID -3)`, `1 FETCH (UID 1 X-GM-THRID NIL)`, `1 FETCH (UID 1 X-GM-LABELS Inbox)`} {
		if _, _, err := parseGmailFetch(bad); err == nil {
			t.Errorf("parseGmailFetch(%q): no error", bad)
		}
	}
}

func TestDecodeMailbox(t *testing.T) {
	for _, s := range []string{"plain", "Straße", "日本語 & more", "&", "ü-ü", ""} {
		if got := DecodeMailbox(EncodeMailbox(s)); got != s {
			t.Errorf("DecodeMailbox(EncodeMailbox(%q)) = %q", s, got)
		}
	}
	if got := DecodeMailbox("bad&@@@-x"); got != "bad&@@@-x" {
		t.Errorf("invalid modified UTF-7 changed to %q", got)
	}
}
