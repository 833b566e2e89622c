package backup

import (
	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
)

// changes is what the server says of a folder against what the archive
// holds: from CONDSTORE (RFC 7162) only what changed since the last
// checkpoint (changesSince), else the whole list (wholeList).
type changes struct {
	listed map[uint32]serverMsg // messages the server listed; the new ones among them are fetched
	flags  map[uint32][]string  // the server's flags of archived messages (the changed ones, or all)
	gone   []*archive.Entry     // archived messages no longer on the server
	// goneLinks are links (Gmail) whose message the folder no longer shows.
	goneLinks []*archive.Link
	onServer  uint32 // messages in the folder now
}

// listMessages runs a FETCH of opts over set and hands each message with
// a UID to add.
func (e *engine) listMessages(set imap.NumSet, opts *imap.FetchOptions, add func(uid uint32, m serverMsg)) error {
	cmd := e.c.Fetch(set, opts)
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return err
		}
		if buf.UID != 0 {
			add(uint32(buf.UID), serverMsg{flags: flagStrings(buf.Flags), size: buf.RFC822Size})
		}
	}
	return cmd.Close()
}

// wholeList lists every message of the folder: UID, flags and size.
func (e *engine) wholeList(sel *imap.SelectData, current map[uint32]*archive.Entry, links []*archive.Link) (*changes, error) {
	cs := &changes{listed: make(map[uint32]serverMsg, sel.NumMessages), flags: map[uint32][]string{}}
	if sel.NumMessages > 0 {
		if err := e.listMessages(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true},
			func(uid uint32, m serverMsg) { cs.listed[uid] = m }); err != nil {
			return nil, err
		}
	}
	for uid, ent := range current {
		if m, ok := cs.listed[uid]; ok {
			cs.flags[uid] = m.flags
		} else {
			cs.gone = append(cs.gone, ent)
		}
	}
	for _, l := range links {
		if _, ok := cs.listed[l.UID]; !ok {
			cs.goneLinks = append(cs.goneLinks, l)
		}
	}
	cs.onServer = uint32(len(cs.listed))
	return cs, nil
}

// newAndChanged asks the server for the messages from the checkpoint's
// UIDNEXT on, and for the flags changed since its HIGHESTMODSEQ on the
// messages below (FETCH … CHANGEDSINCE).
func (e *engine) newAndChanged(st archive.State, sel *imap.SelectData) (listed map[uint32]serverMsg, flags map[uint32][]string, err error) {
	listed, flags = map[uint32]serverMsg{}, map[uint32][]string{}
	if sel.NumMessages > 0 {
		// New messages. "N:*" also matches the highest UID when it is
		// below N: kept out by the test.
		if err := e.listMessages(imap.UIDSet{imap.UIDRange{Start: imap.UID(st.UIDNext), Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true},
			func(uid uint32, m serverMsg) {
				if uid >= st.UIDNext {
					listed[uid] = m
				}
			}); err != nil {
			return nil, nil, err
		}
	}
	if sel.HighestModSeq != st.HighestModSeq && sel.NumMessages > 0 && st.UIDNext > 1 {
		if err := e.listMessages(imap.UIDSet{imap.UIDRange{Start: 1, Stop: imap.UID(st.UIDNext - 1)}}, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: st.HighestModSeq},
			func(uid uint32, m serverMsg) {
				if uid < st.UIDNext {
					flags[uid] = m.flags
				}
			}); err != nil {
			return nil, nil, err
		}
	}
	return listed, flags, nil
}

// changesSince asks the server only for what changed since the folder's
// checkpoint, so that one new message costs the same in a folder of 100 or
// of 100,000: the messages from the last UIDNEXT on, the flags changed
// since the last HIGHESTMODSEQ (FETCH … CHANGEDSINCE), and — only when the
// message count does not add up — the list of UIDs, to find what was
// deleted on the server (a UID SEARCH: UIDs only, no flags or sizes).
//
// ok is false where it cannot be used (no CONDSTORE, no checkpoint with a
// mod-sequence, the folder renumbered, messages adopted from a file still
// to be matched): the caller then lists the whole folder.
// pre, when not nil, is what appendOnly already asked the server of the
// folder since the same checkpoint.
func (e *engine) changesSince(f *archive.Folder, sel *imap.SelectData, current map[uint32]*archive.Entry, links []*archive.Link,
	reset bool, unmatched int, pre *asked) (*changes, bool, error) {
	st := f.State
	if !e.caps.Has(imap.CapCondStore) || reset || unmatched > 0 || st.At.IsZero() || st.HighestModSeq == 0 ||
		sel.HighestModSeq == 0 || st.UIDValidity != sel.UIDValidity || st.UIDNext == 0 || e.opts.FullList {
		return nil, false, nil
	}
	cs := &changes{onServer: sel.NumMessages}
	if pre != nil && pre.st == st {
		cs.listed, cs.flags = pre.listed, pre.flags
	} else {
		var err error
		if cs.listed, cs.flags, err = e.newAndChanged(st, sel); err != nil {
			return nil, false, err
		}
	}
	// Deleted on the server: the count tells whether any were. (It can
	// miss one while a delivery check that the backup leaves out sits in
	// the folder, for the minutes until the check removes it; the next run
	// sees the deletion. The archive keeps the message either way.)
	if int(sel.NumMessages) != len(current)+len(links)+len(cs.listed) {
		on := map[uint32]bool{}
		if sel.NumMessages > 0 {
			data, err := e.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: 1, Stop: 0}}}}, nil).Wait()
			if err != nil {
				return nil, false, err
			}
			for _, uid := range data.AllUIDs() {
				on[uint32(uid)] = true
			}
		}
		for uid, ent := range current {
			if !on[uid] {
				cs.gone = append(cs.gone, ent)
			}
		}
		for _, l := range links {
			if !on[l.UID] {
				cs.goneLinks = append(cs.goneLinks, l)
			}
		}
	}
	return cs, true, nil
}
