// Package gmailfake is an in-process IMAP server that behaves as Gmail's
// IMAP does, as far as Lifeboat relies on it
// (https://developers.google.com/gmail/imap/imap-extensions): every message
// lives once, in "[Gmail]/All Mail" (\All), and each label is a folder
// that shows the same messages again under its own UIDs, with the same
// X-GM-MSGID; Trash and Spam hold what is not in All Mail; the server
// advertises X-GM-EXT-1 and answers X-GM-MSGID, X-GM-THRID and
// X-GM-LABELS; past a download allowance it answers as Gmail does ("NO
// [ALERT] Account exceeded command or bandwidth limits").
//
// It is go-imap's imapmemserver behind a proxy that adds what is Gmail's:
// the capability, the special-use attributes, and the answers to the
// X-GM-* FETCH items, from its own table of messages and labels. It is
// for tests only.
package gmailfake

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// The folders of a Gmail account, by the label they show.
const (
	AllMail = "[Gmail]/All Mail"
	Trash   = "[Gmail]/Trash"
	Spam    = "[Gmail]/Spam"
	Sent    = "[Gmail]/Sent Mail"
	Starred = "[Gmail]/Starred"
	Drafts  = "[Gmail]/Drafts"
)

var systemFolders = map[string]string{`\Inbox`: "INBOX", `\Sent`: Sent, `\Starred`: Starred, `\Draft`: Drafts,
	`\Trash`: Trash, `\Spam`: Spam}

var specialUse = map[string]string{AllMail: `\All`, Trash: `\Trash`, Spam: `\Junk`, Sent: `\Sent`,
	Starred: `\Flagged`, Drafts: `\Drafts`}

// Server is a running fake Gmail account.
type Server struct {
	Addr     string // 127.0.0.1:port
	User     string
	Password string

	mem   *imapmemserver.User
	srv   *imapserver.Server
	inner net.Listener
	ln    net.Listener
	wg    sync.WaitGroup

	mu     sync.Mutex
	nextID uint64
	msgs   map[uint64]*message
	where  map[string]map[uint32]uint64 // folder → UID → X-GM-MSGID
	limit  int64                        // download allowance in bytes; 0: none
	served int64                        // message bytes sent in FETCH literals
	bodies map[string]int               // FETCH responses with a literal, per folder
	conns  map[net.Conn]bool
	plain  bool // X-GM-EXT-1 not offered (as an older Lifeboat would have found it)
}

// Plain stops (true) or resumes offering X-GM-EXT-1, for new connections.
func (s *Server) Plain(on bool) {
	s.mu.Lock()
	s.plain = on
	s.mu.Unlock()
}

type message struct {
	id, thread uint64
	labels     []string
	raw        []byte
	date       time.Time
}

// Start starts a fake Gmail account on 127.0.0.1 and stops it when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{User: "someone@gmail.test", Password: "pw-gmail", nextID: 1_700_000_000_000_000_000,
		msgs: map[uint64]*message{}, where: map[string]map[uint32]uint64{}, bodies: map[string]int{}, conns: map[net.Conn]bool{}}
	mem := imapmemserver.New()
	s.mem = imapmemserver.NewUser(s.User, s.Password)
	mem.AddUser(s.mem)
	for _, f := range []string{"INBOX", AllMail, Sent, Starred, Drafts, Trash, Spam} {
		s.folder(t, f)
	}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapSpecialUse: {}, imap.CapNamespace: {}},
		InsecureAuth: true,
	})
	var err error
	if s.inner, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.Addr = s.ln.Addr().String()
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.srv.Serve(s.inner) }()
	go func() { defer s.wg.Done(); s.accept() }()
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.srv.Close()
	s.wg.Wait()
}

func (s *Server) folder(t testing.TB, name string) {
	if s.where[name] != nil {
		return
	}
	if err := s.mem.Create(name, nil); err != nil {
		t.Fatal(err)
	}
	s.where[name] = map[uint32]uint64{}
}

// folders is where Gmail shows a message with these labels: All Mail and
// a folder per label, or only Trash or Spam.
func folders(labels []string) []string {
	for _, l := range labels {
		if l == `\Trash` || l == `\Spam` {
			return []string{systemFolders[l]}
		}
	}
	out := []string{AllMail}
	for _, l := range labels {
		if f, ok := systemFolders[l]; ok {
			out = append(out, f)
		} else if !strings.HasPrefix(l, `\`) {
			out = append(out, l)
		}
	}
	return out
}

// Add delivers a message with these labels (\Inbox, \Sent, \Starred,
// \Trash, \Spam, or user labels) and returns its X-GM-MSGID. Its thread is
// its own unless thread is given.
func (s *Server) Add(t testing.TB, raw []byte, date time.Time, thread uint64, labels ...string) uint64 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	m := &message{id: s.nextID, thread: thread, labels: labels, raw: raw, date: date}
	if m.thread == 0 {
		m.thread = m.id
	}
	s.msgs[m.id] = m
	for _, f := range folders(labels) {
		s.put(t, f, m)
	}
	return m.id
}

func (s *Server) put(t testing.TB, folder string, m *message) {
	s.folder(t, folder)
	var flags []imap.Flag
	for _, l := range m.labels {
		if l == `\Starred` {
			flags = append(flags, imap.FlagFlagged)
		}
	}
	data, err := s.mem.Append(folder, literal{bytes.NewReader(m.raw), int64(len(m.raw))}, &imap.AppendOptions{Time: m.date, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	s.where[folder][uint32(data.UID)] = m.id
}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// SetLabels gives a message new labels, moving it between folders as
// Gmail does (to Trash: out of All Mail and every label).
func (s *Server) SetLabels(t testing.TB, id uint64, labels ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[id]
	if m == nil {
		t.Fatalf("gmailfake: no message %d", id)
	}
	before, after := map[string]bool{}, map[string]bool{}
	for _, f := range folders(m.labels) {
		before[f] = true
	}
	m.labels = labels
	for _, f := range folders(labels) {
		after[f] = true
	}
	for f := range before {
		if !after[f] {
			s.remove(t, f, id)
		}
	}
	for _, f := range folders(labels) {
		if !before[f] {
			s.put(t, f, m)
		}
	}
}

// remove expunges the message from one folder, through a client of the
// inner server (imapmemserver has no other way).
func (s *Server) remove(t testing.TB, folder string, id uint64) {
	c, err := imapclient.DialInsecure(s.inner.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(s.User, s.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for uid, mid := range s.where[folder] {
		if mid != id {
			continue
		}
		set := imap.UIDSetNum(imap.UID(uid))
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.UIDExpunge(set).Close(); err != nil {
			t.Fatal(err)
		}
		delete(s.where[folder], uid)
	}
	c.Logout().Wait()
}

// Limit sets the download allowance: once this many message bytes were
// sent, FETCH commands for message bodies are refused as Gmail refuses
// them. 0 lifts it (a new day).
func (s *Server) Limit(bytes int64) {
	s.mu.Lock()
	s.limit, s.served = bytes, 0
	s.mu.Unlock()
}

// Served is how many message bytes were sent in FETCH answers so far.
func (s *Server) Served() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// Bodies is how many messages were sent whole from each folder.
func (s *Server) Bodies() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.bodies {
		out[k] = v
	}
	return out
}

// UIDs is the folder's UIDs for a message (its place in a label folder).
func (s *Server) UIDs(folder string, id uint64) []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint32
	for uid, mid := range s.where[folder] {
		if mid == id {
			out = append(out, uid)
		}
	}
	return out
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.proxy(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// conn is one client's connection through the proxy.
type conn struct {
	s        *Server
	client   net.Conn
	wmu      sync.Mutex // whole responses to the client
	cw       *bufio.Writer
	selected string
	plain    bool
}

func (s *Server) proxy(client net.Conn) {
	defer client.Close()
	up, err := net.Dial("tcp", s.inner.Addr().String())
	if err != nil {
		return
	}
	defer up.Close()
	s.mu.Lock()
	s.conns[up] = true
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.conns, up); s.mu.Unlock() }()
	s.mu.Lock()
	plain := s.plain
	s.mu.Unlock()
	c := &conn{s: s, client: client, cw: bufio.NewWriter(client), plain: plain}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.down(bufio.NewReader(up))
		client.Close()
	}()
	c.up(bufio.NewReader(client), up)
	up.Close()
	<-done
}

// readResponse reads one line with the literals it announces, and the
// sizes of those literals.
func readResponse(r *bufio.Reader) ([]byte, []int64, error) {
	var out []byte
	var lits []int64
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, nil, err
		}
		out = append(out, line...)
		t := bytes.TrimRight(line, "\r\n")
		if !bytes.HasSuffix(t, []byte("}")) {
			return out, lits, nil
		}
		i := bytes.LastIndexByte(t, '{')
		if i < 0 {
			return out, lits, nil
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(string(t[i+1:len(t)-1]), "+"), 10, 64)
		if err != nil {
			return out, lits, nil
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(r, lit); err != nil {
			return nil, nil, err
		}
		out = append(out, lit...)
		lits = append(lits, n)
	}
}

// down forwards the server's responses, adding what is Gmail's.
func (c *conn) down(r *bufio.Reader) {
	for {
		resp, lits, err := readResponse(r)
		if err != nil {
			return
		}
		if !c.plain {
			resp = rewrite(resp)
		}
		if len(lits) > 0 && bytes.Contains(resp[:min(len(resp), 40)], []byte(" FETCH ")) {
			var n int64
			for _, l := range lits {
				n += l
			}
			c.s.mu.Lock()
			c.s.served += n
			c.s.bodies[c.selected]++
			c.s.mu.Unlock()
		}
		c.wmu.Lock()
		c.cw.Write(resp)
		err = c.cw.Flush()
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// rewrite adds X-GM-EXT-1 to capability lists and the special-use
// attributes to LIST answers.
func rewrite(resp []byte) []byte {
	s := string(resp)
	if strings.HasPrefix(s, "* CAPABILITY ") {
		return []byte(strings.TrimRight(s, "\r\n") + " X-GM-EXT-1\r\n")
	}
	if i := strings.Index(s, "[CAPABILITY "); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return []byte(s[:i+j] + " X-GM-EXT-1" + s[i+j:])
		}
	}
	if strings.HasPrefix(s, "* LIST (") {
		line := strings.TrimRight(s, "\r\n")
		for name, attr := range specialUse {
			if strings.HasSuffix(line, `"`+name+`"`) || strings.HasSuffix(line, " "+name) {
				sep := " "
				if strings.HasPrefix(line, "* LIST ()") {
					sep = ""
				}
				return []byte("* LIST (" + attr + sep + line[len("* LIST ("):] + "\r\n")
			}
		}
	}
	return resp
}

// up forwards the client's commands, answering what is Gmail's itself.
func (c *conn) up(r *bufio.Reader, server net.Conn) {
	for {
		cmd, _, err := readResponse(r)
		if err != nil {
			return
		}
		line := strings.TrimRight(string(cmd), "\r\n")
		f := strings.Fields(line)
		if len(f) >= 3 && (strings.EqualFold(f[1], "SELECT") || strings.EqualFold(f[1], "EXAMINE")) {
			c.selected = unquote(strings.TrimSpace(line[len(f[0])+len(f[1])+2:]))
			if i := strings.Index(c.selected, " ("); i > 0 && !strings.HasPrefix(line[len(f[0])+len(f[1])+2:], `"`) {
				c.selected = c.selected[:i]
			}
		}
		upper := strings.ToUpper(line)
		switch {
		case strings.Contains(upper, "X-GM-") && c.plain:
			c.reply(f[0] + " BAD unknown FETCH item\r\n")
			continue
		case strings.Contains(upper, "X-GM-"):
			c.answerGmail(f[0], upper)
			continue
		case strings.Contains(upper, " FETCH ") && strings.Contains(upper, "BODY"):
			c.s.mu.Lock()
			over := c.s.limit > 0 && c.s.served >= c.s.limit
			c.s.mu.Unlock()
			if over {
				c.reply(f[0] + " NO [ALERT] Account exceeded command or bandwidth limits. (Failure)\r\n")
				continue
			}
		}
		if _, err := server.Write(cmd); err != nil {
			return
		}
	}
}

func unquote(s string) string {
	if strings.HasPrefix(s, `"`) {
		if end := strings.LastIndexByte(s, '"'); end > 0 {
			return strings.ReplaceAll(strings.ReplaceAll(s[1:end], `\"`, `"`), `\\`, `\`)
		}
	}
	return s
}

func (c *conn) reply(s string) {
	c.wmu.Lock()
	c.cw.WriteString(s)
	c.cw.Flush()
	c.wmu.Unlock()
}

// answerGmail answers "tag UID FETCH set (… X-GM-…)" from the table.
func (c *conn) answerGmail(tag, upper string) {
	f := strings.Fields(upper)
	if len(f) < 4 || f[1] != "UID" || f[2] != "FETCH" {
		c.reply(tag + " BAD only UID FETCH of X-GM items is faked\r\n")
		return
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	uids := c.s.where[c.selected]
	if uids == nil {
		c.reply(tag + " BAD no folder selected\r\n")
		return
	}
	sorted := make([]uint32, 0, len(uids))
	for uid := range uids {
		sorted = append(sorted, uid)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	set, err := imapParseUIDSet(f[3], sorted)
	if err != nil {
		c.reply(tag + " BAD " + err.Error() + "\r\n")
		return
	}
	var b strings.Builder
	for seq, uid := range sorted {
		if !set(uid) {
			continue
		}
		m := c.s.msgs[uids[uid]]
		fmt.Fprintf(&b, "* %d FETCH (UID %d X-GM-MSGID %d X-GM-THRID %d X-GM-LABELS (", seq+1, uid, m.id, m.thread)
		n := 0
		for _, l := range m.labels {
			if l == `\Trash` || l == `\Spam` {
				continue // Gmail shows these as folders only
			}
			if n > 0 {
				b.WriteByte(' ')
			}
			n++
			if strings.HasPrefix(l, `\`) {
				b.WriteString(l)
			} else {
				b.WriteString(`"` + encodeLabel(l) + `"`)
			}
		}
		b.WriteString("))\r\n")
	}
	b.WriteString(tag + " OK Success\r\n")
	c.wmu.Lock()
	c.cw.WriteString(b.String())
	c.cw.Flush()
	c.wmu.Unlock()
}

// imapParseUIDSet reads "1:*", "3,7:9".
func imapParseUIDSet(s string, sorted []uint32) (func(uint32) bool, error) {
	var max uint32
	if len(sorted) > 0 {
		max = sorted[len(sorted)-1]
	}
	type rng struct{ lo, hi uint32 }
	var rs []rng
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		if !isRange {
			hi = lo
		}
		num := func(x string) (uint32, error) {
			if x == "*" {
				return max, nil
			}
			n, err := strconv.ParseUint(x, 10, 32)
			return uint32(n), err
		}
		a, err := num(lo)
		if err != nil {
			return nil, fmt.Errorf("bad UID set %q", s)
		}
		b, err := num(hi)
		if err != nil {
			return nil, fmt.Errorf("bad UID set %q", s)
		}
		if a > b {
			a, b = b, a
		}
		rs = append(rs, rng{a, b})
	}
	return func(u uint32) bool {
		for _, r := range rs {
			if u >= r.lo && u <= r.hi {
				return true
			}
		}
		return false
	}, nil
}

// encodeLabel quotes a label as Gmail does (modified UTF-7 for what is
// not ASCII).
func encodeLabel(l string) string {
	return strings.ReplaceAll(strings.ReplaceAll(imapconn.EncodeMailbox(l), `\`, `\\`), `"`, `\"`)
}

// Endpoint is how to reach the account (plain IMAP on loopback).
func (s *Server) Endpoint() imapconn.Endpoint {
	host, port, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(port)
	return imapconn.Endpoint{Host: host, Port: n, Security: imapconn.Plain, Username: s.User, Timeout: 10 * time.Second}
}

// Message builds a small RFC 5322 message.
func Message(subject, body string) []byte {
	return []byte("From: a@example.test\r\nTo: someone@gmail.test\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.test>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n" + body + "\r\n")
}

// Labels is every message's labels now, by X-GM-MSGID.
func (s *Server) Labels() map[uint64][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64][]string, len(s.msgs))
	for id, m := range s.msgs {
		out[id] = append([]string(nil), m.labels...)
	}
	return out
}
