package bounce

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		file, id, addr, status, reason string
	}{
		{"postfix.eml", "orig-123@a.test", "nobody@b.test", "5.1.1", "User unknown in virtual mailbox table"},
		{"exim.eml", "orig-456@a.test", "nobody@example.org", "5.1.1", "550 5.1.1 User unknown"},
	} {
		raw, err := os.ReadFile("testdata/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := Parse(raw)
		if !ok {
			t.Fatalf("%s: not read as a bounce", c.file)
		}
		if len(r.MessageIDs) != 1 || r.MessageIDs[0] != c.id {
			t.Errorf("%s: message ids %v", c.file, r.MessageIDs)
		}
		if len(r.Recipients) != 1 || r.Recipients[0].Address != c.addr || r.Recipients[0].Status != c.status {
			t.Errorf("%s: recipients %+v", c.file, r.Recipients)
		}
		if !strings.Contains(r.Reason, c.reason) {
			t.Errorf("%s: reason %q", c.file, r.Reason)
		}
	}
	if raw, _ := os.ReadFile("testdata/delayed.eml"); raw != nil {
		if r, ok := Parse(raw); ok {
			t.Errorf("a delay report read as a bounce: %+v", r)
		}
	}
	plain := "From: Tom <tom@b.test>\r\nTo: jane@a.test\r\nSubject: Re: the delivery failed, can you resend?\r\nMessage-ID: <x@b.test>\r\n\r\nIt says Message-ID: <orig-1@a.test> failed.\r\n"
	if r, ok := Parse([]byte(plain)); ok {
		t.Errorf("a person's mail about a failure read as a bounce: %+v", r)
	}
	if _, ok := Parse([]byte("not a message")); ok {
		t.Error("garbage read as a bounce")
	}
}
