package serve

import (
	"bytes"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// session is one client's connection.
type session struct {
	st        *state
	loggedIn  bool
	sel       *snapshot
	searchRes imap.UIDSet
	textCache map[string]map[int64]bool // one SEARCH's full-text answers
}

var (
	_ imapserver.SessionNamespace = (*session)(nil)
	_ imapserver.SessionMove      = (*session)(nil)
)

func (s *session) Close() error { return nil }

func (s *session) Login(username, password string) error {
	if err := s.st.login(username, password); err != nil {
		return err
	}
	s.loggedIn = true
	return nil
}

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}}}, nil
}

var permanent = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, imap.FlagWildcard}

// lastUID is what "*" stands for in a UID set: the highest UID served.
func (s *snapshot) lastUID() uint32 {
	if len(s.msgs) == 0 {
		return 0
	}
	return uint32(s.msgs[len(s.msgs)-1].uid)
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	fo, err := s.st.folder(name)
	if err != nil {
		if strings.EqualFold(name, "INBOX") {
			// Every IMAP account has an INBOX; an archive of several
			// accounts serves theirs under their names, and an empty one.
			s.sel = emptyInbox()
			return &imap.SelectData{Flags: permanent[:5], PermanentFlags: permanent, UIDNext: 1, UIDValidity: 1}, nil
		}
		return nil, err
	}
	snap, err := s.st.open(fo)
	if err != nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "The archive's folder cannot be read: " + err.Error()}
	}
	s.sel = snap
	s.searchRes = nil
	return &imap.SelectData{Flags: permanent[:5], PermanentFlags: permanent, NumMessages: uint32(len(snap.msgs)),
		UIDNext: snap.uidNext, UIDValidity: snap.uidValidity}, nil
}

func (s *session) Unselect() error {
	s.sel = nil
	return nil
}

func (s *session) Create(string, *imap.CreateOptions) error         { return errReadOnly }
func (s *session) Delete(string) error                              { return errReadOnly }
func (s *session) Rename(string, string, *imap.RenameOptions) error { return errReadOnly }
func (s *session) Subscribe(string) error                           { return nil } // every folder is subscribed
func (s *session) Unsubscribe(string) error                         { return nil }

func (s *session) Append(string, imap.LiteralReader, *imap.AppendOptions) (*imap.AppendData, error) {
	return nil, errReadOnly
}

func (s *session) Copy(imap.NumSet, string) (*imap.CopyData, error) { return nil, errReadOnly }

func (s *session) Move(*imapserver.MoveWriter, imap.NumSet, string) error { return errReadOnly }

// Expunge removes nothing: the archive keeps every message.
func (s *session) Expunge(*imapserver.ExpungeWriter, *imap.UIDSet) error { return nil }

func (s *session) Poll(*imapserver.UpdateWriter, bool) error { return nil }

func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	<-stop
	return nil
}

// listEntry is a served name with what LIST says of it.
type listEntry struct {
	name     string
	noSelect bool
	role     string
	fo       *folder // nil: INBOX without an archived one, or a parent
}

func (s *session) entries() ([]listEntry, error) {
	fs, err := s.st.folders(true)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	var out []listEntry
	for i, f := range fs {
		have[f.name] = true
		out = append(out, listEntry{name: f.name, role: f.role, fo: &fs[i]})
	}
	if !have["INBOX"] {
		out = append(out, listEntry{name: "INBOX"})
		have["INBOX"] = true
	}
	// Parents that are not folders of their own.
	for _, f := range fs {
		parts := strings.Split(f.name, "/")
		for i := 1; i < len(parts); i++ {
			p := strings.Join(parts[:i], "/")
			if !have[p] {
				have[p] = true
				out = append(out, listEntry{name: p, noSelect: true})
			}
		}
	}
	return out, nil
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: '/'})
	}
	es, err := s.entries()
	if err != nil {
		return err
	}
	children := map[string]bool{}
	for _, e := range es {
		if i := strings.LastIndexByte(e.name, '/'); i > 0 {
			children[e.name[:i]] = true
		}
	}
	for _, e := range es {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(e.name, '/', ref, p) {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		d := &imap.ListData{Mailbox: e.name, Delim: '/'}
		if e.noSelect {
			d.Attrs = append(d.Attrs, imap.MailboxAttrNoSelect)
		}
		if children[e.name] {
			d.Attrs = append(d.Attrs, imap.MailboxAttrHasChildren)
		} else {
			d.Attrs = append(d.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if options != nil && options.SelectSubscribed {
			d.Attrs = append(d.Attrs, imap.MailboxAttrSubscribed)
		}
		if e.role != "" {
			d.Attrs = append(d.Attrs, imap.MailboxAttr(e.role))
		}
		if options != nil && options.ReturnStatus != nil && !e.noSelect {
			snap := emptyInbox()
			if e.fo != nil {
				if snap, err = s.st.open(*e.fo); err != nil {
					return err
				}
			}
			d.Status = s.status(e.name, snap, options.ReturnStatus)
		}
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	var snap *snapshot
	fo, err := s.st.folder(name)
	switch {
	case err == nil:
		if snap, err = s.st.open(fo); err != nil {
			return nil, err
		}
	case strings.EqualFold(name, "INBOX"):
		snap = emptyInbox()
	default:
		return nil, err
	}
	return s.status(name, snap, options), nil
}

// emptyInbox is the INBOX served when the archive has none of its own
// (several accounts: theirs are under their names).
func emptyInbox() *snapshot {
	return &snapshot{folder: folder{name: "INBOX"}, uidValidity: 1, uidNext: 1}
}

func (s *session) status(name string, snap *snapshot, options *imap.StatusOptions) *imap.StatusData {
	d := &imap.StatusData{Mailbox: name}
	n := uint32(len(snap.msgs))
	if options.NumMessages {
		d.NumMessages = &n
	}
	if options.UIDNext {
		d.UIDNext = snap.uidNext
	}
	if options.UIDValidity {
		d.UIDValidity = snap.uidValidity
	}
	if options.NumUnseen {
		var u uint32
		for _, m := range snap.msgs {
			if !hasFlag(s.st.flags(snap, m), imap.FlagSeen) {
				u++
			}
		}
		d.NumUnseen = &u
	}
	if options.Size {
		var size int64
		for _, m := range snap.msgs {
			size += m.entry.Size
		}
		d.Size = &size
	}
	return d
}

func hasFlag(fl []imap.Flag, f imap.Flag) bool {
	for _, x := range fl {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// each calls f for the selected messages numSet names, with their sequence
// numbers.
func (s *session) each(numSet imap.NumSet, f func(seq uint32, m message) error) error {
	if s.sel == nil {
		return nil
	}
	msgs := s.sel.msgs
	if imap.IsSearchRes(numSet) {
		numSet = s.searchRes
	}
	switch set := numSet.(type) {
	case imap.SeqSet:
		max := uint32(len(msgs))
		for i, m := range msgs {
			seq := uint32(i + 1)
			if containsSeq(set, seq, max) {
				if err := f(seq, m); err != nil {
					return err
				}
			}
		}
	case imap.UIDSet:
		max := s.sel.lastUID()
		for i, m := range msgs {
			if containsUID(set, m.uid, max) {
				if err := f(uint32(i+1), m); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// containsSeq: set holds seq, "*" standing for max.
func containsSeq(set imap.SeqSet, seq, max uint32) bool {
	for _, r := range set {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = max
		}
		if hi == 0 {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if seq >= lo && seq <= hi {
			return true
		}
	}
	return false
}

func containsUID(set imap.UIDSet, uid imap.UID, max uint32) bool {
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if lo == 0 {
			lo = max
		}
		if hi == 0 {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if uint32(uid) >= lo && uint32(uid) <= hi {
			return true
		}
	}
	return false
}

func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	markSeen := false
	for _, bs := range options.BodySection {
		markSeen = markSeen || !bs.Peek
	}
	needRaw := options.Envelope || options.BodyStructure != nil || len(options.BodySection) > 0 ||
		len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	return s.each(numSet, func(seq uint32, m message) error {
		var raw []byte
		if needRaw {
			var err error
			if raw, err = s.sel.raw(m); err != nil {
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "A message cannot be read from the archive: " + err.Error()}
			}
		}
		if markSeen && !hasFlag(s.st.flags(s.sel, m), imap.FlagSeen) {
			s.st.setFlags(s.sel, m, append(s.st.flags(s.sel, m), imap.FlagSeen))
		}
		rw := w.CreateMessage(seq)
		rw.WriteUID(m.uid)
		if options.Flags || markSeen {
			rw.WriteFlags(s.st.flags(s.sel, m))
		}
		if options.InternalDate {
			rw.WriteInternalDate(m.entry.Date)
		}
		if options.RFC822Size {
			size := m.entry.Size
			if size == 0 || raw != nil {
				if raw == nil {
					raw, _ = s.sel.raw(m)
				}
				size = int64(len(raw))
			}
			rw.WriteRFC822Size(size)
		}
		if options.Envelope {
			rw.WriteEnvelope(imapserver.ExtractEnvelope(header(raw)))
		}
		if options.BodyStructure != nil {
			rw.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(raw)))
		}
		for _, bs := range options.BodySection {
			b := imapserver.ExtractBodySection(bytes.NewReader(raw), bs)
			wc := rw.WriteBodySection(bs, int64(len(b)))
			_, werr := wc.Write(b)
			if cerr := wc.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return werr
			}
		}
		for _, bs := range options.BinarySection {
			b := imapserver.ExtractBinarySection(bytes.NewReader(raw), bs)
			wc := rw.WriteBinarySection(bs, int64(len(b)))
			_, werr := wc.Write(b)
			if cerr := wc.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return werr
			}
		}
		for _, bss := range options.BinarySectionSize {
			rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), bss))
		}
		return rw.Close()
	})
}

// Store changes flags in this server's memory only.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	err := s.each(numSet, func(seq uint32, m message) error {
		cur := s.st.flags(s.sel, m)
		var next []imap.Flag
		switch flags.Op {
		case imap.StoreFlagsSet:
			next = append(next, flags.Flags...)
		case imap.StoreFlagsAdd:
			next = cur
			for _, f := range flags.Flags {
				if !hasFlag(next, f) {
					next = append(next, f)
				}
			}
		case imap.StoreFlagsDel:
			for _, f := range cur {
				if !hasFlag(flags.Flags, f) {
					next = append(next, f)
				}
			}
		}
		s.st.setFlags(s.sel, m, next)
		return nil
	})
	if err != nil || flags.Silent {
		return err
	}
	return s.Fetch(w, numSet, &imap.FetchOptions{Flags: true})
}

// hits asks the full-text index once per SEARCH and text.
func (s *session) hits(text string) (map[int64]bool, bool) {
	if h, ok := s.textCache[text]; ok {
		return h, h != nil
	}
	h, ok := s.st.textHits(s.sel.folder, text)
	if !ok {
		h = nil
	}
	s.textCache[text] = h
	return h, ok
}

func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	s.textCache = map[string]map[int64]bool{}
	var data imap.SearchData
	var seqs imap.SeqSet
	var uids imap.UIDSet
	if s.sel != nil {
		max := uint32(len(s.sel.msgs))
		for i, m := range s.sel.msgs {
			seq := uint32(i + 1)
			if !s.match(seq, max, m, criteria, nil) {
				continue
			}
			uids.AddNum(m.uid)
			n := seq
			if kind == imapserver.NumKindUID {
				n = uint32(m.uid)
			} else {
				seqs.AddNum(seq)
			}
			if data.Min == 0 || n < data.Min {
				data.Min = n
			}
			if n > data.Max {
				data.Max = n
			}
			data.Count++
		}
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	if options != nil && options.ReturnSave {
		s.searchRes = uids
	}
	return &data, nil
}

// match reports whether a message meets the criteria; raw is read once,
// when a criterion needs the message's bytes.
func (s *session) match(seq, max uint32, m message, c *imap.SearchCriteria, raw *[]byte) bool {
	if raw == nil {
		raw = new([]byte)
	}
	bytesOf := func() []byte {
		if *raw == nil {
			*raw, _ = s.sel.raw(m)
		}
		return *raw
	}
	for _, set := range c.SeqNum {
		if !containsSeq(set, seq, max) {
			return false
		}
	}
	for _, set := range c.UID {
		if !containsUID(set, m.uid, s.sel.lastUID()) {
			return false
		}
	}
	day := func(t time.Time) time.Time { y, mo, d := t.Date(); return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC) }
	if !c.Since.IsZero() && day(m.entry.Date).Before(day(c.Since)) {
		return false
	}
	if !c.Before.IsZero() && !day(m.entry.Date).Before(day(c.Before)) {
		return false
	}
	fl := s.st.flags(s.sel, m)
	for _, f := range c.Flag {
		if !hasFlag(fl, f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(fl, f) {
			return false
		}
	}
	if c.Larger != 0 && m.entry.Size <= c.Larger {
		return false
	}
	if c.Smaller != 0 && m.entry.Size >= c.Smaller {
		return false
	}
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		h := mail.Header{Header: gomessage.Header{Header: header(bytesOf())}}
		for _, hc := range c.Header {
			found := false
			for _, v := range h.Values(hc.Key) {
				if hc.Value == "" || containsFold(v, hc.Value) {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			t, err := h.Date()
			if err != nil || (!c.SentSince.IsZero() && day(t).Before(day(c.SentSince))) || (!c.SentBefore.IsZero() && !day(t).Before(day(c.SentBefore))) {
				return false
			}
		}
	}
	for _, t := range c.Text {
		if hits, ok := s.hits(t); ok {
			if !hits[m.entry.Offset] {
				return false
			}
			continue
		}
		if !containsFold(string(bytesOf()), t) {
			return false
		}
	}
	for _, t := range c.Body {
		if hits, ok := s.hits(t); ok {
			if !hits[m.entry.Offset] {
				return false
			}
			continue
		}
		b := bytesOf()
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			b = b[i:]
		} else if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
			b = b[i:]
		}
		if !containsFold(string(b), t) {
			return false
		}
	}
	for i := range c.Not {
		if s.match(seq, max, m, &c.Not[i], raw) {
			return false
		}
	}
	for i := range c.Or {
		if !s.match(seq, max, m, &c.Or[i][0], raw) && !s.match(seq, max, m, &c.Or[i][1], raw) {
			return false
		}
	}
	return true
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
