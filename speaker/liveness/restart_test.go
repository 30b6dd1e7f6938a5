package liveness

import (
	"testing"
	"time"
)

const testRestartGrace = 10 * time.Second

func withRestartGrace(c *Config) { c.RestartGrace = testRestartGrace }

// TestLeaveForRestartKeepsThePeerAlive: a speaker restarting on a node that stays up is alive to
// its peers all through (its addresses do not move away and back), and its next incarnation is
// taken as itself.
func TestLeaveForRestartKeepsThePeerAlive(t *testing.T) {
	s := steady(t, 3, withRestartGrace)
	s.drainChanges("node-0")
	s.leaveForRestart("node-2")
	if !s.alive("node-0", "node-2") || !s.alive("node-1", "node-2") {
		t.Fatal("node-2 dead to its peers right after leaving for a restart")
	}
	if st := s.nodes["node-0"].m.View().Peers["node-2"]; !st.Alive || !st.Left || st.Dead {
		t.Errorf("node-0's view of the restarting node-2: %+v, want Alive and Left (restarting), not Dead", st)
	}
	// A restart takes a few seconds: the old process exits, the new one syncs before heartbeating.
	for end := s.now().Add(4 * time.Second); s.now().Before(end); s.run(10 * time.Millisecond) {
		if !s.alive("node-0", "node-2") {
			t.Fatalf("node-0 saw node-2 dead %v into its restart", 4*time.Second-end.Sub(s.now()))
		}
	}
	if s.drainChanges("node-0") {
		t.Error("node-0 notified a change while node-2 restarted: its peers would re-elect for nothing")
	}
	s.restart("node-2")
	for end := s.now().Add(3 * time.Second); s.now().Before(end); s.run(10 * time.Millisecond) {
		if !s.alive("node-0", "node-2") {
			t.Fatalf("node-0 saw node-2 dead after its new incarnation started")
		}
	}
	st := s.nodes["node-0"].m.View().Peers["node-2"]
	if st.Left || st.Incarnation != s.nodes["node-2"].m.inc {
		t.Errorf("node-0's view of node-2 back: %+v, want its new incarnation %x, not Left", st, s.nodes["node-2"].m.inc)
	}
	// Past the grace nothing changes: the new incarnation cleared it.
	s.run(testRestartGrace)
	if !s.alive("node-0", "node-2") {
		t.Error("node-2 dead to node-0 once the grace of its finished restart passed")
	}
}

// TestRestartGraceEnds: a speaker that left for a restart and is not back within the grace is
// taken for left at the grace's end, not before, with a notification (the peers re-elect then).
func TestRestartGraceEnds(t *testing.T) {
	s := steady(t, 3, withRestartGrace)
	left := s.now()
	s.leaveForRestart("node-2")
	s.drainChanges("node-0")
	s.run(testRestartGrace - time.Millisecond)
	if !s.alive("node-0", "node-2") {
		t.Fatalf("node-2 dead to node-0 %v after leaving for a restart, within the grace", s.now().Sub(left))
	}
	s.run(2 * time.Millisecond)
	if s.alive("node-0", "node-2") {
		t.Fatalf("node-2 alive to node-0 %v after leaving, past the grace of %v", s.now().Sub(left), testRestartGrace)
	}
	if !s.drainChanges("node-0") {
		t.Error("no change notified at the grace's end")
	}
	if st := s.nodes["node-0"].m.View().Peers["node-2"]; st.Alive || !st.Left || st.Dead {
		t.Errorf("node-0's view of node-2 after the grace: %+v, want Left only (a speaker that left, not a dead node)", st)
	}
	// It still comes back as any speaker does.
	s.restart("node-2")
	s.run(time.Second)
	if !s.alive("node-0", "node-2") {
		t.Error("node-2 not alive to node-0 a second after its late restart")
	}
}

// TestLeaveForRestartWithoutGrace: with no RestartGrace, and for a peer of the previous release
// (wire version 3, which refuses the RESTARTING flag), a restart is a leave: dead at once.
func TestLeaveForRestartWithoutGrace(t *testing.T) {
	t.Run("no grace configured", func(t *testing.T) {
		s := steady(t, 3, nil)
		s.leaveForRestart("node-2")
		if s.alive("node-0", "node-2") {
			t.Error("node-2 alive to node-0, which has no restart grace, after leaving for a restart")
		}
	})
	t.Run("a version 3 peer", func(t *testing.T) {
		s := newSim(t, 3, withRestartGrace)
		s.playOldRelease("node-0", wireV3) // reads version 3 only, and answers in it
		s.startAll()
		s.run(2 * time.Second)
		s.checkAllAlive(t, "in a mixed-version cluster")
		s.leaveForRestart("node-2")
		if s.alive("node-0", "node-2") {
			t.Error("the version 3 node-0 did not see node-2 leave: it must be sent a LEAVING it can read")
		}
		if !s.alive("node-1", "node-2") {
			t.Error("the version 4 node-1 took the restarting node-2 for dead")
		}
	})
}
