package engine

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/demo"
)

// demoWorld is two built-in providers, each an IMAP server with sample mail
// and an SMTP server, reached through switches so that an outage can be
// played.
type demoWorld struct {
	providers []*demoProvider
}

type demoProvider struct {
	name     string
	imap     *demo.Provider
	smtp     *demo.SMTP
	imapSw   *demo.Switch
	smtpSw   *demo.Switch
	password string
}

func (w *demoWorld) password(account string) string {
	for _, p := range w.providers {
		if p.name == account {
			return p.password
		}
	}
	return ""
}

func (w *demoWorld) setDown(down bool) {
	p := w.providers[0]
	p.imapSw.SetDown(down)
	p.smtpSw.SetDown(down)
}

func (w *demoWorld) down() bool { return w.providers[0].imapSw.Down() }

func (w *demoWorld) close() {
	for _, p := range w.providers {
		p.imapSw.Close()
		p.smtpSw.Close()
		p.imap.Close()
		p.smtp.Close()
	}
}

func hostPort(addr string) (string, int) {
	h, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return h, n
}

// StartDemo runs the engine against two built-in demo providers ("bt" and
// "gmail"), with probes every few seconds so a newcomer sees outage
// detection and failover within a minute. dir holds the demo's archive and
// data.
func StartDemo(dir string, hooks Hooks) (*Engine, error) {
	w := &demoWorld{}
	cfg := &config.Config{Path: filepath.Join(dir, "demo-config.toml"), ArchiveDir: filepath.Join(dir, "archive"),
		MassDeletePercent: config.DefaultMassDeletePercent, MassDeleteMin: config.DefaultMassDeleteMin}
	for i, name := range []string{"bt", "gmail"} {
		email := fmt.Sprintf("jane@%s.demo", name)
		p := &demoProvider{name: name, password: "demo-" + name}
		var err error
		opts := demo.Options{Email: email, Password: p.password}
		if i == 1 {
			opts.Empty = true
		}
		if p.imap, err = demo.Start(opts); err != nil {
			return nil, err
		}
		if p.smtp, err = demo.StartSMTP(email, p.password); err != nil {
			return nil, err
		}
		if p.imapSw, err = demo.NewSwitch(p.imap.Addr); err != nil {
			return nil, err
		}
		if p.smtpSw, err = demo.NewSwitch(p.smtp.Addr); err != nil {
			return nil, err
		}
		w.providers = append(w.providers, p)
		ih, ip := hostPort(p.imapSw.Addr)
		sh, sp := hostPort(p.smtpSw.Addr)
		cfg.Accounts = append(cfg.Accounts, config.Account{Name: name, Email: email,
			IMAP: config.Server{Host: ih, Port: ip, Security: config.Plain, Username: email},
			SMTP: &config.Server{Host: sh, Port: sp, Security: config.Plain, Username: email}})
	}
	cfg.Failover.ProbeInterval.Duration = 2 * time.Second
	cfg.Failover.LoginInterval.Duration = 10 * time.Second
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e, err := Open(Options{Config: cfg, Secrets: secrets.NewMemory(), DataDir: filepath.Join(dir, "data"), Hooks: hooks, demo: w})
	if err != nil {
		w.close()
		return nil, err
	}
	return e, nil
}
