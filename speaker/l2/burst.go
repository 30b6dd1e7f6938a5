package l2

import (
	"context"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

const (
	// garpSpan is how long after a takeover gratuitous packets are still sent: a client whose
	// first copy was lost, or a switch port still coming up (STP, LACP), gets another chance for
	// this long. MetalLB repeats for 5 s too.
	garpSpan = 5 * time.Second
	// garpGap separates repeats. It is above Linux's default neighbour locktime (1 s,
	// net.ipv4.neigh.*.locktime): an ARP update that is not recognised as gratuitous is ignored
	// when the entry changed less than locktime ago, so if another host's reply landed just
	// before one of our packets, the next one lands after the lock expired. The extra 100 ms
	// covers the jiffies rounding of the kernel's time_after() comparison.
	garpGap = 1100 * time.Millisecond
)

// garpSchedule returns the offsets from a takeover at which gratuitous packets go out: the first
// at once, since it is the one that moves clients, then every gap until at least span has
// passed since the first.
func garpSchedule(span, gap time.Duration) []time.Duration {
	if gap <= 0 {
		return []time.Duration{0}
	}
	offsets := []time.Duration{0}
	for offsets[len(offsets)-1] < span {
		offsets = append(offsets, offsets[len(offsets)-1]+gap)
	}
	return offsets
}

// runBurst sends at every offset of schedule, counted from its start, until ctx ends. Errors
// are logged and the burst goes on: a later packet may still get through.
func runBurst(ctx context.Context, clk clock.Clock, schedule []time.Duration, send func() error, log klog.Logger) {
	start := clk.Now()
	for i, off := range schedule {
		if wait := off - clk.Since(start); wait > 0 {
			t := clk.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err := send(); err != nil {
			log.Error(err, "Sending a gratuitous announcement failed", "round", i)
		}
	}
}
