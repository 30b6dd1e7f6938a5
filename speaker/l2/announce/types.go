package announce

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/served"
	"github.com/frontdesk-lb/frontdesk/speaker/election"
)

// DefaultClass is the spec.loadBalancerClass served when Snapshot.Classes is nil.
const DefaultClass = served.DefaultClass

// Snapshot is everything Compute reads. The objects are read, never changed, so they may come
// straight from informer listers.
type Snapshot struct {
	// Self is this node's name (the Node object's name).
	Self string
	// Services in any order. Only type LoadBalancer Services with a served class (see Classes)
	// and IPs in status.loadBalancer.ingress are announced.
	Services []*corev1.Service
	// EndpointSlices in any order; only those of Services with externalTrafficPolicy Local are
	// read (the kubernetes.io/service-name label ties a slice to its Service).
	EndpointSlices []*discoveryv1.EndpointSlice
	// Nodes in any order: the candidate announcers.
	Nodes []*corev1.Node
	// Alive is speaker liveness by node name, as liveness.Membership.Alive returns it. A node
	// that is absent or false does not announce; a nil map means no speaker is alive.
	Alive map[string]bool
	// NoQuorum is !liveness.Membership.HasQuorum(): this node then announces nothing.
	NoQuorum bool
	// Pools maps every allocated address to the name of its pool (from IPAllocation objects).
	// An address missing here is not frontdesk's and is not announced (Reason NoPool).
	Pools map[netip.Addr]string
	// PoolLabels maps pool names to the labels of their IPPool, for L2Rule.PoolSelectors.
	PoolLabels map[string]labels.Set
	// Rules are the layer-2 advertisement rules; an address no rule advertises is not announced
	// on layer 2 (Reason NotAdvertised).
	Rules []L2Rule
	// Classes are the spec.loadBalancerClass values served besides the unset class. Nil means
	// {DefaultClass}; an empty, non-nil slice means only Services without a class.
	Classes []string
}

// L2Rule says which pools are advertised on layer 2, from which nodes and on which interfaces.
// It has the shape of the L2Advertisement resource, so that the adapter is a field copy plus
// metav1.LabelSelectorAsSelector for each selector.
type L2Rule struct {
	// Name identifies the rule in Decisions (the L2Advertisement's name; it is cluster-scoped).
	Name string
	// Pools and PoolSelectors choose the pools: a pool is advertised if its name is in Pools or
	// its labels (Snapshot.PoolLabels) match any of PoolSelectors. Both empty means every pool.
	Pools         []string
	PoolSelectors []labels.Selector
	// NodeSelectors choose the nodes that may announce: a node matching any of them. Empty means
	// every node. A nil entry matches nothing.
	NodeSelectors []labels.Selector
	// Interfaces to announce on; empty means every interface whose subnet holds the address (the
	// Announcement default). Several rules advertising one address from one node add up.
	Interfaces []string
}

// Plan is the outcome of Compute for this node.
type Plan struct {
	// VIPs are the addresses this node announces, ready for l2.Announcer.SetVIPs.
	VIPs map[netip.Addr]Announcement
	// Decisions has one entry per announced-or-not address, sorted by address.
	Decisions []Decision
}

// Decision records what was decided for one address, for Events, status and logs.
type Decision struct {
	Addr netip.Addr
	// Pool is the address's pool, "" when unknown.
	Pool string
	// Services holding the address, sorted.
	Services []types.NamespacedName
	// Policy is PolicyLocal when any of Services has externalTrafficPolicy Local.
	Policy election.TrafficPolicy
	// Rules are the names of the L2Rules that advertise the address, sorted.
	Rules []string
	// Winner is the node announcing the address, "" when none can (or, under NoQuorum, when this
	// node cannot tell).
	Winner string
	// Reason says why this node announces the address or not.
	Reason Reason
	// Interfaces this node announces the address on when it wins: the union of the Interfaces
	// of the rules that advertise the address and select this node. Nil means every interface
	// whose subnet holds the address.
	Interfaces []string
}

// Announce reports whether this node announces the address.
func (d Decision) Announce() bool { return d.Reason == Announcing }

// Announcement says how one VIP is announced: the value speaker/l2's Announcer takes for each
// address, as speaker/bgp takes routes.Route.
type Announcement struct {
	// Interfaces names the interfaces to announce the VIP on, whatever their subnets. Empty means
	// every interface whose configured subnet contains the VIP.
	Interfaces []string
}
