package backup

import (
	"context"
	"sync"
	"time"
)

// Parallel folders. Against a provider far away, a changed folder costs
// a few round trips (SELECT, what changed, the new messages): one after
// the other, 10 folders at 50 ms cost seconds. Where the login's round
// trip shows such a distance, the folders are shared out over a few
// connections; on a nearby server one connection is as fast and lighter.

// farRTT is the round trip from which a backup uses several connections.
const farRTT = 10 * time.Millisecond

// connections is how many connections to back the account's folders up
// over: Options.Connections when set, else MaxConnections when a NOOP's
// round trip is farRTT or more. (The extra connections log in only when a
// folder needs the server: unchanged folders are settled from LIST-STATUS.)
func (e *engine) connections(ctx context.Context, folders []folderInfo) int {
	n := e.opts.Connections
	if n == 0 {
		n = 1
		if len(folders) > 1 && e.c != nil {
			start := time.Now()
			if err := e.c.Noop().Wait(); err == nil && time.Since(start) >= farRTT {
				n = MaxConnections
			}
		}
	}
	return max(1, min(n, len(folders), MaxConnections))
}

// MaxConnections bounds the connections of one account's backup (Gmail
// allows 15 per account, Dovecot 10 per user and address by default).
const MaxConnections = 3

// parallel backs the folders up over n connections: this engine's and
// n-1 more, each taking the next folder when it is done with one. The
// first failure stops the others taking new folders.
func (e *engine) parallel(ctx context.Context, folders []folderInfo, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan folderInfo)
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		cancel()
	}
	for i := 0; i < n; i++ {
		w := e
		if i > 0 {
			w = &engine{mu: e.mu, inbox: e.inbox, opts: e.opts, acct: e.acct, pw: e.pw, run: e.run, emit: e.emit, nsPrefix: e.nsPrefix,
				bodyBuf: body{spoolDir: e.bodyBuf.spoolDir}}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if w != e {
					w.bodyBuf.closeSpool()
					if w.c != nil {
						w.c.Logout().Wait()
						w.c.Close()
					}
				}
			}()
			for fi := range jobs {
				if err := w.oneFolder(ctx, fi); err != nil {
					fail(err)
				}
			}
		}()
	}
	for _, fi := range folders {
		if ctx.Err() != nil {
			break
		}
		select {
		case jobs <- fi:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if ctx.Err() != nil {
		return context.Canceled
	}
	if e.c != nil {
		e.c.Logout().Wait()
	}
	return nil
}
