package restore

import (
	"sync"
	"time"
)

// Tally sums a restore's events over its folders: what is to be appended
// (Learned) and what was (Progress), for a progress line. Its zero value
// is ready, and it is safe for the restore's goroutines at once.
type Tally struct {
	mu        sync.Mutex
	toAppend  map[string]int
	toBytes   map[string]int64
	done      map[string]int
	doneBytes map[string]int64
}

// Add takes an event in; it reports whether the totals may have changed.
func (t *Tally) Add(ev Event) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.toAppend == nil {
		t.toAppend, t.toBytes, t.done, t.doneBytes = map[string]int{}, map[string]int64{}, map[string]int{}, map[string]int64{}
	}
	switch ev.Kind {
	case Learned:
		t.toAppend[ev.Folder], t.toBytes[ev.Folder] = ev.Report.ToAppend, ev.Report.ToAppendBytes
	case Progress:
		t.done[ev.Folder], t.doneBytes[ev.Folder] = ev.Messages, ev.Bytes
	default:
		return false
	}
	return true
}

// Totals are the messages and bytes appended so far and to append in all.
func (t *Tally) Totals() (messages, total int, bytes, totalBytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for f, n := range t.toAppend {
		total += n
		totalBytes += t.toBytes[f]
	}
	for f, n := range t.done {
		messages += n
		bytes += t.doneBytes[f]
	}
	return
}

// Left estimates the time still needed, from the bytes done in elapsed
// (0 when nothing is done yet or nothing is left).
func (t *Tally) Left(elapsed time.Duration) time.Duration {
	_, _, b, total := t.Totals()
	if b <= 0 || total <= b {
		return 0
	}
	return time.Duration(float64(elapsed) * float64(total-b) / float64(b))
}
