package announce

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

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
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
		},
	}
	for _, t := range tweaks {
		t(s)
	}
	return s
}

func ingress(addrs ...netip.Addr) func(*corev1.Service) {
	return func(s *corev1.Service) {
		for _, a := range addrs {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a.String()})
		}
	}
}

func ingressRaw(ing corev1.LoadBalancerIngress) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, ing)
	}
}

func class(c string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &c }
}

func svcType(t corev1.ServiceType) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Type = t }
}

func etpLocal(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

// newNode returns a Ready node; tweaks change it.
func newNode(name string, tweaks ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
			{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse},
		}},
	}
	for _, t := range tweaks {
		t(n)
	}
	return n
}

func condition(typ corev1.NodeConditionType, st corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) {
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == typ {
				n.Status.Conditions[i].Status = st
				return
			}
		}
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: typ, Status: st})
	}
}

func nodeLabel(k, v string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[k] = v
	}
}

func taint(key string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
}

// newSlice returns an EndpointSlice of Service ns/svc.
func newSlice(svc string, at discoveryv1.AddressType, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: svc + "-" + string(at),
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: at,
		Endpoints:   eps,
	}
}

// endpoint returns a ready endpoint on node; tweaks change its conditions.
func endpoint(node string, tweaks ...func(*discoveryv1.EndpointConditions)) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, NodeName: &node,
		Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}}
	for _, t := range tweaks {
		t(&e.Conditions)
	}
	return e
}

func notReadyEP(c *discoveryv1.EndpointConditions) { c.Ready, c.Serving = ptr(false), ptr(false) }

// terminatingEP: serving but terminating, as during a graceful rollout.
func terminatingEP(c *discoveryv1.EndpointConditions) {
	c.Ready, c.Serving, c.Terminating = ptr(false), ptr(true), ptr(true)
}

// goneEP: terminating and no longer serving.
func goneEP(c *discoveryv1.EndpointConditions) {
	c.Ready, c.Serving, c.Terminating = ptr(false), ptr(false), ptr(true)
}

func nilConditions(c *discoveryv1.EndpointConditions) { *c = discoveryv1.EndpointConditions{} }

func ptr[T any](v T) *T { return &v }

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
