// Package msgtext turns a raw RFC 5322 message into what a person reads:
// its headers decoded, its text as plain text (the text/plain part, or the
// HTML part converted to readable text), and the list of its attachments.
//
// It is written for mail as it is: Parse never fails and never returns
// nil. A header line that is no header, a charset nobody knows, a multipart
// whose boundary never comes, base64 with garbage in it, 8-bit bytes in
// headers: each is read as well as it can be, and what had to be guessed is
// said in Message.Problems ("unknown charset x-foo in the text: shown as
// Latin-1"). When the MIME structure cannot be made out at all, the body is
// shown as it is.
//
// This package is the one decoder of header text in Lifeboat: HeaderText
// (what package index keeps for its rows) and Parse decode RFC 2047 encoded
// words (RFC 2047 §4 and §6) and 8-bit header bytes the same way, with the
// same charset handling (Latin-1 read as Windows-1252, a charset nobody
// knows read as UTF-8 or Windows-1252). What it returns is always valid
// UTF-8, and header values are one line without control characters.
//
// Parts are numbered as IMAP numbers them (RFC 3501 section 6.4.5): the
// parts of a multipart are 1, 2, ... and a part nested in part 2 is 2.1,
// written []int{2, 1}; a message that is not multipart has one part, 1. An
// attached message (message/rfc822) is one attachment: its own parts are not
// listed.
package msgtext

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Attachment is a part of a message that is not its text: a file, an
// attached message, an invitation. Filename is "" when the part names none
// (an attached message gets its subject and ".eml"); ContentType is the
// media type in lower case, without parameters; Size is the decoded size in
// bytes; Part is where it is, for SaveAttachment.
type Attachment struct {
	Filename, ContentType string
	Size                  int64 // decoded bytes; -1 from ParseForSearch
	Part                  []int
}

// Message is a message as a person reads it. From, To and Cc are address
// lists as "Name <address>, address"; Subject is decoded; Date is the Date
// header (zero when missing or not understood); MessageID is the Message-ID
// header as it is. Text is the readable plain text; HasHTML says the
// message has an HTML version (shown converted in Text when there is no
// plain-text one). Problems says, in words for people, what was not as it
// should be and how it was read anyway.
type Message struct {
	From, To, Cc, Subject string
	Date                  time.Time
	MessageID             string
	Text                  string
	Attachments           []Attachment
	HasHTML               bool
	Problems              []string
}

// Parse reads a raw message. It never fails and never returns nil.
func Parse(raw []byte) *Message { return parse(raw, true) }

// ParseForSearch is Parse without the attachments' sizes (each Size is
// -1): the search index needs their names, and measuring their bytes was
// a tenth of its work.
func ParseForSearch(raw []byte) *Message { return parse(raw, false) }

func parse(raw []byte, sizes bool) (m *Message) {
	m = &Message{}
	defer func() {
		if r := recover(); r != nil { // a bug here must not hide the mail
			*m = Message{Text: tidy(decodeCharset(raw, "", nil, ""), 2),
				Problems: []string{fmt.Sprintf("the message could not be taken apart (%v): shown as it is", r)}}
		}
	}()
	p := &parser{}
	e := p.parseEntity(raw, 0, "text/plain", true)
	h := e.header
	m.Subject = headerText(h.get("subject"), p)
	m.From = addressText(h.get("from"), p)
	m.To = addressText(h.get("to"), p)
	m.Cc = addressText(h.get("cc"), p)
	m.MessageID = oneLine(to8(h.get("message-id")))
	if d := h.get("date"); d != "" {
		if t, ok := parseDate(d); ok {
			m.Date = t
		} else {
			p.problem("the Date header %q is not understood", oneLine(to8(d)))
		}
	}
	w := &walker{p: p, m: m, sizes: sizes}
	if e.multipart {
		w.walk(e, nil, true)
	} else {
		w.walk(e, []int{1}, true)
	}
	m.Text = strings.Join(w.texts, "\n\n")
	m.Problems = p.problems
	return m
}

// SaveAttachment writes the decoded bytes of one part of raw (an attachment
// as Parse listed it, or any other part) to w: its transfer encoding is
// undone, its charset is left alone. It fails when raw has no such part.
func SaveAttachment(raw []byte, part []int, w io.Writer) error {
	e := find(raw, part)
	if e == nil {
		return fmt.Errorf("the message has no part %s", partName(part))
	}
	_, err := w.Write(e.content(nil))
	return err
}

// find returns the part at path, or nil.
func find(raw []byte, path []int) *entity {
	p := &parser{}
	e := p.parseEntity(raw, 0, "text/plain", true)
	if len(path) == 0 {
		return nil
	}
	if !e.multipart {
		if len(path) == 1 && path[0] == 1 {
			return e
		}
		return nil
	}
	for _, n := range path {
		if !e.multipart || n < 1 || n > len(e.children) {
			return nil
		}
		e = e.children[n-1]
	}
	return e
}

func partName(part []int) string {
	s := make([]string, len(part))
	for i, n := range part {
		s[i] = fmt.Sprint(n)
	}
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ".")
}

// SearchText is the text to index a message by for full-text search: the
// names of its attachments and its text, with web addresses cut down to
// their host names (tracking links would fill an index with noise), the
// text truncated to limit bytes (limit <= 0: all of it). Subject and
// addresses are not in it: an index keeps them apart.
func SearchText(m *Message, limit int) string {
	var b strings.Builder
	for _, a := range m.Attachments {
		if a.Filename != "" {
			b.WriteString(a.Filename)
			b.WriteByte('\n')
		}
	}
	text := shortenURLs(m.Text)
	if limit > 0 && len(text) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	if b.Len() == 0 {
		return strings.Clone(text) // not a view into the whole text: that is let go
	}
	b.Grow(len(text))
	b.WriteString(text)
	return b.String()
}

// shortenURLs replaces every http(s) address in s by its host name, and
// drops the angle brackets around it.
func shortenURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := indexURL(s)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		bracket := i > 0 && s[i-1] == '<'
		if bracket {
			start--
		}
		b.WriteString(s[:start])
		rest := s[i:]
		end := strings.IndexAny(rest, " \t\r\n<>\"")
		if end < 0 {
			end = len(rest)
		}
		end = len(strings.TrimRight(rest[:end], ".,;:!?)]}'"))
		u := rest[:end]
		host := u[strings.Index(u, "://")+3:]
		if j := strings.IndexAny(host, "/?#"); j >= 0 {
			host = host[:j]
		}
		if k := strings.LastIndexByte(host, '@'); k >= 0 {
			host = host[k+1:]
		}
		b.WriteString(host)
		s = rest[end:]
		if bracket && strings.HasPrefix(s, ">") {
			s = s[1:]
		}
	}
}

func indexURL(s string) int {
	for off := 0; ; {
		i := strings.Index(s[off:], "http")
		if i < 0 {
			return -1
		}
		i += off
		rest := s[i+4:]
		if strings.HasPrefix(rest, "://") || strings.HasPrefix(rest, "s://") {
			if i == 0 || !isWordByte(s[i-1]) {
				return i
			}
		}
		off = i + 4
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// parseDate reads a Date header as net/mail does, then with a few layouts
// seen in the wild.
func parseDate(s string) (time.Time, bool) {
	s = oneLine(to8(s))
	if t, err := mail.ParseDate(s); err == nil {
		return t, true
	}
	if i := strings.Index(s, " ("); i > 0 { // a comment net/mail did not take
		if t, err := mail.ParseDate(s[:i]); err == nil {
			return t, true
		}
	}
	for _, layout := range []string{
		"Mon, 2 Jan 2006 15:04:05 -0700 MST", "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 06 15:04:05 -0700",
		"2 Jan 2006 15:04:05", "Mon, 2 Jan 2006 15:04:05", "Mon Jan 2 15:04:05 2006", "Mon Jan 2 15:04:05 MST 2006",
		time.RFC3339, "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// walker collects a message's text and attachments.
type walker struct {
	p     *parser
	m     *Message
	texts []string
	sizes bool // measure the attachments
}

// walk visits e at path. wantText is false in the alternatives not chosen
// for display: only their attachments count.
func (w *walker) walk(e *entity, path []int, wantText bool) {
	if e.multipart {
		w.walkMultipart(e, path, wantText)
		return
	}
	switch e.mediaType {
	case "text/plain", "text/html":
		if e.mediaType == "text/html" {
			w.m.HasHTML = true
		}
		if e.disp == "attachment" || (filename(e) != "" && (len(w.texts) > 0 || !wantText)) {
			w.attach(e, path)
			return
		}
		if wantText {
			if t := w.text(e); t != "" {
				w.texts = append(w.texts, t)
			}
		}
	case "application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature":
		// a signature: not something a person opens
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		w.p.problem("the message is encrypted or signed with S/MIME: its text cannot be shown")
		w.attach(e, path)
	default:
		w.attach(e, path)
	}
}

func (w *walker) walkMultipart(e *entity, path []int, wantText bool) {
	child := func(i int) []int { return append(append([]int(nil), path...), i+1) }
	switch e.mediaType {
	case "multipart/alternative":
		choice := chooseAlternative(e, w.p)
		for i, c := range e.children {
			w.walk(c, child(i), wantText && i == choice)
		}
	case "multipart/related":
		root := 0
		if start := strings.Trim(e.params["start"], "<> "); start != "" {
			for i, c := range e.children {
				if strings.Trim(c.header.get("content-id"), "<> ") == start {
					root = i
				}
			}
		}
		for i, c := range e.children {
			switch {
			case i == root:
				w.walk(c, child(i), wantText)
			case c.multipart:
				w.walk(c, child(i), false)
			case c.disp == "attachment":
				w.attach(c, child(i))
			} // other parts are what the root shows (images of HTML)
		}
	case "multipart/signed":
		for i, c := range e.children {
			w.walk(c, child(i), wantText && i == 0)
		}
	case "multipart/encrypted":
		w.p.problem("the message is encrypted (OpenPGP): its text cannot be shown")
		for i, c := range e.children {
			if c.mediaType != "application/pgp-encrypted" {
				w.walk(c, child(i), false)
			}
		}
	default: // mixed, and what is not known is read as mixed (RFC 2046)
		for i, c := range e.children {
			w.walk(c, child(i), wantText)
		}
	}
}

// chooseAlternative picks the alternative to show: the first plain-text one
// that is not empty, else the last one that has text at all.
func chooseAlternative(e *entity, p *parser) int {
	last := -1
	for i, c := range e.children {
		t := firstText(c)
		if t == nil {
			continue
		}
		if t.mediaType == "text/plain" && len(bytes.TrimSpace(t.content(p))) > 0 {
			return i
		}
		last = i
	}
	if last < 0 {
		return 0
	}
	return last
}

// firstText is the text part that a part would show first, or nil.
func firstText(e *entity) *entity {
	if !e.multipart {
		if (e.mediaType == "text/plain" || e.mediaType == "text/html") && e.disp != "attachment" {
			return e
		}
		return nil
	}
	if e.mediaType == "multipart/alternative" {
		for _, c := range e.children {
			if t := firstText(c); t != nil && t.mediaType == "text/plain" {
				return t
			}
		}
	}
	for _, c := range e.children {
		if t := firstText(c); t != nil {
			return t
		}
	}
	return nil
}

// text is the readable text of a text/plain or text/html part.
func (w *walker) text(e *entity) string {
	b := e.content(w.p)
	cs, labelled := e.params["charset"]
	if e.mediaType == "text/html" {
		if !labelled {
			cs, labelled = sniffCharset(b)
		}
		what := "the HTML text"
		if !labelled {
			what = ""
		}
		return htmlToText(decodeCharset(b, cs, w.p, what))
	}
	s := decodeCharset(b, cs, w.p, "the text")
	if strings.EqualFold(e.params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(e.params["delsp"], "yes"))
	}
	return tidy(s, 2)
}

func (w *walker) attach(e *entity, path []int) {
	name := filename(e)
	if name == "" && e.mediaType == "message/rfc822" {
		p := &parser{}
		inner := p.parseEntity(e.content(nil), 0, "text/plain", false)
		if s := headerText(inner.header.get("subject"), nil); s != "" {
			name = s + ".eml"
		} else {
			name = "message.eml"
		}
	}
	size := int64(-1)
	if w.sizes {
		size = e.decodedSize()
	}
	w.m.Attachments = append(w.m.Attachments, Attachment{Filename: name, ContentType: e.mediaType,
		Size: size, Part: path})
}

// filename is the part's file name, from Content-Disposition or else from
// Content-Type's name, without any directory a sender put in it.
func filename(e *entity) string {
	name := e.dispParams["filename"]
	if name == "" {
		name = e.params["name"]
	}
	name = strings.ReplaceAll(oneLine(name), `\`, "/")
	if name == "" {
		return ""
	}
	name = path.Base(name)
	if name == "." || name == "/" || name == ".." {
		return ""
	}
	return name
}

// sniffCharset looks for <meta charset> in the start of an HTML part that
// did not say its charset in its header.
func sniffCharset(b []byte) (string, bool) {
	head := b[:min(len(b), 2048)]
	i := bytes.Index(bytes.ToLower(head), []byte("charset="))
	if i < 0 {
		return "", false
	}
	v := head[i+len("charset="):]
	v = bytes.TrimLeft(v, `"' `)
	end := bytes.IndexAny(v, `"' ;/>`)
	if end <= 0 {
		return "", false
	}
	return string(v[:end]), true
}

// unflow undoes format=flowed (RFC 3676): lines that end in a space go on
// in the next line at the same quote depth.
func unflow(s string, delsp bool) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var b strings.Builder
	open, openDepth := false, 0
	for _, line := range lines {
		depth := 0
		for depth < len(line) && line[depth] == '>' {
			depth++
		}
		content := line[depth:]
		content = strings.TrimPrefix(content, " ") // space-stuffing
		if open && depth != openDepth {
			b.WriteByte('\n')
			open = false
		}
		if !open && depth > 0 {
			b.WriteString(strings.Repeat(">", depth) + " ")
		}
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if flowed && delsp {
			content = content[:len(content)-1]
		}
		b.WriteString(content)
		if flowed {
			open, openDepth = true, depth
		} else {
			b.WriteByte('\n')
			open = false
		}
	}
	return b.String()
}

// tidy makes text fit to show: line breaks are \n, control characters and
// invisible ones are gone, lines lose trailing white space, runs of more
// than maxBlank empty lines are cut to maxBlank, and the text has no empty
// lines at its start or end. It is one pass over s (it is on the path of
// every message indexed), with bytes that are not UTF-8 turned into U+FFFD.
func tidy(s string, maxBlank int) string {
	var b strings.Builder
	b.Grow(len(s))
	line := make([]byte, 0, 128)
	blank := 0
	endLine := func() {
		l := line
		for len(l) > 0 {
			if c := l[len(l)-1]; c == ' ' || c == '\t' {
				l = l[:len(l)-1]
			} else if len(l) >= 2 && l[len(l)-2] == 0xc2 && l[len(l)-1] == 0xa0 { // U+00A0
				l = l[:len(l)-2]
			} else {
				break
			}
		}
		if len(l) == 0 {
			blank++
		} else {
			if b.Len() > 0 {
				for range min(blank, maxBlank) + 1 {
					b.WriteByte('\n')
				}
			}
			blank = 0
			b.Write(l)
		}
		line = line[:0]
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '\n':
				endLine()
			case c == '\r':
				endLine()
				if i < len(s) && s[i] == '\n' {
					i++
				}
			case c == '\t' || (c >= ' ' && c != 0x7f):
				line = append(line, c)
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r < 0xa0 || invisible(r) {
			continue // C1 controls
		}
		line = utf8.AppendRune(line, r)
	}
	endLine()
	return b.String()
}

// invisible reports the characters that show nothing and only get in the
// way of reading and searching: zero-width spaces and joiners, byte-order
// marks, soft hyphens, direction marks, the grapheme joiner that marketing
// mail pads its preview text with.
func invisible(r rune) bool {
	switch r {
	case 0x00ad, 0x034f, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2060, 0xfeff:
		return true
	}
	return false
}
