// Package wire turns the configuration (store/config) and the secret store
// (store/secrets) into what the engines need: backup accounts and options
// (sync/backup), the health model's settings and probe targets
// (sync/health), the sending accounts and router options (sync/failover),
// the outbox and the relay's credentials. The command line (app/cli) and
// the desktop engine (app/engine) both go through it, so one configuration
// means the same thing to both; nothing else in app/ builds an endpoint or
// looks up a password.
//
// Invariants: passwords and OAuth2 access tokens are fetched only when an
// engine asks (a function per account, never a stored string); an OAuth2
// token goes only to a server the configuration signs in to with OAuth2;
// and a server's TLS settings (its security mode and CA file) reach every
// protocol client unchanged.
package wire

import (
	"context"
	"path/filepath"

	"github.com/lifeboat-mail/lifeboat/store/archive"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/incidents"
	"github.com/lifeboat-mail/lifeboat/store/outbox"
	"github.com/lifeboat-mail/lifeboat/store/secrets"
	"github.com/lifeboat-mail/lifeboat/sync/backup"
	"github.com/lifeboat-mail/lifeboat/sync/canary"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
	"github.com/lifeboat-mail/lifeboat/sync/health"
	"github.com/lifeboat-mail/lifeboat/sync/imapconn"
	"github.com/lifeboat-mail/lifeboat/sync/mailauth"
	"github.com/lifeboat-mail/lifeboat/sync/providers"
	"github.com/lifeboat-mail/lifeboat/sync/relay"
	"github.com/lifeboat-mail/lifeboat/sync/restore"
	"github.com/lifeboat-mail/lifeboat/sync/smtpsend"
)

// RelayUser is the user name mail programs log in to the local relay with;
// its password comes from Wiring.Relay.
const RelayUser = "lifeboat"

// Wiring is one configuration with the place its passwords come from.
type Wiring struct {
	Config  *config.Config
	Secrets secrets.Store
	// Password, when set, replaces the secret store (the built-in demo's
	// fixed passwords).
	Password func(a config.Account, smtp bool) (string, error)
}

// AccountPassword is an account's password for IMAP, or for SMTP: the
// SMTP section's password_command when it has one, else the account's
// (IMAP) credentials, as most providers use one password for both.
//
// For a protocol the account signs in to with OAuth2 it is the current
// access token instead (refreshed when about to expire).
func (w Wiring) AccountPassword(a config.Account, smtp bool) (string, error) {
	if w.Password != nil {
		return w.Password(a, smtp)
	}
	if (!smtp && a.UsesOAuth2()) || (smtp && a.SMTPUsesOAuth2()) {
		return w.accessToken(a)
	}
	cmd := a.IMAP.PasswordCommand
	if smtp && a.SMTP != nil && a.SMTP.PasswordCommand != "" {
		cmd = a.SMTP.PasswordCommand
	}
	return secrets.Password(w.Secrets, a.Name, cmd)
}

// IMAPEndpoint is what sync/imapconn dials for a configured server.
func IMAPEndpoint(s config.Server) imapconn.Endpoint {
	return imapconn.Endpoint{Host: s.Host, Port: s.Port, Security: imapconn.Security(s.Security),
		Username: s.Username, CAFile: s.TLSCAFile}
}

// SMTPEndpoint is what sync/smtpsend dials for a configured server. Its
// timeouts are smtpsend's defaults (60 s a command, 10 minutes for the
// reply to the final dot): the health monitor, not a short command
// timeout, is what takes a hung provider out of the route.
func SMTPEndpoint(s config.Server) smtpsend.Endpoint {
	return smtpsend.Endpoint{Host: s.Host, Port: s.Port, Security: string(s.Security), Username: s.Username, CAFile: s.TLSCAFile}
}

// SMTPProbeEndpoint is what the outage monitor's SMTP probe dials.
func SMTPProbeEndpoint(s config.Server) health.SMTPEndpoint {
	return health.SMTPEndpoint{Host: s.Host, Port: s.Port, Security: imapconn.Security(s.Security), Username: s.Username, CAFile: s.TLSCAFile}
}

// IMAP is what sync/imapconn dials for an account: its server and, for
// OAuth2, the sign-in method and the token's renewal.
func (w Wiring) IMAP(a config.Account) imapconn.Endpoint {
	ep := IMAPEndpoint(a.IMAP)
	if a.UsesOAuth2() && w.Password == nil {
		ep.Auth, ep.Renew, ep.Token = mailauth.OAuth2, w.renew(a), w.token(a)
	}
	return ep
}

// SMTP is what sync/smtpsend dials for an account that sends.
func (w Wiring) SMTP(a config.Account) smtpsend.Endpoint {
	ep := SMTPEndpoint(*a.SMTP)
	ep.SetupBudget = w.Config.Failover.SendBudget.Duration
	if a.SMTPUsesOAuth2() && w.Password == nil {
		ep.Auth, ep.Renew, ep.Token = mailauth.OAuth2, w.renew(a), w.token(a)
	}
	return ep
}

// SMTPProbe is what the outage monitor's SMTP probe dials for an account.
func (w Wiring) SMTPProbe(a config.Account) health.SMTPEndpoint {
	ep := SMTPProbeEndpoint(*a.SMTP)
	if a.SMTPUsesOAuth2() && w.Password == nil {
		ep.Auth = mailauth.OAuth2
	}
	return ep
}

// BackupAccount is one account as sync/backup sees it.
func (w Wiring) BackupAccount(a config.Account) backup.Account {
	return backup.Account{Name: a.Name, Endpoint: w.IMAP(a), Wants: a.WantsFolder,
		Password: func() (string, error) { return w.AccountPassword(a, false) }}
}

// RestoreTarget is a configured account as sync/restore restores into it.
func (w Wiring) RestoreTarget(a config.Account) restore.Target {
	return restore.Target{Name: a.Name, Endpoint: w.IMAP(a),
		Password: func() (string, error) { return w.AccountPassword(a, false) }}
}

// BackupOptions are the run's options: the archive, the mass-deletion
// guard of the configuration, and every account's outcome reported to the
// health model (a backup is a real login, as good as a probe).
func (w Wiring) BackupOptions(arch *archive.Archive, tr *health.Tracker) backup.Options {
	return backup.Options{Archive: arch, MassDeletePercent: w.Config.MassDeletePercent, MassDeleteMin: w.Config.MassDeleteMin,
		Observe: func(account string, err error) { tr.Observe(BackupObservation(account, err)) }}
}

// BackupObservation is what a backup's outcome tells the health model.
func BackupObservation(account string, err error) health.Observation {
	o := health.Observation{Account: account, Protocol: health.IMAP, Phase: health.PhaseBackup, OK: err == nil, LoggedIn: err == nil}
	if err != nil {
		o.Kind, o.Cause = health.Classify(health.IMAP, health.PhaseBackup, err)
	}
	return o
}

// HealthConfig is the health model's thresholds and intervals from the
// [failover] section, over the defaults.
func (w Wiring) HealthConfig() health.Config {
	f := w.Config.Failover
	hc := health.DefaultConfig()
	hc.FailuresToDown, hc.SuccessesToUp = f.FailuresToDown, f.SuccessesToUp
	hc.SlowLatency, hc.ProbeInterval, hc.LoginInterval = f.SlowLatency.Duration, f.ProbeInterval.Duration, f.LoginInterval.Duration
	hc.SendBudget = f.SendBudget.Duration
	keep := map[string]bool{}
	for _, a := range w.Config.Accounts {
		if a.Canary != nil && a.Canary.KeepRouting {
			keep[a.Name] = true
		}
	}
	hc.KeepRouting = func(account string) bool { return keep[account] }
	return hc
}

// Targets are the outage monitor's targets: IMAP for every account, SMTP
// for the accounts that send, each logging in with its own credentials
// when a login probe is due.
func (w Wiring) Targets() []health.Target {
	var out []health.Target
	for _, a := range w.Config.Accounts {
		imapEP := w.IMAP(a)
		imapEP.Renew, imapEP.Token = nil, nil // a probe's token is fresh (Credentials): a refusal is news
		t := health.Target{Account: a.Name, IMAP: &imapEP}
		if a.SMTP != nil {
			smtpEP := w.SMTPProbe(a)
			t.SMTP = &smtpEP
		}
		t.Credentials = func(ctx context.Context, p health.Protocol) (*health.Login, error) {
			pw, err := w.AccountPassword(a, p == health.SMTP)
			if err != nil {
				return nil, err
			}
			if p == health.SMTP && a.SMTP != nil {
				return &health.Login{Username: a.SMTP.Username, Password: pw, Address: sender(a)}, nil
			}
			return &health.Login{Username: a.IMAP.Username, Password: pw}, nil
		}
		if a.Canary != nil {
			if probe, err := w.CanaryProbe(a); err == nil {
				t.CanaryEvery = a.Canary.Every.Duration
				t.Canary = func(ctx context.Context) (health.Observation, bool) {
					return CanaryObservation(canary.Run(ctx, probe))
				}
			}
		}
		if a.AnyOAuth2() && w.Password == nil {
			t.TokenCheck = func(ctx context.Context) error {
				src, err := w.Tokens(a)
				if err != nil {
					return err
				}
				return src.Check(ctx)
			}
		}
		out = append(out, t)
	}
	return out
}

// sender is the address an account sends as: its email, else its SMTP
// user name.
func sender(a config.Account) string {
	if a.Email != "" {
		return a.Email
	}
	return a.SMTP.Username
}

// SendAccounts are the accounts that can send, for the router: each with
// its SMTP endpoint, its password, the IMAP check of its Sent folder that
// settles a submission whose outcome was not seen, and (file_in_sent) the
// filing of failed-over copies there.
func (w Wiring) SendAccounts() []failover.Account {
	var out []failover.Account
	for _, a := range w.Config.SMTPAccounts() {
		imapPassword := func() (string, error) { return w.AccountPassword(a, false) }
		acct := failover.Account{Name: a.Name, Email: sender(a), SendAs: a.SendAs, SMTP: w.SMTP(a),
			Password:  func() (string, error) { return w.AccountPassword(a, true) },
			CheckSent: failover.SentChecker(w.IMAP(a), imapPassword, providers.FilesSubmissions(a.SMTP.Host))}
		if w.Config.Failover.FileInSent {
			acct.FileSent = failover.SentFiler(w.IMAP(a), imapPassword)
		}
		out = append(out, acct)
	}
	return out
}

// RouterOptions are the router's options from the [failover] section; the
// caller adds its Notify and, in tests, AfterStep.
func (w Wiring) RouterOptions(ob *outbox.Outbox, arch *archive.Archive, h failover.Health) failover.Options {
	return failover.Options{Outbox: ob, Accounts: w.SendAccounts(), FromPolicy: w.Config.Failover.FromPolicy, Health: h,
		Archive: arch, RecipientLimit: max(w.Config.Failover.RecipientLimit, 0)}
}

// OutboxDir is where the outbox lives in a data directory.
func OutboxDir(dataDir string) string { return filepath.Join(dataDir, "outbox") }

// IncidentsPath is where the incident history lives in a data directory.
func IncidentsPath(dataDir string) string { return incidents.DefaultPath(dataDir) }

// OpenOutbox opens the outbox in dataDir and recovers what an earlier
// process left half-done (the ledger's notes go to report, which also
// receives the outbox's later reports).
func OpenOutbox(dataDir string, report func(string)) (*outbox.Outbox, error) {
	ob, err := outbox.Open(OutboxDir(dataDir))
	if err != nil {
		return nil, err
	}
	ob.Report = report
	notes, err := ob.Recover()
	for _, n := range notes {
		report(n)
	}
	if err != nil {
		return nil, err
	}
	return ob, nil
}

// Relay is what the local submission relay needs besides its address: the
// password mail programs log in with (the keyring's generated one, or
// relay_password_command's) and its certificate, kept in dataDir.
type Relay struct {
	User, Password string
	TLS            *relay.TLSConfig
}

// Relay loads (or, the first time, makes) the relay's password and
// certificate.
func (w Wiring) Relay(dataDir string) (*Relay, error) {
	pw, err := secrets.RelayPassword(w.Secrets, w.Config.Failover.RelayPasswordCommand)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := relay.LoadOrCreateTLS(dataDir)
	if err != nil {
		return nil, err
	}
	return &Relay{User: RelayUser, Password: pw, TLS: tlsCfg}, nil
}

// Options are relay.Options for this relay on addr, queueing into ob.
func (r *Relay) Options(addr string, allowRemote bool, ob *outbox.Outbox, queued func(string)) relay.Options {
	return relay.Options{Addr: addr, AllowRemote: allowRemote, Username: r.User, Password: r.Password, Outbox: ob, TLS: r.TLS, Queued: queued}
}
