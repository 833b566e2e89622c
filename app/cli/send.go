package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
	"github.com/lifeboat-mail/lifeboat/sync/relay"
)

func outboxDir() string { return wire.OutboxDir(config.DataDir()) }

// sender wires the outbox, the accounts and the router.
type sender struct {
	cfg    *config.Config
	ob     *outbox.Outbox
	router *failover.Router
}

func (c *command) newSender(cfg *config.Config, health failover.Health) (*sender, error) {
	if len(cfg.SMTPAccounts()) == 0 {
		return nil, errors.New("no account can send: add an [account.smtp] section (host, port, security) to an account in " + cfg.Path)
	}
	ob, err := wire.OpenOutbox(config.DataDir(), func(text string) { fmt.Fprintln(c.env.Stderr, "lifeboat: outbox: "+text) })
	if err != nil {
		return nil, err
	}
	arch, err := archive.Open(cfg.ArchiveDir)
	if err != nil {
		return nil, err
	}
	ro := c.wiring(cfg).RouterOptions(ob, arch, health)
	ro.AfterStep = crashHook()
	ro.Notify = func(n failover.Notice) {
		prefix := "lifeboat: "
		if n.ID != "" {
			prefix += n.ID + ": "
		}
		if c.svcLog != nil {
			c.svcLog.printf("outbox", "%s", strings.TrimPrefix(prefix, "lifeboat: ")+n.Text)
			return
		}
		fmt.Fprintln(c.env.Stderr, prefix+n.Text)
	}
	r := failover.New(ro)
	return &sender{cfg: cfg, ob: ob, router: r}, nil
}

// crashHook is for crash tests only: with LIFEBOAT_CRASH_AFTER_STEP=STEP
// the process kills itself with SIGKILL right after that ledger step is
// durable, as a power cut would.
func crashHook() func(string) {
	step := os.Getenv("LIFEBOAT_CRASH_AFTER_STEP")
	if step == "" {
		return nil
	}
	return func(s string) {
		if s == step {
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Kill() // SIGKILL on Unix, TerminateProcess on Windows
			}
		}
	}
}

func (c *command) send(args []string) error {
	fs := c.flags("send")
	file := fs.String("f", "", "read the message from FILE instead of standard input")
	from := fs.String("from", "", "envelope sender (default: the From header)")
	queueOnly := fs.Bool("queue-only", false, "queue the message without trying to send it now")
	rcpts, err := parse(fs, args)
	if err != nil {
		return err
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	var in io.Reader = c.env.Stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	raw, err := io.ReadAll(io.LimitReader(in, 100<<20))
	if err != nil {
		return err
	}
	p, err := failover.Prepare(raw, *from, rcpts, "")
	if err != nil {
		return usageError{err.Error()}
	}
	s, err := c.newSender(cfg, c.health(cfg))
	if err != nil {
		return err
	}
	env, err := s.ob.Enqueue(outbox.Envelope{From: p.From, To: p.To, MessageID: p.MessageID, Via: "send"}, bytes.NewReader(p.Raw))
	if err != nil {
		return fmt.Errorf("the message could not be queued (nothing was sent): %w", err)
	}
	fmt.Fprintf(c.env.Stdout, "Queued %s (%s, %s).\n", env.ID, p.MessageID, plural(len(p.To), "recipient", "recipients"))
	if *queueOnly {
		return nil
	}
	out, err := s.router.Deliver(c.ctx, env.ID)
	if errors.Is(err, outbox.ErrBusy) || errors.Is(err, outbox.ErrNotFound) {
		// Another Lifeboat (the relay, the desktop app) took it on.
		fmt.Fprintln(c.env.Stdout, "Another Lifeboat process is sending it; \"lifeboat outbox\" shows how it went.")
		return nil
	}
	if err != nil {
		return fmt.Errorf("the message is safe in the outbox, but the outbox could not be updated: %w", err)
	}
	c.printOutcome(out)
	return nil
}

func (c *command) printOutcome(out failover.Outcome) {
	w := c.env.Stdout
	switch out.State {
	case outbox.Sent:
		fmt.Fprintf(w, "Sent through %s: %s.\n", out.Account, out.Why)
		if out.Reply != "" {
			fmt.Fprintf(w, "  server reply: %s\n", out.Reply)
		}
	case outbox.Failed:
		fmt.Fprintln(w, "Not sent: every recipient was refused.")
	default:
		fmt.Fprintf(w, "Not sent yet (%s): %s\n", out.State, out.Why)
		fmt.Fprintln(w, "  It stays in the outbox; \"lifeboat relay\" keeps retrying, or run \"lifeboat outbox send\".")
	}
	for r, why := range out.Rejected {
		fmt.Fprintf(w, "  refused for %s: %s\n", r, why)
	}
}

func (c *command) outbox(args []string) error {
	sub := "list"
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	s, err := c.newSender(cfg, c.health(cfg))
	if err != nil {
		return err
	}
	switch sub {
	case "list", "ls":
		return c.outboxList(s)
	case "send", "flush":
		if _, err := s.router.RunOnce(c.ctx); err != nil {
			return err
		}
		return c.outboxList(s)
	case "retry", "drop":
		if len(args) != 1 {
			return usagef("outbox %s needs one message ID (see \"lifeboat outbox\")", sub)
		}
		id := args[0]
		if _, err := s.ob.Get(id); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if sub == "drop" {
			if err := s.router.Drop(id); err != nil {
				return fmt.Errorf("%s: %w", id, err)
			}
			fmt.Fprintf(c.env.Stdout, "Dropped %s (kept in %s).\n", id, filepath.Join(outboxDir(), "dropped"))
			return nil
		}
		out, err := s.router.Retry(c.ctx, id)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		c.printOutcome(out)
		return nil
	case "resend":
		fs := c.flags("outbox resend")
		via := fs.String("via", "", "the account to send it through")
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 || *via == "" {
			return usagef("outbox resend needs a message ID and --via ACCOUNT (see \"lifeboat outbox\")")
		}
		if a, err := s.cfg.Account(*via); err != nil || a.SMTP == nil {
			return usagef("--via %q: not an account that can send (it needs an [account.smtp])", *via)
		}
		env, err := s.ob.Resend(pos[0], *via)
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		fmt.Fprintf(c.env.Stdout, "Queued again as %s, to %s, through %s.\n", env.ID, strings.Join(env.To, ", "), *via)
		out, err := s.router.Deliver(c.ctx, env.ID)
		if err != nil {
			return fmt.Errorf("%s: %w", env.ID, err)
		}
		c.printOutcome(out)
		return nil
	}
	return usagef("unknown outbox command %q (list, send, retry ID, drop ID, resend ID --via ACCOUNT)", sub)
}

func (c *command) outboxList(s *sender) error {
	items, err := s.ob.List()
	if err != nil {
		return err
	}
	defer c.listBounced(s.ob)
	if len(items) == 0 {
		fmt.Fprintln(c.env.Stdout, "The outbox is empty.")
		return nil
	}
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tstate\tqueued\tto\tlast step")
	var questions []string
	for _, it := range items {
		if it.State() == outbox.NeedsUser {
			why := it.Damage
			if why == "" && it.Last() != nil {
				why = it.Last().Reason
			}
			questions = append(questions, fmt.Sprintf("NEEDS YOU %s (%s): %s", it.ID, it.MessageID, why))
		}
		if s.ob.Busy(it.ID) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.ID, "being sent", it.QueuedAt.Local().Format("2006-01-02 15:04"), strings.Join(it.To, ", "),
				"another Lifeboat process is delivering it right now")
			continue
		}
		last := "-"
		if s := it.Last(); s != nil {
			last = s.Step
			if s.Account != "" {
				last += " " + s.Account
			}
			if s.Reason != "" {
				last += ": " + s.Reason
			}
			if !s.NotBefore.IsZero() {
				last += " (next try " + s.NotBefore.Local().Format("15:04:05") + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.ID, it.State(), it.QueuedAt.Local().Format("2006-01-02 15:04"), strings.Join(it.To, ", "), last)
	}
	tw.Flush()
	for _, q := range questions {
		fmt.Fprintln(c.env.Stdout, "\n"+q)
	}
	return nil
}

func (c *command) relay(args []string) error {
	fs := c.flags("relay")
	show := fs.Bool("show-credentials", false, "print the relay's user name and password and exit")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("relay takes no arguments")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	rc, err := c.wiring(cfg).Relay(config.DataDir())
	if err != nil {
		return err
	}
	if *show {
		fmt.Fprintf(c.env.Stdout, "SMTP server: %s\nsecurity:    STARTTLS (or none: it is this computer)\nuser name:   %s\npassword:    %s\n",
			cfg.Failover.RelayListen, rc.User, rc.Password)
		fmt.Fprintf(c.env.Stdout, "certificate: %s\nfingerprint: SHA256:%s\n", rc.TLS.CertFile, rc.TLS.Fingerprint)
		return nil
	}
	c.watching = true
	health := c.health(cfg)
	s, err := c.newSender(cfg, health)
	if err != nil {
		return err
	}
	rl, err := relay.Start(rc.Options(cfg.Failover.RelayListen, cfg.Failover.RelayAllowRemote, s.ob, func(string) { s.router.Wake() }))
	if err != nil {
		return err
	}
	defer rl.Close()
	fmt.Fprintf(c.env.Stdout, "Relay listening on %s (user %s; password: lifeboat relay --show-credentials).\n", rl.Addr, rc.User)
	fmt.Fprintf(c.env.Stdout, "Sending through: %s. Ctrl-C stops.\n", strings.Join(cfg.Failover.Order, ", "))
	c.startMonitor(cfg)
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = s.router.Run(ctx)
	if c.ctx.Err() != nil || ctx.Err() != nil {
		fmt.Fprintf(c.env.Stdout, "Relay stopped at %s.\n", time.Now().Format("15:04:05"))
		return nil
	}
	return err
}

// listBounced lists sent messages a bounce came back for, with the remote
// server's words.
func (c *command) listBounced(ob *outbox.Outbox) {
	for i, it := range wire.RecentlyBounced(ob) {
		if i == 0 {
			fmt.Fprintln(c.env.Stdout, "\nSent, but bounced:")
		}
		for _, b := range it.Bounces() {
			fmt.Fprintf(c.env.Stdout, "  BOUNCED %s (%s, sent through %s) to %s: %s\n", it.ID, it.MessageID, sentThrough(it), wire.RecipientWords(b.Recipient), b.Reason)
		}
	}
}

// sentThrough is the account that accepted the message.
func sentThrough(it *outbox.Item) string {
	if a := it.AcceptedBy(); a != "" {
		return a
	}
	return "?"
}
