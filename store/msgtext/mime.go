package msgtext

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset" // registers the charsets of x/text
)

// The MIME layer is written for mail as it is, not as the RFCs describe it:
// every step has a way out (a header line that is no header is skipped, a
// boundary that never comes leaves the body as text, base64 with garbage
// in it gives what it can), and what was guessed is said in problems.

const (
	maxDepth = 20  // nesting of multiparts
	maxParts = 500 // parts of one message, all levels
)

// field is one header field: its name in lower case and its value unfolded,
// with 8-bit bytes as they were.
type field struct{ name, value string }

type header []field

func (h header) get(name string) string {
	for _, f := range h {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// entity is one MIME entity: the message itself or one of its parts.
type entity struct {
	header     header
	body       []byte // as it is in the message (transfer-encoded)
	mediaType  string // lower case, e.g. "text/plain"
	params     map[string]string
	disp       string // "inline", "attachment" or ""
	dispParams map[string]string
	children   []*entity // parts of a multipart
	multipart  bool

	decoded []byte // body with its transfer encoding undone (see content)
	done    bool
}

// parser holds what is shared while one message is taken apart.
type parser struct {
	parts    int
	problems []string
}

func (p *parser) problem(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	for _, x := range p.problems {
		if x == s {
			return
		}
	}
	if len(p.problems) < 20 {
		p.problems = append(p.problems, s)
	}
}

// parseEntity takes apart raw, whose default type (when it says none) is
// defType: text/plain, or message/rfc822 in a multipart/digest.
func (p *parser) parseEntity(raw []byte, depth int, defType string, top bool) *entity {
	p.parts++
	h, body := p.parseHeader(raw, top)
	e := &entity{header: h, body: body}
	e.mediaType, e.params = parseParams(h.get("content-type"), p)
	if e.mediaType == "" || !strings.Contains(e.mediaType, "/") {
		if e.mediaType != "" {
			p.problem("content type %q not understood: shown as text", e.mediaType)
		}
		e.mediaType, e.params = defType, map[string]string{}
	}
	if d := h.get("content-disposition"); d != "" {
		e.disp, e.dispParams = parseParams(d, p)
	}
	if !strings.HasPrefix(e.mediaType, "multipart/") {
		return e
	}
	boundary := e.params["boundary"]
	if depth >= maxDepth || p.parts >= maxParts {
		p.problem("parts nested too deep or too many: the rest is not shown")
		e.mediaType, e.params = "application/octet-stream", map[string]string{}
		return e
	}
	parts, found, closed := splitMultipart(body, boundary)
	if !found {
		p.problem("%s without its boundary: the message is shown as it is", e.mediaType)
		e.mediaType, e.params = "text/plain", map[string]string{}
		e.header = withoutTransferEncoding(e.header)
		return e
	}
	if !closed {
		p.problem("%s ends without its closing boundary (cut short?)", e.mediaType)
	}
	e.multipart = true
	childType := "text/plain"
	if e.mediaType == "multipart/digest" {
		childType = "message/rfc822"
	}
	for _, part := range parts {
		if p.parts >= maxParts {
			p.problem("parts nested too deep or too many: the rest is not shown")
			break
		}
		e.children = append(e.children, p.parseEntity(part, depth+1, childType, false))
	}
	return e
}

// A multipart's own Content-Transfer-Encoding has no meaning; when it is
// shown as text after all it is not applied either.
func withoutTransferEncoding(h header) header {
	out := make(header, 0, len(h))
	for _, f := range h {
		if f.name != "content-transfer-encoding" {
			out = append(out, f)
		}
	}
	return out
}

// parseHeader splits raw into its header fields and body. A line that is not
// a header field is skipped when an empty line follows later (the header
// goes on), and starts the body when none does; when the very first line is
// no header field the whole of raw is body. A leading mbox "From " line is
// skipped.
func (p *parser) parseHeader(raw []byte, top bool) (header, []byte) {
	i := 0
	if top && bytes.HasPrefix(raw, []byte("From ")) {
		if j := bytes.IndexByte(raw, '\n'); j >= 0 {
			i = j + 1
		} else {
			return nil, raw
		}
	}
	blank := emptyLine(raw[i:])
	if blank >= 0 {
		blank += i
	}
	var h header
	first := true
	for ; i < len(raw); first = false {
		j := bytes.IndexByte(raw[i:], '\n')
		next := len(raw)
		if j >= 0 {
			j += i
			next = j + 1
		} else {
			j = len(raw)
		}
		line := bytes.TrimSuffix(raw[i:j], []byte("\r"))
		if len(line) == 0 {
			return h, raw[next:]
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(h) > 0 {
				if v := strings.TrimSpace(string(line)); v != "" {
					if h[len(h)-1].value != "" {
						h[len(h)-1].value += " "
					}
					h[len(h)-1].value += v
				}
			} else if first && blank < 0 {
				return nil, raw // no header at all
			}
			i = next
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		if !ok || !validName(name) {
			switch {
			case first:
				return nil, raw // no header at all
			case blank < 0 || i > blank:
				if top {
					p.problem("the header ends without an empty line")
				}
				return h, raw[i:]
			}
			p.problem("a header line that is no header field was skipped")
			i = next
			continue
		}
		h = append(h, field{strings.ToLower(string(name)), strings.TrimSpace(string(value))})
		i = next
	}
	return h, nil
}

// emptyLine returns the offset of the first empty line in b, or -1.
func emptyLine(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] == '\n' || (b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n') {
			return i
		}
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
	}
	return -1
}

func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// splitMultipart cuts a multipart body at its boundary lines ("--boundary",
// maybe with white space after it) and returns the parts between them.
// found is false when no boundary line is there at all; closed is false
// when the closing one ("--boundary--") is missing, in which case the last
// part runs to the end.
func splitMultipart(body []byte, boundary string) (parts [][]byte, found, closed bool) {
	if boundary == "" {
		return nil, false, false
	}
	delim := []byte("--" + boundary)
	start := -1
	for pos := 0; pos < len(body); {
		k := bytes.Index(body[pos:], delim)
		if k < 0 {
			break
		}
		at := pos + k
		if at > 0 && body[at-1] != '\n' {
			pos = at + 1
			continue
		}
		lineEnd := len(body)
		if j := bytes.IndexByte(body[at:], '\n'); j >= 0 {
			lineEnd = at + j
		}
		rest := bytes.TrimSuffix(body[at+len(delim):lineEnd], []byte("\r"))
		final := bytes.HasPrefix(rest, []byte("--"))
		if final {
			rest = rest[2:]
		}
		if len(bytes.Trim(rest, " \t")) != 0 {
			pos = at + 1 // a longer boundary that starts the same, or text
			continue
		}
		if start >= 0 {
			end := at
			if end > start && body[end-1] == '\n' {
				end--
				if end > start && body[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, body[start:end])
		}
		found = true
		if final {
			return parts, true, true
		}
		start = min(lineEnd+1, len(body))
		pos = start
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, found, false
}

// content returns the body with its transfer encoding undone.
func (e *entity) content(p *parser) []byte {
	if e.done {
		return e.decoded
	}
	e.done = true
	cte := strings.ToLower(strings.TrimSpace(e.header.get("content-transfer-encoding")))
	if i := strings.IndexAny(cte, " ;("); i >= 0 {
		cte = cte[:i]
	}
	switch cte {
	case "base64":
		var ok bool
		if e.decoded, ok = decodeBase64(e.body); !ok && p != nil {
			p.problem("damaged base64 in a %s part: shown as far as it could be read", e.mediaType)
		}
	case "quoted-printable":
		e.decoded = decodeQP(e.body)
	case "", "7bit", "8bit", "binary":
		e.decoded = e.body
	default:
		if p != nil {
			p.problem("unknown transfer encoding %q: shown as it is", cte)
		}
		e.decoded = e.body
	}
	return e.decoded
}

// decodedSize is the size of the body with its transfer encoding undone.
// For base64 it is worked out by counting the digits, without decoding:
// the attachments of a message are measured every time it is read or
// indexed, and decoding them only to measure them was a quarter of the
// search index's time. It agrees with decodeBase64 byte for byte.
func (e *entity) decodedSize() int64 {
	if e.done {
		return int64(len(e.decoded))
	}
	cte := strings.ToLower(strings.TrimSpace(e.header.get("content-transfer-encoding")))
	if i := strings.IndexAny(cte, " ;("); i >= 0 {
		cte = cte[:i]
	}
	switch cte {
	case "base64":
		var size int64
		n := 0 // digits of the current group of four
		for _, c := range e.body {
			if base64Digit[c] == 1 {
				if n++; n == 4 {
					size, n = size+3, 0
				}
			} else if c == '=' { // the group ends (glued pieces: another may follow)
				size, n = size+int64(max(n-1, 0)), 0
			}
		}
		return size + int64(max(n-1, 0))
	case "quoted-printable":
		return int64(len(e.content(nil)))
	}
	return int64(len(e.body))
}

// base64Digit is 1 for the characters of the base64 alphabet.
var base64Digit = func() (t [256]uint8) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = 1
	}
	return t
}()

// decodeBase64 decodes leniently: characters outside the alphabet are
// skipped, padding may come in the middle (pieces encoded one by one and
// glued together), and a cut-off end gives the bytes it holds. ok is false
// when something other than white space had to be skipped or dropped.
func decodeBase64(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b)*3/4)
	ok := true
	var q [4]byte
	n := 0
	flush := func() {
		switch n {
		case 1:
			ok = false
		case 2:
			out = append(out, q[0]<<2|q[1]>>4)
		case 3:
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
		}
		n = 0
	}
	for _, c := range b {
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '+':
			v = 62
		case c == '/':
			v = 63
		case c == '=':
			flush()
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		default:
			ok = false
			continue
		}
		q[n] = v
		n++
		if n == 4 {
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
			n = 0
		}
	}
	flush()
	return out, ok
}

// decodeQP decodes quoted-printable leniently: an "=" that starts neither a
// hex pair nor a soft line break is kept as it is.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			i++
			continue
		}
		if i+2 < len(b) && unhex(b[i+1]) >= 0 && unhex(b[i+2]) >= 0 {
			out = append(out, byte(unhex(b[i+1])<<4|unhex(b[i+2])))
			i += 3
			continue
		}
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		switch {
		case j == len(b):
			i = j
		case b[j] == '\n':
			i = j + 1
		case b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n':
			i = j + 2
		default:
			out = append(out, '=')
			i++
		}
	}
	return out
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// parseParams parses a Content-Type or Content-Disposition value into its
// lower-case value and parameters, leniently: a damaged parameter is
// skipped, the first of duplicates wins, RFC 2231 continuations and
// charsets (filename*=iso-8859-1'de'%E4.pdf) are decoded, and so are the RFC 2047
// encoded words that many mailers put in file names against the rules.
func parseParams(s string, p *parser) (string, map[string]string) {
	parts := splitParams(s)
	value := strings.ToLower(strings.TrimSpace(parts[0]))
	params := map[string]string{}
	extended := map[string]bool{}
	type piece struct {
		s   string
		ext bool
	}
	pieces := map[string]map[int]piece{}
	for _, part := range parts[1:] {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		quoted := false
		if len(v) >= 1 && v[0] == '"' {
			v, quoted = unquote(v), true
		}
		ext := false
		if strings.HasSuffix(k, "*") {
			k, ext = k[:len(k)-1], !quoted
		}
		if k == "" {
			continue
		}
		if i := strings.LastIndexByte(k, '*'); i > 0 {
			if n, err := strconv.Atoi(k[i+1:]); err == nil && n >= 0 && n < 1000 {
				base := k[:i]
				if pieces[base] == nil {
					pieces[base] = map[int]piece{}
				}
				if _, dup := pieces[base][n]; !dup {
					pieces[base][n] = piece{v, ext}
				}
				continue
			}
		}
		if ext {
			params[k], extended[k] = decode2231(v, p), true
			continue
		}
		if _, dup := params[k]; !dup {
			params[k] = decodeParamText(v, p)
		}
	}
	for base, m := range pieces {
		if extended[base] {
			continue
		}
		var raw strings.Builder
		cs := ""
		for n := 0; ; n++ {
			pc, ok := m[n]
			if !ok {
				break
			}
			s := pc.s
			if n == 0 && pc.ext {
				if parts := strings.SplitN(s, "'", 3); len(parts) == 3 {
					cs, s = parts[0], parts[2]
				}
			}
			if pc.ext {
				s = percentDecode(s)
			}
			raw.WriteString(s)
		}
		if raw.Len() == 0 {
			continue
		}
		if cs != "" {
			params[base] = decodeCharset([]byte(raw.String()), cs, p, "a parameter")
		} else {
			params[base] = decodeParamText(raw.String(), p)
		}
	}
	return value, params
}

// splitParams splits at semicolons outside quoted strings.
func splitParams(s string) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func unquote(v string) string {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
		case '"':
			return b.String()
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String() // no closing quote
}

// decode2231 decodes an RFC 2231 extended value: charset'language'%XX...
func decode2231(v string, p *parser) string {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) != 3 {
		return decodeParamText(percentDecode(v), p)
	}
	return decodeCharset([]byte(percentDecode(parts[2])), parts[0], p, "a parameter")
}

func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// decodeParamText is a plain parameter value: raw 8-bit text taken as UTF-8
// or Windows-1252, and RFC 2047 words decoded.
func decodeParamText(v string, p *parser) string {
	if strings.Contains(v, "=?") {
		return headerText(v, p)
	}
	return to8(v)
}

// to8 makes 8-bit header text valid UTF-8: it is UTF-8 already (RFC 6532)
// or, most likely, Windows-1252.
func to8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return cp1252([]byte(s))
}

// wordDecoder decodes RFC 2047 encoded words. It never fails on a charset:
// one it does not know is read as UTF-8 or Windows-1252, like a body, and
// said in p's problems.
func wordDecoder(p *parser) *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return strings.NewReader(decodeCharset(b, cs, p, "a header")), nil
	}}
}

// HeaderText decodes a raw header value (as it is in the message, unfolded)
// into one line of valid UTF-8, as Parse decodes a Subject: 8-bit bytes are
// taken as UTF-8 (RFC 6532) or, when they are not, as Windows-1252; RFC 2047
// encoded words are decoded, in any charset x/text knows, with Latin-1 read
// as Windows-1252, and a charset nobody knows read as UTF-8 or Windows-1252
// (an encoded word that is damaged stays as it is); control characters and
// runs of white space become one space.
func HeaderText(v string) string { return headerText(v, nil) }

// headerText decodes an unstructured header value (Subject) into one line,
// noting in p (when not nil) what had to be guessed.
func headerText(v string, p *parser) string {
	v = to8(v)
	if strings.Contains(v, "=?") {
		if d, err := wordDecoder(p).DecodeHeader(v); err == nil {
			v = d
		}
	}
	return oneLine(v)
}

// oneLine collapses white space and drops control characters.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// addressText decodes an address list (From, To, Cc) into
// "Name <addr>, addr, ...", or into its text when it is no valid list.
func addressText(v string, p *parser) string {
	if v == "" {
		return ""
	}
	v8 := to8(v)
	list, err := (&mail.AddressParser{WordDecoder: wordDecoder(p)}).ParseList(v8)
	if err != nil || len(list) == 0 {
		return headerText(v, p)
	}
	parts := make([]string, len(list))
	for i, a := range list {
		if name := oneLine(a.Name); name != "" {
			parts[i] = name + " <" + a.Address + ">"
		} else {
			parts[i] = a.Address
		}
	}
	return strings.Join(parts, ", ")
}

// decodeCharset turns b, labelled cs, into valid UTF-8. An unknown charset
// is noted in p's problems and read as UTF-8 when it is valid UTF-8, as
// Windows-1252 (the superset of Latin-1 that such mail holds) when not.
func decodeCharset(b []byte, cs string, p *parser, what string) string {
	s, st := convert(b, cs)
	if p != nil {
		name := strings.Trim(strings.TrimSpace(cs), `"'`)
		switch st {
		case unknownCharset:
			as := "Latin-1"
			if utf8.Valid(b) {
				as = "UTF-8"
			}
			p.problem("unknown charset %s in %s: shown as %s", name, what, as)
		case notUTF8:
			p.problem("%s is labelled %s but is not: shown as Latin-1", what, name)
		}
	}
	return s
}

type charsetStatus int

const (
	charsetOK charsetStatus = iota
	unknownCharset
	notUTF8 // labelled UTF-8, read as Windows-1252
)

// convert is decodeCharset without the report.
func convert(b []byte, cs string) (string, charsetStatus) {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
	switch cs {
	case "utf-8", "utf8", "unicode-1-1-utf-8", "x-utf_8j":
		switch {
		case utf8.Valid(b):
			return string(b), charsetOK
		case mostlyUTF8(b):
			return strings.ToValidUTF8(string(b), "\uFFFD"), charsetOK
		}
		return cp1252(b), notUTF8
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us":
		// 8-bit text labelled ASCII (or not at all) is UTF-8 or, most
		// often, Windows-1252.
		if utf8.Valid(b) {
			return string(b), charsetOK
		}
		return cp1252(b), charsetOK
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252", "x-cp1252", "cp819", "ibm819":
		return cp1252(b), charsetOK
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		if utf8.Valid(b) {
			return string(b), unknownCharset
		}
		return cp1252(b), unknownCharset
	}
	out, _ := io.ReadAll(r) // decoders replace what they cannot read; keep what was read
	return strings.ToValidUTF8(string(out), "\uFFFD"), charsetOK
}

// mostlyUTF8 reports whether b holds at least as many valid multi-byte UTF-8
// sequences as invalid bytes: UTF-8 with a few broken bytes, not another charset.
func mostlyUTF8(b []byte) bool {
	good, bad := 0, 0
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			bad++
		case n > 1:
			good++
		}
		b = b[n:]
	}
	return good > 0 && good >= bad
}

// cp1252 reads b as Windows-1252, which is what mail labelled Latin-1, and
// most unlabelled 8-bit mail, really holds (the WHATWG encoding standard does
// the same).
func cp1252(b []byte) string {
	var s strings.Builder
	s.Grow(len(b) + len(b)/4)
	for _, c := range b {
		switch {
		case c < 0x80:
			s.WriteByte(c)
		case c >= 0xa0:
			s.WriteRune(rune(c))
		default:
			s.WriteRune(cp1252High[c-0x80])
		}
	}
	return s.String()
}

// cp1252High maps 0x80..0x9f; the five unassigned bytes keep their C1 code.
var cp1252High = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8d, 'Ž', 0x8f,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9d, 'ž', 'Ÿ',
}
