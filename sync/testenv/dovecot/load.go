package dovecot

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// loadBatch is the number of messages per MULTIAPPEND command. Dovecot
// saves one command's messages in one transaction; per-command costs grow
// with the mailbox (it re-syncs the Maildir), so large batches matter.
const loadBatch = 1000

// Load appends msgs to mailbox (created if needed) quickly, for benchmarks.
// The messages get no flags, INTERNALDATE date (zero: now) and ascending
// UIDs in slice order. It uses MULTIAPPEND (RFC 3502) with non-synchronizing
// literals over one TLS connection, loadBatch messages per command, all
// commands pipelined.
func (s *Server) Load(user, mailbox string, msgs [][]byte, date time.Time) error {
	if err := s.withClient(user, func(c *imapclient.Client) error { return ensureMailbox(c, mailbox) }); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	return s.multiAppend(user, mailbox, msgs, date)
}

func (s *Server) multiAppend(user, mailbox string, msgs [][]byte, date time.Time) error {
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", s.IMAPSAddr, s.TLSConfig)
	if err != nil {
		return fmt.Errorf("testenv/dovecot: load: %w", err)
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10)
	w := bufio.NewWriterSize(conn, 1<<20)

	// Greeting (Dovecot may first send "* OK Waiting for authentication").
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("testenv/dovecot: load: greeting: %w", err)
		}
		if !strings.HasPrefix(line, "* OK") {
			return fmt.Errorf("testenv/dovecot: load: greeting %q", line)
		}
		if strings.Contains(line, "[CAPABILITY") {
			break
		}
	}
	pass := s.Password(user)
	fmt.Fprintf(w, "L LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n", len(user), user, len(pass), pass)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("testenv/dovecot: load: %w", err)
	}
	if line, err := readTagged(r, "L"); err != nil {
		return fmt.Errorf("testenv/dovecot: load: login as %q: %w", user, err)
	} else if !strings.HasPrefix(line, "L OK") {
		return fmt.Errorf("testenv/dovecot: load: login as %q: %s", user, strings.TrimSpace(line))
	}

	mbox := imapconn.EncodeMailbox(mailbox)
	dateArg := ""
	if !date.IsZero() {
		dateArg = ` "` + date.Format("_2-Jan-2006 15:04:05 -0700") + `"`
	}
	var tags []string
	for i := 0; i < len(msgs); i += loadBatch {
		tags = append(tags, fmt.Sprintf("A%d", i/loadBatch))
	}
	// Write every command while reading the responses: a server that
	// stopped reading would otherwise deadlock us.
	werr := make(chan error, 1)
	go func() {
		for b, tag := range tags {
			batch := msgs[b*loadBatch : min(len(msgs), (b+1)*loadBatch)]
			fmt.Fprintf(w, "%s APPEND {%d+}\r\n%s", tag, len(mbox), mbox)
			for _, m := range batch {
				fmt.Fprintf(w, "%s {%d+}\r\n", dateArg, len(m))
				w.Write(m)
			}
			w.WriteString("\r\n")
		}
		fmt.Fprintf(w, "Z LOGOUT\r\n")
		werr <- w.Flush()
	}()
	for _, tag := range tags {
		line, err := readTagged(r, tag)
		if err != nil {
			conn.Close()
			<-werr
			return fmt.Errorf("testenv/dovecot: load into %q: %w", mailbox, err)
		}
		if !strings.HasPrefix(line, tag+" OK") {
			conn.Close()
			<-werr
			return fmt.Errorf("testenv/dovecot: load into %q: %s", mailbox, strings.TrimSpace(line))
		}
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("testenv/dovecot: load into %q: %w", mailbox, err)
	}
	readTagged(r, "Z")
	return nil
}

// readTagged reads responses up to the tagged one and returns it. Untagged
// data and continuation requests are skipped; the server sends no literals
// in reply to LOGIN, APPEND or LOGOUT.
func readTagged(r *bufio.Reader, tag string) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(line, tag+" ") {
			return line, nil
		}
	}
}
