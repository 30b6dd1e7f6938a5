package liveness

import (
	"net/netip"
	"sync"
	"time"
)

// Per-source budget of datagrams, checked before the MAC and before Membership.mu (issue 17,
// item 6). A peer sends one heartbeat per Interval, plus one at each change of its dead list and
// LeaveRepeats LEAVING datagrams when it stops: sourceRate per Interval and sourceBurst leave it
// ten times that. A source over budget loses its own datagrams only; without the budget, a flood
// from one address (a hostNetwork Pod sharing a node's address) would cost an HMAC and the lock
// per datagram and starve the reader, so that every peer looked dead.
const (
	sourceRate  = 10 // datagrams per Interval
	sourceBurst = 30
)

// admission drops datagrams from addresses that are no peer's, and rations each peer's address,
// so that the reader spends a map lookup, not an HMAC and Membership.mu, on unwanted traffic. Only
// the reader calls admit; SetPeers calls setSources.
type admission struct {
	mu      sync.Mutex
	perSec  float64 // tokens added per second
	burst   float64
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func newAdmission(interval time.Duration) *admission {
	return &admission{perSec: sourceRate / interval.Seconds(), burst: sourceBurst, buckets: map[netip.Addr]*bucket{}}
}

// setSources replaces the admitted addresses; an address kept keeps its budget.
func (a *admission) setSources(addrs []netip.Addr) {
	next := make(map[netip.Addr]*bucket, len(addrs))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ad := range addrs {
		if b := a.buckets[ad]; b != nil {
			next[ad] = b
		} else {
			next[ad] = &bucket{tokens: a.burst}
		}
	}
	a.buckets = next
}

// admit reports whether a datagram from addr, received at now, may go on to the MAC check, and
// if not, why.
func (a *admission) admit(addr netip.Addr, now time.Time) RejectReason {
	addr = addr.Unmap() // a dual-stack socket reports IPv4 sources as ::ffff:a.b.c.d
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buckets[addr]
	if b == nil {
		return RejectUnknownSource
	}
	if now.After(b.at) {
		if !b.at.IsZero() {
			b.tokens = min(a.burst, b.tokens+now.Sub(b.at).Seconds()*a.perSec)
		}
		b.at = now
	}
	if b.tokens < 1 {
		return RejectRateLimited
	}
	b.tokens--
	return 0
}
