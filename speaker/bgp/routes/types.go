// Package routes computes, from cluster objects, the BGP routes this node advertises to each
// peer: which addresses, as which prefixes, with which communities and local preference. It is
// pure (no I/O, no GoBGP) so that every rule is unit-tested; package bgp applies the result.
//
// Unlike layer 2, BGP has no election: every eligible node advertises every address it may,
// with itself as next hop, and the router spreads traffic over them (ECMP).
package routes

import (
	"cmp"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/served"
)

// DefaultClass is the spec.loadBalancerClass served when Snapshot.Classes is nil.
const DefaultClass = served.DefaultClass

// Snapshot is everything Compute reads; objects are read, never changed.
type Snapshot struct {
	// Self is this node's name.
	Self string
	// Services in any order; type LoadBalancer with a served class and ingress IPs count.
	Services []*corev1.Service
	// EndpointSlices in any order; only those of Services with externalTrafficPolicy Local
	// are read.
	EndpointSlices []*discoveryv1.EndpointSlice
	// Node is this node's object; nil means unknown, and nothing is advertised.
	Node *corev1.Node
	// Pools maps every allocated address to its pool (from IPAllocations). An address missing
	// here is not frontdesk's and is never advertised.
	Pools map[netip.Addr]string
	// PoolLabels are the IPPools' labels by name, for Rule.PoolSelectors.
	PoolLabels map[string]labels.Set
	// PoolSpans are the IPPools' addresses by name (SpanOf their entries, which the caller
	// keeps from one run to the next: they change with the pool only): an aggregated route
	// must lie within its address's pool (aggregation.go). A pool missing here gets no
	// aggregated route.
	PoolSpans map[string]PoolSpan
	// Peers are the BGPPeers; those that do not select this node are ignored.
	Peers []Peer
	// Rules are the BGPAdvertisements.
	Rules []Rule
	// Classes are the served spec.loadBalancerClass values besides the unset class; nil
	// means {DefaultClass}.
	Classes []string
}

// Peer is the part of a BGPPeer that decides which nodes peer with it.
type Peer struct {
	Name string
	// NodeSelectors: this node peers when it matches one; empty means every node. A nil
	// entry matches nothing.
	NodeSelectors []labels.Selector
}

// Rule is a BGPAdvertisement, parsed (see RuleFromAdvertisement).
type Rule struct {
	Name string
	// Pools and PoolSelectors select pools (both empty: every pool).
	Pools         []string
	PoolSelectors []labels.Selector
	// NodeSelectors select the advertising nodes (empty: every node).
	NodeSelectors []labels.Selector
	// Peers are BGPPeer names (empty: every peer).
	Peers            []string
	Communities      []v1alpha1.Community
	LargeCommunities []v1alpha1.LargeCommunity
	// LocalPref is nil when the rule sets none.
	LocalPref *uint32
	// AggregationLength (IPv4) and AggregationLengthV6; -1 means the full length.
	AggregationLength, AggregationLengthV6 int
	// ServiceCommunities are what a Service's annotation may add.
	ServiceCommunities []v1alpha1.CommunityPattern
}

// Route is one prefix advertised to one peer, with this node as next hop.
type Route struct {
	Prefix netip.Prefix
	// Communities and LargeCommunities are sorted and without duplicates.
	Communities      []v1alpha1.Community
	LargeCommunities []v1alpha1.LargeCommunity
	// LocalPref is sent to iBGP peers only; nil leaves the peer's default.
	LocalPref *uint32
}

// Equal says whether two routes carry the same prefix and attributes.
func (r Route) Equal(o Route) bool {
	return r.Prefix == o.Prefix && slices.Equal(r.Communities, o.Communities) &&
		slices.Equal(r.LargeCommunities, o.LargeCommunities) &&
		(r.LocalPref == nil) == (o.LocalPref == nil) && (r.LocalPref == nil || *r.LocalPref == *o.LocalPref)
}

// Plan is the outcome of Compute.
type Plan struct {
	// Routes are, by BGPPeer name, the routes to advertise, sorted by prefix. Every peer that
	// selects this node has an entry, possibly empty.
	Routes map[string][]Route
	// Decisions has one entry per address of a served Service, sorted by address.
	Decisions []Decision
	// Refused are the communities Services asked for that are not attached: not communities,
	// allowed by no advertisement, or (on a shared address) not asked for by every Service.
	Refused []RefusedCommunity
	// Aggregations are the advertisements whose aggregated route would leave the pool of an
	// address, one per advertisement, pool and family, sorted. They depend on the cluster's
	// objects only, not on this node: every node computes the same.
	Aggregations []RefusedAggregation
}

// Decision is what was decided for one address, for status, Events and logs.
type Decision struct {
	Addr     netip.Addr
	Pool     string
	Services []types.NamespacedName
	// Reason says why the address is advertised by this node or not.
	Reason Reason
	// Peers the address is advertised to, sorted.
	Peers []string
}

// Advertised reports whether this node advertises the address to some peer.
func (d Decision) Advertised() bool { return d.Reason == Advertising }

// RefusedCommunity is a community a Service's annotation asks for that is not attached: not
// allowed, not asked for by every Service of a shared address, or not a community at all.
type RefusedCommunity struct {
	Service   types.NamespacedName
	Community string
	// Why is ParseCommunity's error, or why the community is not attached (notAllowed,
	// notShared).
	Why string
}

// Reason says why this node advertises an address or not: a CamelCase token for Events and
// metric labels.
type Reason string

// Reasons, in the order they are checked.
const (
	// NoPool: the address is in no IPAllocation; it is not frontdesk's.
	NoPool Reason = "NoPool"
	// NotAdvertised: no BGPAdvertisement selects the address's pool.
	NotAdvertised Reason = "NotAdvertised"
	// NodeUnknown: this node's Node object is not known (yet).
	NodeUnknown Reason = "NodeUnknown"
	// NodeNotReady, NodeToBeDeleted, NodeExcluded, NetworkUnavailable: this node must not
	// attract traffic (served.Node.Announcer, the layer-2 election's rule too).
	NodeNotReady       = Reason(served.NodeNotReady)
	NodeToBeDeleted    = Reason(served.NodeToBeDeleted)
	NodeExcluded       = Reason(served.NodeExcluded)
	NetworkUnavailable = Reason(served.NetworkUnavailable)
	// NodeNotSelected: advertisements select the pool but not this node.
	NodeNotSelected Reason = "NodeNotSelected"
	// AggregationTooShort: every advertisement that selects the address and this node would
	// aggregate it into a route that leaves its pool (Plan.Aggregations).
	AggregationTooShort Reason = "AggregationTooShort"
	// NoPeer: no peer of this node is selected by the advertisements of the address.
	NoPeer Reason = "NoPeer"
	// NoLocalEndpoint: externalTrafficPolicy Local and no usable endpoint on this node: none
	// ready, and no serving terminating one while no node has a ready one (served.Local).
	NoLocalEndpoint Reason = "NoLocalEndpoint"
	// Advertising: the address is advertised to Decision.Peers.
	Advertising Reason = "Advertising"
)

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}
