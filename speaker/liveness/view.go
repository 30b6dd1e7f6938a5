package liveness

import (
	"slices"
	"time"
)

// View is this node's membership at one instant together with what each live peer reports,
// for deciding whether the other speakers agree that a node is dead (speaker/deadnodes).
type View struct {
	Self string
	// SelfAlive: Run runs and Leave has not been called.
	SelfAlive bool
	Peers     map[string]PeerState
}

// PeerState is one peer in a View.
type PeerState struct {
	// Alive as IsAlive reports it.
	Alive bool
	// Dead: heard during this Membership's life, then silent for Timeout. A peer that left, or
	// that was never heard (no speaker on that node, or one that has not started), is not Dead:
	// nothing says its node is gone.
	Dead bool
	// Left: its last accepted datagram carried LEAVING (a speaker stopping, not a node dying).
	// Left and Alive: it left for a restart and its restart grace runs.
	Left bool
	// DeadSince is when it became Dead: its last heartbeat plus Timeout.
	DeadSince time.Time
	// Incarnation of the peer's speaker process as last accepted (0 if never heard); a new one
	// after a death means the speaker, perhaps the node, restarted.
	Incarnation uint64
	// BootID is the boot ID of the peer's node as last heard (zero: never heard, or a speaker of
	// an older release). RebootedAt is when a new boot ID was first heard, replacing one heard
	// before during this Membership's life: the node rebooted then (zero if not seen). A new
	// Incarnation with the same BootID is a speaker restart on a node that kept running.
	BootID     BootID
	RebootedAt time.Time
	// Reports are the peers it reported Dead in its last heartbeat, while it is Alive; nil from a
	// speaker that sends wire version 1.
	Reports []string
}

// View returns the membership as this node sees it now.
func (m *Membership) View() View {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	v := View{Self: m.self, SelfAlive: m.state == stateRunning, Peers: make(map[string]PeerState, len(m.peers))}
	for name, p := range m.peers {
		st := PeerState{Alive: m.peerAlive(p, now), Left: p.left, Incarnation: p.inc, BootID: p.boot, RebootedAt: p.rebootedAt}
		if m.deadLocked(p, now) {
			st.Dead, st.DeadSince = true, p.lastSeen.Add(m.cfg.Timeout)
		}
		if st.Alive {
			st.Reports = slices.Clone(p.reports)
		}
		v.Peers[name] = st
	}
	return v
}

// deadLocked: p was heard during our life and has been silent for Timeout since, without leaving.
func (m *Membership) deadLocked(p *peer, now time.Time) bool {
	return m.state == stateRunning && !p.lastSeen.IsZero() && !p.left && !p.heard(now, m.cfg.Timeout)
}

// deadListLocked is what our heartbeats report: the peers deadLocked at now, sorted.
func (m *Membership) deadListLocked(now time.Time) []string {
	var out []string
	for _, name := range m.order {
		if m.deadLocked(m.peers[name], now) {
			out = append(out, name)
		}
	}
	return out
}
