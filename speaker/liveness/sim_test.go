package liveness

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// sim drives Memberships without goroutines: a fake clock, an in-memory network with immediate
// delivery, and an event loop that calls poll when each member asked to be called and hands every
// datagram to handle at the instant it was sent. Runs are exact and repeatable, so tests can
// assert "dead at Timeout, not a nanosecond before".
//
// Address plan: node-<i> is 192.0.2.<i+1>:7473 on the in-memory network (no real traffic).
type sim struct {
	t     testing.TB
	rng   *rand.Rand // incarnations and nonces, so that a run is repeatable
	clock *fakeClock
	net   *memNet
	names []string
	nodes map[string]*simNode
	tweak func(*Config)
	// boots are the nodes' boot IDs, given to each new Membership (zero: unknown); reboot draws a
	// new one, as the kernel would.
	boots map[string]BootID
}

type simNode struct {
	name string
	addr netip.AddrPort
	m    *Membership
	conn *memConn
	next time.Time
	up   bool
}

func newSim(t testing.TB, n int, tweak func(*Config)) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(7, 7)), clock: newFakeClock(), net: newMemNet(), nodes: map[string]*simNode{}, tweak: tweak,
		boots: map[string]BootID{}}
	for i := range n {
		name := fmt.Sprintf("node-%d", i)
		s.names = append(s.names, name)
		s.nodes[name] = &simNode{name: name, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 7473)}
		s.boots[name] = BootID{0: byte(i + 1), 15: 1}
	}
	for _, name := range s.names {
		s.create(name)
	}
	return s
}

func (s *sim) now() time.Time { return s.clock.Now() }

// create gives a node a new Membership (a new incarnation) and socket, not started.
func (s *sim) create(name string) {
	n := s.nodes[name]
	n.conn = s.net.listen(n.addr)
	cfg := Config{NodeName: name, Key: testKey, Conn: n.conn, Clock: s.clock, BootID: s.boots[name]}
	if s.tweak != nil {
		s.tweak(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		s.t.Fatalf("New(%s): %v", name, err)
	}
	m.random = func() uint64 { return s.rng.Uint64() | 1 }
	m.inc = m.random()
	peers := map[string]netip.AddrPort{}
	for _, other := range s.names {
		peers[other] = s.nodes[other].addr // includes itself: SetPeers must skip it
	}
	if err := m.SetPeers(peers); err != nil {
		s.t.Fatalf("SetPeers(%s): %v", name, err)
	}
	n.m = m
}

// start begins heartbeating, as Run does.
func (s *sim) start(names ...string) {
	for _, name := range names {
		n := s.nodes[name]
		n.m.mu.Lock()
		n.m.beginLocked(s.now())
		n.m.mu.Unlock()
		n.next, n.up = s.now(), true
	}
}

// startAll starts every node, each a little later than the previous, so their heartbeats are not
// in phase (as on real nodes).
func (s *sim) startAll() {
	for i, name := range s.names {
		if i > 0 {
			s.run(37 * time.Millisecond)
		}
		s.start(name)
	}
}

// crash stops a node without a word: no more heartbeats, nothing received.
func (s *sim) crash(name string) {
	n := s.nodes[name]
	n.up = false
	_ = n.conn.Close() // a second close (crash after leave) reports net.ErrClosed
	n.m.mu.Lock()
	n.m.state = stateStopped
	n.m.mu.Unlock()
}

// restart crashes a node if it is up and starts a new speaker process on it.
func (s *sim) restart(name string) {
	if s.nodes[name].up {
		s.crash(name)
	}
	s.create(name)
	s.start(name)
}

// reboot crashes a node if it is up and starts it again on a new boot: a new boot ID, a new
// speaker process.
func (s *sim) reboot(name string) {
	if s.nodes[name].up {
		s.crash(name)
	}
	b := s.boots[name]
	b[15]++
	s.boots[name] = b
	s.create(name)
	s.start(name)
}

// leave sends the LEAVING datagrams (all at this instant) and stops the node.
func (s *sim) leave(name string) { s.leaveWith(name, flagLeaving) }

// leaveForRestart is leave as LeaveForRestart sends it.
func (s *sim) leaveForRestart(name string) { s.leaveWith(name, flagLeaving|flagRestarting) }

func (s *sim) leaveWith(name string, flags uint8) {
	n := s.nodes[name]
	n.m.mu.Lock()
	n.m.state = stateLeaving
	n.m.publishLocked(s.now())
	n.m.mu.Unlock()
	for range n.m.cfg.LeaveRepeats {
		n.m.sendLeaving(flags)
	}
	s.deliver()
	s.crash(name)
}

// deliver hands every datagram due to its receiver at the current instant.
func (s *sim) deliver() {
	for more := true; more; {
		more = false
		s.net.release(s.now())
		for _, name := range s.names {
			n := s.nodes[name]
			if !n.up {
				continue
			}
			for p, ok := n.conn.tryRead(); ok; p, ok = n.conn.tryRead() {
				n.m.handle(p.b, s.now())
				more = true
			}
		}
	}
}

// run advances time by d, polling each node when it asked to be polled.
func (s *sim) run(d time.Duration) {
	until := s.now().Add(d)
	for {
		s.deliver()
		next := s.net.release(s.now())
		for _, name := range s.names {
			if n := s.nodes[name]; n.up && (next.IsZero() || n.next.Before(next)) {
				next = n.next
			}
		}
		if next.IsZero() || next.After(until) {
			s.clock.Set(until)
			return
		}
		s.clock.Set(next)
		for _, name := range s.names {
			if n := s.nodes[name]; n.up && !n.next.After(next) {
				n.next = n.m.poll(next)
				if !n.next.After(next) {
					s.t.Fatalf("%s: poll at %v asked to be polled again at %v", name, next, n.next)
				}
			}
		}
	}
}

// partition drops every datagram between the two groups; heal lifts it.
func (s *sim) partition(a, b []string) {
	side := map[netip.AddrPort]int{}
	for _, name := range a {
		side[s.nodes[name].addr] = 1
	}
	for _, name := range b {
		side[s.nodes[name].addr] = 2
	}
	s.net.setDrop(func(from, to netip.AddrPort) bool { return side[from] != side[to] })
}

func (s *sim) heal() { s.net.setDrop(nil) }

// playOldRelease makes name a speaker of an older release that speaks only wire version: it
// sends that version to every peer and drops every datagram of another version, as its parser did.
func (s *sim) playOldRelease(name string, version uint8) {
	m := s.nodes[name].m
	m.mu.Lock()
	for _, p := range m.peers {
		p.version = version
	}
	m.mu.Unlock()
	s.nodes[name].conn.filter = func(b []byte) bool { return len(b) > offVersion && b[offVersion] == version }
}

// checkAllAlive fails t for every pair of nodes where one sees the other dead.
func (s *sim) checkAllAlive(t *testing.T, when string) {
	t.Helper()
	for _, a := range s.names {
		for _, b := range s.names {
			if a != b && !s.alive(a, b) {
				t.Errorf("%s sees %s dead %s", a, b, when)
			}
		}
	}
}

func (s *sim) alive(viewer, name string) bool { return s.nodes[viewer].m.IsAlive(name) }

// lastSeen is when viewer last accepted a heartbeat from name.
func (s *sim) lastSeen(viewer, name string) time.Time {
	m := s.nodes[viewer].m
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peers[name].lastSeen
}

// drainChanges reports whether viewer's Changes had a pending notification, and clears it.
func (s *sim) drainChanges(viewer string) bool {
	select {
	case <-s.nodes[viewer].m.Changes():
		return true
	default:
		return false
	}
}
