package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/relay"
	"github.com/lifeboat-mail/lifeboat/sync/serve"
)

// serveUser is the user name mail programs log in to "lifeboat serve" with.
const serveUser = "lifeboat"

func (c *command) serve(args []string) error {
	fs := c.flags("serve")
	listen := fs.String("listen", "127.0.0.1:1143", "address to serve IMAP on (this computer only, unless --allow-remote)")
	allowRemote := fs.Bool("allow-remote", false, "allow a listener beyond this computer (TLS only; for a phone on your own network)")
	show := fs.Bool("show-credentials", false, "print the user name and password mail programs log in with, and exit")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("serve takes no arguments")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	pw, err := secrets.ServePassword(c.env.Secrets)
	if err != nil {
		return err
	}
	// The relay's certificate: one for Lifeboat's servers on this computer.
	tlsCfg, err := relay.LoadOrCreateTLS(config.DataDir())
	if err != nil {
		return err
	}
	if *show {
		fmt.Fprintf(c.env.Stdout, "IMAP server: %s\nsecurity:    STARTTLS (or none: it is this computer)\nuser:        %s\npassword:    %s\n", *listen, serveUser, pw)
		fmt.Fprintf(c.env.Stdout, "certificate: %s\nfingerprint: SHA256:%s\n", tlsCfg.CertFile, tlsCfg.Fingerprint)
		return nil
	}
	arch, err := c.openArchive(cfg)
	if err != nil {
		return err
	}
	srv, err := serve.Start(serve.Options{Archive: arch, Addr: *listen, AllowRemote: *allowRemote, Username: serveUser, Password: pw, TLS: tlsCfg.Config})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(c.env.Stdout, "Serving the archive %s read-only over IMAP on %s (user %s; password: lifeboat serve --show-credentials).\n", arch.Root, srv.Addr, serveUser)
	fmt.Fprintln(c.env.Stdout, "Point your mail program at it; nothing it does changes the archive. Ctrl-C stops.")
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(c.env.Stdout, "Stopped.")
	return nil
}
