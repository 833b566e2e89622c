package archive

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The hand-written reader of log lines agrees with encoding/json: on the
// records Lifeboat writes (random ones, every field), and on those lines
// damaged at random — where it reads a line at all, json reads the same.
func TestDecodeRecordLikeJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		chars := "abcXYZ019 <>@.-_:/"
		if r.IntN(40) == 0 {
			chars += "\\\"\té" // escapes and UTF-8: the slow path
		}
		n := r.IntN(12)
		b := make([]rune, n)
		for i := range b {
			b[i] = []rune(chars)[r.IntN(len([]rune(chars)))]
		}
		return string(b)
	}
	i64 := func() *int64 { v := r.Int64N(1 << 40); return &v }
	var lines [][]byte
	for i := 0; i < 3000; i++ {
		rec := record{T: []string{"h", "m", "f", "g", "s", "v", "p", "c", "l", "k"}[r.IntN(10)]}
		if r.IntN(2) == 0 {
			rec.UV, rec.UID = r.Uint32(), r.Uint32()
		}
		if r.IntN(2) == 0 {
			rec.Off = i64()
		}
		if r.IntN(3) == 0 {
			for j := r.IntN(5); j > 0; j-- {
				rec.Ends = append(rec.Ends, r.Int64N(1<<40))
			}
		}
		rec.Len, rec.Size, rec.At, rec.End = r.Int64N(1<<30), r.Int64N(1<<30), r.Int64N(1<<31), r.Int64N(100)
		rec.SHA, rec.Date, rec.MID, rec.Why, rec.Name, rec.Delim, rec.Use, rec.EOL = str(), str(), str(), str(), str(), str(), str(), str()
		for j := r.IntN(4); j > 0; j-- {
			rec.Flags = append(rec.Flags, str())
		}
		if r.IntN(4) == 0 {
			rec.Labels = []string{str()}
		}
		if r.IntN(3) == 0 {
			rec.GM, rec.Thr = r.Uint64(), r.Uint64N(1<<62) // the first may pass int64: the slow path
		}
		rec.SetFlags, rec.NoNL, rec.Rec, rec.Local = r.IntN(2) == 0, r.IntN(2) == 0, r.IntN(2) == 0, r.IntN(2) == 0
		if r.IntN(3) == 0 {
			n := r.IntN(3)
			rec.Trail = &n
		}
		if r.IntN(5) == 0 {
			rec.Cut = i64()
		}
		if r.IntN(5) == 0 {
			rec.Alts = []altRead{{SHA: str(), Trail: 1}}
		}
		rec.UIDNext, rec.ModSeq, rec.Count, rec.Old = r.Uint32(), r.Uint64N(1<<50), r.Uint32(), r.Uint32()
		if r.IntN(50) == 0 {
			rec.ModSeq = r.Uint64() // beyond int64 now and then
		}
		var buf bytes.Buffer // as writeLog writes them
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&rec); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, buf.Bytes())
	}
	fast := 0
	check := func(line []byte, mustRead bool) {
		t.Helper()
		var want, got record
		werr := json.Unmarshal(line, &want)
		gerr := decodeRecord(line, &got)
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(want, got)) {
			t.Fatalf("%q:\njson %+v (%v)\nours %+v (%v)", line, want, werr, got, gerr)
		}
		if mustRead && werr != nil {
			t.Fatalf("%q: %v", line, werr)
		}
		var probe record
		if fastRecord(line, &probe) {
			fast++
			if werr != nil || !reflect.DeepEqual(want, probe) {
				t.Fatalf("%q: the fast path read %+v, json %+v (%v)", line, probe, want, werr)
			}
		}
	}
	for _, line := range lines {
		check(line, true)
	}
	if fast < len(lines)/4 {
		t.Fatalf("only %d of %d lines took the fast path", fast, len(lines))
	}
	for i := 0; i < 30000; i++ {
		line := append([]byte(nil), lines[r.IntN(len(lines))]...)
		for k := r.IntN(3) + 1; k > 0; k-- {
			switch p := r.IntN(len(line)); r.IntN(3) {
			case 0:
				line[p] = "{}[]\",:0123456789-.eE ntf\\"[r.IntN(26)]
			case 1:
				line = append(line[:p], line[p+1:]...)
			default:
				line = append(line[:p], append([]byte{line[r.IntN(len(line))]}, line[p:]...)...)
			}
		}
		check(line, false)
	}
	t.Logf("%d lines read by the fast path", fast)
}

func BenchmarkDecodeRecord(b *testing.B) {
	line := []byte(`{"t":"m","uv":1796150332,"uid":2,"off":2257,"len":6761,"sha":"d779b093165a8c51749f7bc3411292a3b51a81442e0ca9c0bec8b2e89d73e11b","date":"2025-06-01T12:00:00Z","size":6825,"mid":"<8bb09ef9b6725a3f.A2@bench.lifeboat.invalid>","at":1796151297}` + "\n")
	b.Run("ours", func(b *testing.B) {
		for range b.N {
			var rec record
			decodeRecord(line, &rec)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for range b.N {
			var rec record
			json.Unmarshal(line, &rec)
		}
	})
}

// A log line longer than the reader's buffer (here a checkpoint with a
// 600 KB role) is read whole, and the lines after it too.
func TestLongLogLine(t *testing.T) {
	a, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := FolderID{Account: "x", Name: "INBOX"}
	f, err := a.OpenFolder(id)
	if err != nil {
		t.Fatal(err)
	}
	role := strings.Repeat("x", 600<<10)
	f.Checkpoint(State{UIDValidity: 1, UIDNext: 2, Messages: 0, At: time.Unix(1, 0), Role: role})
	f.Checkpoint(State{UIDValidity: 1, UIDNext: 3, Messages: 0, At: time.Unix(2, 0), Role: role + "y"})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := a.ReadFolder(id)
	if err != nil {
		t.Fatal(err)
	}
	if r.State.UIDNext != 3 || r.State.Role != role+"y" {
		t.Fatalf("state after two long lines: UIDNext %d, role of %d bytes", r.State.UIDNext, len(r.State.Role))
	}
}
