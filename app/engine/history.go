package engine

import (
	"time"

	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// HistorySpan is how far back the Health view draws.
const HistorySpan = 24 * time.Hour

// historyEvery is how often the engine re-reads the shared health log for
// the Health view (every process's checks, not only its own).
const historyEvery = 30 * time.Second

// History is what the Health view draws of one account over the last
// HistorySpan, oldest first.
type History struct {
	// Checks of reachability per protocol ("imap", "smtp"): probes, sends
	// and backups.
	Checks map[string][]health.Check
	// Canary is the delivery checks ([account.canary]): OK arrived (in the
	// inbox; Warning set: in the junk folder), else not by the deadline.
	Canary []health.Check
	// Bounces counts the messages sent through the account that bounced.
	Bounces int
	// Slow is the latency beyond which a check counts as slow.
	Slow time.Duration
}

// History returns an account's recent checks from the engine's copy of
// the shared health log (it never reads the disk on the caller's
// goroutine).
func (e *Engine) History(account string) History {
	e.mu.Lock()
	h, ok := e.history[account]
	e.mu.Unlock()
	if !ok {
		h.Slow = e.tracker.Config().SlowLatency
	}
	return h
}

// reloadHistory reads the last HistorySpan of the shared health log; it
// reports whether anything is new.
func (e *Engine) reloadHistory() bool {
	if e.shared == nil {
		return false
	}
	obs, _ := e.shared.History(time.Now().Add(-HistorySpan))
	byAccount := map[string]History{}
	slow := e.tracker.Config().SlowLatency
	for _, o := range obs {
		h := byAccount[o.Account]
		h.Slow = slow
		byAccount[o.Account] = h.with(o)
	}
	e.mu.Lock()
	news := len(obs) != e.historyN || (len(obs) > 0 && !obs[len(obs)-1].Time.Equal(e.historyLast))
	e.history, e.historyN = byAccount, len(obs)
	if len(obs) > 0 {
		e.historyLast = obs[len(obs)-1].Time
	}
	e.mu.Unlock()
	return news
}

// with is h and o: a new History, its maps not shared with h's (a view
// may be reading h), its slices appended to (only the engine's copy is
// ever appended to, under e.mu).
func (h History) with(o health.Observation) History {
	switch o.Phase {
	case health.PhaseCanary:
		h.Canary = append(h.Canary, o.Check())
	case health.PhaseBounce:
		h.Bounces++
	default:
		checks := make(map[string][]health.Check, len(h.Checks)+1)
		for p, c := range h.Checks {
			checks[p] = c
		}
		p := string(o.Protocol)
		checks[p] = append(checks[p], o.Check())
		h.Checks = checks
	}
	return h
}

// observed takes in one of this engine's own observations (the tracker's
// OnObserve, beside the shared log), so that the Health view shows it at
// once; the others' come with the next reloadHistory. The view is told
// at most every historyTell.
func (e *Engine) observed(o health.Observation) {
	e.mu.Lock()
	h, ok := e.history[o.Account]
	if !ok {
		h.Slow = e.tracker.Config().SlowLatency
	}
	if e.history == nil {
		e.history = map[string]History{}
	}
	e.history[o.Account] = h.with(o)
	tell := time.Since(e.historyTold) >= historyTell
	if tell {
		e.historyTold = time.Now()
	}
	e.mu.Unlock()
	if tell {
		e.changed()
	}
}

// historyTell is how often the engine's own checks refresh the views.
const historyTell = 2 * time.Second

// followHistory keeps the copy current until the engine closes.
func (e *Engine) followHistory() {
	t := time.NewTicker(historyEvery)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
			if e.reloadHistory() {
				e.changed()
			}
		}
	}
}
