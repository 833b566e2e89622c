// Package demo runs a built-in demo mail provider: an in-process IMAP server
// (go-imap's imapmemserver) on 127.0.0.1 with a few folders of realistic
// sample mail, so Lifeboat can show what it does before any account exists.
// Tests use it as a fast IMAP server they can change at will.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
)

// Provider is a running demo IMAP server with one user.
type Provider struct {
	Email    string
	Username string
	Password string
	Addr     string // 127.0.0.1:port
	User     *imapmemserver.User

	srv *imapserver.Server
	ln  net.Listener
}

// Options for Start.
type Options struct {
	Email    string // default "jane@demo.lifeboat"
	Password string // default "demo"
	// Caps overrides the advertised capabilities (default IMAP4rev1 with
	// LIST-STATUS, UIDPLUS, SPECIAL-USE...).
	Caps imap.CapSet
	// Empty starts with only an empty INBOX instead of the sample mail.
	Empty bool
	// Listener, if set, is served instead of a new 127.0.0.1 listener (for
	// fault-injecting proxies in tests, put the proxy in front instead).
	Listener net.Listener
}

// Start runs a demo provider until Close.
func Start(opts Options) (*Provider, error) {
	if opts.Email == "" {
		opts.Email = "jane@demo.lifeboat"
	}
	if opts.Password == "" {
		opts.Password = "demo"
	}
	caps := opts.Caps
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapListStatus: {}, imap.CapUIDPlus: {},
			imap.CapSpecialUse: {}, imap.CapLiteralPlus: {}, imap.CapNamespace: {}, imap.CapListExtended: {}, imap.CapMove: {}, imap.CapIdle: {}}
	}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(opts.Email, opts.Password)
	mem.AddUser(user)
	p := &Provider{Email: opts.Email, Username: opts.Email, Password: opts.Password, User: user}
	p.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true, // loopback only
		Logger:       discardLogger{},
	})
	ln := opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	p.ln = ln
	p.Addr = ln.Addr().String()
	if err := user.Create("INBOX", nil); err != nil {
		return nil, err
	}
	if !opts.Empty {
		for _, m := range SampleMail() {
			if err := p.Deliver(m.Folder, m.Raw, m.Date, m.Flags...); err != nil {
				return nil, err
			}
		}
	}
	go p.srv.Serve(ln)
	return p, nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// Close stops the server.
func (p *Provider) Close() error { return p.srv.Close() }

// Endpoint is how Lifeboat connects to this provider.
func (p *Provider) Endpoint() imapconn.Endpoint {
	host, port, _ := net.SplitHostPort(p.Addr)
	var n int
	fmt.Sscan(port, &n)
	return imapconn.Endpoint{Host: host, Port: n, Security: imapconn.Plain, Username: p.Username, Timeout: 10 * time.Second}
}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// Deliver puts a message into a folder (created when missing) and returns
// nothing but an error, as a mail server's delivery would.
func (p *Provider) Deliver(folder string, raw []byte, date time.Time, flags ...imap.Flag) error {
	_, err := p.User.Append(folder, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{Time: date, Flags: flags})
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate {
		if err := p.User.Create(folder, nil); err != nil {
			return err
		}
		_, err = p.User.Append(folder, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{Time: date, Flags: flags})
	}
	return err
}

// Messages returns every message of a folder as the provider hands it out
// (a read-only IMAP session of its own), in UID order.
func (p *Provider) Messages(folder string) ([][]byte, error) {
	c, err := imapconn.Dial(context.Background(), p.Endpoint(), p.Password, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, err
	}
	sect := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{sect}}).Collect()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.FindBodySection(sect))
	}
	return out, nil
}

// Sample is one message of the demo mailbox.
type Sample struct {
	Folder string
	Date   time.Time
	Flags  []imap.Flag
	Raw    []byte
}

var (
	people = []string{"Tom Baker <tom@example.co.uk>", "Priya Patel <priya.patel@example.org>", "BT Customer Care <care@bt.example>",
		"Mum <mum@example.net>", "Ali Khan <ali@shop.example>", "Dr Sarah Jones <s.jones@nhs.example>", "Café Zoë <hello@cafe-zoe.example>"}
	subjects = []string{"Invoice 2026-118", "Re: Saturday?", "Your bill is ready", "Photos from the weekend", "Order confirmation #4471",
		"Appointment reminder", "Minutes of Tuesday's meeting", "Re: Re: quote for the roof", "Newsletter: November", "Password changed"}
	lines = []string{"Thanks for getting back to me so quickly.", "Could we move it to Thursday afternoon instead?",
		"Please find the details below.", "Let me know if anything is unclear.", "From what I remember, it was the Tuesday.",
		"Best wishes,", "The total comes to £148.20 including VAT.", "Ich schicke dir die Unterlagen morgen früh."}
)

// SampleMail returns the demo mailbox: the same messages every time.
func SampleMail() []Sample {
	r := rand.New(rand.NewPCG(2026, 11))
	base := time.Date(2026, 9, 1, 8, 30, 0, 0, time.FixedZone("BST", 3600))
	folders := []struct {
		name string
		n    int
	}{{"INBOX", 24}, {"Sent", 9}, {"Work/Projects", 7}, {"Work/Invoices", 5}, {"Newsletters", 6}, {"Archive/2025", 8}}
	var out []Sample
	k := 0
	for _, f := range folders {
		for i := 0; i < f.n; i++ {
			k++
			from := people[r.IntN(len(people))]
			date := base.Add(time.Duration(k)*7*time.Hour + time.Duration(r.IntN(3600))*time.Second)
			var b strings.Builder
			fmt.Fprintf(&b, "Return-Path: <%s>\r\n", addrOf(from))
			fmt.Fprintf(&b, "From: %s\r\nTo: Jane Doe <jane@demo.lifeboat>\r\n", from)
			fmt.Fprintf(&b, "Subject: %s\r\nDate: %s\r\n", subjects[r.IntN(len(subjects))], date.Format(time.RFC1123Z))
			if k%17 != 0 { // a few messages have no Message-ID, as in real mailboxes
				fmt.Fprintf(&b, "Message-ID: <demo-%d@demo.lifeboat>\r\n", k)
			}
			fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
			for j := 0; j < 3+r.IntN(12); j++ {
				b.WriteString(lines[r.IntN(len(lines))] + "\r\n")
			}
			var flags []imap.Flag
			if r.IntN(3) > 0 || f.name == "Sent" {
				flags = append(flags, imap.FlagSeen)
			}
			if r.IntN(8) == 0 {
				flags = append(flags, imap.FlagFlagged)
			}
			out = append(out, Sample{Folder: f.name, Date: date, Flags: flags, Raw: []byte(b.String())})
		}
	}
	return out
}

func addrOf(s string) string {
	if i := strings.IndexByte(s, '<'); i >= 0 {
		return strings.TrimSuffix(s[i+1:], ">")
	}
	return s
}
