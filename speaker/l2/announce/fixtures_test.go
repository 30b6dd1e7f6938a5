package announce

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/speaker/election"
)

// Address plan: documentation ranges only.
//
//	pool "blue":  192.0.2.0/24, 2001:db8:b::/64
//	pool "green": 198.51.100.0/24
//	203.0.113.0/24 is in no pool.
var (
	vip1   = netip.MustParseAddr("192.0.2.1")
	vip2   = netip.MustParseAddr("192.0.2.2")
	vip6   = netip.MustParseAddr("2001:db8:b::1")
	green1 = netip.MustParseAddr("198.51.100.1")
	stray  = netip.MustParseAddr("203.0.113.1")
)

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// newService returns a LoadBalancer Service in namespace "ns" with no class, Cluster policy and
// no address; tweaks change it.
func newService(name string, tweaks ...func(*corev1.Service)) *corev1.Service {
	return objects.Service("ns", name, append([]func(*corev1.Service){
		objects.LoadBalancer, objects.WithExternalTrafficPolicy(corev1.ServiceExternalTrafficPolicyCluster),
	}, tweaks...)...)
}

// ingress appends these addresses to the Service's status.
func ingress(addrs ...netip.Addr) func(*corev1.Service) {
	ips := make([]string, len(addrs))
	for i, a := range addrs {
		ips[i] = a.String()
	}
	return objects.WithIngressIPs(ips...)
}

// newNode returns a Ready node whose network is available (Ready=True, then
// NetworkUnavailable=False); tweaks change it.
func newNode(name string, tweaks ...func(*corev1.Node)) *corev1.Node {
	return objects.Node(name, append([]func(*corev1.Node){
		objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse),
	}, tweaks...)...)
}

// newSlice returns an EndpointSlice of Service ns/svc.
func newSlice(svc string, at discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return objects.EndpointSlice("ns", svc+"-"+string(at), svc, objects.WithAddressType(at), objects.WithEndpoints(eps...))
}

// endpoint returns a ready endpoint 10.0.0.1 on node; tweaks change it.
func endpoint(node string, tweaks ...func(*discoveryv1.Endpoint)) discoveryv1.Endpoint {
	return objects.Endpoint(append([]func(*discoveryv1.Endpoint){
		objects.Addresses("10.0.0.1"), objects.OnNode(node), objects.EndpointReady,
	}, tweaks...)...)
}

// nilConditions leaves the endpoint with no conditions at all.
var nilConditions = objects.WithConditions(discoveryv1.EndpointConditions{})

func nn(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }

func selector(t *testing.T, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// baseSnapshot: nodes node-a, node-b, node-c, all Ready and alive; one rule advertising every
// pool from every node; pools as in the address plan.
func baseSnapshot(self string) Snapshot {
	return Snapshot{
		Self:  self,
		Nodes: []*corev1.Node{newNode("node-a"), newNode("node-b"), newNode("node-c")},
		Alive: map[string]bool{"node-a": true, "node-b": true, "node-c": true},
		Pools: map[netip.Addr]string{vip1: "blue", vip2: "blue", vip6: "blue", green1: "green"},
		Rules: []L2Rule{{Name: "l2/all"}},
	}
}

// top is the node the rendezvous ranking puts first for addr among nodes: the winner the
// election must pick when exactly these nodes are eligible. It asks the election package
// (whose ranking is pinned by its golden test) rather than restating this package's rules.
func top(t *testing.T, addr netip.Addr, nodes ...string) string {
	t.Helper()
	ns := make([]election.Node, len(nodes))
	for i, n := range nodes {
		ns[i] = election.Node{Name: n, SpeakerAlive: true}
	}
	e, err := election.New(election.Config{Self: nodes[0], Nodes: ns})
	if err != nil {
		t.Fatal(err)
	}
	return e.Elect(election.Announcement{Addr: addr}).Winner
}

// other returns a node among all that is not the given one.
func other(not string, all ...string) string {
	for _, n := range all {
		if n != not {
			return n
		}
	}
	return ""
}
