package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Gmail (X-GM-EXT-1) shows one message in every folder that is one of its
// labels, and in "All Mail". A backup of every folder would download a
// message once per label. When the server offers X-GM-EXT-1 and has an
// \All folder, Lifeboat backs up only All Mail, Trash and Spam (what is
// not in All Mail), and stores each message once per X-GM-MSGID, with its
// X-GM-THRID and X-GM-LABELS in the folder's metadata log (and their
// changes at each run). A message one of the three folders shows that the
// archive already holds in another (moved to Trash, or back) is recorded
// as a link, not downloaded again.
//
// go-imap's client cannot ask for the X-GM items, so they come over a
// second, small connection (imapconn.Appender).
type gmail struct {
	raw *imapconn.Appender
	// ids is where the archive holds each X-GM-MSGID: the path of one of
	// the account's Gmail folders.
	ids map[uint64]string
	// downloaded is what this run fetched; recent, per folder, what the
	// archive took in the 24 hours before the run started (from the
	// messages' own times: a run that was killed counts too).
	downloaded int64
	start      time.Time
	recent     map[string]int64
}

// earlier is what the archive took from the account in the 24 hours
// before this run.
func (g *gmail) earlier() int64 {
	var n int64
	for _, b := range g.recent {
		n += b
	}
	return n
}

// fits reports whether n more bytes stay within the day's budget (a
// negative budget: no limit).
func (g *gmail) fits(budget, n int64) bool {
	return budget < 0 || g.earlier()+g.downloaded+n <= budget
}

// gmailFolders keeps, of a Gmail account's folders, All Mail, Trash and
// Spam (in that order); ok is false when the server is not Gmail or has no
// \All folder (then every folder is backed up as usual).
func gmailFolders(caps imap.CapSet, folders []folderInfo) (out []folderInfo, ok bool) {
	if !caps.Has(imapconn.CapGmail) {
		return folders, false
	}
	for _, want := range []imap.MailboxAttr{imap.MailboxAttrAll, imap.MailboxAttrTrash, imap.MailboxAttrJunk} {
		for _, fi := range folders {
			if imapconn.HasAttr(fi.list.Attrs, want) {
				out = append(out, fi)
				break
			}
		}
	}
	if len(out) == 0 || !imapconn.HasAttr(out[0].list.Attrs, imap.MailboxAttrAll) {
		return folders, false
	}
	return out, true
}

// startGmail notes where the archive holds each message of the Gmail
// folders other than All Mail (All Mail's are noted when it is opened).
func (e *engine) startGmail(folders []folderInfo) error {
	e.gm = &gmail{ids: map[uint64]string{}, start: e.run.Start.Truncate(time.Second), recent: map[string]int64{}}
	for _, fi := range folders[1:] {
		id := e.folderID(fi.list)
		if !e.opts.Archive.HasFolder(id) {
			continue
		}
		f, err := e.opts.Archive.ReadFolder(id)
		if err != nil {
			continue // reported when the folder itself is backed up
		}
		e.gm.note(f)
	}
	e.info("", "Gmail: backing up All Mail, Trash and Spam, each message once with its labels; the label folders show the same messages and are not downloaded again")
	return nil
}

// note records where f's messages are, and what it took in the 24 hours
// before the run.
func (g *gmail) note(f *archive.Folder) {
	path := f.ID.Path()
	since := g.start.Add(-24 * time.Hour)
	var recent int64
	for _, ent := range f.Entries() {
		if ent.GmailID != 0 {
			g.ids[ent.GmailID] = path
		}
		// Up to the run's start second: what an earlier attempt of this run
		// committed may count twice (the safe side).
		if ent.Added.After(since) && !ent.Added.After(g.start) {
			recent += ent.Size
		}
	}
	g.recent[path] = recent
}

// took counts a message fetched into the archive folder at path (id: its
// X-GM-MSGID, 0 when not known).
func (g *gmail) took(size int64, id uint64, path string) {
	g.downloaded += size
	if id != 0 {
		g.ids[id] = path
	}
}

func (g *gmail) close() {
	if g != nil && g.raw != nil {
		g.raw.Close()
		g.raw = nil
	}
}

// gmailMeta asks for the X-GM items of uids in mailbox, whose UIDVALIDITY must
// still be uv.
func (e *engine) gmailMeta(ctx context.Context, mailbox string, uv uint32, uids []uint32) (map[uint32]imapconn.GmailMeta, error) {
	out := make(map[uint32]imapconn.GmailMeta, len(uids))
	if len(uids) == 0 {
		return out, nil
	}
	g := e.gm
	if g.raw != nil && g.raw.Broken() {
		g.raw.Close()
		g.raw = nil
	}
	if g.raw == nil {
		raw, err := imapconn.DialAppender(ctx, e.acct.Endpoint, e.pw)
		if err != nil {
			return nil, err
		}
		g.raw = raw
	}
	got, err := g.raw.Examine(mailbox)
	if err != nil {
		return nil, err
	}
	if got != uv {
		return nil, imapconn.Dropped(e.acct.Endpoint.Addr(), fmt.Errorf("%s was renumbered during the run (UIDVALIDITY %d → %d)", mailbox, uv, got))
	}
	// A few thousand UIDs per command: a first run's set of every UID of
	// a big, sparse All Mail would be a command line of a megabyte.
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	for len(uids) > 0 {
		chunk := uids[:min(len(uids), gmailChunk)]
		uids = uids[len(chunk):]
		var set imap.UIDSet
		for _, uid := range chunk {
			set.AddNum(imap.UID(uid))
		}
		skipped, err := g.raw.GmailMeta(set.String(), func(m imapconn.GmailMeta) {
			if m.MsgID == 0 {
				return
			}
			if old, ok := out[m.UID]; ok && m.Labels == nil {
				m.Labels = old.Labels // an unsolicited FETCH without labels
			}
			out[m.UID] = m
		})
		if err != nil {
			return nil, err
		}
		if skipped > 0 {
			e.warn(mailbox, fmt.Sprintf("%s: Gmail sent %d answer(s) Lifeboat could not read; those messages are backed up without their Gmail labels", mailbox, skipped))
		}
	}
	return out, nil
}

// gmailChunk is how many UIDs one X-GM FETCH asks for.
const gmailChunk = 2000

// gmailChanges applies what Gmail says of the folder's messages: new
// labels of archived ones; for new UIDs, a message this folder held under
// another UID (re-mapped), or one another folder holds (a link). It
// returns the UIDs still to download and their X-GM items.
func (e *engine) gmailChanges(ctx context.Context, f *archive.Folder, mailbox string, uv uint32, cs *changes,
	current map[uint32]*archive.Entry, candidates []uint32, sum *archive.FolderRun) ([]uint32, map[uint32]imapconn.GmailMeta, error) {
	ask := append([]uint32(nil), candidates...)
	for uid := range cs.flags {
		ask = append(ask, uid)
	}
	meta, err := e.gmailMeta(ctx, mailbox, uv, ask)
	if err != nil {
		return nil, nil, err
	}
	for uid := range cs.flags {
		ent, m := current[uid], meta[uid]
		switch {
		case ent == nil || m.MsgID == 0:
		case ent.GmailID == 0:
			// Archived before Gmail mode, or adopted after a crash: its
			// id, thread and labels are added now.
			f.SetGmail(ent, m.MsgID, m.ThrID, m.Labels)
			e.gm.ids[m.MsgID] = f.ID.Path()
		case m.Labels != nil && !archive.EqualFlags(ent.Labels, m.Labels):
			f.SetLabels(ent, m.Labels)
			sum.LabelChanges++
		}
	}
	path := f.ID.Path()
	var want []uint32
	for _, uid := range candidates {
		m, ok := meta[uid]
		if !ok {
			want = append(want, uid) // no id given: downloaded as any message
			continue
		}
		if old := f.ByGmailID(m.MsgID); old != nil {
			// Here before under another UID (renumbered, or back from Trash).
			f.Remap(old, uid, cs.listed[uid].flags, old.SHA)
			if m.Labels != nil && !archive.EqualFlags(old.Labels, m.Labels) {
				f.SetLabels(old, m.Labels)
			}
			sum.Remapped++
			continue
		}
		if in, ok := e.gm.ids[m.MsgID]; ok && in != path {
			f.AddLink(archive.Link{UIDValidity: uv, UID: uid, GmailID: m.MsgID, In: in, Labels: m.Labels})
			sum.Linked++
			continue
		}
		want = append(want, uid)
	}
	return want, meta, nil
}

// gmailLimit reports whether err is Gmail refusing more downloads today
// ("Account exceeded command or bandwidth limits"), or its throttling.
func gmailLimit(err error) bool {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return false
	}
	return ie.Code == imap.ResponseCodeOverQuota || ie.Code == imap.ResponseCodeLimit ||
		strings.Contains(strings.ToLower(ie.Text), "bandwidth")
}

// errGmailLimit stops a Gmail account's run for the day: Gmail's refusal
// (err), or Lifeboat's own budget reached (own).
type errGmailLimit struct {
	err error
	own bool
}

func (e *errGmailLimit) Error() string {
	if e.own {
		return "the daily download budget for Gmail is used up"
	}
	return e.err.Error()
}
func (e *errGmailLimit) Unwrap() error { return e.err }

// message says what happened, how much came, and that the next run
// continues.
func (e *errGmailLimit) message(g *gmail, budget int64) string {
	if e.own {
		return fmt.Sprintf("stopped after %s today (%s this run) to stay under Gmail's daily download limit of about 2.5 GB, which would lock out the account's other mail programs too; what was downloaded is archived, and the next run continues from there",
			sizeWords(g.earlier()+g.downloaded), sizeWords(g.downloaded))
	}
	text := e.err.Error()
	var ie *imap.Error
	if errors.As(e.err, &ie) && ie.Text != "" {
		text = ie.Text
	}
	return fmt.Sprintf("Gmail's daily download limit reached after %s (the server said %q); what was downloaded is archived, and the next run continues from there",
		sizeWords(g.downloaded), text)
}

// sizeWords is a byte count as a person reads it: "2.4 GB", "310 MB".
func sizeWords(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%d MB", n/1e6)
	default:
		return fmt.Sprintf("%d KB", (n+999)/1000)
	}
}

// needGmailIDs reports whether archived messages of a Gmail folder lack
// their X-GM-MSGID (archived before Gmail mode, or adopted after a crash):
// the folder is then listed whole once, so that every one gets it.
func (e *engine) needGmailIDs(current map[uint32]*archive.Entry) bool {
	if e.gm == nil {
		return false
	}
	for _, ent := range current {
		if ent.GmailID == 0 {
			return true
		}
	}
	return false
}
