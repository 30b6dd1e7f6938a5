package liveness

import (
	"errors"
	"fmt"
	"net"
	"time"

	"k8s.io/klog/v2"
)

// Defaults. A peer is declared dead after DefaultTimeout without a heartbeat: 4 intervals, so three
// heartbeats in a row may be lost before a false alarm, and detection stays under 1 s (the
// failover target; MetalLB's memberlist takes 4-6 s, a kube-vip lease 15 s).
const (
	DefaultPort         = 7473
	DefaultInterval     = 200 * time.Millisecond
	DefaultTimeout      = 800 * time.Millisecond
	DefaultLeaveRepeats = 3
	DefaultLeaveSpacing = 10 * time.Millisecond
	// MinKeySize is the shortest HMAC key accepted; 32 random bytes are recommended.
	MinKeySize = 16
)

// Config is the input of New. Zero durations and counts take the defaults.
type Config struct {
	// NodeName is this node's Node name, sent in every datagram and never a peer of its own.
	NodeName string
	// Key signs outgoing datagrams and verifies incoming ones (HMAC-SHA256), at least MinKeySize
	// bytes, shared by every speaker (from a Secret).
	Key []byte
	// AcceptKeys verify incoming datagrams too but never sign: for rotating Key without a window
	// where old and new speakers reject each other. Add the new key here everywhere, then make it
	// Key everywhere, then drop the old one.
	AcceptKeys [][]byte
	// BootID is this node's boot ID (see BootIDSource), sent in every heartbeat so that peers
	// tell this speaker restarting (the same boot ID) from its node rebooting (a new one). Zero:
	// unknown; peers then treat a restart as they did before boot IDs, as a possible reboot.
	BootID BootID
	// Conn is the UDP socket heartbeats are sent and received on (see Listen). The Membership owns
	// it from New on: Run closes it when it returns.
	Conn net.PacketConn

	// Interval between heartbeats to each peer.
	Interval time.Duration
	// Timeout without an accepted heartbeat after which a peer is dead; at least 2 × Interval.
	Timeout time.Duration
	// StartupGrace: for this long after Run starts, peers not heard from yet are presumed alive,
	// so a starting speaker does not claim every address for the round trip it takes to hear its
	// peers. Peers added after the grace start dead. Default: Timeout.
	StartupGrace time.Duration
	// LeaveRepeats is how many LEAVING datagrams Leave sends to each peer, LeaveSpacing apart,
	// against the loss of one.
	LeaveRepeats int
	LeaveSpacing time.Duration
	// RestartGrace is how long a peer that left saying it is restarting (LeaveForRestart: its Pod
	// is being replaced on a node that stays up, whose kernel keeps forwarding) stays alive to
	// this node, waiting for its next incarnation. Moving its addresses away and back within
	// seconds would break every connection opened meanwhile; within the grace nothing moves.
	// If it is not back by then, it counts as left and its addresses are taken over. Zero: no
	// grace, a restarting peer is taken for leaving.
	RestartGrace time.Duration
	// RequireQuorum makes HasQuorum report false while this speaker sees at most half of the
	// speakers (itself included) alive. The speaker then announces nothing, so the minority side
	// of a partition falls silent after Timeout instead of answering beside the majority; the cost
	// is that losing half of the nodes at once silences everyone (see README.md).
	RequireQuorum bool

	// Clock is the time source; nil means the system clock.
	Clock Clock
	// Logger receives membership changes (Info) and rejected datagrams (V(4)); the zero value
	// means klog.Background().
	Logger klog.Logger
}

// ConfigError is returned by New for a Config it cannot use.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "liveness: Config." + e.Field + ": " + e.Reason }

// PeerError is returned by SetPeers for an entry it cannot use; no peer is changed.
type PeerError struct {
	Name   string
	Reason string
}

func (e *PeerError) Error() string { return fmt.Sprintf("liveness: peer %q: %s", e.Name, e.Reason) }

var (
	// ErrNotRunning is returned by Leave when Run is not running.
	ErrNotRunning = errors.New("liveness: membership is not running; Leave needs a running Run")
	// ErrAlreadyStarted is returned by a second call of Run: a Membership runs once.
	ErrAlreadyStarted = errors.New("liveness: Run called twice; a Membership runs once, create a new one to restart")
)

func (c *Config) validate() error {
	if !validName(c.NodeName) {
		return &ConfigError{"NodeName", fmt.Sprintf("%q is not a Node name: want 1 to %d characters of [a-z0-9.-]", c.NodeName, maxNameLen)}
	}
	if err := checkKeys(c.Key, c.AcceptKeys); err != nil {
		return err
	}
	if c.Conn == nil {
		return &ConfigError{"Conn", "nil; want a UDP socket, for example from Listen"}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"Interval", c.Interval}, {"Timeout", c.Timeout}, {"StartupGrace", c.StartupGrace}, {"LeaveSpacing", c.LeaveSpacing}, {"LeaveRepeats", time.Duration(c.LeaveRepeats)}, {"RestartGrace", c.RestartGrace}} {
		if f.v < 0 {
			return &ConfigError{f.name, "negative; want a positive value, or 0 for the default"}
		}
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = max(DefaultTimeout, 4*c.Interval)
	}
	if c.Timeout < 2*c.Interval {
		return &ConfigError{"Timeout", fmt.Sprintf("%v is under 2 × Interval (%v): one lost heartbeat would kill a live peer", c.Timeout, c.Interval)}
	}
	if c.StartupGrace == 0 {
		c.StartupGrace = c.Timeout
	}
	if c.LeaveRepeats == 0 {
		c.LeaveRepeats = DefaultLeaveRepeats
	}
	if c.LeaveSpacing == 0 {
		c.LeaveSpacing = DefaultLeaveSpacing
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger.GetSink() == nil {
		c.Logger = klog.Background()
	}
	return nil
}

// checkKeys checks Key and AcceptKeys, for New and SetKeys.
func checkKeys(key []byte, accept [][]byte) error {
	if len(key) < MinKeySize {
		return &ConfigError{"Key", fmt.Sprintf("%d bytes; want at least %d (32 random bytes recommended)", len(key), MinKeySize)}
	}
	for i, k := range accept {
		if len(k) < MinKeySize {
			return &ConfigError{fmt.Sprintf("AcceptKeys[%d]", i), fmt.Sprintf("%d bytes; want at least %d", len(k), MinKeySize)}
		}
	}
	return nil
}

// RejectReason says why a received datagram was not taken as a heartbeat.
type RejectReason uint8

const (
	_ RejectReason = iota
	// RejectMalformed: not a heartbeat datagram (stray traffic, truncated, bad field).
	RejectMalformed
	// RejectVersion: a wire version this speaker does not speak.
	RejectVersion
	// RejectMAC: the MAC does not match under any accepted key (wrong key, forged or altered).
	RejectMAC
	// RejectUnknownSender: authentic, but from a node that is not a peer.
	RejectUnknownSender
	// RejectSelf: authentic and in our own name: another speaker runs with the same NodeName, or a
	// datagram came back to us.
	RejectSelf
	// RejectReplay: a sequence not newer than the last accepted one from the sender, or an
	// incarnation the sender has since replaced: a replay, or a datagram reordered in flight.
	RejectReplay
	// RejectStaleEcho: the datagram does not echo one of our two latest nonces, so nothing proves
	// it was sent recently. Normal for a peer's first datagrams after either side starts or a
	// partition heals; they then teach us the peer's nonce, to echo back.
	RejectStaleEcho
	// RejectUnknownSource: from an address that is no peer's (SetPeers), dropped before its MAC
	// is checked: a Pod or LAN host flooding the port costs a map lookup, not an HMAC.
	RejectUnknownSource
	// RejectRateLimited: from a peer's address, but beyond that address's budget (ten times what
	// a speaker sends), dropped before its MAC is checked: a flood from one address silences that
	// address only.
	RejectRateLimited

	numRejectReasons
)

var rejectNames = [numRejectReasons]string{
	RejectMalformed:     "malformed",
	RejectVersion:       "version",
	RejectMAC:           "mac",
	RejectUnknownSender: "unknown_sender",
	RejectSelf:          "self",
	RejectReplay:        "replay",
	RejectStaleEcho:     "stale_echo",
	RejectUnknownSource: "unknown_source",
	RejectRateLimited:   "rate_limited",
}

// String returns the reason as a snake_case metric label value.
func (r RejectReason) String() string {
	if r > 0 && r < numRejectReasons {
		return rejectNames[r]
	}
	return fmt.Sprintf("RejectReason(%d)", uint8(r))
}
