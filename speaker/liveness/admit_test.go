package liveness

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// TestAdmissionBySource: only peers' addresses pass (IPv4 also as a dual-stack socket reports it),
// each within its own budget, refilled at sourceRate per Interval on the fake clock.
func TestAdmissionBySource(t *testing.T) {
	clock := newFakeClock()
	peer, other := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	a := newAdmission(interval)
	a.setSources([]netip.Addr{peer, other})

	if r := a.admit(netip.MustParseAddr("198.51.100.7"), clock.Now()); r != RejectUnknownSource {
		t.Errorf("unknown address: %v, want unknown_source", r)
	}
	if r := a.admit(netip.MustParseAddr("::ffff:192.0.2.2"), clock.Now()); r != 0 {
		t.Errorf("a peer's IPv4 address as a dual-stack socket gives it: %v, want admitted", r)
	}
	for i := 1; i < sourceBurst; i++ { // the burst, less the one above
		if r := a.admit(peer, clock.Now()); r != 0 {
			t.Fatalf("datagram %d of the burst: %v, want admitted", i+1, r)
		}
	}
	if r := a.admit(peer, clock.Now()); r != RejectRateLimited {
		t.Errorf("past the burst: %v, want rate_limited", r)
	}
	if r := a.admit(other, clock.Now()); r != 0 {
		t.Errorf("another peer while the first is over budget: %v, want admitted", r)
	}
	// One token comes back every Interval/sourceRate.
	clock.Advance(interval/sourceRate - time.Millisecond)
	if r := a.admit(peer, clock.Now()); r != RejectRateLimited {
		t.Errorf("just before a token is back: %v, want rate_limited", r)
	}
	clock.Advance(time.Millisecond)
	if r := a.admit(peer, clock.Now()); r != 0 {
		t.Errorf("once a token is back: %v, want admitted", r)
	}
	if r := a.admit(peer, clock.Now()); r != RejectRateLimited {
		t.Errorf("one token, two datagrams: %v, want rate_limited", r)
	}
	// A peer's steady heartbeats are far within budget after any flood has stopped.
	clock.Advance(time.Minute)
	for i := range 10 * sourceRate {
		if r := a.admit(peer, clock.Now()); r != 0 {
			t.Fatalf("heartbeat %d at the peer's pace after the flood: %v", i, r)
		}
		clock.Advance(interval)
	}

	// A peer removed is unknown; one kept keeps its budget.
	for range sourceBurst {
		a.admit(other, clock.Now())
	}
	a.setSources([]netip.Addr{other})
	if r := a.admit(peer, clock.Now()); r != RejectUnknownSource {
		t.Errorf("a removed peer: %v, want unknown_source", r)
	}
	if r := a.admit(other, clock.Now()); r != RejectRateLimited {
		t.Errorf("a kept peer over budget after setSources: %v, want rate_limited (the budget kept)", r)
	}
}

// TestFloodDroppedBeforeTheMAC runs the real reader: a flood of forged datagrams naming node-1
// from a stranger's address, then from node-2's own address, reaches node-0's socket. The
// stranger's are dropped as unknown_source before any MAC is checked; node-2's address is
// rationed, so only its budget is checked; and node-1, flooded in its name, stays alive.
func TestFloodDroppedBeforeTheMAC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRunner(t, "node-0", "node-1", "node-2")
		for _, n := range []string{"node-0", "node-1", "node-2"} {
			r.run(n)
		}
		r.until("every node hears every other", r.allAlive("node-0", "node-1", "node-2"))
		before := r.ms["node-0"].Stats().Rejected

		forged := encode(datagram{inc: 1, seq: 1, nonce: 1, name: "node-1"}, otherKey)
		stranger := netip.MustParseAddrPort("198.51.100.7:40000")
		node2 := netip.MustParseAddrPort("192.0.2.3:7473")
		to := netip.MustParseAddrPort("192.0.2.1:7473")
		const perStep = 200 // datagrams of each source per 5 ms of fake time: 40,000/s
		start := r.clock.Now()
		for r.clock.Now().Sub(start) < 3*timeout {
			for range perStep {
				r.net.deliver(stranger, to, forged)
				r.net.deliver(node2, to, forged)
			}
			synctest.Wait()
			r.clock.Advance(5 * time.Millisecond)
			if !r.ms["node-0"].IsAlive("node-1") {
				t.Fatalf("node-0 lost node-1 %v into the flood", r.clock.Now().Sub(start))
			}
		}
		synctest.Wait()
		got := r.ms["node-0"].Stats().Rejected
		steps := int(3 * timeout / (5 * time.Millisecond))
		if n := got[RejectUnknownSource] - before[RejectUnknownSource]; n != uint64(steps*perStep) {
			t.Errorf("unknown_source: %d, want all %d of the stranger's", n, steps*perStep)
		}
		// node-2's address gets its burst and sourceRate per Interval, and loses the rest.
		maxMAC := uint64(sourceBurst + sourceRate*int(3*timeout/interval) + sourceRate)
		if n := got[RejectMAC] - before[RejectMAC]; n == 0 || n > maxMAC {
			t.Errorf("MACs checked (and refused): %d, want 1 to %d: node-2's address within its budget only", n, maxMAC)
		}
		if got[RejectRateLimited]-before[RejectRateLimited] == 0 {
			t.Error("nothing rate_limited from node-2's address")
		}
	})
}
