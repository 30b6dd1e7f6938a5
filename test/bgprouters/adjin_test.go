//go:build linux

package bgprouters

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestAdjIn: a path leaves at the first word of it, a withdrawal or its session's end from
// Established, whichever the streams tell first; a session seen only on its way up drops
// nothing.
func TestAdjIn(t *testing.T) {
	w := newAdjIn()
	vip := netip.MustParsePrefix("198.18.0.100/32")
	n1, n2, n3 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	path := func(peer netip.Addr, withdrawal bool) []byte {
		return fmt.Appendf(nil, `[{"nlri":{"prefix":%q},"age":1,"best":false,"attrs":[],"stale":false,"withdrawal":%t,"peer-address":%q}]`,
			vip, withdrawal, peer)
	}
	session := func(peer netip.Addr, state int) []byte {
		return fmt.Appendf(nil, `{"conf":{"neighbor_address":%q,"peer_asn":64513},"state":{"session_state":%d,"admin_state":1}}`, peer, state)
	}
	const active, established = 3, 6

	for _, n := range []netip.Addr{n1, n2, n3} {
		w.recordSession(at(0), session(n, established))
		w.record(at(0), path(n, false))
	}
	w.record(at(10), path(n1, true))             // n1 withdraws
	w.recordSession(at(20), session(n2, active)) // n2's session ends before its withdrawal is read
	w.record(at(30), path(n2, true))             // which does not move the time it left
	w.recordSession(at(40), session(n3, active)) // n3 restarts:
	w.record(at(50), path(n3, false))            // its new session's path is read
	w.recordSession(at(60), session(n3, active)) // before the states on its way up,
	w.recordSession(at(70), session(n3, established))

	for _, tt := range []struct {
		peer  netip.Addr
		holds bool
		left  time.Time
	}{{n1, false, at(10)}, {n2, false, at(20)}, {n3, true, time.Time{}}} {
		if got := w.Holds(vip, tt.peer); got != tt.holds {
			t.Errorf("Holds(%v, %v) = %v, want %v", vip, tt.peer, got, tt.holds)
		}
		got, ok := w.Left(tt.peer, []netip.Prefix{vip}, 0)
		if ok == tt.holds || !got.Equal(tt.left) {
			t.Errorf("Left(%v) = %v after t0, %v; want %v after t0, %v", tt.peer, got.Sub(t0), ok, tt.left.Sub(t0), !tt.holds)
		}
	}
}
