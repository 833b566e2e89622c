package backup

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// memLimit is the largest message held in memory; larger ones are spooled
// to a file in the archive, so memory stays flat whatever the message size.
const memLimit = 8 << 20

// headLimit bounds how much of a message is searched for its Message-ID.
const headLimit = 64 << 10

// body receives one message's bytes from the network before anything is
// written to the archive: a network failure mid-message can then never
// leave a partial record behind.
type body struct {
	spoolDir string
	buf      []byte
	spool    *os.File
	size     int64
	head     []byte
	hasher   *mboxrd.Hasher
	scan     mboxrd.Scanner
	chunk    []byte // read buffer, reused for every message
}

func (b *body) reset() {
	b.buf = b.buf[:0]
	b.size = 0
	b.head = b.head[:0]
	b.hasher = mboxrd.NewHasher()
	b.scan = mboxrd.Scanner{}
	b.closeSpool()
}

func (b *body) closeSpool() {
	if b.spool != nil {
		name := b.spool.Name()
		b.spool.Close()
		os.Remove(name)
		b.spool = nil
	}
}

// ReadFrom reads a whole literal; size is what the server announced.
func (b *body) readFrom(r io.Reader, size int64) error {
	b.reset()
	var w io.Writer
	if size > memLimit {
		f, err := os.CreateTemp(b.spoolDir, ".spool-*")
		if err != nil {
			return &permanent{err}
		}
		b.spool = f
		w = f
	} else {
		if int64(cap(b.buf)) < size {
			b.buf = make([]byte, 0, size)
		}
		w = (*sliceWriter)(&b.buf)
	}
	if b.chunk == nil {
		b.chunk = make([]byte, 256*1024)
	}
	chunk := b.chunk
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			p := chunk[:n]
			if len(b.head) < headLimit {
				b.head = append(b.head, p[:min(len(p), headLimit-len(b.head))]...)
			}
			b.hasher.Write(p)
			b.scan.Write(p)
			if _, werr := w.Write(p); werr != nil {
				return &permanent{werr}
			}
			b.size += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if b.size != size {
		// go-imap ends a literal early when the connection drops: a short
		// message must never be taken for a whole one.
		return fmt.Errorf("message cut short: %d of %d bytes: %w", b.size, size, io.ErrUnexpectedEOF)
	}
	if b.spool != nil {
		if _, err := b.spool.Seek(0, io.SeekStart); err != nil {
			return &permanent{err}
		}
	}
	return nil
}

// reader gives the bytes back for the archive.
func (b *body) reader() io.Reader {
	if b.spool != nil {
		return b.spool
	}
	return bytes.NewReader(b.buf)
}

type sliceWriter []byte

func (s *sliceWriter) Write(p []byte) (int, error) {
	*s = append(*s, p...)
	return len(p), nil
}
