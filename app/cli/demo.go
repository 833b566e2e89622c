package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

const demoMarker = ".lifeboat-demo"

// demo shows a whole backup against the built-in demo provider: a full
// run, mail arriving and being deleted at the provider, an incremental run
// that keeps the deleted mail, and a verify.
func (c *command) demo(args []string) error {
	fs := c.flags("demo")
	dir := fs.String("archive", filepath.Join(config.DataDir(), "demo-archive"), "where the demo archive goes")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("demo takes no arguments")
	}
	// Start from a fresh demo archive, but never delete anything that is
	// not one of ours.
	if _, err := os.Stat(filepath.Join(*dir, demoMarker)); err == nil {
		if err := os.RemoveAll(*dir); err != nil {
			return err
		}
	} else if ents, _ := os.ReadDir(*dir); len(ents) > 0 {
		return fmt.Errorf("%s exists and is not a Lifeboat demo archive; choose another place with --archive DIR", *dir)
	}
	arch, err := archive.Open(*dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, demoMarker), []byte("made by lifeboat demo; safe to delete\n"), 0o600); err != nil {
		return err
	}
	p, err := demo.Start(demo.Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	samples := demo.SampleMail()
	w := c.env.Stdout
	fmt.Fprintf(w, "Demo provider running at %s: %s of sample mail for %s.\n\n", p.Addr, plural(len(samples), "message", "messages"), p.Email)
	acct := backup.Account{Name: "demo", Endpoint: p.Endpoint(), Password: func() (string, error) { return p.Password, nil }}
	opts := backup.Options{Archive: arch}

	fmt.Fprintln(w, "1. First backup: every folder, every message.")
	if err := c.runBackup(arch, []backup.Account{acct}, opts, false); err != nil && !errors.Is(err, errWarnings) {
		return err
	}

	fmt.Fprintln(w, "\n2. Meanwhile at the provider: 3 messages arrive, and a faulty clean-up script deletes 4 from the INBOX.")
	for i := 1; i <= 3; i++ {
		msg := fmt.Sprintf("From: Priya Patel <priya.patel@example.org>\r\nTo: jane@demo.lifeboat\r\nSubject: New this morning (%d)\r\n"+
			"Message-ID: <demo-new-%d@demo.lifeboat>\r\nDate: %s\r\n\r\nJust arrived.\r\n", i, i, time.Now().Format(time.RFC1123Z))
		if err := p.Deliver("INBOX", []byte(msg), time.Now()); err != nil {
			return err
		}
	}
	if err := demoDelete(c.ctx, p, "INBOX", 2, 3, 5, 8); err != nil {
		return err
	}

	fmt.Fprintln(w, "\n3. Second backup: only what changed; the deleted messages stay in the archive.")
	if err := c.runBackup(arch, []backup.Account{acct}, opts, false); err != nil && !errors.Is(err, errWarnings) {
		return err
	}

	fmt.Fprintln(w, "\n4. Verify: every archived message re-read and checked against its SHA-256.")
	checked, bad := 0, 0
	ids, err := arch.Folders("demo")
	if err != nil {
		return err
	}
	for _, id := range ids {
		n, damage, err := arch.VerifyFolder(id, nil)
		if err != nil {
			return err
		}
		checked += n
		bad += len(damage)
	}
	fmt.Fprintf(w, "   %s checked, %d damaged.\n\n", plural(checked, "message", "messages"), bad)
	sts, err := collectStatus(arch, []string{"demo"})
	if err != nil {
		return err
	}
	c.printStatus(arch, sts)
	fmt.Fprintf(w, "\nThe archive is plain mbox, readable without Lifeboat, e.g. (read-only, so mutt changes nothing):\n  mutt -R -f %s\n",
		arch.MboxPath(archive.FolderID{Account: "demo", Name: "INBOX"}))
	fmt.Fprintln(w, "Back up your own mail: lifeboat accounts add, then lifeboat backup.")
	if bad > 0 {
		return exitError{ExitFailure}
	}
	return nil
}

// demoDelete plays the provider deleting messages, over IMAP.
func demoDelete(ctx context.Context, p *demo.Provider, folder string, uids ...imap.UID) error {
	cl, err := imapconn.Dial(ctx, p.Endpoint(), p.Password, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Select(folder, nil).Wait(); err != nil {
		return err
	}
	set := imap.UIDSetNum(uids...)
	if err := cl.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		return err
	}
	return cl.UIDExpunge(set).Close()
}
