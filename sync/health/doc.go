// Package health tells whether each mail account is working: it probes IMAP
// and SMTP, takes in what real traffic (sends, backups) saw, and keeps a
// per-account state with hysteresis, so that the outgoing-mail router can
// skip accounts known down and the app can say "BT Mail: Outage since 10:02".
//
// # Probes
//
// ProbeIMAP and ProbeSMTP time every phase of a connection: DNS (skipped for
// IP literals), TCP, TLS (chain and host name verified, never downgraded; a
// warning when a certificate of the chain expires within 14 days), greeting,
// CAPABILITY/EHLO. With a Login they also sign in for real: IMAP LOGIN, NOOP,
// LOGOUT; SMTP AUTH, MAIL FROM:<self>, RCPT TO:<self>, RSET, QUIT — never
// DATA, so nothing is ever sent. Plaintext is refused unless the host is
// loopback (as in sync/imapconn). A probe is bounded by the endpoint's
// Timeout (default 15 s) and by its context. Its Result names the phase that
// failed, the error, its Kind (auth, unreachable, tls, throttled, other) and
// a Cause in plain words ("login refused: 535 5.7.8 credentials rejected").
//
// # States and rules
//
// A Tracker keeps one state per account: Unknown ("Checking…"), Up
// ("Operational"), Degraded, Down ("Outage"), NeedsYou ("Needs your
// attention"). Its inputs are Observations, from probes and from real
// traffic alike. Each protocol of an account (imap, smtp, or "" for
// observations tied to neither) is followed on its own:
//
//   - A protocol goes down after Config.FailuresToDown (3) consecutive
//     failures; a single failure changes nothing.
//   - A protocol that is down comes back after Config.SuccessesToUp (2)
//     consecutive successes; a protocol never seen before is up at its first
//     success.
//   - An auth failure (credentials rejected, token revoked, account or
//     licence problem) puts the account in NeedsYou at once, without
//     hysteresis; it leaves NeedsYou only after a successful login on that
//     protocol (an Observation with OK and LoggedIn set: a login probe, a
//     send, a backup), never after a mere connection check. Auth failures
//     do not count toward the failures that take a protocol down (the
//     server did answer), so a fixed password brings the account straight
//     back.
//   - Throttling (454 4.7.0, rate limits) counts as a failure.
//
// The account's state is then, in this order: NeedsYou if a protocol is in
// auth failure; Unknown if no protocol is known yet; Down if every known
// protocol is down; Degraded if one protocol is down while another works, or
// if the last success of a working protocol was slower than
// Config.SlowLatency (5 s); else Up.
//
// Flap damping: an account whose state changed more than Config.FlapChanges
// (4) times within Config.FlapWindow (30 min) is flapping; it stays out of
// the route (Usable is false) until its state has not changed for
// Config.FlapHold (10 min).
//
// Usable(account) is what the router asks: false for Down, NeedsYou and
// flapping accounts; Unknown, Up and Degraded accounts are usable.
// UsableFor(account, protocol) is stricter: it is also false when that
// protocol itself is down or in auth failure, and for SMTP while its last
// check (within max(3 probe intervals, 5 min)) took longer than
// Config.SendBudget (15 s): a send would give up on it before MAIL FROM
// anyway. Unusable says which of these, in words.
//
// # Incidents
//
// Every change of state — and the start and end of flapping — produces an
// incidents.Event with the time, the protocol and phase of the observation
// that caused it and the cause in plain words. Events go to Hooks.OnEvent
// and are appended to Hooks.Store when one is set.
//
// # Monitor
//
// A Monitor probes a set of accounts every Config.ProbeInterval (jittered by
// ±10%), feeding the Tracker. Real logins happen no more often than once per
// Config.LoginInterval per account (Gmail answers frequent logins with "454
// 4.7.0 Too many login attempts"); a real login seen in traffic counts, and a
// throttled login doubles the wait. Every goroutine recovers panics and
// reports them to Hooks.OnError; Run returns when its context ends.
package health
