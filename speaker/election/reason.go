package election

import (
	"fmt"
	"net/netip"
)

// Reason says why this node does or does not announce an address. The first reasons are facts
// about this node and hold for every address; NoLocalEndpoint is per address.
type Reason uint8

// Reasons, in the order they are checked: the first that applies is reported.
const (
	_ Reason = iota
	// Announcing: this node is eligible and ranks first among the eligible nodes.
	Announcing
	// NotElected: this node is eligible but another node (Result.Winner) ranks first.
	NotElected
	// InvalidAddress: the Announcement has no valid address; nobody announces it.
	InvalidAddress
	// NoQuorum: the liveness layer requires a quorum and this node sees no majority of speakers;
	// it announces nothing, so that the minority side of a partition falls silent.
	NoQuorum
	// NodeUnknown: this node is not among the candidate nodes (its Node object is not known yet).
	NodeUnknown
	// SpeakerNotAlive: this node's speaker is not a live member (not started, or leaving).
	SpeakerNotAlive
	// NodeNotReady: the Node's Ready condition is not True.
	NodeNotReady
	// NodeToBeDeleted: the Node is being deleted or carries the ToBeDeletedByClusterAutoscaler
	// taint.
	NodeToBeDeleted
	// NodeExcluded: the Node has the node.kubernetes.io/exclude-from-external-load-balancers label
	// (with a value other than false).
	NodeExcluded
	// NetworkUnavailable: the Node's NetworkUnavailable condition is True.
	NetworkUnavailable
	// NoLocalEndpoint: the traffic policy is Local and this node has no ready local endpoint.
	NoLocalEndpoint

	numReasons
)

var reasonNames = [numReasons]string{
	Announcing:         "Announcing",
	NotElected:         "NotElected",
	InvalidAddress:     "InvalidAddress",
	NoQuorum:           "NoQuorum",
	NodeUnknown:        "NodeUnknown",
	SpeakerNotAlive:    "SpeakerNotAlive",
	NodeNotReady:       "NodeNotReady",
	NodeToBeDeleted:    "NodeToBeDeleted",
	NodeExcluded:       "NodeExcluded",
	NetworkUnavailable: "NetworkUnavailable",
	NoLocalEndpoint:    "NoLocalEndpoint",
}

// String returns the reason as a CamelCase token, usable as an Event reason or a metric label.
func (r Reason) String() string {
	if r > 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Reasons lists every Reason, for pre-creating metric series.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := Reason(1); r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// why is the clause of Result.Message for a reason other than Announcing and NotElected.
var why = [numReasons]string{
	InvalidAddress:     "the address is not valid",
	NoQuorum:           "this node's speaker does not see a majority of speakers",
	NodeUnknown:        "this node is not among the known Nodes",
	SpeakerNotAlive:    "this node's speaker is not a live member",
	NodeNotReady:       "the Node is not Ready",
	NodeToBeDeleted:    "the Node is being deleted or tainted ToBeDeletedByClusterAutoscaler",
	NodeExcluded:       "the Node has the label node.kubernetes.io/exclude-from-external-load-balancers",
	NetworkUnavailable: "the Node's NetworkUnavailable condition is True",
	NoLocalEndpoint:    "externalTrafficPolicy is Local and this node has no ready endpoint",
}

// Result is the outcome of one election, seen from this node.
type Result struct {
	Addr netip.Addr
	// Winner is the node that announces Addr, "" when no node is eligible. Under NoQuorum this
	// node cannot tell, and Winner is "".
	Winner string
	// Reason says why this node announces Addr or not.
	Reason Reason
}

// Announce reports whether this node announces the address.
func (r Result) Announce() bool { return r.Reason == Announcing }

// Message is a sentence for a log line or an Event message.
func (r Result) Message() string {
	switch r.Reason {
	case Announcing:
		return fmt.Sprintf("this node announces %s", r.Addr)
	case NotElected:
		return fmt.Sprintf("node %s announces %s; this node is eligible but ranks lower", r.Winner, r.Addr)
	case NoQuorum, InvalidAddress:
		return fmt.Sprintf("this node does not announce %s: %s", r.Addr, r.Reason.why())
	}
	if r.Winner == "" {
		return fmt.Sprintf("no node is eligible to announce %s; on this node %s", r.Addr, r.Reason.why())
	}
	return fmt.Sprintf("node %s announces %s; this node does not because %s", r.Winner, r.Addr, r.Reason.why())
}

func (r Reason) why() string {
	if r > 0 && r < numReasons && why[r] != "" {
		return why[r]
	}
	return r.String()
}

// String is Message, so that a Result prints well in logs.
func (r Result) String() string { return r.Message() }
