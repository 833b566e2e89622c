package failover

import (
	"context"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// SentChecker returns a CheckSent function that logs in to an account over
// IMAP and searches its Sent folder (by SPECIAL-USE \Sent, else by common
// names) and, where there is one, its \All folder (Gmail's All Mail files
// submitted mail there) for a Message-ID.
func SentChecker(ep imapconn.Endpoint, password func() (string, error)) func(ctx context.Context, messageID string) (bool, error) {
	return func(ctx context.Context, messageID string) (bool, error) {
		pw, err := password()
		if err != nil {
			return false, err
		}
		c, err := imapconn.Dial(ctx, ep, pw, nil)
		if err != nil {
			return false, err
		}
		defer c.Close()
		list, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: c.Caps().Has(imap.CapSpecialUse)}).Collect()
		if err != nil {
			return false, imapconn.Classify(ep.Addr(), err)
		}
		var folders []string
		for _, l := range list {
			for _, a := range l.Attrs {
				if a == imap.MailboxAttrSent || a == imap.MailboxAttrAll {
					folders = append(folders, l.Mailbox)
				}
			}
		}
		if len(folders) == 0 {
			for _, l := range list {
				switch strings.ToLower(l.Mailbox) {
				case "sent", "sent items", "sent messages", "sent mail", "inbox.sent", "[gmail]/sent mail":
					folders = append(folders, l.Mailbox)
				}
			}
		}
		id := strings.Trim(strings.TrimSpace(messageID), "<>")
		for _, f := range folders {
			if _, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				continue
			}
			data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
			if err != nil {
				return false, imapconn.Classify(ep.Addr(), err)
			}
			if len(data.AllUIDs()) > 0 {
				return true, nil
			}
		}
		c.Logout().Wait()
		return false, nil
	}
}
