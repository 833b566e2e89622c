package engine

import (
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/sync/relay"
)

// Settings is what the settings view shows and changes.
type Settings struct {
	ArchiveDir    string
	BackupEvery   time.Duration
	Order         []string // failover order
	FromPolicy    string
	RelayListen   string
	RelayOn       bool
	RelayUser     string
	RelayPassword string
	Notifications string // all, problems, none
}

// Settings returns the current settings.
func (e *Engine) Settings() Settings {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Settings{ArchiveDir: e.cfg.ArchiveDir, BackupEvery: e.cfg.BackupEvery.Duration,
		Order: append([]string(nil), e.cfg.Failover.Order...), FromPolicy: e.cfg.Failover.FromPolicy,
		RelayListen: e.cfg.Failover.RelayListen, RelayOn: e.relay != nil, RelayUser: wire.RelayUser, Notifications: e.cfg.Notifications}
	if e.relay != nil {
		s.RelayListen = e.relay.Addr
		s.RelayPassword = e.relayPassword
	}
	return s
}

// Apply saves changed settings (order, From policy, schedule) to the
// configuration file. The archive location and the relay address are shown,
// and changed in the file.
func (e *Engine) Apply(s Settings) error {
	e.mu.Lock()
	cfg := *e.cfg
	cfg.Failover.Order = append([]string(nil), s.Order...)
	cfg.Failover.FromPolicy = s.FromPolicy
	if s.Notifications != "" {
		cfg.Notifications = s.Notifications
	}
	if s.BackupEvery > 0 {
		cfg.BackupEvery = config.Duration{Duration: s.BackupEvery}
	}
	e.mu.Unlock()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if e.demo == nil {
		if err := cfg.Save(); err != nil {
			return err
		}
	}
	e.mu.Lock()
	e.cfg = &cfg
	e.mu.Unlock()
	e.router.SetAccounts(e.wiring().SendAccounts())
	e.changed()
	return nil
}

// SetRelay starts or stops the local submission relay that mail programs
// (Thunderbird, Outlook) can send through; its password is generated once
// and kept in the keyring.
func (e *Engine) SetRelay(on bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !on {
		if e.relay != nil {
			e.relay.Close()
			e.relay = nil
		}
		return nil
	}
	if e.relay != nil {
		return nil
	}
	rc, err := (wire.Wiring{Config: e.cfg, Secrets: e.secrets}).Relay(e.dataDir)
	if err != nil {
		return err
	}
	addr := e.cfg.Failover.RelayListen
	if e.demo != nil {
		addr = "127.0.0.1:0"
	}
	r, err := relay.Start(rc.Options(addr, false, e.ob, func(string) { e.router.Wake(); e.reloadOutbox(); e.changed() }))
	if err != nil {
		return err
	}
	e.relay, e.relayPassword = r, rc.Password
	return nil
}
