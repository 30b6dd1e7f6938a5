package announce

import (
	"fmt"

	"github.com/frontdesk-lb/frontdesk/speaker/election"
)

// Reason says why this node announces an address or not. Its value is a CamelCase token, usable
// as an Event reason or a metric label. The election's reasons keep their names (election.Reason
// String); this package adds NoPool, NotAdvertised and NodeNotSelected.
type Reason string

// Reasons, roughly in the order they are checked.
const (
	// NoPool: the address is in no IPAllocation (Snapshot.Pools); it is not frontdesk's to announce.
	NoPool Reason = "NoPool"
	// NotAdvertised: no L2Rule advertises the address's pool; nobody announces it on layer 2.
	NotAdvertised Reason = "NotAdvertised"

	// The election's reasons (see package election).
	InvalidAddress     Reason = "InvalidAddress"
	NoQuorum           Reason = "NoQuorum"
	NodeUnknown        Reason = "NodeUnknown"
	SpeakerNotAlive    Reason = "SpeakerNotAlive"
	NodeNotReady       Reason = "NodeNotReady"
	NodeToBeDeleted    Reason = "NodeToBeDeleted"
	NodeExcluded       Reason = "NodeExcluded"
	NetworkUnavailable Reason = "NetworkUnavailable"

	// NodeNotSelected: rules advertise the address, but none of them selects this node.
	NodeNotSelected Reason = "NodeNotSelected"
	// NoLocalEndpoint: externalTrafficPolicy Local and this node has no usable local endpoint.
	NoLocalEndpoint Reason = "NoLocalEndpoint"

	Announcing Reason = "Announcing"
	NotElected Reason = "NotElected"
)

// Reasons lists every Reason, for pre-creating metric series.
func Reasons() []Reason {
	return []Reason{NoPool, NotAdvertised, InvalidAddress, NoQuorum, NodeUnknown, SpeakerNotAlive,
		NodeNotReady, NodeToBeDeleted, NodeExcluded, NetworkUnavailable, NodeNotSelected,
		NoLocalEndpoint, Announcing, NotElected}
}

func fromElection(r election.Reason) Reason { return Reason(r.String()) }

// Message is a sentence for a log line or an Event message.
func (d Decision) Message() string {
	switch d.Reason {
	case NoPool:
		return fmt.Sprintf("%s is in no IPAllocation; frontdesk does not announce it", d.Addr)
	case NotAdvertised:
		return fmt.Sprintf("no L2Advertisement advertises pool %q of %s; it is not announced on layer 2", d.Pool, d.Addr)
	case NodeNotSelected:
		return fmt.Sprintf("%s; this node does not because no L2Advertisement of pool %q selects it", d.winnerPart(), d.Pool)
	case NoLocalEndpoint:
		return fmt.Sprintf("%s; this node does not because it has no ready endpoint of the Services (externalTrafficPolicy Local)", d.winnerPart())
	case Announcing:
		return fmt.Sprintf("this node announces %s", d.Addr)
	case NotElected:
		return fmt.Sprintf("%s; this node is eligible but ranks lower", d.winnerPart())
	case NoQuorum:
		return fmt.Sprintf("this node does not announce %s: it sees no quorum of live speakers", d.Addr)
	}
	return fmt.Sprintf("%s; this node does not (%s)", d.winnerPart(), d.Reason)
}

func (d Decision) winnerPart() string {
	if d.Winner == "" {
		return fmt.Sprintf("no node can announce %s", d.Addr)
	}
	return fmt.Sprintf("node %s announces %s", d.Winner, d.Addr)
}
