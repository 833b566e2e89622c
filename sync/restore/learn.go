package restore

import (
	"context"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/mboxrd"
)

// learn returns what the selected target folder holds of the archive's
// messages (hash → UIDs; a UID 0 is a copy whose UID is not known), from
// the ledger where it can, from the server where it must:
//   - the ledger knows nothing of the folder at this UIDVALIDITY: every
//     message's Message-ID, then the content of the candidates;
//   - a batch a crash or a drop left open: every message from its UIDNEXT on;
//   - messages removed from the folder since: by their UIDs where known,
//     else (fewer messages than the ledger counts) learnt afresh.
func (w *worker) learn(ctx context.Context, j *job, sel *imap.SelectData) (map[[32]byte][]uint32, error) {
	r := w.r
	uv := sel.UIDValidity
	lf := r.ledger.Folder(j.name, uv)
	if lf == nil {
		return w.learnAll(ctx, j, sel)
	}
	have := lf.Have
	if lf.Open != nil {
		found, err := w.hashFrom(ctx, imap.UID(lf.Open.UIDNext), sel)
		if err != nil {
			return nil, err
		}
		if !r.opts.DryRun {
			if err := r.ledger.Recovered(j.name, uv, found); err != nil {
				return nil, permanentErr{err}
			}
		}
		for sha, uids := range found {
			have[sha] = append(have[sha], uids...)
		}
	}
	known, count := false, 0
	for _, uids := range have {
		for _, u := range uids {
			count++
			known = known || u != 0
		}
	}
	if !known {
		if int(sel.NumMessages) < count {
			return w.learnAll(ctx, j, sel) // something was removed: which, only the server can say
		}
		return have, nil
	}
	data, err := w.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return nil, err
	}
	present := map[uint32]bool{}
	for _, u := range data.AllUIDs() {
		present[uint32(u)] = true
	}
	for sha, uids := range have {
		kept := uids[:0]
		for _, u := range uids {
			if u == 0 || present[u] {
				kept = append(kept, u)
				continue
			}
			if !r.opts.DryRun {
				if err := r.ledger.Gone(j.name, uv, u); err != nil {
					return nil, permanentErr{err}
				}
			}
		}
		if len(kept) == 0 {
			delete(have, sha)
		} else {
			have[sha] = kept
		}
	}
	return have, nil
}

// learnAll finds the archive's messages among those of the folder: the
// Message-ID of every message, then the full content of each whose
// Message-ID (or lack of one) some message to restore shares, by hash.
func (w *worker) learnAll(ctx context.Context, j *job, sel *imap.SelectData) (map[[32]byte][]uint32, error) {
	r := w.r
	found := map[[32]byte][]uint32{}
	if sel.NumMessages > 0 {
		mids := map[string]bool{}
		noMID := false
		for _, x := range j.want {
			if x.entry.MessageID == "" {
				noMID = true
			} else {
				mids[x.entry.MessageID] = true
			}
		}
		section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
		cmd := w.c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
		var candidates imap.UIDSet
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			buf, err := msg.Collect()
			if err != nil {
				cmd.Close()
				return nil, err
			}
			mid := archive.MessageID(buf.FindBodySection(section))
			if (mid == "" && noMID) || (mid != "" && mids[mid]) {
				candidates.AddNum(buf.UID)
			}
		}
		if err := cmd.Close(); err != nil {
			return nil, err
		}
		if len(candidates) > 0 {
			if err := w.hashSet(ctx, candidates, 0, found); err != nil {
				return nil, err
			}
		}
	}
	if !r.opts.DryRun {
		if err := r.ledger.Reset(j.name, sel.UIDValidity, found); err != nil {
			return nil, permanentErr{err}
		}
	}
	return found, nil
}

// hashFrom hashes every message of the folder from UID from on.
func (w *worker) hashFrom(ctx context.Context, from imap.UID, sel *imap.SelectData) (map[[32]byte][]uint32, error) {
	found := map[[32]byte][]uint32{}
	if from == 0 {
		from = 1 // a server that gave no UIDNEXT: look at everything
	}
	if sel.NumMessages == 0 || (sel.UIDNext != 0 && from >= sel.UIDNext) {
		return found, nil
	}
	return found, w.hashSet(ctx, imap.UIDSet{imap.UIDRange{Start: from, Stop: 0}}, from, found)
}

// hashSet fetches the messages of set and adds their hashes to found
// (UIDs below min are ignored: "N:*" includes the last message even when
// its UID is below N).
func (w *worker) hashSet(ctx context.Context, set imap.UIDSet, min imap.UID, found map[[32]byte][]uint32) error {
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := w.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer cmd.Close()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid imap.UID
		var sum [32]byte
		hashed := false
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				h := mboxrd.NewHasher()
				if _, err := io.Copy(h, it.Literal); err != nil {
					return err
				}
				sum, hashed = h.Sum(), true
			}
		}
		if uid == 0 {
			return fmt.Errorf("the server sent a message without its UID")
		}
		if hashed && uid >= min {
			found[sum] = append(found[sum], uint32(uid))
		}
	}
	return cmd.Close()
}
