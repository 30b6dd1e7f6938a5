//go:build linux

package bgprouters

import (
	"encoding/json"
	"net/netip"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
)

// AdjIn follows gobgpd's Adj-RIB-In: which speaker's path for each prefix the router holds,
// and when each left. The best-path stream (Monitor) cannot show this when several speakers
// announce a prefix: one speaker's path leaving changes the best path at most, and is not seen
// at all when its path was not the best. Two streams of the gobgp CLI make it up: `monitor
// adj-in` for the paths a speaker sends and withdraws, and `monitor neighbor` for each speaker's
// session, because gobgpd drops the paths of a peer whose session goes down without putting
// them in the adj-in stream (its API has no stream of those; only its BMP client gets them).
// A stopping speaker may do either: its withdrawals can still be queued when its Cease closes
// the session.
type AdjIn struct {
	mu   sync.Mutex
	held map[adjKey]bool
	gone map[adjKey]time.Time // when each path last left, by the time its stream line was read
	// session is each peer's last session state.
	session map[netip.Addr]api.PeerState_SessionState
}

type adjKey struct {
	prefix netip.Prefix
	peer   netip.Addr
}

// AdjIn starts the streams of the paths from peers, the router's current paths first, until
// the test ends.
func (r *GoBGP) AdjIn(t testing.TB, peers []netip.Addr) *AdjIn {
	t.Helper()
	w := newAdjIn()
	r.stream(t, w.record, "-j", "monitor", "adj-in", "--current")
	for _, p := range peers {
		r.stream(t, w.recordSession, "-j", "monitor", "neighbor", p.String())
	}
	return w
}

func newAdjIn() *AdjIn {
	return &AdjIn{held: map[adjKey]bool{}, gone: map[adjKey]time.Time{}, session: map[netip.Addr]api.PeerState_SessionState{}}
}

// record takes one line of the adj-in stream, seen at now: a JSON list of paths, each with the
// neighbour it came from.
func (w *AdjIn) record(now time.Time, line []byte) {
	paths, _ := parsePaths(line)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range paths {
		if !p.peer.IsValid() {
			continue
		}
		k := adjKey{p.prefix, p.peer}
		if p.withdrawal {
			// The first word of a path's leaving counts: the neighbour's stream may have
			// told of its session's end before this stream tells of the withdrawals
			// that came just before it.
			if w.held[k] {
				delete(w.held, k)
				w.gone[k] = now
			}
		} else {
			w.held[k] = true
		}
	}
}

// recordSession takes one line of a neighbour's stream: the peer's state, as JSON, on each
// change. A session that leaves Established takes all of the peer's paths with it. Only that
// change counts: the streams are apart, so a new session's paths can be read before the
// states it passed through on its way up.
func (w *AdjIn) recordSession(now time.Time, line []byte) {
	var peer struct {
		Conf struct {
			NeighborAddress string `json:"neighbor_address"`
		} `json:"conf"`
		State struct {
			SessionState api.PeerState_SessionState `json:"session_state"`
		} `json:"state"`
	}
	if json.Unmarshal(line, &peer) != nil {
		return
	}
	addr, err := netip.ParseAddr(peer.Conf.NeighborAddress)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	was := w.session[addr]
	w.session[addr] = peer.State.SessionState
	if was != api.PeerState_SESSION_STATE_ESTABLISHED || peer.State.SessionState == api.PeerState_SESSION_STATE_ESTABLISHED {
		return
	}
	for k := range w.held {
		if k.peer == addr {
			delete(w.held, k)
			w.gone[k] = now
		}
	}
}

// Holds reports whether the router holds peer's path for p.
func (w *AdjIn) Holds(p netip.Prefix, peer netip.Addr) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held[adjKey{p, peer}]
}

// Left waits up to timeout for peer's paths for every prefix in ps to leave the router, and
// returns when the last of them left, by the stream's clock; false if one is still held.
func (w *AdjIn) Left(peer netip.Addr, ps []netip.Prefix, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		var last time.Time
		all := true
		for _, p := range ps {
			k := adjKey{p, peer}
			all = all && !w.held[k]
			if w.gone[k].After(last) {
				last = w.gone[k]
			}
		}
		w.mu.Unlock()
		if all {
			return last, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		// The times come from the stream: polling only decides when we look.
		time.Sleep(5 * time.Millisecond)
	}
}
