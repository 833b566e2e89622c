package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-mail/lifeboat/app/wire"
	"github.com/lifeboat-mail/lifeboat/store/config"
	"github.com/lifeboat-mail/lifeboat/store/incidents"
	"github.com/lifeboat-mail/lifeboat/sync/canary"
	"github.com/lifeboat-mail/lifeboat/sync/failover"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

func incidentsPath() string { return wire.IncidentsPath(config.DataDir()) }

// tracker makes the health tracker of this process. Long-running commands
// (monitor, relay) record every change of state in the incident history and
// print it; one-shot commands (send, backup) only use it to route within
// the run, since each of them starts from "unknown" and would otherwise
// record a recovery every time.
func (c *command) tracker(cfg *config.Config) *health.Tracker {
	if c.tr != nil {
		return c.tr
	}
	hooks := health.Hooks{
		OnError: func(err error) { fmt.Fprintf(c.env.Stderr, "lifeboat: health: %v\n", err) },
	}
	if c.watching {
		hooks.OnEvent = func(ev incidents.Event) { c.printEvent(ev) }
		if st, err := incidents.Open(incidentsPath()); err == nil {
			hooks.Store = st
		} else {
			fmt.Fprintf(c.env.Stderr, "lifeboat: incidents will not be recorded: %v\n", err)
		}
	}
	// What every other Lifeboat process saw of the accounts (the app, the
	// relay, a service) counts here too, and what this one sees is shared.
	shared, err := wire.OpenSharedHealth(config.DataDir(), func(err error) { fmt.Fprintf(c.env.Stderr, "lifeboat: health: %v\n", err) })
	if err == nil {
		hooks.OnObserve = shared.Observe
	} else {
		fmt.Fprintf(c.env.Stderr, "lifeboat: health is not shared with other Lifeboat processes: %v\n", err)
	}
	c.tr = health.NewTracker(c.wiring(cfg).HealthConfig(), hooks)
	if shared != nil {
		shared.Load(c.tr)
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			if c.watching {
				shared.Follow(c.ctx, c.tr)
			} else {
				<-c.ctx.Done()
			}
			shared.Close()
		}()
	}
	return c.tr
}

func (c *command) printEvent(ev incidents.Event) {
	what := fmt.Sprintf("%s → %s", ev.From, ev.To)
	if ev.Flapping && ev.From == ev.To {
		what = "flapping: left out of the route until stable"
	}
	line := fmt.Sprintf("%s %s: %s", ev.Time.Local().Format("15:04:05"), ev.Account, what)
	if ev.Protocol != "" {
		line += " (" + strings.ToUpper(ev.Protocol)
		if ev.Phase != "" {
			line += ", " + ev.Phase
		}
		line += ")"
	}
	if ev.Cause != "" {
		line += ": " + ev.Cause
	}
	if c.svcLog != nil {
		c.svcLog.printf("health", "%s", line[len("15:04:05 "):])
		return
	}
	fmt.Fprintln(c.env.Stdout, line)
}

// health returns the health model the router consults.
func (c *command) health(cfg *config.Config) failover.Health {
	return failover.TrackerHealth(c.tracker(cfg))
}

// startMonitor runs the outage probes in the background until the
// command's context ends.
func (c *command) startMonitor(cfg *config.Config) *health.Monitor {
	m := health.NewMonitor(c.tracker(cfg), c.wiring(cfg).Targets())
	c.bg.Add(1)
	go func() { defer c.bg.Done(); m.Run(c.ctx) }()
	return m
}

func (c *command) monitor(args []string) error {
	fs := c.flags("monitor")
	once := fs.Bool("once", false, "probe every account once (with a real login), print the results and exit")
	verbose := fs.Bool("v", false, "print every probe, not only changes of state")
	withCanary := fs.Bool("canary", false, "with --once: send every configured delivery check now and wait for each up to its deadline")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("monitor takes no arguments")
	}
	if *withCanary && !*once {
		return usagef("--canary goes with --once (a running monitor sends the checks on their schedule)")
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	c.watching = true
	tr := c.tracker(cfg)
	if *once && *withCanary {
		return c.canaryOnce(cfg, tr)
	}
	if *once {
		return c.probeOnce(cfg, tr)
	}
	m := health.NewMonitor(tr, c.wiring(cfg).Targets())
	if *verbose {
		m.OnResult = func(account string, r health.Result) { c.printResult(account, r) }
	}
	fmt.Fprintf(c.env.Stdout, "Watching %s every %s (a real login at most every %s). Ctrl-C stops.\n",
		plural(len(cfg.Accounts), "account", "accounts"), cfg.Failover.ProbeInterval.Duration, cfg.Failover.LoginInterval.Duration)
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func (c *command) printResult(account string, r health.Result) {
	var phases []string
	for _, p := range r.Phases {
		phases = append(phases, fmt.Sprintf("%s %s", p.Phase, p.Duration.Round(time.Millisecond)))
	}
	status := "ok"
	if !r.OK {
		status = "FAILED at " + string(r.FailedPhase) + ": " + r.Cause
	}
	fmt.Fprintf(c.env.Stdout, "%s %s %s: %s (%s)\n", time.Now().Format("15:04:05"), account, r.Protocol, status, strings.Join(phases, ", "))
	for _, w := range r.Warnings {
		fmt.Fprintf(c.env.Stdout, "  warning: %s\n", w)
	}
}

// probeOnce probes every account's IMAP and SMTP once, with a login, and
// prints the timings; exit status 1 when any probe failed.
func (c *command) probeOnce(cfg *config.Config, tr *health.Tracker) error {
	failed := false
	for _, t := range c.wiring(cfg).Targets() {
		for _, p := range []health.Protocol{health.IMAP, health.SMTP} {
			if (p == health.SMTP && t.SMTP == nil) || (p == health.IMAP && t.IMAP == nil) {
				continue
			}
			login, err := t.Credentials(c.ctx, p)
			if err != nil {
				if o, ok := health.SignInRefused(t.Account, p, err); ok {
					// An OAuth2 sign-in the provider refused: nothing to try.
					tr.Observe(o)
					fmt.Fprintf(c.env.Stdout, "%s %s: NEEDS YOU: %v\n", t.Account, p, err)
					failed = true
				} else {
					fmt.Fprintf(c.env.Stdout, "%s %s: no login (%v)\n", t.Account, p, err)
				}
			}
			var r health.Result
			if p == health.IMAP {
				r = health.ProbeIMAP(c.ctx, *t.IMAP, login)
			} else {
				r = health.ProbeSMTP(c.ctx, *t.SMTP, login)
			}
			tr.Observe(r.Observation(t.Account))
			c.printResult(t.Account, r)
			failed = failed || !r.OK
		}
	}
	if failed {
		return exitError{ExitFailure}
	}
	return nil
}

// printIncidents shows the recent incident history (status).
func (c *command) printIncidents(n int) {
	st, err := incidents.Open(incidentsPath())
	if err != nil {
		return
	}
	defer st.Close()
	all, err := st.Recent(10000)
	if err != nil || len(all) == 0 {
		return
	}
	// The last recorded state of each account (as seen by the last
	// lifeboat monitor or relay that ran).
	last := map[string]incidents.Event{}
	var order []string
	for _, ev := range all {
		if _, ok := last[ev.Account]; !ok {
			order = append(order, ev.Account)
		}
		last[ev.Account] = ev
	}
	fmt.Fprintln(c.env.Stdout, "\nLast known provider health:")
	for _, a := range order {
		ev := last[a]
		state, _ := health.ParseState(ev.To)
		fmt.Fprintf(c.env.Stdout, "  %s: %s since %s", a, state.Words(), ev.Time.Local().Format("2006-01-02 15:04"))
		if ev.Cause != "" && state != health.Up {
			fmt.Fprintf(c.env.Stdout, " (%s)", ev.Cause)
		}
		fmt.Fprintln(c.env.Stdout)
	}
	evs := all[max(0, len(all)-n):]
	fmt.Fprintf(c.env.Stdout, "\nRecent provider incidents (%s):\n", incidentsPath())
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 0, 2, ' ', 0)
	for _, ev := range evs {
		fmt.Fprintf(tw, "  %s\t%s\t%s → %s\t%s\n", ev.Time.Local().Format("2006-01-02 15:04:05"), ev.Account, ev.From, ev.To, ev.Cause)
	}
	tw.Flush()
}

// canaryOnce sends every configured delivery check at once, waits for each
// up to its deadline, prints the outcomes; exit 3 when one did not arrive.
func (c *command) canaryOnce(cfg *config.Config, tr *health.Tracker) error {
	w := c.wiring(cfg)
	var probes []canary.Probe
	for _, a := range cfg.Accounts {
		if a.Canary == nil {
			continue
		}
		p, err := w.CanaryProbe(a)
		if err != nil {
			return err
		}
		probes = append(probes, p)
	}
	if len(probes) == 0 {
		return usagef("no account has a delivery check: add [account.canary] with every = \"24h\" (README, \"Delivery checks\")")
	}
	fmt.Fprintf(c.env.Stdout, "Sending %s…\n", plural(len(probes), "delivery check", "delivery checks"))
	results := make([]canary.Result, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = canary.Run(c.ctx, p) }()
	}
	wg.Wait()
	missing, unknown := false, false
	for _, r := range results {
		if o, ok := wire.CanaryObservation(r); ok {
			tr.Observe(o)
		}
		switch r.Outcome {
		case canary.Delivered:
			fmt.Fprintf(c.env.Stdout, "%s: delivered to %s after %s\n", r.Account, r.Folder, r.Latency.Round(100*time.Millisecond))
		case canary.Junk:
			fmt.Fprintf(c.env.Stdout, "%s: JUNK — %s\n", r.Account, r.Cause)
		case canary.Missing, canary.NotSent:
			missing = true
			fmt.Fprintf(c.env.Stdout, "%s: NOT DELIVERED — %s\n", r.Account, r.Cause)
		default:
			unknown = true
			fmt.Fprintf(c.env.Stdout, "%s: NOT CHECKED — %s\n", r.Account, r.Cause)
		}
	}
	switch {
	case missing:
		return exitError{ExitWarnings}
	case unknown:
		return exitError{ExitFailure}
	}
	return nil
}
