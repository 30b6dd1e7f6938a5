package announce

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func TestComputeLocalPolicy(t *testing.T) {
	v4 := discoveryv1.AddressTypeIPv4
	web := services(newService("web", ingress(vip1), objects.LocalTraffic))
	ld := func(winner string, r Reason) []Decision {
		return []Decision{withPolicyLocal(dec(vip1, winner, r, "web"))}
	}
	bc := top(t, vip1, "node-b", "node-c")
	tests := []computeCase{
		{
			name: "local endpoint here",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-a")))),
			want: ld("node-a", Announcing),
		},
		{
			name: "no local endpoint here",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-b")))),
			want: ld("node-b", NoLocalEndpoint),
		},
		{
			name: "ranked among the nodes with endpoints",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-b"), endpoint("node-c")))),
			want: ld(bc, NoLocalEndpoint),
		},
		{
			name: "no endpoints at all",
			snap: snap("node-a", web),
			want: ld("", NoLocalEndpoint),
		},
		{
			name: "not-ready endpoint does not count",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-a", objects.EndpointNotReady), endpoint("node-b")))),
			want: ld("node-b", NoLocalEndpoint),
		},
		{
			name: "nil conditions mean ready",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-a", nilConditions)))),
			want: ld("node-a", Announcing),
		},
		{
			name: "endpoint without node name ignored",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, discoveryv1.Endpoint{Addresses: []string{"10.0.0.9"}}))),
			want: ld("", NoLocalEndpoint),
		},
		{
			name: "terminating endpoints ignored while a ready one exists",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-a", objects.EndpointTerminating), endpoint("node-b")))),
			want: ld("node-b", NoLocalEndpoint),
		},
		{
			name: "serving terminating endpoints used when none is ready",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-a", objects.EndpointTerminating), endpoint("node-b", objects.EndpointNotReady)))),
			want: ld("node-a", Announcing),
		},
		{
			name: "ready endpoint in another slice wins over terminating ones",
			snap: snap("node-a", web, slicesOf(
				newSlice("web", v4, endpoint("node-a", objects.EndpointTerminating)),
				newSlice("web", v4, endpoint("node-c")),
			)),
			want: ld("node-c", NoLocalEndpoint),
		},
		{
			name: "terminating and no longer serving does not count",
			snap: snap("node-a", web, slicesOf(newSlice("web", v4, endpoint("node-a", objects.EndpointGone)))),
			want: ld("", NoLocalEndpoint),
		},
		{
			name: "IPv6 endpoints do not serve an IPv4 address",
			snap: snap("node-a", web, slicesOf(newSlice("web", discoveryv1.AddressTypeIPv6, endpoint("node-a")))),
			want: ld("", NoLocalEndpoint),
		},
		{
			name: "FQDN slices ignored",
			snap: snap("node-a", web, slicesOf(newSlice("web", discoveryv1.AddressTypeFQDN, endpoint("node-a")))),
			want: ld("", NoLocalEndpoint),
		},
		{
			name: "slices of another Service or namespace ignored",
			snap: snap("node-a", web, slicesOf(newSlice("other", v4, endpoint("node-a")), func() *discoveryv1.EndpointSlice {
				s := newSlice("web", v4, endpoint("node-a"))
				s.Namespace = "elsewhere"
				return s
			}())),
			want: ld("", NoLocalEndpoint),
		},
		{
			name: "local endpoint on a node that is not Ready",
			snap: snap("node-a", web, tweakNode("node-a", objects.WithCondition("Ready", "False")),
				slicesOf(newSlice("web", v4, endpoint("node-a"), endpoint("node-b")))),
			want: ld("node-b", NodeNotReady),
		},
	}
	runComputeCases(t, tests)
}

func TestComputeSharing(t *testing.T) {
	v4 := discoveryv1.AddressTypeIPv4
	all := []string{"node-a", "node-b", "node-c"}
	w := top(t, vip1, all...)
	ab := top(t, vip1, "node-a", "node-b")
	tests := []computeCase{
		{
			name: "two Cluster Services on one address are one decision",
			snap: snap(w, services(newService("web", ingress(vip1)), newService("api", ingress(vip1)))),
			want: []Decision{dec(vip1, w, Announcing, "api", "web")},
		},
		{
			name: "one Local Service makes the address Local",
			snap: snap("node-a", services(newService("web", ingress(vip1)), newService("api", ingress(vip1), objects.LocalTraffic)),
				slicesOf(newSlice("api", v4, endpoint("node-c")), newSlice("web", v4, endpoint("node-a")))),
			want: []Decision{withPolicyLocal(dec(vip1, "node-c", NoLocalEndpoint, "api", "web"))},
		},
		{
			name: "Local Services: nodes serving both",
			snap: snap("node-a", services(newService("web", ingress(vip1), objects.LocalTraffic), newService("api", ingress(vip1), objects.LocalTraffic)),
				slicesOf(newSlice("api", v4, endpoint("node-b"), endpoint("node-c")), newSlice("web", v4, endpoint("node-a"), endpoint("node-b")))),
			want: []Decision{withPolicyLocal(dec(vip1, "node-b", NoLocalEndpoint, "api", "web"))},
		},
		{
			name: "Local Services with disjoint nodes: any node serving one",
			snap: snap("node-a", services(newService("web", ingress(vip1), objects.LocalTraffic), newService("api", ingress(vip1), objects.LocalTraffic)),
				slicesOf(newSlice("api", v4, endpoint("node-b")), newSlice("web", v4, endpoint("node-a")))),
			want: []Decision{withPolicyLocal(dec(vip1, ab, map[bool]Reason{true: Announcing, false: NotElected}[ab == "node-a"], "api", "web"))},
		},
		{
			name: "separate addresses are separate decisions",
			snap: snap(w, services(newService("web", ingress(vip1)), newService("api", ingress(vip2)))),
			want: []Decision{
				dec(vip1, w, Announcing, "web"),
				dec(vip2, top(t, vip2, all...), map[bool]Reason{true: Announcing, false: NotElected}[top(t, vip2, all...) == w], "api"),
			},
		},
		{
			name: "an address listed twice by one Service",
			snap: snap(w, services(newService("web", ingress(vip1, vip1)))),
			want: []Decision{dec(vip1, w, Announcing, "web")},
		},
	}
	runComputeCases(t, tests)
}

func TestComputeDualStack(t *testing.T) {
	all := []string{"node-a", "node-b", "node-c"}
	w4, w6 := top(t, vip1, all...), top(t, vip6, all...)
	if w4 == w6 {
		t.Fatalf("address plan: vip1 and vip6 should rank different nodes first, both rank %s", w4)
	}
	reason := func(winner, self string) Reason {
		if winner == self {
			return Announcing
		}
		return NotElected
	}
	tests := []computeCase{
		{
			name: "two addresses elected independently",
			snap: snap("node-a", services(newService("web", ingress(vip6, vip1)))),
			want: []Decision{dec(vip1, w4, reason(w4, "node-a"), "web"), dec(vip6, w6, reason(w6, "node-a"), "web")},
		},
		{
			name: "Local: endpoints per family",
			snap: snap("node-a", services(newService("web", ingress(vip1, vip6), objects.LocalTraffic)), slicesOf(
				newSlice("web", discoveryv1.AddressTypeIPv4, endpoint("node-a")),
				newSlice("web", discoveryv1.AddressTypeIPv6, endpoint("node-b")))),
			want: []Decision{
				withPolicyLocal(dec(vip1, "node-a", Announcing, "web")),
				withPolicyLocal(dec(vip6, "node-b", NoLocalEndpoint, "web")),
			},
		},
	}
	runComputeCases(t, tests)
}
