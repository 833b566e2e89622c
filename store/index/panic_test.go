package index

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/msgtext"
)

// A message the text parser panics on: the panic is reported as an error,
// that message is indexed by its headers, the others by their text, and the
// process lives on.
func TestParserPanicIsReported(t *testing.T) {
	parse = func(b []byte) *msgtext.Message {
		if bytes.Contains(b, []byte("poison")) {
			panic("injected parser failure")
		}
		return msgtext.Parse(b)
	}
	t.Cleanup(func() { parse = msgtext.Parse })
	a, err := archive.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, a, inbox, "Subject: good one\r\n\r\nalpha words\r\n", "Subject: bad one\r\n\r\npoison\r\n", "Subject: good two\r\n\r\nbravo words\r\n")
	ix := open(t, filepath.Join(t.TempDir(), "ix.sqlite"))
	_, err = ix.Update(a, "")
	if err == nil || !strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "injected parser failure") {
		t.Fatalf("Update: %v", err)
	}
	for q, want := range map[string]int{"alpha": 1, "bravo": 1, "bad": 1, "poison": 0} {
		if _, n, err := ix.Search(Query{Text: q}); err != nil || n != want {
			t.Errorf("search %q: %d hits, want %d (%v)", q, n, want, err)
		}
	}
	// Not tried again forever: the next Update has nothing left to do.
	if st, err := ix.Update(a, ""); err != nil || st.Texts != 0 {
		t.Fatalf("second Update: %+v %v", st, err)
	}
}
