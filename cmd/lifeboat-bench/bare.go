package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/tlsutil"
)

// passwordEnv carries the password to the "bare" subcommand (not on its
// command line).
const passwordEnv = "LIFEBOAT_BENCH_PASSWORD"

// bareResult is what the "bare" subcommand prints (one JSON object).
type bareResult struct {
	Folders  int   `json:"folders"`
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
}

// bareMain is the hidden "bare" subcommand: the practical limit of an IMAP
// backup in Go. It logs in over TLS and, for every folder, does SELECT and
// UID FETCH 1:* BODY.PEEK[], streaming each literal into one output file:
// no parsing, no per-message bookkeeping, one fsync at the end.
func bareMain(args []string) int {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	addr := fs.String("addr", "", "IMAPS address host:port")
	user := fs.String("user", "", "user name (password in $"+passwordEnv+")")
	caFile := fs.String("ca", "", "PEM file of the CA to trust")
	serverName := fs.String("server-name", "localhost", "TLS server name")
	out := fs.String("out", "", "output file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr == "" || *user == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: lifeboat-bench bare --addr HOST:PORT --user U --ca FILE --out FILE")
		return 2
	}
	res, err := bare(*addr, *user, os.Getenv(passwordEnv), *caFile, *serverName, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lifeboat-bench bare: %v\n", err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func bare(addr, user, password, caFile, serverName, out string) (bareResult, error) {
	var res bareResult
	tc, err := tlsutil.ClientConfig(serverName, caFile) // what Lifeboat's own connections use
	if err != nil {
		return res, err
	}
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: tc})
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		return res, fmt.Errorf("login: %w", err)
	}
	f, err := os.Create(out)
	if err != nil {
		return res, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	res, err = fetchAll(c, w, false)
	if err != nil {
		return res, err
	}
	if err := w.Flush(); err != nil {
		return res, err
	}
	if err := f.Sync(); err != nil {
		return res, err
	}
	if err := f.Close(); err != nil {
		return res, err
	}
	return res, c.Logout().Wait()
}

// fetchAll copies the bodies of every message of every selectable folder to
// w. With meta it first fetches UID, FLAGS, INTERNALDATE and RFC822.SIZE of
// each folder, as real clients do (the harness's warm-up uses it).
func fetchAll(c *imapclient.Client, w io.Writer, meta bool) (bareResult, error) {
	var res bareResult
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return res, fmt.Errorf("list: %w", err)
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}} // 1:*
	body := &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	for _, mb := range list {
		if imapconn.HasAttr(mb.Attrs, imap.MailboxAttrNoSelect) || imapconn.HasAttr(mb.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sel, err := c.Select(mb.Mailbox, nil).Wait()
		if err != nil {
			return res, fmt.Errorf("select %q: %w", mb.Mailbox, err)
		}
		res.Folders++
		if sel.NumMessages == 0 {
			continue
		}
		if meta {
			if _, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true}).Collect(); err != nil {
				return res, fmt.Errorf("fetch metadata in %q: %w", mb.Mailbox, err)
			}
		}
		cmd := c.Fetch(all, body)
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				bs, ok := item.(imapclient.FetchItemDataBodySection)
				if !ok || bs.Literal == nil {
					continue
				}
				n, err := io.Copy(w, bs.Literal)
				if err != nil {
					cmd.Close()
					return res, fmt.Errorf("fetch in %q: %w", mb.Mailbox, err)
				}
				if n != bs.Literal.Size() {
					cmd.Close()
					return res, fmt.Errorf("fetch in %q: message cut short (%d of %d bytes)", mb.Mailbox, n, bs.Literal.Size())
				}
				res.Messages++
				res.Bytes += n
			}
		}
		if err := cmd.Close(); err != nil {
			return res, fmt.Errorf("fetch in %q: %w", mb.Mailbox, err)
		}
	}
	if res.Folders == 0 {
		return res, errors.New("the server listed no selectable folder")
	}
	return res, nil
}
