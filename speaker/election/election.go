package election

import (
	"errors"
	"fmt"
	"net/netip"
)

// TrafficPolicy is the externalTrafficPolicy that governs an address.
type TrafficPolicy uint8

const (
	// PolicyCluster (the zero value): any eligible node may announce.
	PolicyCluster TrafficPolicy = iota
	// PolicyLocal: only eligible nodes with a ready local endpoint may announce, since kube-proxy
	// (and our proxy) drop external traffic on the other nodes to keep the client's source address.
	PolicyLocal
)

func (p TrafficPolicy) String() string {
	switch p {
	case PolicyCluster:
		return "Cluster"
	case PolicyLocal:
		return "Local"
	}
	return fmt.Sprintf("TrafficPolicy(%d)", uint8(p))
}

// Node holds the facts about one candidate node that decide whether it may announce anything.
// The caller derives them from the Node object (package served decides which Nodes may attract
// traffic, the same way for layer 2 and BGP) and from speaker liveness.
type Node struct {
	Name string
	// Ineligible is why the Node object keeps this node from announcing: NodeNotReady,
	// NodeToBeDeleted, NodeExcluded or NetworkUnavailable (served.Node.Announcer); 0 when it
	// does not.
	Ineligible Reason
	// SpeakerAlive: the node's speaker is a live member as this node's liveness layer sees it.
	SpeakerAlive bool
}

// ineligible returns why the node may not announce, 0 when it may.
func (n *Node) ineligible() Reason {
	if !n.SpeakerAlive {
		return SpeakerNotAlive
	}
	return n.Ineligible
}

// Announcement is one address to elect a node for. Services sharing an address are one
// Announcement: Policy is PolicyLocal if any of them is Local, and LocalNodes then lists the nodes
// that have a ready local endpoint for every Local Service on the address (a node lacking one would
// drop that Service's traffic).
type Announcement struct {
	Addr   netip.Addr
	Policy TrafficPolicy
	// LocalNodes is read only for PolicyLocal. Order and duplicates do not matter; names that are
	// not candidate nodes are ignored.
	LocalNodes []string
}

// Config is the input of New.
type Config struct {
	// Self is this node's name.
	Self string
	// Nodes are the candidate nodes, in any order. Self should be among them.
	Nodes []Node
	// NoQuorum is set when the liveness layer requires a quorum and does not have one: this node
	// then announces nothing.
	NoQuorum bool
}

// ErrEmptyName is returned for a Config whose Self or one of whose Nodes has an empty name.
var ErrEmptyName = errors.New("election: empty node name; every node, and Self, needs its Node's name")

// DuplicateNodeError is returned when two candidate nodes share a name: the facts would be
// ambiguous, and two speakers could pick different ones.
type DuplicateNodeError struct{ Name string }

func (e *DuplicateNodeError) Error() string {
	return fmt.Sprintf("election: node %q listed twice; each candidate node must appear once", e.Name)
}

// Electorate is a prepared set of candidate nodes: build one with New whenever nodes or liveness
// change, then Elect each address. It is immutable and safe for concurrent use.
type Electorate struct {
	self       string
	selfReason Reason         // why self may not announce at all, 0 when it may
	eligible   []string       // names of the eligible nodes
	keys       []uint64       // nodeKey(eligible[i]), packed for the hot loop
	index      map[string]int // eligible node name → index in eligible, for PolicyLocal
}

// New prepares an election among the eligible nodes of cfg.Nodes.
func New(cfg Config) (*Electorate, error) {
	if cfg.Self == "" {
		return nil, ErrEmptyName
	}
	e := &Electorate{
		self:       cfg.Self,
		selfReason: NodeUnknown,
		eligible:   make([]string, 0, len(cfg.Nodes)),
		keys:       make([]uint64, 0, len(cfg.Nodes)),
		index:      make(map[string]int, len(cfg.Nodes)),
	}
	seen := make(map[string]struct{}, len(cfg.Nodes))
	for i := range cfg.Nodes {
		n := &cfg.Nodes[i]
		if n.Name == "" {
			return nil, ErrEmptyName
		}
		if _, dup := seen[n.Name]; dup {
			return nil, &DuplicateNodeError{Name: n.Name}
		}
		seen[n.Name] = struct{}{}
		r := n.ineligible()
		if n.Name == cfg.Self {
			e.selfReason = r
		}
		if r == 0 {
			e.index[n.Name] = len(e.eligible)
			e.eligible = append(e.eligible, n.Name)
			e.keys = append(e.keys, nodeKey(n.Name))
		}
	}
	if cfg.NoQuorum {
		e.selfReason = NoQuorum
	}
	return e, nil
}

// Eligible returns the number of eligible nodes (for every address under PolicyCluster).
func (e *Electorate) Eligible() int { return len(e.eligible) }

// beats reports whether candidate i with weight w outranks candidate j with weight wj. Ties (a
// 2^-64 event) go to the smaller name, so the answer never depends on input order.
func (e *Electorate) beats(i int, w uint64, j int, wj uint64) bool {
	if w != wj {
		return w > wj
	}
	return e.eligible[i] < e.eligible[j]
}

// Elect picks the node that announces a.Addr and says why this node does or does not. It does not
// allocate.
func (e *Electorate) Elect(a Announcement) Result {
	res := Result{Addr: a.Addr}
	if !a.Addr.IsValid() {
		res.Reason = InvalidAddress
		return res
	}
	if e.selfReason == NoQuorum {
		res.Reason = NoQuorum
		return res
	}
	ak := addrKey(a.Addr)
	best, selfLocal := -1, false
	var bestW uint64
	if a.Policy == PolicyLocal {
		for _, name := range a.LocalNodes {
			if name == e.self {
				selfLocal = true
			}
			if i, ok := e.index[name]; ok {
				if w := weight(e.keys[i], ak); best < 0 || e.beats(i, w, best, bestW) {
					best, bestW = i, w
				}
			}
		}
	} else {
		// The hot loop: 1M iterations for 10k addresses over 100 nodes.
		for i, k := range e.keys {
			if w := weight(k, ak); best < 0 || w > bestW || (w == bestW && e.beats(i, w, best, bestW)) {
				best, bestW = i, w
			}
		}
	}
	if best >= 0 {
		res.Winner = e.eligible[best]
	}
	switch {
	case e.selfReason != 0:
		res.Reason = e.selfReason
	case a.Policy == PolicyLocal && !selfLocal:
		res.Reason = NoLocalEndpoint
	case res.Winner == e.self:
		res.Reason = Announcing
	default:
		res.Reason = NotElected
	}
	return res
}
