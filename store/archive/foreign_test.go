package archive

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/emersion/go-mbox"
)

// An independent mbox reader (go-mbox, which knows mboxo only) must find
// every archived message and no more: no body line of ours can pass for a
// separator. Its unquoting of ">From " differs from mboxrd's by design, so
// only count and headers are compared.
func TestForeignReaderSeesEveryMessage(t *testing.T) {
	a := newArchive(t)
	f, _ := a.OpenFolder(inbox)
	f.SetUIDValidity(3)
	bodies := []string{
		"Subject: one\r\nMessage-ID: <1@x>\r\n\r\nFrom the start\r\n\r\nFrom after a blank line\r\n",
		"Subject: two\r\nMessage-ID: <2@x>\r\n\r\n>From quoted\r\nno newline",
		"Subject: three\r\nMessage-ID: <3@x>\r\n\r\n\r\n\r\n",
		"Subject: four\nMessage-ID: <4@x>\n\nbare LF\nFrom here\n",
	}
	appendAll(t, f, bodies...)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(a.MboxPath(inbox))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := mbox.NewReader(fh)
	n := 0
	for ; ; n++ {
		m, err := r.NextMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(m)
		first := bodies[n][:bytes.IndexAny([]byte(bodies[n]), "\r\n")]
		if !bytes.HasPrefix(b, []byte(first)) {
			t.Fatalf("message %d starts %q, want %q", n, b[:min(len(b), 20)], first)
		}
	}
	if n != len(bodies) {
		t.Fatalf("go-mbox found %d messages, want %d", n, len(bodies))
	}
}
