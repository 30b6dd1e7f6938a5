package liveness

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestChaos runs five speakers for a simulated minute on a bad network (5% loss, 0-20 ms delay,
// 3% of datagrams 150 ms late, hence reordered) with an adversary that records every datagram and
// replays old ones at random, while nodes crash, restart, leave and get partitioned at random.
// It checks, every 10 ms:
//
//   - no zombie: a node that is down is dead to everyone within Timeout + the largest delay of its
//     last datagram, or, counting replays of datagrams the network lost (which the adversary may
//     deliver late, like a delay), within 3 × Timeout + Interval + that delay;
//   - no false death: of two nodes up and connected for 2 s, each sees the other alive unless the
//     network lost every datagram between them for a Timeout (which 5% loss does now and then);
//
// and at the end, with the network healed and every node restarted, that everyone sees everyone.
func TestChaos(t *testing.T) {
	for seed := range uint64(chaosSeeds()) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { chaos(t, seed) })
	}
}

const maxDelay = 170 * time.Millisecond

func chaos(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	s := newSim(t, 5, nil)
	lossy := true
	s.net.now = s.now
	s.net.delay = func() time.Duration {
		d := time.Duration(r.IntN(20_000)) * time.Microsecond
		if r.IntN(100) < 3 {
			d += 150 * time.Millisecond
		}
		return d
	}
	side := map[string]int{} // partition side per node; all 0 = no partition
	type pair struct{ from, to string }
	delivered := map[pair]time.Time{}      // when the latest datagram the network did not drop was sent
	var deliveredBefore map[pair]time.Time // the same, as of maxDelay ago: surely arrived by now
	s.net.setDrop(func(from, to netip.AddrPort) bool {
		f, d := s.addrName(from), s.addrName(to)
		if side[f] != side[d] || (lossy && r.IntN(100) < 5) {
			return true
		}
		delivered[pair{f, d}] = s.now()
		return false
	})
	var history []map[pair]time.Time // snapshots of delivered, one per 10 ms step
	var recorded [][]byte
	s.net.tap = func(_, _ netip.AddrPort, b []byte) {
		if len(recorded) == 4000 {
			recorded = slices.Delete(recorded, 0, 1000)
		}
		recorded = append(recorded, slices.Clone(b))
	}

	downSince := map[string]time.Time{}
	var zombie time.Duration // longest a down node was seen alive (not by presumption)
	falseDeaths := 0         // samples where a connected, calm pair saw each other dead (lost datagrams)
	events := map[string]int{}
	disturbed := map[string]time.Time{} // last restart or partition change, per node
	s.startAll()
	for _, n := range s.names {
		disturbed[n] = s.now()
	}
	end := s.now().Add(time.Minute)
	nextEvent := s.now().Add(2 * time.Second)
	for s.now().Before(end) {
		s.run(10 * time.Millisecond)
		now := s.now()
		history = append(history, maps.Clone(delivered))
		if lag := int(maxDelay / (10 * time.Millisecond)); len(history) > lag {
			deliveredBefore, history = history[len(history)-1-lag], history[len(history)-lag:]
		}

		// The adversary: three old datagrams to random live nodes, most of them recent.
		for range 3 {
			if len(recorded) == 0 {
				break
			}
			i := len(recorded) - 1 - min(len(recorded)-1, int(r.ExpFloat64()*100))
			if n := s.nodes[s.names[r.IntN(len(s.names))]]; n.up {
				n.m.handle(recorded[i], now)
			}
		}

		// Invariants.
		for _, v := range s.names {
			if !s.nodes[v].up {
				continue
			}
			s.checkCounts(v)
			for _, p := range s.names {
				if p == v {
					continue
				}
				// A restarted viewer presumes unheard peers alive during its startup grace.
				since, down := downSince[p]
				if down && s.alive(v, p) && !s.presumed(v, p) {
					zombie = max(zombie, now.Sub(since))
				}
				if down && s.alive(v, p) && !s.presumed(v, p) && now.Sub(since) > 3*timeout+interval+maxDelay {
					m := s.nodes[v].m
					m.mu.Lock()
					ps := *m.peers[p]
					g := m.graceEnd
					m.mu.Unlock()
					t.Fatalf("%v: %s still sees %s alive, down since %v ago; peer state %+v, grace end %v", now, v, p, now.Sub(since), ps, g)
				}
				// No false death: if p's latest datagram to v that the network delivered (sent at
				// least maxDelay ago, so it has arrived) is less than Timeout old, v must see p
				// alive. Losing Timeout/Interval datagrams in a row is the only excuse.
				calm := min(now.Sub(disturbed[v]), now.Sub(disturbed[p]))
				sent := deliveredBefore[pair{p, v}]
				if s.nodes[p].up && side[v] == side[p] && calm >= 2*time.Second && !sent.IsZero() &&
					now.Sub(sent) < timeout && !s.alive(v, p) {
					t.Fatalf("%v: %s sees %s dead, though a datagram sent %v ago was delivered", now, v, p, now.Sub(sent))
				}
				if s.nodes[p].up && side[v] == side[p] && calm >= 2*time.Second && !s.alive(v, p) {
					falseDeaths++
				}
			}
		}

		if now.Before(nextEvent) {
			continue
		}
		nextEvent = now.Add(time.Duration(500+r.IntN(2500)) * time.Millisecond)
		name := s.names[r.IntN(len(s.names))]
		n := s.nodes[name]
		switch ev := r.IntN(10); {
		case ev < 3 && n.up:
			s.crash(name)
			downSince[name] = now
			events["crash"]++
		case ev < 5 && n.up:
			s.leave(name)
			downSince[name] = now
			events["leave"]++
		case ev < 8 && !n.up:
			s.restart(name)
			delete(downSince, name)
			disturbed[name] = now
			events["restart"]++
		case ev < 9:
			for _, m := range s.names {
				side[m] = r.IntN(2)
				disturbed[m] = now
			}
			events["partition"]++
		default:
			events["heal"]++
			clear(side)
			for _, m := range s.names {
				disturbed[m] = now
			}
		}
	}

	// Heal, restart whatever is down, stop losing datagrams and replaying: everyone converges.
	clear(side)
	lossy = false
	s.net.tap = nil
	for _, name := range s.names {
		if !s.nodes[name].up {
			s.restart(name)
		}
	}
	s.run(3 * time.Second)
	for _, v := range s.names {
		for _, p := range s.names {
			if !s.alive(v, p) || (v != p && s.lastSeen(v, p).IsZero()) {
				t.Errorf("after healing: %s does not see %s", v, p)
			}
		}
	}
	var rej [numRejectReasons]uint64
	for _, name := range s.names {
		for r, c := range s.nodes[name].m.Stats().Rejected {
			rej[r] += c
		}
	}
	t.Logf("events %v; a down node was seen alive at most %v after it went down; %d samples of a false death "+
		"(every datagram lost for a Timeout); rejected at the last incarnations: replay %d, stale_echo %d",
		events, zombie, falseDeaths, rej[RejectReplay], rej[RejectStaleEcho])
}

// checkCounts checks the incremental count of alive peers against the published states.
func (s *sim) checkCounts(viewer string) {
	m := s.nodes[viewer].m
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.peers {
		if p.published {
			n++
		}
	}
	if n != m.nAlive {
		s.t.Fatalf("%s: %d peers published alive, count says %d", viewer, n, m.nAlive)
	}
}

// presumed reports whether viewer sees peer alive only by the startup grace's presumption.
func (s *sim) presumed(viewer, peer string) bool {
	m := s.nodes[viewer].m
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peers[peer].lastSeen.IsZero() && s.now().Before(m.graceEnd)
}

// addrName maps a socket address back to the node name.
func (s *sim) addrName(a netip.AddrPort) string {
	for _, n := range s.nodes {
		if n.addr == a {
			return n.name
		}
	}
	return ""
}

// chaosSeeds is 10 unless CHAOS_SEEDS says otherwise, for longer hunts.
func chaosSeeds() int {
	if v, err := strconv.Atoi(os.Getenv("CHAOS_SEEDS")); err == nil {
		return v
	}
	return 10
}
