package mboxrd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readBack checks that ReadRecord and OpenRecord give msg back from rec
// placed in the middle of a file, between other bytes and another record.
func readBack(t testing.TB, rec []byte, meta Meta, msg []byte) {
	t.Helper()
	before := []byte("From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: before\n\nx\n\n")
	file := append(append(append([]byte{}, before...), rec...), before...)
	off, length := int64(len(before)), int64(len(rec))
	var out bytes.Buffer
	if err := ReadRecord(&out, bytes.NewReader(file), off, length, meta); err != nil {
		t.Fatalf("ReadRecord: %v", err)
	}
	if !bytes.Equal(out.Bytes(), msg) {
		t.Fatalf("ReadRecord changed the message\n in: %q\nout: %q", msg, out.Bytes())
	}
	r, err := OpenRecord(bytes.NewReader(file), off, length, meta)
	if err != nil {
		t.Fatalf("OpenRecord: %v", err)
	}
	if err := iotest.TestReader(r, msg); err != nil {
		t.Fatalf("OpenRecord: %v", err)
	}
	// Read in small pieces, then the rest with WriteTo.
	r, _ = OpenRecord(bytes.NewReader(file), off, length, meta)
	var parts bytes.Buffer
	p := make([]byte, 3)
	for range 5 {
		n, err := r.Read(p)
		parts.Write(p[:n])
		if err != nil {
			break
		}
	}
	if _, err := r.WriteTo(&parts); err != nil {
		t.Fatalf("WriteTo after Read: %v", err)
	}
	if !bytes.Equal(parts.Bytes(), msg) {
		t.Fatalf("Read then WriteTo changed the message\n in: %q\nout: %q", msg, parts.Bytes())
	}
	if !Framed(bytes.NewReader(file), off, length, meta) {
		t.Fatal("Framed: a record ReadRecord reads is not framed")
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.ReaderAt
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

func TestOpenRecordReadsOnlyWhatIsRead(t *testing.T) {
	msg := "Subject: big\r\n\r\n" + strings.Repeat("From here, a line of a big message\r\n", 200_000)
	var rec bytes.Buffer
	meta, _, err := Append(&rec, []byte(msg), date)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingReader{r: bytes.NewReader(rec.Bytes())}
	r, err := OpenRecord(c, 0, int64(rec.Len()), meta)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 16<<10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	if string(head) != msg[:len(head)] {
		t.Fatalf("first bytes %q", head[:80])
	}
	if c.n > headChunk+readChunk {
		t.Fatalf("read %d bytes of a %d-byte record for its first %d", c.n, rec.Len(), len(head))
	}
}

func TestAdoptedRecordWithCRLFTrail(t *testing.T) {
	file := "From someone@example.org Mon Jan  5 10:00:00 2026\r\nSubject: a\r\n\r\n>From me\r\n\r\n" +
		"From someone@example.org Mon Jan  5 10:00:01 2026\r\nSubject: b\r\n\r\nbody\r\n"
	var found []Found
	if _, err := Scan(strings.NewReader(file), 0, int64(len(file)), func(f Found) error {
		found = append(found, f)
		return nil
	}); err != nil || len(found) != 2 {
		t.Fatalf("Scan: %d records, %v", len(found), err)
	}
	for i, want := range []string{"Subject: a\r\n\r\nFrom me\r\n", "Subject: b\r\n\r\nbody\r\n"} {
		var out bytes.Buffer
		f := found[i]
		if err := ReadRecord(&out, strings.NewReader(file), f.Offset, f.Length, f.Meta); err != nil || out.String() != want {
			t.Errorf("record %d (%+v): %q, %v; want %q", i, f.Meta, out.String(), err, want)
		}
	}
}

func TestLongSeparatorLine(t *testing.T) {
	sep := "From " + strings.Repeat("x", 100<<10) + " Mon Jan  5 10:00:00 2026\n"
	rec := sep + "Subject: a\n\n"
	m := Meta{Adopted: true, EOL: EOLCRLF, Trail: 1}
	var out bytes.Buffer
	if err := ReadRecord(&out, strings.NewReader(rec), 0, int64(len(rec)), m); err != nil || out.String() != "Subject: a\r\n" {
		t.Fatalf("%q, %v", out.String(), err)
	}
	if _, err := OpenRecord(strings.NewReader(rec), 0, int64(len(rec)), m); err != nil {
		t.Fatal(err)
	}
}

func TestReadRecordRejectsDamage(t *testing.T) {
	good := func(msg string) (string, Meta) {
		var b bytes.Buffer
		m, _, _ := Append(&b, []byte(msg), date)
		return b.String(), m
	}
	rec, meta := good("Subject: x\r\n\r\nbody\r\n")
	noNL, noNLMeta := good("Subject: x\r\n\r\nbody")
	const at = 7
	pad := strings.Repeat("-", at)
	for _, c := range []struct {
		name   string
		file   string
		length int
		meta   Meta
		want   string
	}{
		{"no separator", pad + "Subject: x\n\nbody\n\n", len(rec), meta, `no "From " separator at byte 7`},
		{"separator not ended", pad + "From MAILER-DAEMON", 18, meta, `no "From " separator at byte 7`},
		{"empty", pad, 0, meta, `no "From " separator at byte 7`},
		{"shorter than its framing", pad + rec, len(Separator(date)), meta, "record at byte 7 is shorter than its framing"},
		{"cut short", pad + rec[:len(rec)-5], len(rec), meta, "record at byte 7 is cut short: 13 of 17 bytes"},
		{"trail missing", pad + rec[:len(rec)-1], len(rec), meta, "record at byte 7 does not end with the blank line of mbox framing"},
		{"trail not blank", pad + rec[:len(rec)-1] + "x", len(rec), meta, "record at byte 7 does not end with the blank line of mbox framing"},
		{"trail of the other reading", pad + noNL, len(noNL), Meta{EOL: noNLMeta.EOL}, ""}, // one line break more in the message: sound framing
		{"CR in our trail", pad + noNL[:len(noNL)-1] + "\r", len(noNL), noNLMeta, "record at byte 7 does not end with the blank line of mbox framing"},
		{"adopted trail not line ends", pad + rec[:len(rec)-1] + "x", len(rec), Meta{Adopted: true, Trail: 1}, "record at byte 7 does not end with the blank line of mbox framing"},
		{"negative trail", pad + rec, len(rec), Meta{Adopted: true, Trail: -1}, "record at byte 7: its framing says -1 bytes after the message"},
		{"huge trail", pad + rec, len(rec), Meta{Adopted: true, Trail: 1 << 40}, "record at byte 7 is shorter than its framing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ReadRecord(io.Discard, strings.NewReader(c.file), at, int64(c.length), c.meta)
			r, oerr := OpenRecord(strings.NewReader(c.file), at, int64(c.length), c.meta)
			if oerr == nil {
				_, oerr = io.Copy(io.Discard, iotest.OneByteReader(r))
			}
			for _, err := range []error{err, oerr} {
				switch {
				case c.want == "" && err != nil:
					t.Errorf("error %v", err)
				case c.want == "":
				case err == nil || err.Error() != c.want:
					t.Errorf("error %v, want %q", err, c.want)
				case !errors.Is(err, ErrBadRecord):
					t.Errorf("%v is not ErrBadRecord", err)
				}
			}
		})
	}
}

type failingReader struct{ after int64 }

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.after {
		return 0, errors.New("input/output error")
	}
	n := min(int64(len(p)), f.after-off)
	for i := range p[:n] {
		p[i] = 'a'
	}
	copy(p, "From x Mon Jan  5 10:00:00 2026\n"[min(off, 32):])
	return int(n), errors.New("input/output error")
}

func TestReadErrorsSayWhere(t *testing.T) {
	err := ReadRecord(io.Discard, failingReader{after: 100 << 10}, 0, 200<<10, Meta{})
	if want := "reading the record at byte 0: input/output error"; err == nil || err.Error() != want || errors.Is(err, ErrBadRecord) {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestWriterErrorIsReturnedAsItIs(t *testing.T) {
	var b bytes.Buffer
	m, n, _ := Append(&b, bytes.Repeat([]byte("line\r\n"), 50_000), date)
	stop := errors.New("enough")
	err := ReadRecord(writerFunc(func(p []byte) (int, error) { return 0, stop }), bytes.NewReader(b.Bytes()), 0, n, m)
	if err != stop {
		t.Fatalf("error %v, want %v", err, stop)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func ExampleOpenRecord() {
	var file bytes.Buffer
	file.WriteString("garbage before\n")
	off := int64(file.Len())
	meta, length, _ := Append(&file, []byte("Subject: hello\r\n\r\nFrom the start\r\n"), date)
	r, _ := OpenRecord(bytes.NewReader(file.Bytes()), off, length, meta)
	head := make([]byte, 16)
	io.ReadFull(r, head)
	fmt.Printf("%q\n", head)
	// Output: "Subject: hello\r\n"
}

func TestFramed(t *testing.T) {
	var file bytes.Buffer
	meta, n, err := Append(&file, []byte("Subject: x\r\n\r\nFrom here\r\n"), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	b := file.Bytes()
	if !Framed(bytes.NewReader(b), 0, n, meta) {
		t.Fatal("a fresh record is not framed")
	}
	for name, c := range map[string]struct {
		file      []byte
		off, size int64
	}{
		"off by one":     {b, 1, n - 1},
		"too long":       {append(append([]byte{}, b...), 'x'), 0, n + 1},
		"cut short":      {b[:n-1], 0, n},
		"tail damaged":   {append(append([]byte{}, b[:n-1]...), 'x'), 0, n},
		"separator gone": {append([]byte("Frxm"), b[4:]...), 0, n},
	} {
		if Framed(bytes.NewReader(c.file), c.off, c.size, meta) {
			t.Errorf("%s: framed", name)
		}
	}
}
