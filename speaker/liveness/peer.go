package liveness

import (
	"net/netip"
	"slices"
	"time"
)

// maxRetired bounds the incarnations remembered per peer. Only a datagram echoing one of our two
// latest nonces can be accepted, that is, one sent in the last two Timeouts or so; a peer would
// have to restart more than maxRetired times within that window for a datagram of a forgotten
// incarnation to pass, and it would count only until the next real one.
const maxRetired = 8

// peer is what a Membership knows of another speaker. Guarded by Membership.mu.
type peer struct {
	addr netip.AddrPort
	// inc and seq are the incarnation and last sequence accepted with a fresh echo. Only a
	// datagram of inc with a larger seq, or of an incarnation never seen, is accepted next.
	inc, seq uint64
	// echo is the peer's nonce as we send it back: from its last accepted datagram, or learnt
	// from an unverified one while the peer is not alive, so that a pair that lost touch (a
	// restart, a partition) can verify each other again.
	echo uint64
	// retired incarnations of the peer seen during our life, oldest first.
	retired []uint64
	// lastSeen is when the last heartbeat was accepted, zero if none was.
	lastSeen time.Time
	// left: the last accepted datagram carried LEAVING.
	left bool
	// restartBy: the last accepted datagram carried LEAVING and RESTARTING, and the peer stays
	// alive until then (Config.RestartGrace) unless its next incarnation is heard first. Zero
	// otherwise.
	restartBy time.Time
	// published is the liveness last reported through Changes and the metrics.
	published bool
	// version is the wire version of the last datagram with a valid MAC (0: none yet). A peer of
	// an older release (a rolling upgrade) is sent the version it sent, which it can read.
	version uint8
	// reports are the peers it reported dead in its last accepted datagram (nil from version 1).
	reports []string
	// boot is the last non-zero boot ID accepted from the peer (wire version 3), and rebootedAt
	// when a boot ID other than the one accepted before was first accepted: its node rebooted
	// during our life. Zero datagrams (a peer of an older release) change neither.
	boot       BootID
	rebootedAt time.Time
}

func (p *peer) retire(inc uint64) {
	if len(p.retired) == maxRetired {
		p.retired = slices.Delete(p.retired, 0, 1)
	}
	p.retired = append(p.retired, inc)
}

// heard reports whether the peer gave a fresh heartbeat less than timeout before now and has not
// left since.
func (p *peer) heard(now time.Time, timeout time.Duration) bool {
	return !p.left && !p.lastSeen.IsZero() && now.Sub(p.lastSeen) < timeout
}

// restarting reports whether the peer left for a restart and its grace runs at now.
func (p *peer) restarting(now time.Time) bool {
	return p.left && !p.restartBy.IsZero() && now.Before(p.restartBy)
}

// handle takes one received datagram. The rules, in order:
//
//  1. It must parse, with a valid MAC under an accepted key, from a peer other than us.
//  2. It must echo our current or previous nonce: otherwise nothing proves it was sent recently
//     (a recording replayed later, or delivered late by whoever delayed it, looks just like it),
//     and it is rejected (stale_echo). If the peer is not alive, its nonce is learnt anyway, so
//     that our next heartbeat echoes it: after a restart or a partition, one side verifies the
//     other, then echoes back, within about a round of heartbeats. While the peer is alive
//     nothing is learnt, so a replay cannot make us echo a wrong nonce to a live peer.
//  3. It must be newer than anything accepted from the peer: the peer's current incarnation with
//     a larger sequence, or an incarnation not seen yet (the peer restarted: the old one is
//     retired). Anything else is a replay, or a datagram reordered in flight.
//
// An accepted datagram makes the peer alive until Timeout passes, or dead at once if it carries
// LEAVING (alive until Config.RestartGrace passes if it also carries RESTARTING). Rejected
// datagrams change nothing else, so stray or replayed traffic can neither keep a dead peer alive
// beyond about two Timeouts after it was recorded nor kill a live one.
func (m *Membership) handle(b []byte, now time.Time) {
	m.mu.Lock()
	changed := m.handleLocked(b, now)
	m.mu.Unlock()
	if changed {
		m.notify()
	}
}

func (m *Membership) handleLocked(b []byte, now time.Time) (changed bool) {
	if m.state != stateRunning && m.state != stateLeaving {
		return false
	}
	d, r := parse(b, m.verifiers)
	if r != 0 {
		m.reject(r, "", 0)
		return false
	}
	if d.name == m.self {
		m.reject(RejectSelf, d.name, d.inc)
		return false
	}
	p := m.peers[d.name]
	if p == nil {
		m.reject(RejectUnknownSender, d.name, d.inc)
		return false
	}
	// Authentic, so it says which version the peer reads (a replay of an older version's datagram
	// only makes us send that version until the peer's next one: its dead list or boot ID is lost
	// meanwhile, which can only keep endpoints, never exclude them, and unknown is no reboot).
	p.version = d.version
	if d.echo == 0 || (d.echo != m.nonce && d.echo != m.prevNonce) {
		if !p.heard(now, m.cfg.Timeout) && !slices.Contains(p.retired, d.inc) && (d.inc != p.inc || d.seq > p.seq) {
			p.echo = d.nonce
		}
		m.reject(RejectStaleEcho, d.name, d.inc)
		return false
	}
	restarted := false
	switch {
	case d.inc == p.inc:
		if d.seq <= p.seq {
			m.reject(RejectReplay, d.name, d.inc)
			return false
		}
	case slices.Contains(p.retired, d.inc):
		m.reject(RejectReplay, d.name, d.inc)
		return false
	default:
		if p.inc != 0 {
			p.retire(p.inc)
			restarted = true
		}
		p.inc = d.inc
	}
	if !restarted && !p.lastSeen.IsZero() {
		gapMetric.Observe(now.Sub(p.lastSeen).Seconds())
	}
	p.seq, p.echo, p.lastSeen, p.left = d.seq, d.nonce, now, d.leaving()
	restarting := d.restarting() && m.cfg.RestartGrace > 0 // parse: RESTARTING comes with LEAVING only
	switch {
	case !restarting:
		p.restartBy = time.Time{}
	case p.restartBy.IsZero(): // the first of its LEAVING datagrams sets the deadline
		p.restartBy = now.Add(m.cfg.RestartGrace)
		m.log.Info("Peer speaker restarting: alive until its next incarnation or the restart grace ends",
			"peer", d.name, "incarnation", d.inc, "grace", m.cfg.RestartGrace)
	}
	reportsChanged := !slices.Equal(p.reports, d.dead)
	p.reports = d.dead
	rebooted := false
	if !d.boot.IsZero() {
		if rebooted = !p.boot.IsZero() && d.boot != p.boot; rebooted {
			p.rebootedAt = now
		}
		p.boot = d.boot
	}
	m.received++
	receivedMetric.Inc()
	switch {
	case rebooted:
		m.log.Info("Peer node rebooted: its speaker is back with a new boot ID", "peer", d.name, "incarnation", d.inc, "bootID", d.boot.String())
	case restarted:
		m.log.Info("Peer speaker restarted", "peer", d.name, "incarnation", d.inc, "bootID", d.boot.String())
	}
	changed = m.publishPeerLocked(d.name, p, now) || reportsChanged || rebooted
	return m.publishSummaryLocked() || changed
}

func (m *Membership) reject(r RejectReason, name string, inc uint64) {
	m.rejected[r]++
	rejectedMetric.WithLabelValues(r.String()).Inc()
	m.log.V(4).Info("Rejected heartbeat datagram", "reason", r.String(), "peer", name, "incarnation", inc)
}
