package failover

import (
	"context"
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
	check := SentChecker(p.Endpoint(), func() (string, error) { return p.Password, nil })
	for id, want := range map[string]bool{"<abc.123@demo.lifeboat>": true, "abc.123@demo.lifeboat": true, "<other@demo.lifeboat>": false} {
		got, err := check(context.Background(), id)
		if err != nil || got != want {
			t.Errorf("%s: got %v %v, want %v", id, got, err, want)
		}
	}
}
