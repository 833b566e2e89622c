package failover

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// ErrCannotCheck means an account's mailbox cannot tell whether it accepted
// a message whose answer was lost: no folder that holds what is submitted
// through SMTP could be searched. Only the user can decide.
var ErrCannotCheck = errors.New("its mailbox cannot tell whether it accepted the message")

// TooEarly means the folder that will hold the submission was searched too
// soon after the send to count as an answer (providers file submissions
// with a delay): look again at Until.
type TooEarly struct{ Until time.Time }

func (e *TooEarly) Error() string {
	return "the Sent folder cannot tell yet; looking again at " + e.Until.Local().Format("15:04:05")
}

// SentSettle is how long after a send a provider that files submissions
// has certainly filed it.
const SentSettle = 2 * time.Minute

// SentChecker returns a CheckSent function that logs in to an account over
// IMAP and searches for a Message-ID in the folders that hold what was
// submitted through SMTP: Sent (by SPECIAL-USE \Sent, else by common names)
// and, where there is one, \All (Gmail's All Mail).
//
// Found is an answer at once. Not found is an answer only when the provider
// is known to file every submission there (filesSubmissions, or Gmail,
// recognised by its \All folder) and the search ran SentSettle or more after
// the send; too early it is *TooEarly, and for a provider that does not
// file submissions (most servers: the mail program saves its own copy) it
// is ErrCannotCheck — "not in Sent" would mean nothing there.
func SentChecker(ep imapconn.Endpoint, password func() (string, error), filesSubmissions bool) func(ctx context.Context, messageID string, sentAt time.Time) (bool, error) {
	return func(ctx context.Context, messageID string, sentAt time.Time) (bool, error) {
		pw, err := password()
		if err != nil {
			return false, err
		}
		c, err := imapconn.Dial(ctx, ep, pw, nil)
		if err != nil {
			return false, err
		}
		defer c.Close()
		searched := time.Now()
		sent, all, err := sentFolders(c, ep)
		if err != nil {
			return false, err
		}
		folders := append(sent, all...)
		files := filesSubmissions || len(all) > 0 // Gmail: every submission is in All Mail
		for _, f := range folders {
			found, err := holds(c, ep, f, messageID)
			if err != nil {
				return false, err
			}
			if found {
				c.Logout().Wait()
				return true, nil
			}
		}
		c.Logout().Wait()
		switch {
		case len(folders) == 0:
			return false, fmt.Errorf("%w: it has no Sent folder", ErrCannotCheck)
		case !files:
			return false, fmt.Errorf("%w: this provider does not put what is sent through SMTP into its Sent folder", ErrCannotCheck)
		case searched.Sub(sentAt) < SentSettle:
			return false, &TooEarly{Until: sentAt.Add(SentSettle)}
		}
		return false, nil
	}
}

// sentFolders lists the account's Sent folders (SPECIAL-USE \Sent, else by
// common names) and its \All folders (Gmail's All Mail).
func sentFolders(c *imapclient.Client, ep imapconn.Endpoint) (sent, all []string, err error) {
	list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: c.Caps().Has(imap.CapSpecialUse)}).Collect()
	if err != nil {
		return nil, nil, imapconn.Classify(ep.Addr(), err)
	}
	for _, l := range list {
		for _, a := range l.Attrs {
			switch a {
			case imap.MailboxAttrAll:
				all = append(all, l.Mailbox)
			case imap.MailboxAttrSent:
				sent = append(sent, l.Mailbox)
			}
		}
	}
	if len(sent) == 0 {
		for _, l := range list {
			switch strings.ToLower(l.Mailbox) {
			case "sent", "sent items", "sent messages", "sent mail", "inbox.sent", "[gmail]/sent mail":
				sent = append(sent, l.Mailbox)
			}
		}
	}
	return sent, all, nil
}

// holds reports whether folder holds a message with messageID (a folder
// that cannot be selected holds nothing).
func holds(c *imapclient.Client, ep imapconn.Endpoint, folder, messageID string) (bool, error) {
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return false, nil
	}
	id := strings.Trim(strings.TrimSpace(messageID), "<>")
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
	if err != nil {
		return false, imapconn.Classify(ep.Addr(), err)
	}
	return len(data.AllUIDs()) > 0, nil
}
