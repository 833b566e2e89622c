package failover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// SentFiler returns an Account.FileSent that logs in to an account over
// IMAP and APPENDs a message, \Seen and dated when it was sent, to its
// Sent folder (SPECIAL-USE \Sent, else by common names, else a new "Sent"),
// unless a message with the same Message-ID is already there. It returns
// the folder's name.
func SentFiler(ep imapconn.Endpoint, password func() (string, error)) func(ctx context.Context, raw []byte, messageID string, sentAt time.Time) (string, error) {
	return func(ctx context.Context, raw []byte, messageID string, sentAt time.Time) (string, error) {
		pw, err := password()
		if err != nil {
			return "", err
		}
		c, err := imapconn.Dial(ctx, ep, pw, nil)
		if err != nil {
			return "", err
		}
		defer c.Close()
		sent, _, err := sentFolders(c, ep)
		if err != nil {
			return "", err
		}
		folder := "Sent"
		if len(sent) > 0 {
			folder = sent[0]
		} else if err := c.Create(folder, nil).Wait(); err != nil && !alreadyExists(err) {
			// none yet: made, as a mail program makes it at its first send
			// (another process may just have made it)
			return "", fmt.Errorf("it has no Sent folder, and creating one failed: %w", imapconn.Classify(ep.Addr(), err))
		}
		if messageID != "" {
			found, err := holds(c, ep, folder, messageID)
			if err != nil {
				return "", err
			}
			if found {
				c.Logout().Wait()
				return folder, nil // filed before (by a process that died before noting it)
			}
		}
		cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: sentAt})
		if _, err := io.Copy(cmd, bytes.NewReader(raw)); err != nil {
			cmd.Close()
			return "", imapconn.Classify(ep.Addr(), err)
		}
		if err := cmd.Close(); err != nil {
			return "", imapconn.Classify(ep.Addr(), err)
		}
		if _, err := cmd.Wait(); err != nil {
			return "", imapconn.Classify(ep.Addr(), err)
		}
		c.Logout().Wait()
		return folder, nil
	}
}

// FilingAge is how old a failed-over message may be and still be filed in
// its sender's Sent folder when that account comes back.
const FilingAge = 30 * 24 * time.Hour

// filingRest is how long an account whose Sent folder could not be reached
// is left before the next try.
const filingRest = 5 * time.Minute

// FileCopies puts a copy of every message that went out through another
// account than the sender's own into the Sent folder of the sender's
// account (README "After a failover"), once that account is usable again
// and has FileSent: once per message, even across crashes and processes
// (the ledger's "filed" step, taken under the outbox's filing lock, and a
// search for the Message-ID before each APPEND). It returns how many copies
// it filed.
func (r *Router) FileCopies(ctx context.Context) (int, error) {
	items, err := r.o.Outbox.Done(r.o.Now().Add(-FilingAge)) // accepted within FilingAge: its ledger changed since
	if err != nil {
		return 0, err
	}
	filed := 0
	var errs []error
	for _, it := range items {
		if ctx.Err() != nil {
			return filed, ctx.Err()
		}
		owner, at := r.needsFiling(it)
		if owner == nil || r.held(r.filingRest, owner.Name) {
			continue
		}
		folder, ok, err := r.file(ctx, owner, it.ID, it.MessageID, at)
		if err != nil {
			r.hold(r.filingRest, owner.Name, filingRest)
			errs = append(errs, fmt.Errorf("a copy of %s for %s's Sent folder: %w", it.ID, owner.Name, err))
			continue
		}
		if ok {
			filed++
			r.notify(it.ID, owner.Name, "%s is back: a copy of the message sent through %s is now in its folder %q", owner.Name, it.AcceptedBy(), folder)
		}
	}
	return filed, errors.Join(errs...)
}

// needsFiling returns the sender's own account, and when the message was
// accepted, for a finished message that went out through another account
// and is not filed yet (nil when there is nothing to do, or not now).
func (r *Router) needsFiling(it *outbox.Item) (*Account, time.Time) {
	st := it.State()
	if st != outbox.Sent && st != outbox.Bounced {
		return nil, time.Time{}
	}
	through := it.AcceptedBy()
	acc := lastAccepted(it)
	if through == "" || acc == nil || r.o.Now().Sub(acc.At) > FilingAge {
		return nil, time.Time{}
	}
	for _, a := range r.accounts() {
		if a.owns(it.From) {
			if a.Name == through || a.FileSent == nil || it.FiledIn(a.Name) || r.unusable(a.Name) != "" {
				return nil, time.Time{}
			}
			return &a, acc.At
		}
	}
	return nil, time.Time{}
}

// file files one copy under the filing lock; ok is false when another
// process holds it or filed it meanwhile.
func (r *Router) file(ctx context.Context, owner *Account, id, messageID string, at time.Time) (folder string, ok bool, err error) {
	unlock, err := r.o.Outbox.FilingLock(id)
	if errors.Is(err, outbox.ErrBusy) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer unlock()
	it, err := r.o.Outbox.GetDone(id) // again, under the lock
	if err != nil {
		return "", false, err
	}
	if it.FiledIn(owner.Name) {
		return "", false, nil
	}
	rc, _, err := r.o.Outbox.OpenDone(id)
	if err != nil {
		return "", false, err
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return "", false, err
	}
	folder, err = owner.FileSent(ctx, raw, messageID, at)
	if err != nil {
		return "", false, err
	}
	if err := r.o.Outbox.Filed(id, owner.Name, folder); err != nil {
		return "", false, err
	}
	return folder, true, nil
}

// fileEvery runs FileCopies until ctx ends, telling the user of each
// account's failure once (until it changes or a copy goes through).
func (r *Router) fileEvery(ctx context.Context) {
	told := ""
	for {
		_, err := r.FileCopies(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			told = ""
		case err.Error() != told:
			told = err.Error()
			r.notify("", "", "%v; tried again later", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.o.FilingInterval):
		}
	}
}

func alreadyExists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists
}
