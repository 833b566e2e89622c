package wire

import (
	"context"
	"time"

	"github.com/lifeboat-mail/lifeboat/store/healthlog"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// HealthMemory is how far back a process starting up takes in what the
// others saw: long enough to know that an account is down now, short
// enough that yesterday's outage does not keep it out of the route.
const HealthMemory = 30 * time.Minute

// FollowEvery is how often a long-running process reads what the others
// have seen since.
const FollowEvery = 2 * time.Second

// SharedHealth connects a process's health tracker to the health log
// every Lifeboat process shares (store/healthlog): what this process
// observes is appended; what the others observe is replayed into it.
type SharedHealth struct {
	log    *healthlog.Log
	tail   *healthlog.Tail
	report func(error)
}

// OpenSharedHealth opens the log in dataDir; report hears write failures.
func OpenSharedHealth(dataDir string, report func(error)) (*SharedHealth, error) {
	l, err := healthlog.Open(healthlog.DefaultPath(dataDir))
	if err != nil {
		return nil, err
	}
	if report == nil {
		report = func(error) {}
	}
	return &SharedHealth{log: l, tail: l.Tail(), report: report}, nil
}

// Observe appends an observation of this process (a Tracker's OnObserve).
func (s *SharedHealth) Observe(o health.Observation) {
	if err := s.log.Append(record(o)); err != nil {
		s.report(err)
	}
}

// Load replays the last HealthMemory of every process's observations into
// tr (before this process observes anything itself).
func (s *SharedHealth) Load(tr *health.Tracker) {
	recs, err := s.log.Recent(time.Now().Add(-HealthMemory))
	if err != nil {
		s.report(err)
	}
	for _, r := range recs {
		tr.Replay(observation(r))
	}
}

// History is every process's observations since then, oldest first (what
// the Health view draws).
func (s *SharedHealth) History(since time.Time) ([]health.Observation, error) {
	recs, err := s.log.Recent(since)
	out := make([]health.Observation, 0, len(recs))
	for _, r := range recs {
		out = append(out, observation(r))
	}
	return out, err
}

// Sync replays what the other processes observed since the last call.
func (s *SharedHealth) Sync(tr *health.Tracker) {
	for _, r := range s.tail.Next() {
		tr.Replay(observation(r))
	}
}

// Follow calls Sync every FollowEvery until ctx ends.
func (s *SharedHealth) Follow(ctx context.Context, tr *health.Tracker) {
	t := time.NewTicker(FollowEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sync(tr)
		}
	}
}

// Close ends the log's tail.
func (s *SharedHealth) Close() { s.tail.Close() }

func record(o health.Observation) healthlog.Record {
	return healthlog.Record{Time: o.Time, Account: o.Account, Protocol: string(o.Protocol), OK: o.OK, LoggedIn: o.LoggedIn,
		Latency: o.Latency, Phase: string(o.Phase), Kind: string(o.Kind), Cause: o.Cause, Warning: o.Warning}
}

func observation(r healthlog.Record) health.Observation {
	return health.Observation{Time: r.Time, Account: r.Account, Protocol: health.Protocol(r.Protocol), OK: r.OK, LoggedIn: r.LoggedIn,
		Latency: r.Latency, Phase: health.Phase(r.Phase), Kind: health.Kind(r.Kind), Cause: r.Cause, Warning: r.Warning}
}
