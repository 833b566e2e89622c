package wire

import (
	"testing"

	"github.com/lifeboat-mail/lifeboat/store/incidents"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// Two processes share one health state: what the relay sees (the primary
// down) is known to a one-shot send started later, and to the app that was
// already running; no process re-reports the other's incidents.
func TestSharedHealthAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	open := func() (*SharedHealth, *health.Tracker, *[]incidents.Event) {
		sh, err := OpenSharedHealth(dir, func(err error) { t.Error(err) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sh.Close)
		var evs []incidents.Event
		tr := health.NewTracker(health.Config{}, health.Hooks{OnObserve: sh.Observe, OnEvent: func(e incidents.Event) { evs = append(evs, e) }})
		sh.Load(tr)
		return sh, tr, &evs
	}
	app, appTr, appEvents := open()
	_, relayTr, relayEvents := open()
	for i := 0; i < 3; i++ {
		relayTr.Observe(health.Observation{Account: "bt", Protocol: health.SMTP, Phase: health.PhaseTCP, Kind: health.KindUnreachable, Cause: "connection refused"})
	}
	if relayTr.State("bt") != health.Down || len(*relayEvents) == 0 {
		t.Fatalf("the relay's own view: %v", relayTr.State("bt"))
	}
	_, sendTr, sendEvents := open() // a one-shot send, started now
	if sendTr.State("bt") != health.Down || sendTr.Usable("bt") {
		t.Errorf("a new process does not know bt is down: %v", sendTr.State("bt"))
	}
	app.Sync(appTr)
	if appTr.State("bt") != health.Down {
		t.Errorf("the running app did not learn bt is down: %v", appTr.State("bt"))
	}
	if len(*sendEvents) != 0 || len(*appEvents) != 0 {
		t.Errorf("replayed observations were reported again: %v %v", *sendEvents, *appEvents)
	}
	// What the send learns (a success) flows back the other way.
	for i := 0; i < 2; i++ {
		sendTr.Observe(health.Observation{Account: "bt", Protocol: health.SMTP, OK: true, LoggedIn: true, Phase: health.PhaseSend})
	}
	app.Sync(appTr)
	if appTr.State("bt") != health.Up {
		t.Errorf("the app did not learn bt is back: %v", appTr.State("bt"))
	}
}

// Only the sending side's bounces count against the account.
func TestBounceObservation(t *testing.T) {
	for st, counts := range map[string]bool{"5.1.1": false, "5.2.2": false, "5.7.1": true, "4.4.7": true, "": true} {
		_, ok := Bounced{Through: "bt", Status: st, Recipient: "x@y", Reason: "r"}.Observation()
		if ok != counts {
			t.Errorf("status %q counts %t, want %t", st, ok, counts)
		}
	}
}
