package loop

import (
	"context"
	"time"
)

// Stall detection: a speaker whose process was stopped (SIGSTOP, a frozen VM or cgroup) or
// starved of CPU for longer than the peers' liveness timeout was seen dead by them, and another
// node took its addresses over; when it runs again it wins them back, usually without any change
// of its own, so nothing would make it repeat its gratuitous packets, and clients would keep
// sending to the other node. The status check (contested) catches that when the informer shows
// the other node's entry, but the other node may remove its entry before this node's cache has
// seen it. The stall itself is certain: a ticker that fires late by more than stallAfter.
const (
	stallTick  = 100 * time.Millisecond
	stallAfter = 500 * time.Millisecond // below the liveness timeout (800 ms): a peer may have acted
)

// stallWatch tells, from the times a ticker fired, whether the process was stalled in between.
type stallWatch struct{ last time.Time }

// observe records a tick at now and returns the time since the previous tick when it exceeded
// stallAfter, and 0 otherwise. The first tick only records.
func (w *stallWatch) observe(now time.Time) time.Duration {
	var gap time.Duration
	if !w.last.IsZero() && now.Sub(w.last) > stallAfter {
		gap = now.Sub(w.last)
	}
	w.last = now
	return gap
}

// watchStalls marks the loop stalled and dirty whenever its process was stalled, until ctx ends.
func (l *Loop) watchStalls(ctx context.Context) {
	t := time.NewTicker(stallTick)
	defer t.Stop()
	var w stallWatch
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// time.Now, not the tick's time: the ticker's value is when it was due, and a stopped
		// process catches up on one late tick whose due time is before the stop.
		if gap := w.observe(time.Now()); gap > 0 {
			l.log.Info("this process did not run for a while (stopped or starved); repeating the gratuitous packets of its addresses",
				"gap", gap.Round(time.Millisecond))
			l.stalled.Store(true)
			l.markDirty()
		}
	}
}
