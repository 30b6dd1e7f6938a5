package liveness

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	interval = DefaultInterval
	timeout  = DefaultTimeout
)

// steady starts n nodes and runs until every one has heard every other.
func steady(t *testing.T, n int, tweak func(*Config)) *sim {
	t.Helper()
	s := newSim(t, n, tweak)
	s.startAll()
	s.run(2 * time.Second)
	for _, v := range s.names {
		for _, p := range s.names {
			if !s.alive(v, p) {
				t.Fatalf("after 2s, %s does not see %s alive", v, p)
			}
			if v != p && s.lastSeen(v, p).IsZero() {
				t.Fatalf("after 2s, %s has not heard %s", v, p)
			}
		}
		s.drainChanges(v)
	}
	return s
}

func TestSteadyState(t *testing.T) {
	s := steady(t, 3, nil)
	s.run(10 * time.Second)
	for _, v := range s.names {
		st := s.nodes[v].m.Stats()
		// 12 s in all: 5 heartbeats a second to each of 2 peers, less the start-up offsets.
		if st.Sent < 110 || st.Sent > 122 || st.SendErrors != 0 {
			t.Errorf("%s sent %d (errors %d), want ~120", v, st.Sent, st.SendErrors)
		}
		if st.Received+st.Rejected[RejectStaleEcho] < st.Sent-4 {
			t.Errorf("%s received %d + %d stale-echo of ~%d", v, st.Received, st.Rejected[RejectStaleEcho], st.Sent)
		}
		// Each peer's first datagram echoes nothing; more than one or two per peer would be a bug.
		delete(st.Rejected, RejectStaleEcho)
		if len(st.Rejected) != 0 {
			t.Errorf("%s rejected %v", v, st.Rejected)
		}
		if got := s.nodes[v].m.HasQuorum(); !got {
			t.Errorf("%s: HasQuorum false without RequireQuorum", v)
		}
	}
}

func TestDetectionAtTimeoutNotBefore(t *testing.T) {
	s := steady(t, 3, nil)
	s.run(123 * time.Millisecond) // an arbitrary phase
	crashed := s.now()
	s.crash("node-2")
	// node-2 sent its last heartbeats to both in one round.
	last := s.lastSeen("node-0", "node-2")
	if other := s.lastSeen("node-1", "node-2"); !other.Equal(last) {
		t.Fatalf("node-2 last heard at %v by node-0, at %v by node-1", last, other)
	}
	if d := crashed.Sub(last); d < 0 || d >= interval {
		t.Fatalf("node-2 last heard %v before the crash, want within one interval", d)
	}
	viewers := []string{"node-0", "node-1"}
	s.run(last.Add(timeout - time.Nanosecond).Sub(s.now()))
	for _, v := range viewers {
		if !s.alive(v, "node-2") {
			t.Errorf("%s: node-2 dead %v after its last heartbeat, before the timeout", v, timeout-time.Nanosecond)
		}
	}
	s.run(time.Nanosecond)
	for _, v := range viewers {
		if s.alive(v, "node-2") {
			t.Errorf("%s: node-2 still alive %v after its last heartbeat", v, timeout)
		}
		if !s.drainChanges(v) {
			t.Errorf("%s: no change notified at node-2's death", v)
		}
	}
	t.Logf("node-2 dead %v after the crash (timeout %v, interval %v)", s.now().Sub(crashed), timeout, interval)
	if got, want := s.nodes["node-0"].m.Alive(), map[string]bool{"node-0": true, "node-1": true, "node-2": false}; !cmp.Equal(got, want) {
		t.Errorf("Alive() = %v, want %v", got, want)
	}
}

func TestLeaveMarksDeadAtOnce(t *testing.T) {
	s := steady(t, 3, nil)
	s.run(77 * time.Millisecond)
	s.leave("node-1")
	for _, v := range []string{"node-0", "node-2"} {
		if s.alive(v, "node-1") {
			t.Errorf("%s: node-1 alive right after it left", v)
		}
		if !s.drainChanges(v) {
			t.Errorf("%s: no change notified at node-1's leave", v)
		}
	}
	if s.nodes["node-1"].m.IsAlive("node-1") {
		t.Error("node-1 still alive to itself after leaving")
	}
	// It stays dead: nothing it sent before can bring it back.
	s.run(3 * time.Second)
	if s.alive("node-0", "node-1") {
		t.Error("node-1 alive again after leaving")
	}
}

// TestLeaveSurvivesLoss: with the first LEAVING datagrams lost, a later copy still does it.
func TestLeaveSurvivesLoss(t *testing.T) {
	s := steady(t, 2, nil)
	leaving := 0
	s.net.setDrop(func(from, to netip.AddrPort) bool {
		if from == s.nodes["node-1"].addr {
			leaving++
			return leaving < 3
		}
		return false
	})
	s.leave("node-1")
	if s.alive("node-0", "node-1") {
		t.Error("node-1 alive after its third LEAVING datagram arrived")
	}
}

func TestRestartIsANewIncarnation(t *testing.T) {
	t.Run("quick restart: never seen dead", func(t *testing.T) {
		s := steady(t, 3, nil)
		oldInc := s.nodes["node-2"].m.inc
		s.restart("node-2")
		for end := s.now().Add(3 * time.Second); s.now().Before(end); s.run(10 * time.Millisecond) {
			if !s.alive("node-0", "node-2") {
				t.Fatalf("node-0 saw the restarting node-2 dead at %v", s.now())
			}
		}
		m := s.nodes["node-0"].m
		m.mu.Lock()
		p := m.peers["node-2"]
		gotInc, retired := p.inc, p.retired
		m.mu.Unlock()
		if gotInc != s.nodes["node-2"].m.inc || !cmp.Equal(retired, []uint64{oldInc}) {
			t.Errorf("node-0 holds incarnation %x (retired %x), want %x (retired %x)", gotInc, retired, s.nodes["node-2"].m.inc, oldInc)
		}
		if !s.alive("node-2", "node-0") || !s.alive("node-2", "node-1") {
			t.Error("the restarted node-2 does not see its peers")
		}
	})
	t.Run("restart after death", func(t *testing.T) {
		s := steady(t, 3, nil)
		s.crash("node-2")
		s.run(2 * time.Second)
		if s.alive("node-0", "node-2") {
			t.Fatal("node-2 alive 2s after its crash")
		}
		s.drainChanges("node-0")
		restarted := s.now()
		s.restart("node-2")
		for !s.alive("node-0", "node-2") {
			if s.now().Sub(restarted) > time.Second {
				t.Fatal("node-0 did not see node-2 back within 1s")
			}
			s.run(time.Millisecond)
		}
		if !s.drainChanges("node-0") {
			t.Error("no change notified when node-2 came back")
		}
		// The handshake: node-2 sends (echo unknown), node-0 learns its nonce and echoes it on its
		// next heartbeat, node-2 verifies, echoes node-0's, node-0 verifies: ≤ 2 intervals.
		if d := s.now().Sub(restarted); d > 2*interval {
			t.Errorf("node-0 saw node-2 back after %v, want ≤ %v", d, 2*interval)
		}
	})
}

// capture records every datagram sent from one node to another.
func capture(s *sim, from, to string) *[][]byte {
	var got [][]byte
	f, t := s.nodes[from].addr, s.nodes[to].addr
	s.net.tap = func(src, dst netip.AddrPort, b []byte) {
		if src == f && dst == t {
			got = append(got, append([]byte(nil), b...))
		}
	}
	return &got
}

func TestReplayCannotKeepADeadPeerAlive(t *testing.T) {
	s := steady(t, 3, nil)
	rec := capture(s, "node-2", "node-0")
	s.run(5 * time.Second)
	s.net.tap = nil
	if len(*rec) < 20 {
		t.Fatalf("captured %d datagrams", len(*rec))
	}
	s.crash("node-2")
	rejected := func() uint64 {
		st := s.nodes["node-0"].m.Stats()
		return st.Rejected[RejectReplay] + st.Rejected[RejectStaleEcho]
	}
	before := rejected()
	// The attacker replays the 5 s recording at the original pace, starting over the crash.
	crashed := s.now()
	for i, b := range *rec {
		s.run(interval)
		s.nodes["node-0"].m.handle(b, s.now())
		if s.now().Sub(crashed) >= timeout && s.alive("node-0", "node-2") {
			t.Fatalf("node-2 kept alive by replay %d, %v after its crash", i, s.now().Sub(crashed))
		}
	}
	// Recent datagrams are replays of sequences already seen; older ones echo a nonce node-0 has
	// since replaced.
	if got := rejected() - before; got != uint64(len(*rec)) {
		t.Errorf("%d of %d replays rejected as replay or stale echo", got, len(*rec))
	}

	// A restarted receiver has forgotten the sequence numbers and has new nonces.
	s.restart("node-0")
	s.run(timeout) // past the startup grace
	for _, b := range *rec {
		s.nodes["node-0"].m.handle(b, s.now())
	}
	if s.alive("node-0", "node-2") {
		t.Error("replays to a restarted receiver brought node-2 back")
	}
	if st := s.nodes["node-0"].m.Stats(); st.Rejected[RejectStaleEcho] < uint64(len(*rec)) {
		t.Errorf("restarted receiver: %d stale-echo rejections for %d replays", st.Rejected[RejectStaleEcho], len(*rec))
	}
}

func TestReplayCannotKillALivePeer(t *testing.T) {
	s := steady(t, 2, nil)
	rec := capture(s, "node-1", "node-0")
	s.leave("node-1") // the recording ends with LEAVING datagrams
	s.net.tap = nil
	s.restart("node-1")
	s.run(2 * time.Second)
	if !s.alive("node-0", "node-1") {
		t.Fatal("node-1 not back")
	}
	for _, b := range *rec {
		s.nodes["node-0"].m.handle(b, s.now())
	}
	if !s.alive("node-0", "node-1") {
		t.Error("a replayed LEAVING datagram of an earlier incarnation killed the live node-1")
	}
}

func TestRejectedDatagrams(t *testing.T) {
	s := steady(t, 2, nil)
	m0, m1 := s.nodes["node-0"].m, s.nodes["node-1"].m
	// Datagrams as node-1 would send them now, to node-0, with our own variations.
	m1.mu.Lock()
	good := datagram{inc: m1.inc, seq: m1.seq + 1000, nonce: m1.nonce, echo: m0.nonce, name: "node-1"}
	m1.mu.Unlock()
	with := func(f func(d *datagram)) []byte { d := good; f(&d); return encode(d, testKey) }
	tests := []struct {
		name string
		b    []byte
		want RejectReason
	}{
		{"wrong key", encode(good, otherKey), RejectMAC},
		{"stray traffic", []byte("GET / HTTP/1.1\r\n\r\n"), RejectMalformed},
		{"unknown sender", with(func(d *datagram) { d.name = "node-9" }), RejectUnknownSender},
		{"our own name", with(func(d *datagram) { d.name = "node-0" }), RejectSelf},
		{"old sequence", with(func(d *datagram) { d.seq = 1 }), RejectReplay},
		{"no echo", with(func(d *datagram) { d.echo = 0 }), RejectStaleEcho},
		{"echo of an unknown nonce", with(func(d *datagram) { d.echo = m0.nonce + 1 }), RejectStaleEcho},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.run(time.Millisecond)
			before, seen := m0.Stats(), s.lastSeen("node-0", "node-1")
			m0.handle(tc.b, s.now())
			after := m0.Stats()
			if got := after.Rejected[tc.want] - before.Rejected[tc.want]; got != 1 {
				t.Errorf("rejections for %v went up by %d, want 1 (%v)", tc.want, got, after.Rejected)
			}
			if after.Received != before.Received {
				t.Error("counted as received")
			}
			if got := s.lastSeen("node-0", "node-1"); !got.Equal(seen) {
				t.Error("refreshed node-1's liveness")
			}
		})
	}
	t.Run("the real one still passes", func(t *testing.T) {
		s.run(time.Millisecond)
		m0.handle(encode(good, testKey), s.now())
		if !s.lastSeen("node-0", "node-1").Equal(s.now()) {
			t.Error("a good datagram was not accepted")
		}
	})
}

func TestPeerSetChanges(t *testing.T) {
	s := steady(t, 2, nil)
	m0 := s.nodes["node-0"].m
	d := netip.MustParseAddrPort("192.0.2.50:7473")

	// A new node's speaker may start long after its Node object appears: dead until heard.
	if err := m0.SetPeers(map[string]netip.AddrPort{"node-0": s.nodes["node-0"].addr, "node-1": s.nodes["node-1"].addr, "node-d": d}); err != nil {
		t.Fatal(err)
	}
	if !s.drainChanges("node-0") {
		t.Error("adding a peer notified no change")
	}
	if m0.IsAlive("node-d") {
		t.Error("a peer added after the startup grace is alive before it was heard")
	}
	s.run(time.Second)
	if !s.alive("node-0", "node-1") {
		t.Error("node-1 lost when node-d was added")
	}

	// node-d starts: node-0 hears it.
	s.names = append(s.names, "node-d")
	s.nodes["node-d"] = &simNode{name: "node-d", addr: d}
	s.create("node-d")
	s.start("node-d")
	s.run(time.Second)
	if !s.alive("node-0", "node-d") || !s.alive("node-d", "node-0") {
		t.Error("node-0 and node-d do not see each other")
	}

	// Removing node-1.
	s.drainChanges("node-0")
	if err := m0.SetPeers(map[string]netip.AddrPort{"node-d": d}); err != nil {
		t.Fatal(err)
	}
	if got, want := m0.Alive(), map[string]bool{"node-0": true, "node-d": true}; !cmp.Equal(got, want) {
		t.Errorf("Alive() = %v, want %v", got, want)
	}
	if !s.drainChanges("node-0") {
		t.Error("removing a peer notified no change")
	}
	// Same set again: nothing changes, nothing is notified.
	if err := m0.SetPeers(map[string]netip.AddrPort{"node-d": d}); err != nil {
		t.Fatal(err)
	}
	if s.drainChanges("node-0") {
		t.Error("an unchanged peer set notified a change")
	}

	for _, bad := range []map[string]netip.AddrPort{
		{"Node-X": d},
		{"": d},
		{"node-x": netip.AddrPortFrom(netip.MustParseAddr("192.0.2.9"), 0)},
		{"node-x": {}},
		{"node-x": netip.MustParseAddrPort("0.0.0.0:7473")},
	} {
		err := m0.SetPeers(bad)
		var pe *PeerError
		if !errors.As(err, &pe) {
			t.Errorf("SetPeers(%v) = %v, want a *PeerError", bad, err)
		}
	}
	if got, want := m0.Alive(), map[string]bool{"node-0": true, "node-d": true}; !cmp.Equal(got, want) {
		t.Errorf("after rejected SetPeers calls, Alive() = %v, want %v", got, want)
	}
}

func TestStartupGrace(t *testing.T) {
	s := newSim(t, 3, nil)
	s.start("node-0") // its peers never start
	s.drainChanges("node-0")
	s.run(timeout - time.Nanosecond)
	if !s.alive("node-0", "node-1") {
		t.Error("an unheard peer is dead before the end of the startup grace")
	}
	s.run(time.Nanosecond)
	if s.alive("node-0", "node-1") || s.alive("node-0", "node-2") {
		t.Error("unheard peers alive after the startup grace")
	}
	if !s.drainChanges("node-0") {
		t.Error("the end of the grace notified no change")
	}
}

func TestKeyRotation(t *testing.T) {
	newKey := []byte("a new key of thirty-two bytes...")
	s := newSim(t, 3, nil)
	// Step 1 of a rotation: node-1 already signs with the new key and accepts the old one; the
	// others accept the new key but still sign with the old.
	s.tweak = func(c *Config) { c.AcceptKeys = [][]byte{newKey} }
	s.create("node-0")
	s.create("node-2")
	s.tweak = func(c *Config) { c.Key, c.AcceptKeys = newKey, [][]byte{testKey} }
	s.create("node-1")
	s.startAll()
	s.run(3 * time.Second)
	for _, v := range s.names {
		for _, p := range s.names {
			if !s.alive(v, p) {
				t.Errorf("during a key rotation, %s does not see %s", v, p)
			}
		}
		if st := s.nodes[v].m.Stats(); st.Rejected[RejectMAC] != 0 {
			t.Errorf("%s rejected %d datagrams for their MAC", v, st.Rejected[RejectMAC])
		}
	}
	// A node with only the new key cannot talk to one with only the old.
	s.tweak = func(c *Config) { c.Key = newKey }
	s.restart("node-2")
	s.run(3 * time.Second)
	if s.alive("node-0", "node-2") {
		t.Error("node-0 (old key only) accepts node-2 (new key only)")
	}
	if !s.alive("node-1", "node-2") {
		t.Error("node-1 (both keys) does not accept node-2 (new key)")
	}
}

func TestConfigRejects(t *testing.T) {
	conn := newMemNet().listen(netip.MustParseAddrPort("192.0.2.1:7473"))
	base := func() Config { return Config{NodeName: "node-a", Key: testKey, Conn: conn} }
	tests := []struct {
		name  string
		tweak func(*Config)
		field string
	}{
		{"no name", func(c *Config) { c.NodeName = "" }, "NodeName"},
		{"uppercase name", func(c *Config) { c.NodeName = "Node-A" }, "NodeName"},
		{"short key", func(c *Config) { c.Key = []byte("short") }, "Key"},
		{"short accept key", func(c *Config) { c.AcceptKeys = [][]byte{testKey, []byte("x")} }, "AcceptKeys[1]"},
		{"no socket", func(c *Config) { c.Conn = nil }, "Conn"},
		{"timeout too short", func(c *Config) { c.Interval, c.Timeout = time.Second, 1500*time.Millisecond }, "Timeout"},
		{"negative interval", func(c *Config) { c.Interval = -1 }, "Interval"},
		{"negative repeats", func(c *Config) { c.LeaveRepeats = -1 }, "LeaveRepeats"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.tweak(&cfg)
			_, err := New(cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Errorf("New: %v, want a *ConfigError on %s", err, tc.field)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		m, err := New(base())
		if err != nil {
			t.Fatal(err)
		}
		c := m.cfg
		got := []time.Duration{c.Interval, c.Timeout, c.StartupGrace, c.LeaveSpacing, time.Duration(c.LeaveRepeats)}
		want := []time.Duration{200 * time.Millisecond, 800 * time.Millisecond, 800 * time.Millisecond, 10 * time.Millisecond, 3}
		if !cmp.Equal(got, want) {
			t.Errorf("defaults %v, want %v", got, want)
		}
	})
	t.Run("timeout follows a longer interval", func(t *testing.T) {
		cfg := base()
		cfg.Interval = time.Second
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if m.cfg.Timeout != 4*time.Second {
			t.Errorf("Timeout %v with Interval 1s, want 4s", m.cfg.Timeout)
		}
	})
}

func TestRejectReasonStrings(t *testing.T) {
	seen := map[string]bool{}
	for r := RejectReason(1); r < numRejectReasons; r++ {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("reason %d: %q empty or repeated", r, s)
		}
		seen[s] = true
	}
}

// TestDeathReportedAtOnce: a speaker that sees a peer die tells the others in the same instant,
// not with its next scheduled heartbeat, so that the others' exclusion (which waits for a
// majority's reports) is not up to an Interval late.
func TestDeathReportedAtOnce(t *testing.T) {
	s := steady(t, 3, nil)
	s.run(123 * time.Millisecond)
	s.crash("node-2")
	last := s.lastSeen("node-1", "node-2")
	s.run(last.Add(timeout).Sub(s.now()))
	for _, v := range []string{"node-0", "node-1"} {
		other := map[string]string{"node-0": "node-1", "node-1": "node-0"}[v]
		if s.alive(v, "node-2") {
			t.Fatalf("%s: node-2 alive at its timeout", v)
		}
		if got := s.nodes[v].m.View().Peers[other].Reports; !slices.Equal(got, []string{"node-2"}) {
			t.Errorf("%s: at node-2's death, %s reports %v dead, want [node-2]", v, other, got)
		}
	}
	// The triggered heartbeat counts as one: no double rate afterwards (each round goes to both
	// peers, the dead one too).
	before := s.nodes["node-0"].m.Stats().Sent
	s.run(10 * time.Second)
	if sent := s.nodes["node-0"].m.Stats().Sent - before; sent < 98 || sent > 102 {
		t.Errorf("node-0 sent %d datagrams in 10 s, want ~100 (5 a second to each of 2 peers)", sent)
	}
}
