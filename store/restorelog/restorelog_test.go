package restorelog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sha(b byte) [32]byte { var s [32]byte; s[0] = b; return s }

func open(t *testing.T, path string) *Ledger {
	t.Helper()
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLedgerReplaysWhatWasRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "restore", "dst.ledger")
	l := open(t, path)
	if f := l.Folder("INBOX", 7); f != nil {
		t.Fatalf("an empty ledger knows %+v", f)
	}
	if err := l.Reset("INBOX", 7, map[[32]byte][]uint32{sha(1): {3}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Begin("INBOX", 7, 10, 2); err != nil {
		t.Fatal(err)
	}
	l.Have("INBOX", 7, sha(2), 10)
	l.Have("INBOX", 7, sha(2), 11) // two copies of one message
	if err := l.End("INBOX", 7); err != nil {
		t.Fatal(err)
	}
	l.Gone("INBOX", 7, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, path)
	defer l.Close()
	f := l.Folder("INBOX", 7)
	if f == nil || f.Open != nil || f.Count() != 2 || len(f.Have[sha(2)]) != 2 || len(f.Have[sha(1)]) != 0 {
		t.Fatalf("replayed %+v", f)
	}
	if l.Folder("INBOX", 8) != nil {
		t.Fatal("another UIDVALIDITY has state")
	}
}

// A crash inside a batch: its records do not count until it is recovered,
// and recovery replaces them with what the server holds.
func TestOpenBatchCountsOnlyOnceRecovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dst.ledger")
	l := open(t, path)
	l.Reset("INBOX", 1, nil)
	l.Begin("INBOX", 1, 1, 3)
	l.Have("INBOX", 1, sha(1), 1)
	l.Close() // as a kill leaves it: no end record
	l = open(t, path)
	f := l.Folder("INBOX", 1)
	if f.Open == nil || f.Open.UIDNext != 1 || f.Count() != 0 {
		t.Fatalf("after the crash: %+v (open %+v)", f, f.Open)
	}
	// The server holds two of the batch's three messages.
	if err := l.Recovered("INBOX", 1, map[[32]byte][]uint32{sha(1): {1}, sha(2): {2}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = open(t, path)
	defer l.Close()
	f = l.Folder("INBOX", 1)
	if f.Open != nil || f.Count() != 2 || len(f.Have[sha(1)]) != 1 {
		t.Fatalf("after recovery: %+v", f)
	}
}

func TestTornLastLineIsCutAndGarbageRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dst.ledger")
	l := open(t, path)
	l.Reset("INBOX", 1, map[[32]byte][]uint32{sha(1): {1}})
	l.Close()
	good, _ := os.ReadFile(path)
	os.WriteFile(path, append(append([]byte{}, good...), `{"t":"a","f":"INB`...), 0o600)
	l = open(t, path)
	if f := l.Folder("INBOX", 1); f == nil || f.Count() != 1 {
		t.Fatalf("after a torn line: %+v", f)
	}
	l.Close()
	if b, _ := os.ReadFile(path); string(b) != string(good) {
		t.Fatalf("the torn line was not cut: %q", b)
	}
	os.WriteFile(path, append(append([]byte{}, good...), "not json\n"...), 0o600)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "line 4 is not a ledger record") {
		t.Fatalf("a damaged ledger: %v", err)
	}
}

func TestOneRestoreAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dst.ledger")
	l := open(t, path)
	if _, err := Open(path); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second Open: %v, want ErrBusy", err)
	}
	l.Close()
	open(t, path).Close()
}

// A batch that begins while another is open keeps both open: recovery then
// looks from the earlier UIDNEXT, and neither batch's records count.
func TestTwoOpenBatchesStayOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dst.ledger")
	l := open(t, path)
	l.Reset("INBOX", 1, nil)
	l.Begin("INBOX", 1, 5, 2)
	l.Have("INBOX", 1, sha(1), 5)
	l.Begin("INBOX", 1, 9, 2)
	l.Have("INBOX", 1, sha(2), 9)
	l.Close()
	l = open(t, path)
	defer l.Close()
	f := l.Folder("INBOX", 1)
	if f.Open == nil || f.Open.UIDNext != 5 || f.Count() != 0 {
		t.Fatalf("%+v open %+v", f, f.Open)
	}
}

// A crash while a learnt state is written (a big one goes out in several
// writes): the folder is unknown afterwards, never half known.
func TestHalfWrittenResetIsUnknown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dst.ledger")
	l := open(t, path)
	have := map[[32]byte][]uint32{}
	for i := 0; i < 2000; i++ {
		var s [32]byte
		s[0], s[1] = byte(i), byte(i>>8)
		have[s] = []uint32{uint32(i + 1)}
	}
	if err := l.Reset("INBOX", 9, have); err != nil {
		t.Fatal(err)
	}
	l.Close()
	full, _ := os.ReadFile(path)
	for _, cut := range []int{len(full) / 3, len(full) - 1, len(full) - len(`{"t":"l","f":"INBOX","uv":9}`+"\n")} {
		os.WriteFile(path, full[:cut], 0o600)
		l = open(t, path)
		if f := l.Folder("INBOX", 9); f != nil {
			t.Errorf("cut at %d of %d: the folder is known with %d messages", cut, len(full), f.Count())
		}
		l.Close()
	}
	os.WriteFile(path, full, 0o600)
	l = open(t, path)
	defer l.Close()
	if f := l.Folder("INBOX", 9); f == nil || f.Count() != 2000 {
		t.Fatalf("whole: %+v", f)
	}
}
