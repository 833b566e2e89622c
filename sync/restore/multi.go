package restore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// item is a message of a batch, measured and ready to send.
type item struct {
	x     *want
	size  int64
	data  []byte // in the worker's arena; nil: streamed from the archive
	flags []string
}

// multiBatch appends msgs with one MULTIAPPEND (RFC 3502), after announcing
// them in the ledger. The server saves all of them or none: when it
// refuses the command for a reason other than throttling or a full
// account, the messages are sent again one per command, so that the one it
// refuses is named and the others are restored.
func (w *worker) multiBatch(ctx context.Context, j *job, uv, uidNext uint32, msgs []*want, perm []imap.Flag, anyKeyword, all bool) error {
	r := w.r
	if err := r.ledger.Begin(j.name, uv, uidNext, len(msgs)); err != nil {
		return permanentErr{err}
	}
	items := w.readBatch(j, msgs, perm, anyKeyword, all)
	if len(items) == 0 {
		return w.endBatch(j, uv)
	}
	if err := w.dialAppender(ctx); err != nil {
		return err
	}
	uvs, uids, err := w.app.MultiAppend(j.name, w.appendMsgs(items))
	if err == nil {
		if err := w.appended(j, uv, items, uvs, uids); err != nil {
			return err
		}
		return w.endBatch(j, uv)
	}
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type == imap.StatusResponseTypeBad {
		w.dropAppender()
		return err // the batch stays open: the next attempt finds what the server saved
	}
	if err := noError(r, j, ie, items[0]); err != nil {
		return err
	}
	// One of them was refused: which, only one command per message says.
	for _, it := range items {
		if err := w.dialAppender(ctx); err != nil {
			return err
		}
		uvs, uids, err := w.app.MultiAppend(j.name, w.appendMsgs([]item{it}))
		if err == nil {
			if err := w.appended(j, uv, []item{it}, uvs, uids); err != nil {
				return err
			}
			continue
		}
		if !errors.As(err, &ie) || ie.Type == imap.StatusResponseTypeBad {
			w.dropAppender()
			return err
		}
		if err := noError(r, j, ie, it); err != nil {
			return err
		}
		j.refused[it.x] = true
		j.rep.Refused = append(j.rep.Refused, refusal(it.x, it.size, "the server said: "+ie.Text))
	}
	return w.endBatch(j, uv)
}

// noError returns the error that ends the batch for a NO that is about the
// account, not a message: a full account, or throttling.
func noError(r *run, j *job, ie *imap.Error, it item) error {
	switch {
	case ie.Code == imap.ResponseCodeOverQuota:
		return permanentErr{fmt.Errorf("the target account is full (%s); make room there and run the same command again (nothing is appended twice)", ie.Text)}
	case temporaryNo(ie):
		return imapconn.Dropped(r.tgt.Endpoint.Addr(), fmt.Errorf("the server asked to slow down: %s", ie.Text))
	}
	return nil
}

func (w *worker) dialAppender(ctx context.Context) error {
	if w.app != nil && !w.app.Broken() {
		return nil
	}
	w.dropAppender() // a server that answered a command early closed it
	a, err := imapconn.DialAppender(ctx, w.r.tgt.Endpoint, w.r.pw)
	if err != nil {
		return err
	}
	w.app = a
	return nil
}

func (w *worker) dropAppender() {
	if w.app != nil {
		w.app.Close()
		w.app = nil
	}
}

// readBatch reads the batch's messages from the archive into the worker's
// arena, a buffer of fixed size; a message that does not fit (a big one)
// is measured and streamed from the archive when it is sent. Messages that
// cannot be read, or are over the target's APPENDLIMIT, are refused.
func (w *worker) readBatch(j *job, msgs []*want, perm []imap.Flag, anyKeyword, all bool) []item {
	r := w.r
	if w.arena == nil {
		// Originals are a little longer than their mbox records (CR
		// before each LF): room for a batch's worth and then some.
		w.arena = make([]byte, 0, r.opts.BatchBytes+r.opts.BatchBytes/4)
	}
	w.arena = w.arena[:0]
	var items []item
	for _, x := range msgs {
		it := item{x: x}
		start := len(w.arena)
		fw := &fixedWriter{buf: w.arena}
		err := x.src.WriteOriginal(fw, x.entry)
		if err == nil {
			w.arena = fw.buf
			it.data = w.arena[start:]
			it.size = int64(len(it.data))
		} else if errors.Is(err, errFull) {
			var cw countWriter
			err = x.src.WriteOriginal(&cw, x.entry)
			it.size = cw.n
		}
		if err != nil {
			j.refused[x] = true
			j.rep.Refused = append(j.rep.Refused, refusal(x, it.size, "cannot be read from the archive: "+err.Error()+" (run lifeboat verify)"))
			continue
		}
		if r.limit > 0 && it.size > r.limit {
			w.arena = w.arena[:start]
			j.refused[x] = true
			j.rep.Refused = append(j.rep.Refused, refusal(x, it.size, fmt.Sprintf("larger than the target accepts (APPENDLIMIT %d bytes); not sent", r.limit)))
			continue
		}
		flags, dropped := keepFlags(x.entry.Flags, perm, anyKeyword, all)
		j.rep.FlagsDropped += dropped
		for _, f := range flags {
			it.flags = append(it.flags, string(f))
		}
		items = append(items, it)
	}
	return items
}

var errFull = errors.New("the batch buffer is full")

// fixedWriter appends to buf without ever growing it.
type fixedWriter struct{ buf []byte }

func (f *fixedWriter) Write(p []byte) (int, error) {
	if len(f.buf)+len(p) > cap(f.buf) {
		return 0, errFull
	}
	f.buf = append(f.buf, p...)
	return len(p), nil
}

func (w *worker) appendMsgs(items []item) []imapconn.AppendMsg {
	out := make([]imapconn.AppendMsg, len(items))
	for i, it := range items {
		x, data := it.x, it.data
		m := imapconn.AppendMsg{Flags: it.flags, Date: x.entry.Date, Size: it.size}
		if data != nil {
			m.Write = func(dst io.Writer) error { _, err := dst.Write(data); return err }
		} else {
			m.Write = func(dst io.Writer) error { return x.src.WriteOriginal(dst, x.entry) }
		}
		out[i] = m
	}
	return out
}

// appended records what a successful command appended.
func (w *worker) appended(j *job, uv uint32, items []item, uidValidity uint32, uids []uint32) error {
	r := w.r
	if uidValidity != uv || !r.uidPlus {
		uids = nil // not the folder the ledger speaks of: trust no UID
	}
	for i, it := range items {
		var uid uint32
		if uids != nil {
			uid = uids[i]
		}
		if err := r.ledger.Have(j.name, uv, it.x.entry.SHA, uid); err != nil {
			return permanentErr{err}
		}
		j.rep.Appended++
		j.rep.Bytes += it.x.entry.Length
	}
	r.emit(Event{Kind: Progress, Folder: j.name, Messages: j.rep.Appended, Bytes: j.rep.Bytes})
	return nil
}

func (w *worker) endBatch(j *job, uv uint32) error {
	if err := w.r.ledger.End(j.name, uv); err != nil {
		return permanentErr{err}
	}
	return nil
}
