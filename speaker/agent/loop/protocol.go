// Package loop is the speaker's one loop: one informer set, one snapshot per run, one coalescing
// worker, one writer of the IPAllocation status and one Event recorder. The ways of announcing
// (layer 2, BGP) are Protocols it drives: each plans from the run's snapshot, applies its plan and
// reports its part of each address's status; the loop merges the parts into one status update
// per address. A new way of announcing is a new package implementing Protocol.
package loop

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// Protocol is one way of announcing this node's addresses. The loop calls its methods from its
// one worker, never concurrently. A protocol reads the kinds of its own (its advertisements, its
// peers) from the loop's Informers, on which it registers them before the loop is made (New).
type Protocol interface {
	// Mode is the mode of the IPAllocation status.announcers entries the protocol owns for
	// this node; each protocol of a loop has its own.
	Mode() v1alpha1.AnnouncementMode
	// Wakes are channels on which the protocol asks for a run (an interface went down, a session
	// changed state); a closed channel asks once. Nil channels are ignored.
	Wakes() []<-chan struct{}
	// Sync plans from the snapshot, applies the plan (announces what it says, withdraws the
	// rest) and returns its part of the status of the addresses it decided on. A Report comes
	// with an error when a step after the plan was applied failed; a zero Report leaves this
	// node's entries of the mode as they are. An error reruns the loop after DefaultRetry.
	Sync(ctx context.Context, s *Snapshot, ev Recorder) (Report, error)
	// Close withdraws everything the protocol announces and releases what it holds; the Report
	// removes this node's entries of the mode, and the loop writes it (Loop.Retire).
	Close(ctx context.Context) (Report, error)
}

// Part is one protocol's part of one address's IPAllocation status: from the status so far, the
// status with this node's part of the mode as the protocol wants it (its entry, and the Announced
// condition by the protocol's rules). It must not modify its argument, and applying it to its
// own result changes nothing.
type Part func(v1alpha1.IPAllocationStatus) v1alpha1.IPAllocationStatus

// Report is what one protocol says about the status after a Sync or a Close.
type Report struct {
	// Parts has the part of each address the protocol decided on.
	Parts map[netip.Addr]Part
	// Default, when not nil, gives the part of any other address whose status names this node
	// (its Service is gone, say): it removes this node's entry of the mode.
	Default func(netip.Addr) Part
	// Sure: the informer's copy may not show this node's latest entries yet (the last writes on
	// shutdown); when it shows nothing to change for an address of Parts, the object is read from
	// the API server.
	Sure bool
	// Again, when positive, asks for another run after it even if nothing changes (layer 2
	// rechecks the addresses the node proxy does not forward yet).
	Again time.Duration
}

// Snapshot is what one run reads, listed once from the informers and shared by every protocol.
// The objects are the informers' copies: read, never changed.
type Snapshot struct {
	// Self is this node's name; Node its Node (nil when the informer does not hold it).
	Self string
	Node *corev1.Node
	// Nodes, Services and EndpointSlices in any order.
	Nodes          []*corev1.Node
	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	// Pools maps every allocated address to its pool (from the IPAllocations).
	Pools map[netip.Addr]string
	// PoolLabels are the IPPools' labels by name.
	PoolLabels map[string]labels.Set
	// Alive is speaker liveness by node name, NoQuorum whether this node lacks a quorum of
	// live speakers (both zero without a Config.Membership).
	Alive    map[string]bool
	NoQuorum bool
	// Classes are the served spec.loadBalancerClass values (Config.Classes).
	Classes []string
	// Stalled: this process was stopped or starved for longer than peers wait since the last
	// run (see stall.go): peers may have taken its addresses over meanwhile.
	Stalled bool
	// Now is the run's time, for status entries and conditions.
	Now metav1.Time

	allocs []*v1alpha1.IPAllocation
	byName map[string]*v1alpha1.IPAllocation
}

// FirstAlive reports whether self is the first live speaker by name in alive (a
// Snapshot.Alive): the one speaker that writes or tells what every node would find alike, so
// that one node does, not all of them. Around a change of the first an entry or Event may be
// doubled or missed. With no liveness at all, no speaker is first.
func FirstAlive(self string, alive map[string]bool) bool {
	if !alive[self] {
		return false
	}
	for n, ok := range alive {
		if ok && n < self {
			return false
		}
	}
	return true
}

// Allocation is addr's IPAllocation in the informer's copy.
func (s *Snapshot) Allocation(addr netip.Addr) (*v1alpha1.IPAllocation, bool) {
	a, ok := s.byName[v1alpha1.IPAllocationName(addr)]
	return a, ok
}
