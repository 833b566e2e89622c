package failover

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/demo"
)

func TestSentChecker(t *testing.T) {
	p, err := demo.Start(demo.Options{Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Deliver("Sent", []byte("From: jane@demo.lifeboat\r\nMessage-ID: <abc.123@demo.lifeboat>\r\nSubject: x\r\n\r\nx\r\n"), time.Now())
	pw := func() (string, error) { return p.Password, nil }
	long := time.Now().Add(-time.Hour)
	files := SentChecker(p.Endpoint(), pw, true)
	for id, want := range map[string]bool{"<abc.123@demo.lifeboat>": true, "abc.123@demo.lifeboat": true, "<other@demo.lifeboat>": false} {
		got, err := files(context.Background(), id, long)
		if err != nil || got != want {
			t.Errorf("%s: got %v %v, want %v", id, got, err, want)
		}
	}
	// Not found right after the send: no answer yet.
	var early *TooEarly
	if _, err := files(context.Background(), "<other@demo.lifeboat>", time.Now()); !errors.As(err, &early) {
		t.Errorf("just sent: %v", err)
	}
	// A provider that does not file submissions: found is found, not found
	// means nothing.
	plain := SentChecker(p.Endpoint(), pw, false)
	if got, err := plain(context.Background(), "<abc.123@demo.lifeboat>", long); err != nil || !got {
		t.Errorf("found: %v %v", got, err)
	}
	if _, err := plain(context.Background(), "<other@demo.lifeboat>", long); !errors.Is(err, ErrCannotCheck) {
		t.Errorf("not found where submissions are not filed: %v", err)
	}
}
