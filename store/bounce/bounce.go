// Package bounce reads delivery status notifications: the standard RFC
// 3464 report (multipart/report; report-type=delivery-status) that
// Postfix, Exim, Microsoft and Google send, and the older plain-text
// "failure notice" shapes (qmail, Exim without DSN, Postfix's own text),
// so Lifeboat can tell which message it sent came back, for whom, and with
// the remote server's words.
//
// Only failures count: a "delayed" report (the server is still trying)
// is not a bounce.
package bounce

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
)

// Recipient is one address the report says failed.
type Recipient struct {
	Address    string
	Status     string // "5.1.1"
	Diagnostic string // the remote server's words: "550 5.1.1 <x@y>: Recipient address rejected: User unknown"
}

// Report is what a bounce says.
type Report struct {
	// MessageIDs of the returned message (normally one), without <>.
	MessageIDs []string
	Recipients []Recipient
	// Reason is the first recipient's diagnostic, else its status, in a
	// line for people.
	Reason string
}

// Parse reads raw as a bounce; ok is false when it is not one (or only
// reports a delay).
func Parse(raw []byte) (r *Report, ok bool) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, false
	}
	ct, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	r = &Report{}
	if strings.HasPrefix(ct, "multipart/") && params["boundary"] != "" {
		found := false
		walk(msg.Body, params["boundary"], 0, r, &found)
		if found {
			if len(r.Recipients) == 0 {
				return nil, false // a report, of no failure (delayed, delivered)
			}
			return finish(r, raw, msg)
		}
	}
	if !looksLikeBounce(msg.Header) {
		return nil, false
	}
	body, _ := io.ReadAll(io.LimitReader(msg.Body, 1<<20))
	text := string(body)
	r.MessageIDs = otherIDs(text, msg.Header.Get("Message-Id"))
	if m := eximFailed.FindStringSubmatch(text); m != nil {
		rc := Recipient{Address: strings.ToLower(m[1])}
		if d := smtpReply.FindString(text[strings.Index(text, m[0]):]); d != "" {
			rc.Diagnostic = strings.TrimSpace(d)
			rc.Status = statusRe.FindString(d)
		}
		r.Recipients = append(r.Recipients, rc)
	}
	for _, m := range plainRecipient.FindAllStringSubmatch(text, -1) {
		rc := Recipient{Address: strings.ToLower(m[1]), Diagnostic: strings.Join(strings.Fields(m[2]), " ")}
		rc.Status = statusRe.FindString(rc.Diagnostic)
		if rc.Status != "" && rc.Status[0] == '4' {
			continue // still trying
		}
		r.Recipients = append(r.Recipients, rc)
	}
	if len(r.Recipients) == 0 && len(r.MessageIDs) == 0 {
		return nil, false
	}
	return finish(r, raw, msg)
}

func finish(r *Report, raw []byte, msg *mail.Message) (*Report, bool) {
	if len(r.MessageIDs) == 0 {
		r.MessageIDs = otherIDs(string(raw), msg.Header.Get("Message-Id"))
	}
	if len(r.Recipients) == 0 && len(r.MessageIDs) == 0 {
		return nil, false
	}
	if len(r.Recipients) > 0 {
		rc := r.Recipients[0]
		r.Reason = rc.Diagnostic
		if r.Reason == "" {
			r.Reason = "status " + rc.Status
		}
		if rc.Address != "" && !strings.Contains(strings.ToLower(r.Reason), rc.Address) {
			r.Reason = rc.Address + ": " + r.Reason
		}
	}
	if r.Reason == "" {
		r.Reason = "returned as undeliverable"
	}
	return r, true
}

// walk reads the parts of a multipart body (nested up to depth 3) for a
// delivery-status part and the returned message's headers.
func walk(body io.Reader, boundary string, depth int, r *Report, found *bool) {
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextRawPart()
		if err != nil {
			return
		}
		ct, params, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		data, _ := io.ReadAll(io.LimitReader(decode(p, p.Header.Get("Content-Transfer-Encoding")), 1<<20))
		switch {
		case ct == "message/delivery-status" || ct == "message/global-delivery-status":
			*found = true
			status(data, r)
		case ct == "message/rfc822" || ct == "text/rfc822-headers" || ct == "message/global" || ct == "message/global-headers":
			if h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(data, '\r', '\n', '\r', '\n')))).ReadMIMEHeader(); err == nil {
				if id := strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"); id != "" {
					r.MessageIDs = append(r.MessageIDs, id)
				}
			}
		case strings.HasPrefix(ct, "multipart/") && params["boundary"] != "" && depth < 3:
			walk(bytes.NewReader(data), params["boundary"], depth+1, r, found)
		}
	}
}

func decode(r io.Reader, cte string) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// status reads a message/delivery-status body: the per-message fields,
// then one group per recipient.
func status(data []byte, r *Report) {
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(bytes.TrimLeft(data, "\r\n"), '\r', '\n', '\r', '\n'))))
	first := true
	for i := 0; i < 100; i++ {
		h, err := tr.ReadMIMEHeader()
		if len(h) == 0 {
			if err != nil {
				return
			}
			continue
		}
		if first {
			first = false
			if h.Get("Final-Recipient") == "" && h.Get("Original-Recipient") == "" {
				continue // the per-message group
			}
		}
		action := strings.ToLower(strings.TrimSpace(h.Get("Action")))
		if action != "" && action != "failed" {
			continue // delayed, delivered, relayed, expanded: not a failure
		}
		rc := Recipient{Address: addrOf(h.Get("Final-Recipient")), Status: strings.TrimSpace(h.Get("Status")),
			Diagnostic: strings.Join(strings.Fields(strings.TrimPrefix(strings.TrimSpace(h.Get("Diagnostic-Code")), "smtp;")), " ")}
		if rc.Address == "" {
			rc.Address = addrOf(h.Get("Original-Recipient"))
		}
		if strings.HasPrefix(rc.Status, "4") && action == "" {
			continue
		}
		r.Recipients = append(r.Recipients, rc)
		if err != nil {
			return
		}
	}
}

// addrOf is the address of "rfc822; jane@example.com".
func addrOf(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[i+1:]
	}
	return strings.ToLower(strings.Trim(strings.TrimSpace(v), "<>"))
}

var (
	statusRe       = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)
	messageIDRe    = regexp.MustCompile(`(?im)^\s*message-id:\s*<([^>\s]+)>`)
	plainRecipient = regexp.MustCompile(`(?m)^\s*<([^>\s@]+@[^>\s]+)>:?\s*\n?((?:.*\S.*\n?){1,4})`)
	eximFailed     = regexp.MustCompile(`(?i)address\(es\) failed:\s*\n\s*\n?\s*([^\s<>@]+@[^\s<>]+)`)
	smtpReply      = regexp.MustCompile(`(?m)\b5\d\d[ -][^\r\n]*`)
	bounceSubject  = regexp.MustCompile(`(?i)undeliver|returned mail|delivery (status notification|failure|has failed|failed)|failure notice|mail delivery (failed|subsystem)|non[- ]?delivery|could not be delivered`)
)

func looksLikeBounce(h mail.Header) bool {
	from := strings.ToLower(h.Get("From"))
	if strings.Contains(from, "mailer-daemon") || strings.Contains(from, "postmaster") || strings.Contains(from, "mail delivery") {
		return true
	}
	return bounceSubject.MatchString(h.Get("Subject")) && (h.Get("Auto-Submitted") != "" || h.Get("Return-Path") == "<>" || strings.Contains(from, "daemon"))
}

// otherIDs are the Message-IDs quoted in text, less own (the bounce's own).
func otherIDs(text, own string) []string {
	own = strings.Trim(strings.TrimSpace(own), "<>")
	var out []string
	seen := map[string]bool{}
	for _, m := range messageIDRe.FindAllStringSubmatch(text, -1) {
		if id := m[1]; id != own && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
