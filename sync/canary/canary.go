// Package canary checks that mail sent through an account arrives: a
// small probe message goes out through the account's SMTP with a unique
// token in a header, and is looked for over IMAP, in INBOX and then in the
// junk folders, until a deadline. It catches the outages that look like
// success: a provider that accepts mail and delivers it somewhere else
// (BT's anti-spam update put customers' mail into one test mailbox).
//
// A probe that is found is deleted from the mailbox at once (\Deleted and,
// where the server has UIDPLUS, UID EXPUNGE of that message alone; never a
// plain EXPUNGE, which would remove the user's own \Deleted mail), and the
// backup never archives a message carrying the header (IsProbe), so
// probes do not become the user's mail.
package canary

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/smtpsend"
)

// Header carries a probe's token.
const Header = "X-Lifeboat-Canary"

// IsProbe reports whether a message's header block is a canary probe's.
// It runs on every message a backup fetches: it looks at the header lines
// only, in place (lower-casing the first 64 KB of each message was a tenth
// of a backup's CPU).
func IsProbe(head []byte) bool {
	key := Header + ":"
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return false // the end of the header
		}
		if len(line) >= len(key) && strings.EqualFold(string(line[:len(key)]), key) {
			return true
		}
	}
	return false
}

// Outcome is what became of a probe.
type Outcome string

const (
	Delivered Outcome = "delivered" // in INBOX
	Junk      Outcome = "junk"      // in a junk folder: delivered, but filed as spam
	Missing   Outcome = "missing"   // accepted, not found by the deadline
	NotSent   Outcome = "not-sent"  // the SMTP server did not take it
	NoCheck   Outcome = "no-check"  // sent, but the mailbox could not be read
)

// Probe is one canary to run.
type Probe struct {
	Account  string
	SMTP     smtpsend.Endpoint
	Password func() (string, error) // the SMTP secret
	From, To string                 // addresses
	// IMAP is where To's mail is read, with its secret.
	IMAP         imapconn.Endpoint
	IMAPPassword func() (string, error)
	Deadline     time.Duration
	// Poll is how often the mailbox is searched (default 5 s).
	Poll time.Duration
}

// Result is a probe's outcome.
type Result struct {
	Account string
	Outcome Outcome
	Folder  string        // where it was found
	Latency time.Duration // from the send's acceptance to finding it
	Sent    time.Time
	// Cause says in plain words what went wrong (empty for Delivered).
	Cause string
	Err   error
}

func token() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Message is a probe's text (CRLF lines).
func Message(from, to, account, tok string, now time.Time) []byte {
	domain := from[strings.LastIndexByte(from, '@')+1:]
	return []byte(strings.Join([]string{
		"From: Lifeboat delivery check <" + from + ">",
		"To: <" + to + ">",
		"Subject: Lifeboat delivery check",
		"Date: " + now.Format(time.RFC1123Z),
		"Message-ID: <canary." + tok + "@" + domain + ">",
		Header + ": " + tok,
		"Auto-Submitted: auto-generated",
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"",
		"Lifeboat checks that mail sent through " + account + " arrives.",
		"It deletes this message as soon as it finds it.",
		"",
	}, "\r\n"))
}

// Run sends the probe and looks for it until the deadline or ctx ends.
func Run(ctx context.Context, p Probe) Result {
	res := Result{Account: p.Account}
	if p.Poll <= 0 {
		p.Poll = 5 * time.Second
	}
	pw := ""
	if p.Password != nil {
		var err error
		if pw, err = p.Password(); err != nil {
			res.Outcome, res.Err, res.Cause = NotSent, err, "the delivery check could not be sent: "+err.Error()
			return res
		}
	}
	tok := token()
	msg := Message(p.From, p.To, p.Account, tok, time.Now())
	sr := smtpsend.Send(ctx, p.SMTP, pw, p.From, []string{p.To}, bytes.NewReader(msg), int64(len(msg)), smtpsend.Hooks{})
	if sr.Failure != nil {
		res.Outcome, res.Err, res.Cause = NotSent, sr.Failure, "the delivery check was not accepted: "+sr.Failure.Error()
		return res
	}
	res.Sent = time.Now()
	deadline := res.Sent.Add(p.Deadline)
	var lastErr error
	wait := 500 * time.Millisecond
	for {
		folder, err := look(ctx, p, tok)
		if err == nil && folder != "" {
			res.Latency = time.Since(res.Sent)
			res.Folder = folder
			res.Outcome = Delivered
			if !strings.EqualFold(folder, "INBOX") {
				res.Outcome = Junk
				res.Cause = fmt.Sprintf("mail sent through %s arrived in %q, not the inbox (after %s)", p.Account, folder, res.Latency.Round(time.Second))
			}
			return res
		}
		lastErr = err // the last look decides: an error earlier is forgotten
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		wait = min(wait*2, p.Poll) // 1 s, 2 s, 4 s, then every Poll: quick when mail is quick
		t := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if ctx.Err() != nil {
		res.Outcome, res.Err, res.Cause = NoCheck, ctx.Err(), "the delivery check was stopped"
		return res
	}
	if lastErr != nil {
		res.Outcome, res.Err = NoCheck, lastErr
		res.Cause = "the delivery check was sent, but the mailbox could not be searched: " + lastErr.Error()
		return res
	}
	res.Outcome = Missing
	res.Cause = fmt.Sprintf("mail accepted but not delivered: a test message sent through %s at %s was not in %s's mailbox %s later",
		p.Account, res.Sent.Local().Format("15:04"), p.To, p.Deadline)
	return res
}

// look searches INBOX, then the junk folders, for the token; a probe found
// is deleted. It returns the folder, or "".
func look(ctx context.Context, p Probe, tok string) (string, error) {
	pw := ""
	if p.IMAPPassword != nil {
		var err error
		if pw, err = p.IMAPPassword(); err != nil {
			return "", err
		}
	}
	c, err := imapconn.Dial(ctx, p.IMAP, pw, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	folders := []string{"INBOX"}
	if list, err := c.List("", "*", nil).Collect(); err == nil {
		for _, l := range list {
			if isJunk(l) {
				folders = append(folders, l.Mailbox)
			}
		}
	}
	for _, f := range folders {
		if _, err := c.Select(f, nil).Wait(); err != nil {
			continue
		}
		crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: Header, Value: tok}}}
		data, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			return "", err
		}
		uids := data.AllUIDs()
		if len(uids) == 0 {
			continue
		}
		remove(c, uids)
		c.Logout().Wait()
		return f, nil
	}
	c.Logout().Wait()
	return "", nil
}

// remove deletes the probe messages: \Deleted, then UID EXPUNGE of them
// alone where the server can (UIDPLUS); without it they stay marked
// \Deleted and \Seen, for the user's client to purge with their own.
func remove(c *imapclient.Client, uids []imap.UID) {
	set := imap.UIDSetNum(uids...)
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted, imap.FlagSeen}}, nil).Close(); err != nil {
		return
	}
	if c.Caps().Has(imap.CapUIDPlus) || c.Caps().Has(imap.CapIMAP4rev2) {
		c.UIDExpunge(set).Close()
	}
}

func isJunk(l *imap.ListData) bool {
	if imapconn.HasAttr(l.Attrs, imap.MailboxAttrJunk) {
		return true
	}
	name := l.Mailbox
	if l.Delim != 0 {
		if i := strings.LastIndexByte(name, byte(l.Delim)); i >= 0 {
			name = name[i+1:]
		}
	}
	switch strings.ToLower(name) {
	case "junk", "spam", "junk e-mail", "junk email", "bulk mail", "bulk":
		return true
	}
	return false
}

// ErrNotConfigured means the account has no canary.
var ErrNotConfigured = errors.New("no canary is configured for this account")
