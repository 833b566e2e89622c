// Package serve is a read-only IMAP server over the archive (go-imap's
// imapserver), so that during an outage a person reads the archive in
// their own mail program — Thunderbird, Apple Mail, Outlook, a phone on the
// same network if they allow it — HTML and attachments included, with the
// flags and INTERNALDATE the archive recorded.
//
// Nothing a client does changes the archive: APPEND, CREATE, DELETE,
// RENAME, COPY and MOVE are refused; EXPUNGE removes nothing; STORE
// changes flags only in this server's memory (a client marking a message
// read sees it read until the server stops; the archive keeps the flags
// the provider had). Every account's folders are served under the
// account's name ("bt/INBOX", "bt/Work/2026"); with one account, its
// folders are at the top and its INBOX is INBOX. UIDs are the messages'
// places in their folder's log, so they stay the same from one run to the
// next while the archive grows.
package serve

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/index"
)

// Options configure a server.
type Options struct {
	Archive *archive.Archive
	// Addr to listen on (default 127.0.0.1:1143); anything but loopback
	// needs AllowRemote and TLS.
	Addr        string
	AllowRemote bool
	Username    string // default "lifeboat"
	Password    string // required
	// TLS, when set, is offered with STARTTLS.
	TLS *tls.Config
	// AuthFailureDelay slows password guessing (default 1 s).
	AuthFailureDelay time.Duration
}

// Server is a running server.
type Server struct {
	Addr  string
	srv   *imapserver.Server
	ln    net.Listener
	done  chan struct{}
	state *state
}

// Start listens and serves until Close.
func Start(o Options) (*Server, error) {
	if o.Archive == nil {
		return nil, errors.New("serve: no archive")
	}
	if o.Password == "" {
		return nil, errors.New("serve: no password")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:1143"
	}
	if o.Username == "" {
		o.Username = "lifeboat"
	}
	if o.AuthFailureDelay == 0 {
		o.AuthFailureDelay = time.Second
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("serve: listen address %q: %w", o.Addr, err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && !o.AllowRemote {
		return nil, fmt.Errorf("serve: %s is not this computer's loopback address; serving the archive beyond it must be allowed in the configuration (serve_allow_remote), and is then offered over TLS only", o.Addr)
	}
	if !loopback && o.TLS == nil {
		return nil, errors.New("serve: a listener beyond loopback needs TLS")
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	st := &state{o: o, overlay: map[overlayKey][]string{}}
	// SEARCH TEXT and BODY go to the archive's full-text index, brought up
	// to date first; without one they read the messages.
	if ix, err := index.Open(index.DefaultPath(o.Archive)); err == nil {
		if _, err := ix.Update(o.Archive, ""); err == nil {
			st.ix = ix
		} else {
			ix.Close()
		}
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, done: make(chan struct{}), state: st}
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapLiteralPlus: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {},
		imap.CapUnselect: {}, imap.CapIdle: {}, imap.CapSpecialUse: {}, imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapChildren: {}}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{st: st}, nil, nil
		},
		Caps:         caps,
		TLSConfig:    o.TLS,
		InsecureAuth: loopback, // plaintext LOGIN only on this computer
		Logger:       discard{},
	})
	go func() {
		s.srv.Serve(ln)
		close(s.done)
	}()
	return s, nil
}

// textHits returns the offsets of the folder's messages the full-text
// index finds for text (words, as the index matches them), or ok false
// when there is no index to ask.
func (st *state) textHits(fo folder, text string) (hits map[int64]bool, ok bool) {
	if st.ix == nil {
		return nil, false
	}
	q, err := index.ParseQuery(`"` + strings.ReplaceAll(text, `"`, " ") + `"`)
	if err != nil {
		return nil, false
	}
	q.Account, q.Folder, q.Limit = fo.id.Account, fo.id.Path(), 0
	rows, _, err := st.ix.Search(q)
	if err != nil {
		return nil, false
	}
	hits = map[int64]bool{}
	for _, r := range rows {
		hits[r.Offset] = true
	}
	return hits, true
}

// Close stops the server and waits for it.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if s.state.ix != nil {
		s.state.ix.Close()
	}
	return err
}

type discard struct{}

func (discard) Printf(string, ...any) {}

// state is what every session shares: the options and the flags clients
// set, kept apart from the archive.
type state struct {
	o       Options
	ix      *index.Index // nil: none usable
	mu      sync.Mutex
	overlay map[overlayKey][]string
}

type overlayKey struct {
	folder string
	uid    imap.UID
}

// folder is one served folder.
type folder struct {
	name string // as served
	id   archive.FolderID
	role string
}

// folders lists what is served, by served name; with roles, each folder's
// SPECIAL-USE role too (which reads its log: only LIST needs it).
func (st *state) folders(roles bool) ([]folder, error) {
	accts, err := st.o.Archive.Accounts()
	if err != nil {
		return nil, err
	}
	var out []folder
	for _, a := range accts {
		ids, err := st.o.Archive.Folders(a)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			name := id.Path()
			if len(accts) > 1 {
				name = a + "/" + name
			}
			var role string
			if roles {
				if f, err := st.o.Archive.ReadFolder(id); err == nil {
					role = f.State.Role
				}
			}
			out = append(out, folder{name: name, id: id, role: role})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func (st *state) folder(name string) (folder, error) {
	fs, err := st.folders(false)
	if err != nil {
		return folder{}, err
	}
	for _, f := range fs {
		if f.name == name || (strings.EqualFold(name, "INBOX") && strings.EqualFold(f.name, "INBOX")) {
			return f, nil
		}
	}
	return folder{}, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such folder in the archive"}
}

// message is an archived message as served.
type message struct {
	uid   imap.UID
	entry *archive.Entry
}

// snapshot is a folder as it is when selected.
type snapshot struct {
	folder
	f           *archive.Folder
	msgs        []message
	uidValidity uint32
	uidNext     imap.UID
}

// open reads a folder: its messages get as UID their place among all the
// folder's log records (damaged ones too, which are not served), so UIDs
// never change while the archive only grows.
func (st *state) open(fo folder) (*snapshot, error) {
	f, err := st.o.Archive.ReadFolder(fo.id)
	if err != nil {
		return nil, err
	}
	all := append(append([]*archive.Entry(nil), f.Entries()...), f.Damaged()...)
	sort.Slice(all, func(i, j int) bool { return all[i].Offset < all[j].Offset })
	damaged := map[*archive.Entry]bool{}
	for _, e := range f.Damaged() {
		damaged[e] = true
	}
	s := &snapshot{folder: fo, f: f, uidNext: imap.UID(len(all) + 1),
		uidValidity: crc32.ChecksumIEEE([]byte(fo.id.Account+"\x00"+fo.id.Path())) | 1}
	for i, e := range all {
		if !damaged[e] {
			s.msgs = append(s.msgs, message{uid: imap.UID(i + 1), entry: e})
		}
	}
	return s, nil
}

func (st *state) flags(s *snapshot, m message) []imap.Flag {
	st.mu.Lock()
	fl, ok := st.overlay[overlayKey{s.name, m.uid}]
	st.mu.Unlock()
	if !ok {
		fl = m.entry.Flags
	}
	out := make([]imap.Flag, 0, len(fl))
	for _, f := range fl {
		out = append(out, imap.Flag(f))
	}
	return out
}

func (st *state) setFlags(s *snapshot, m message, fl []imap.Flag) {
	out := make([]string, 0, len(fl))
	for _, f := range fl {
		out = append(out, string(f))
	}
	st.mu.Lock()
	st.overlay[overlayKey{s.name, m.uid}] = out
	st.mu.Unlock()
}

// raw reads a message's original bytes.
func (s *snapshot) raw(m message) ([]byte, error) {
	var b bytes.Buffer
	if err := s.f.WriteOriginal(&b, m.entry); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func header(raw []byte) textproto.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return textproto.Header{}
	}
	return h
}

var errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
	Text: "Lifeboat's archive is read-only here: nothing a mail program does changes it"}

// login compares in constant time and slows down failures.
func (st *state) login(user, password string) error {
	okU := subtle.ConstantTimeCompare([]byte(user), []byte(st.o.Username)) == 1
	okP := subtle.ConstantTimeCompare([]byte(password), []byte(st.o.Password)) == 1
	if okU && okP {
		return nil
	}
	time.Sleep(st.o.AuthFailureDelay)
	return imapserver.ErrAuthFailed
}
