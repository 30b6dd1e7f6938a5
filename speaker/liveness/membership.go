package liveness

import (
	"crypto/rand"
	"encoding/binary"
	"hash"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

type runState uint8

const (
	stateNew     runState = iota // New returned, Run not called
	stateRunning                 // heartbeating; this node is alive
	stateLeaving                 // Leave called: LEAVING sent, this node is no longer alive
	stateStopped                 // Run returned
)

// Membership tracks which speakers are alive by direct, authenticated UDP heartbeats. Every method
// is safe for concurrent use.
type Membership struct {
	cfg  Config
	self string
	inc  uint64 // our incarnation
	conn net.PacketConn
	log  klog.Logger

	changes  chan struct{} // coalescing: one pending notification at most
	subMu    sync.Mutex
	subs     []chan struct{}   // Subscribe's, coalescing like changes
	kick     chan struct{}     // wakes the loop after SetPeers
	leaveReq chan leaveRequest // Leave → loop
	stopped  chan struct{}     // closed when the loop has ended

	sent, sendErrors atomic.Uint64

	// admit filters datagrams by source before the MAC and mu; dropped counts them by reason
	// (RejectUnknownSource, RejectRateLimited), outside mu since a flood is what they count.
	admit   *admission
	dropped [numRejectReasons]atomic.Uint64
	dropMet [numRejectReasons]counter

	mu        sync.Mutex
	state     runState
	signer    hash.Hash
	verifiers []hash.Hash
	seq       uint64
	nonce     uint64 // our current challenge; peers echo it
	prevNonce uint64 // the one before, still accepted (peers learn the new one within a round trip)
	nonceAt   time.Time
	peers     map[string]*peer
	order     []string // peer names, sorted: heartbeats go out in a stable order
	random    func() uint64
	graceEnd  time.Time
	nextSend  time.Time
	sentDead  []string // the dead list of our last heartbeat
	quorum    bool     // as last published
	nAlive    int      // peers whose published liveness is alive
	received  uint64
	rejected  [numRejectReasons]uint64
}

// New checks cfg and prepares a Membership with no peers; call SetPeers, then Run. The
// incarnation is random, so a restarted speaker is told apart from its previous life.
func New(cfg Config) (*Membership, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	registerMetrics()
	m := &Membership{
		cfg:      cfg,
		self:     cfg.NodeName,
		conn:     cfg.Conn,
		log:      cfg.Logger,
		changes:  make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
		leaveReq: make(chan leaveRequest),
		stopped:  make(chan struct{}),
		peers:    map[string]*peer{},
		quorum:   !cfg.RequireQuorum,
		random:   newRandom,
		admit:    newAdmission(cfg.Interval),
	}
	m.inc = m.random()
	m.signer, m.verifiers = keyMACs(cfg.Key, cfg.AcceptKeys)
	for _, r := range []RejectReason{RejectUnknownSource, RejectRateLimited} {
		m.dropMet[r] = rejectedMetric.WithLabelValues(r.String())
	}
	return m, nil
}

// keyMACs returns the signer under key and the verifiers under key and accept.
func keyMACs(key []byte, accept [][]byte) (signer hash.Hash, verifiers []hash.Hash) {
	verifiers = []hash.Hash{newMAC(key)}
	for _, k := range accept {
		verifiers = append(verifiers, newMAC(k))
	}
	return newMAC(key), verifiers
}

// SetKeys replaces Config.Key and Config.AcceptKeys, for a key rotated while the speaker runs
// (see README.md, Key rotation). Keys under MinKeySize fail with a *ConfigError and change
// nothing.
func (m *Membership) SetKeys(key []byte, accept [][]byte) error {
	if err := checkKeys(key, accept); err != nil {
		return err
	}
	signer, verifiers := keyMACs(key, accept)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.signer, m.verifiers = signer, verifiers
	return nil
}

// admitFrom is the check of a datagram's source before its MAC (see admission); false: dropped
// and counted.
func (m *Membership) admitFrom(from netip.Addr, now time.Time) bool {
	r := m.admit.admit(from, now)
	if r == 0 {
		return true
	}
	m.dropped[r].Add(1)
	m.dropMet[r].Inc()
	return false
}

// newRandom returns a random non-zero uint64, for incarnations and nonces.
func newRandom() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// SetPeers replaces the set of peers: node name → address of its speaker's socket. The caller
// derives it from Node objects and calls it again whenever they change; our own name is skipped,
// so all Nodes can be passed. Peers already known keep their state (an address change included);
// new peers are dead until heard, except during the startup grace. Invalid entries fail the whole
// call with a *PeerError and change nothing.
func (m *Membership) SetPeers(peers map[string]netip.AddrPort) error {
	for name, ap := range peers {
		switch {
		case name == m.self:
		case !validName(name):
			return &PeerError{name, "not a Node name: want 1 to 253 characters of [a-z0-9.-]"}
		case !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified():
			return &PeerError{name, "address " + ap.String() + " cannot be sent to: want an IP address and a non-zero port"}
		}
	}
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	changed := false
	for name, p := range m.peers {
		if _, keep := peers[name]; !keep {
			if p.published {
				m.nAlive--
			}
			delete(m.peers, name)
			changed = true
		}
	}
	for name, ap := range peers {
		if name == m.self {
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if p := m.peers[name]; p != nil {
			p.addr = ap
			continue
		}
		p := &peer{addr: ap}
		if p.published = m.peerAlive(p, now); p.published {
			m.nAlive++
		}
		m.peers[name] = p
		changed = true
	}
	if changed {
		m.order = slices.Sorted(maps.Keys(m.peers))
		m.publishLocked(now)
	}
	sources := make([]netip.Addr, 0, len(m.peers))
	for _, p := range m.peers {
		sources = append(sources, p.addr.Addr())
	}
	m.admit.setSources(sources)
	if err := setSourceFilter(m.conn, sources); err != nil && m.state != stateStopped {
		m.log.Info("Heartbeat socket: no filter in the kernel; the reader drops other sources alone", "err", err)
	}
	m.mu.Unlock()
	if changed {
		m.notify()
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Changes delivers a value after any peer's liveness, this node's own, the peer set or the
// quorum changed. Notifications coalesce: read Alive (or IsAlive, HasQuorum) after each receive,
// and re-elect.
func (m *Membership) Changes() <-chan struct{} { return m.changes }

// IsAlive reports whether the named node's speaker is alive as this node sees it. This node is
// alive while Run runs and until Leave; a peer while its heartbeats arrive (and, during the
// startup grace, until then). Unknown names are not alive.
func (m *Membership) IsAlive(name string) bool {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == m.self {
		return m.state == stateRunning
	}
	p := m.peers[name]
	return p != nil && m.peerAlive(p, now)
}

// Alive returns the liveness of this node and of every peer, at one instant.
func (m *Membership) Alive() map[string]bool {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(m.peers)+1)
	out[m.self] = m.state == stateRunning
	for name, p := range m.peers {
		out[name] = m.peerAlive(p, now)
	}
	return out
}

// HasQuorum reports whether this node may announce under the quorum rule: always true unless
// Config.RequireQuorum; with it, true while more than half of the speakers (peers and this one)
// are alive as this node sees them.
func (m *Membership) HasQuorum() bool {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.quorumLocked(now)
}

// Stats are counters of one Membership since New (the metrics sum over all in the process).
type Stats struct {
	Sent, SendErrors, Received uint64
	Rejected                   map[RejectReason]uint64
}

// Stats returns the counters.
func (m *Membership) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Sent: m.sent.Load(), SendErrors: m.sendErrors.Load(), Received: m.received, Rejected: map[RejectReason]uint64{}}
	for r, n := range m.rejected {
		if n += m.dropped[r].Load(); n > 0 {
			s.Rejected[RejectReason(r)] = n
		}
	}
	return s
}

// peerAlive is the liveness of p at now. Guarded by mu.
func (m *Membership) peerAlive(p *peer, now time.Time) bool {
	if m.state != stateRunning && m.state != stateLeaving {
		return false
	}
	if p.lastSeen.IsZero() && !p.left {
		return now.Before(m.graceEnd)
	}
	return p.heard(now, m.cfg.Timeout) || p.restarting(now)
}

func (m *Membership) quorumLocked(now time.Time) bool {
	if !m.cfg.RequireQuorum {
		return true
	}
	alive := 0
	if m.state == stateRunning {
		alive++
	}
	for _, p := range m.peers {
		if m.peerAlive(p, now) {
			alive++
		}
	}
	return 2*alive > len(m.peers)+1
}

// publishLocked records every peer's liveness at now (see publishPeerLocked) and the summary. It
// reports whether anything changed that the caller must notify. O(peers): for poll and the rare
// changes of state or peer set, not for every datagram.
func (m *Membership) publishLocked(now time.Time) (changed bool) {
	for name, p := range m.peers {
		changed = m.publishPeerLocked(name, p, now) || changed
	}
	return m.publishSummaryLocked() || changed
}

// publishPeerLocked records one peer's liveness at now, and logs and counts a transition.
func (m *Membership) publishPeerLocked(name string, p *peer, now time.Time) (changed bool) {
	a := m.peerAlive(p, now)
	if a == p.published {
		return false
	}
	p.published = a
	switch {
	case a && p.lastSeen.IsZero():
		m.nAlive++
		m.log.Info("Peer speaker presumed alive until heard or the startup grace ends", "peer", name, "grace", m.cfg.StartupGrace)
	case a:
		m.nAlive++
		m.log.Info("Peer speaker alive", "peer", name, "incarnation", p.inc)
	case p.left && !p.restartBy.IsZero():
		m.nAlive--
		deathsMetric.WithLabelValues("restart_grace").Inc()
		m.log.Info("Peer speaker left to restart and is not back: taken for left", "peer", name, "grace", m.cfg.RestartGrace)
	case p.left:
		m.nAlive--
		deathsMetric.WithLabelValues("leave").Inc()
		m.log.Info("Peer speaker left", "peer", name)
	case m.state == stateRunning || m.state == stateLeaving:
		m.nAlive--
		deathsMetric.WithLabelValues("timeout").Inc()
		m.log.Info("Peer speaker dead: no heartbeat", "peer", name, "timeout", m.cfg.Timeout, "lastSeen", p.lastSeen)
	default:
		m.nAlive-- // we stopped
	}
	return true
}

// publishSummaryLocked updates the published quorum and the gauges from the published states, in
// O(1). It reports whether the quorum changed.
func (m *Membership) publishSummaryLocked() (changed bool) {
	q := !m.cfg.RequireQuorum
	if !q {
		alive := m.nAlive
		if m.state == stateRunning {
			alive++
		}
		q = 2*alive > len(m.peers)+1
	}
	if q != m.quorum {
		m.quorum, changed = q, true
		m.log.Info("Quorum changed", "quorum", q, "alivePeers", m.nAlive, "speakers", len(m.peers)+1)
	}
	peersMetric.WithLabelValues("alive").Set(float64(m.nAlive))
	peersMetric.WithLabelValues("dead").Set(float64(len(m.peers) - m.nAlive))
	if m.quorum {
		quorumMetric.Set(1)
	} else {
		quorumMetric.Set(0)
	}
	return changed
}

func (m *Membership) notify() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
	m.subMu.Lock()
	defer m.subMu.Unlock()
	for _, c := range m.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Subscribe returns a channel of its own that is notified as Changes is, so that a second
// consumer (the node proxy's dead-node exclusion) does not take the election's notifications.
func (m *Membership) Subscribe() <-chan struct{} {
	c := make(chan struct{}, 1)
	m.subMu.Lock()
	defer m.subMu.Unlock()
	m.subs = append(m.subs, c)
	return c
}
