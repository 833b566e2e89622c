package failover

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// header is a message's header block as raw fields (each with its folded
// continuation lines and CRLF), so that edits leave every other byte as it
// was.
type header struct {
	fields [][]byte
	body   []byte // everything after the header block, blank line included
}

func splitHeader(raw []byte) header {
	var h header
	i := 0
	for i < len(raw) {
		if raw[i] == '\r' && i+1 < len(raw) && raw[i+1] == '\n' || raw[i] == '\n' {
			h.body = raw[i:]
			return h
		}
		j := i
		for {
			k := bytes.IndexByte(raw[j:], '\n')
			if k < 0 {
				j = len(raw)
				break
			}
			j += k + 1
			if j >= len(raw) || (raw[j] != ' ' && raw[j] != '\t') {
				break
			}
		}
		h.fields = append(h.fields, raw[i:j])
		i = j
	}
	return h
}

func fieldName(f []byte) string {
	if i := bytes.IndexByte(f, ':'); i > 0 {
		return strings.ToLower(strings.TrimSpace(string(f[:i])))
	}
	return ""
}

func fieldValue(f []byte) string {
	i := bytes.IndexByte(f, ':')
	v := string(f[i+1:])
	v = strings.ReplaceAll(v, "\r\n", "")
	v = strings.ReplaceAll(v, "\n", "")
	return strings.TrimSpace(v)
}

func (h *header) get(name string) string {
	for _, f := range h.fields {
		if fieldName(f) == name {
			return fieldValue(f)
		}
	}
	return ""
}

func (h *header) has(name string) bool {
	for _, f := range h.fields {
		if fieldName(f) == name {
			return true
		}
	}
	return false
}

// set replaces the first field called name (or adds it at the end of the
// header) and drops any later ones.
func (h *header) set(name, canonical, value string) {
	line := []byte(canonical + ": " + value + "\r\n")
	done := false
	out := h.fields[:0:0]
	for _, f := range h.fields {
		if fieldName(f) == name {
			if !done {
				out = append(out, line)
				done = true
			}
			continue
		}
		out = append(out, f)
	}
	if !done {
		out = append(out, line)
	}
	h.fields = out
}

func (h *header) remove(name string) {
	out := h.fields[:0:0]
	for _, f := range h.fields {
		if fieldName(f) != name {
			out = append(out, f)
		}
	}
	h.fields = out
}

func (h *header) bytes() []byte {
	var b bytes.Buffer
	for _, f := range h.fields {
		b.Write(f)
	}
	if h.body == nil {
		b.WriteString("\r\n")
	}
	b.Write(h.body)
	return b.Bytes()
}

// Prepared is a message ready for the outbox.
type Prepared struct {
	Raw       []byte
	From      string   // the sender's address
	To        []string // envelope recipients
	MessageID string
}

// Prepare makes a message ready to queue: it adds a Message-ID (so a retry
// can never be taken for a new message) and a Date when missing, converts
// bare LF to CRLF, and, when rcpts is empty, takes the recipients from
// To/Cc/Bcc as sendmail -t does, removing Bcc.
func Prepare(raw []byte, from string, rcpts []string, domain string) (*Prepared, error) {
	raw = toCRLF(raw)
	h := splitHeader(raw)
	if len(h.fields) == 0 {
		return nil, errors.New("the message has no header; it needs at least From and To")
	}
	p := &Prepared{}
	if from == "" {
		addr, err := mail.ParseAddress(h.get("from"))
		if err != nil {
			return nil, fmt.Errorf("the message's From header is missing or unreadable (%v)", err)
		}
		from = addr.Address
	}
	p.From = from
	if len(rcpts) == 0 {
		for _, name := range []string{"to", "cc", "bcc"} {
			for _, f := range h.fields {
				if fieldName(f) != name {
					continue
				}
				list, err := mail.ParseAddressList(fieldValue(f))
				if err != nil {
					return nil, fmt.Errorf("cannot read the %s header: %v", name, err)
				}
				for _, a := range list {
					rcpts = append(rcpts, a.Address)
				}
			}
		}
		h.remove("bcc")
	}
	if len(rcpts) == 0 {
		return nil, errors.New("the message has no recipients (no To, Cc or Bcc, and none given)")
	}
	p.To = dedupe(rcpts)
	if !h.has("date") {
		h.set("date", "Date", time.Now().Format(time.RFC1123Z))
	}
	p.MessageID = h.get("message-id")
	if p.MessageID == "" {
		if domain == "" {
			if at := strings.LastIndexByte(from, '@'); at >= 0 {
				domain = from[at+1:]
			} else {
				domain = "lifeboat.invalid"
			}
		}
		var b [12]byte
		rand.Read(b[:])
		p.MessageID = "<" + hex.EncodeToString(b[:]) + ".lifeboat@" + domain + ">"
		h.set("message-id", "Message-ID", p.MessageID)
	}
	p.Raw = h.bytes()
	return p, nil
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range list {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}

func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/40)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// rewriteFrom makes the message go out as account address acct: From becomes
// the account's address with the original display name, and Reply-To the
// original address (unless the message already has a Reply-To). Message-ID
// and threading headers stay as they are.
func rewriteFrom(raw []byte, acct string) []byte {
	h := splitHeader(raw)
	orig := h.get("from")
	name, origAddr := "", ""
	if a, err := mail.ParseAddress(orig); err == nil {
		name, origAddr = a.Name, a.Address
	}
	if strings.EqualFold(origAddr, acct) {
		return raw
	}
	h.set("from", "From", (&mail.Address{Name: name, Address: acct}).String())
	if !h.has("reply-to") && orig != "" {
		h.set("reply-to", "Reply-To", orig)
	}
	return h.bytes()
}

// headerFrom returns the address in the From header.
func headerFrom(raw []byte) string {
	h := splitHeader(raw)
	if a, err := mail.ParseAddress(h.get("from")); err == nil {
		return a.Address
	}
	return ""
}
