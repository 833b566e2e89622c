package dovecot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// withClient runs f on a fresh logged-in connection and logs out.
func (s *Server) withClient(user string, f func(c *imapclient.Client) error) error {
	c, err := s.Dial(user)
	if err != nil {
		return err
	}
	ferr := f(c)
	lerr := c.Logout().Wait()
	c.Close()
	if ferr != nil {
		return ferr
	}
	if lerr != nil {
		return fmt.Errorf("testenv/dovecot: logout: %w", lerr)
	}
	return nil
}

func isINBOX(mailbox string) bool { return strings.EqualFold(mailbox, "INBOX") }

// ensureMailbox creates mailbox unless it exists.
func ensureMailbox(c *imapclient.Client, mailbox string) error {
	if isINBOX(mailbox) {
		return nil
	}
	err := c.Create(mailbox, nil).Wait()
	var ierr *imap.Error
	if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("testenv/dovecot: create %q: %w", mailbox, err)
	}
	return nil
}

// Append stores msg (raw RFC 5322 bytes, CRLF line endings for a byte-exact
// FETCH) in mailbox, creating the mailbox if needed, with the given flags
// and INTERNALDATE (zero: now). It returns the new message's UID.
func (s *Server) Append(user, mailbox string, msg []byte, flags []imap.Flag, date time.Time) (imap.UID, error) {
	for attempt := 0; ; attempt++ {
		uid, err := s.appendOnce(user, mailbox, msg, flags, date)
		var ierr *imap.Error
		// Dovecot 2.3 creates INBOX on first use; when another session
		// (a client's SELECT) creates it at the same moment, APPEND says
		// NO [ALREADYEXISTS]. Once more then finds it.
		if attempt < 2 && errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
			continue
		}
		return uid, err
	}
}

func (s *Server) appendOnce(user, mailbox string, msg []byte, flags []imap.Flag, date time.Time) (imap.UID, error) {
	var uid imap.UID
	err := s.withClient(user, func(c *imapclient.Client) error {
		if err := ensureMailbox(c, mailbox); err != nil {
			return err
		}
		cmd := c.Append(mailbox, int64(len(msg)), &imap.AppendOptions{Flags: flags, Time: date})
		if _, err := cmd.Write(msg); err != nil {
			cmd.Close()
			return fmt.Errorf("testenv/dovecot: append to %q: %w", mailbox, err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("testenv/dovecot: append to %q: %w", mailbox, err)
		}
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("testenv/dovecot: append to %q: %w", mailbox, err)
		}
		if data.UID == 0 {
			return fmt.Errorf("testenv/dovecot: append to %q: server sent no APPENDUID", mailbox)
		}
		uid = data.UID
		return nil
	})
	return uid, err
}

// selectRW selects mailbox read-write.
func selectRW(c *imapclient.Client, mailbox string) (*imap.SelectData, error) {
	data, err := c.Select(mailbox, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("testenv/dovecot: select %q: %w", mailbox, err)
	}
	return data, nil
}

func uidSet(uids []imap.UID) (imap.UIDSet, int) {
	seen := make(map[imap.UID]bool, len(uids))
	var set imap.UIDSet
	for _, u := range uids {
		if u != 0 && !seen[u] {
			seen[u] = true
			set.AddNum(u)
		}
	}
	return set, len(seen)
}

// Expunge permanently removes the messages with the given UIDs from mailbox
// (\Deleted + UID EXPUNGE, other \Deleted messages are left alone). It is an
// error if any of the UIDs does not exist.
func (s *Server) Expunge(user, mailbox string, uids ...imap.UID) error {
	set, n := uidSet(uids)
	if n == 0 {
		return nil
	}
	return s.withClient(user, func(c *imapclient.Client) error {
		if _, err := selectRW(c, mailbox); err != nil {
			return err
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := c.Store(set, store, nil).Close(); err != nil {
			return fmt.Errorf("testenv/dovecot: store \\Deleted in %q: %w", mailbox, err)
		}
		gone, err := c.UIDExpunge(set).Collect()
		if err != nil {
			return fmt.Errorf("testenv/dovecot: uid expunge in %q: %w", mailbox, err)
		}
		if len(gone) != n {
			return fmt.Errorf("testenv/dovecot: expunge in %q: %d of the %d UIDs %v existed", mailbox, len(gone), n, set)
		}
		return nil
	})
}

// SetFlags replaces the flags (and keywords) of message uid in mailbox.
func (s *Server) SetFlags(user, mailbox string, uid imap.UID, flags []imap.Flag) error {
	return s.withClient(user, func(c *imapclient.Client) error {
		if _, err := selectRW(c, mailbox); err != nil {
			return err
		}
		if flags == nil {
			flags = []imap.Flag{}
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: flags}
		msgs, err := c.Store(imap.UIDSetNum(uid), store, nil).Collect()
		if err != nil {
			return fmt.Errorf("testenv/dovecot: store flags of UID %d in %q: %w", uid, mailbox, err)
		}
		if len(msgs) == 0 {
			return fmt.Errorf("testenv/dovecot: set flags: no message with UID %d in %q", uid, mailbox)
		}
		return nil
	})
}

// DeleteMailbox deletes mailbox and the messages in it.
func (s *Server) DeleteMailbox(user, mailbox string) error {
	return s.withClient(user, func(c *imapclient.Client) error {
		if err := c.Delete(mailbox).Wait(); err != nil {
			return fmt.Errorf("testenv/dovecot: delete %q: %w", mailbox, err)
		}
		return nil
	})
}

// ResetUIDValidity gives mailbox (INBOX too) a new, larger UIDVALIDITY while
// keeping its messages, their flags and INTERNALDATEs, in the same order:
// the messages are moved to a temporary mailbox, the empty mailbox gets the
// new UIDVALIDITY (doveadm mailbox update), and the messages are moved back.
// They come back with new UIDs, all at or above the old UIDNEXT, so no old
// UID names any message any more. Read the new values with SELECT or STATUS.
func (s *Server) ResetUIDValidity(user, mailbox string) error {
	return s.withClient(user, func(c *imapclient.Client) error {
		sel, err := selectRW(c, mailbox)
		if err != nil {
			return err
		}
		n := sel.NumMessages
		tmp := "dovecot-uidvalidity-" + randHex(4)
		all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}} // 1:*
		if n > 0 {
			if err := c.Create(tmp, nil).Wait(); err != nil {
				return fmt.Errorf("testenv/dovecot: create %q: %w", tmp, err)
			}
			if _, err := c.Move(all, tmp).Wait(); err != nil {
				return fmt.Errorf("testenv/dovecot: move %q to %q: %w", mailbox, tmp, err)
			}
		}
		if err := c.Unselect().Wait(); err != nil {
			return fmt.Errorf("testenv/dovecot: unselect: %w", err)
		}
		newValidity := sel.UIDValidity + 1
		if newValidity == 0 {
			newValidity = 1
		}
		_, uerr := s.Doveadm("mailbox", "update", "-u", user,
			"--uid-validity", strconv.FormatUint(uint64(newValidity), 10),
			"--min-next-uid", strconv.FormatUint(uint64(sel.UIDNext), 10),
			mailbox)
		// Move the messages back even if the update failed.
		if n > 0 {
			if _, err := selectRW(c, tmp); err != nil {
				return err
			}
			if _, err := c.Move(all, mailbox).Wait(); err != nil {
				return fmt.Errorf("testenv/dovecot: move %q back to %q: %w", tmp, mailbox, err)
			}
			if err := c.Unselect().Wait(); err != nil {
				return fmt.Errorf("testenv/dovecot: unselect: %w", err)
			}
			if err := c.Delete(tmp).Wait(); err != nil {
				return fmt.Errorf("testenv/dovecot: delete %q: %w", tmp, err)
			}
		}
		if uerr != nil {
			return uerr
		}
		st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait()
		if err != nil {
			return fmt.Errorf("testenv/dovecot: status %q: %w", mailbox, err)
		}
		if st.UIDValidity != newValidity || st.NumMessages == nil || *st.NumMessages != n {
			got := -1
			if st.NumMessages != nil {
				got = int(*st.NumMessages)
			}
			return fmt.Errorf("testenv/dovecot: reset UIDVALIDITY of %q: want UIDVALIDITY %d and %d messages, server says %d and %d",
				mailbox, newValidity, n, st.UIDValidity, got)
		}
		return nil
	})
}
