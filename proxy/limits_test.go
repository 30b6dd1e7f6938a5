package proxy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
)

// manyPorts gives a Service n TCP ports, 1000 up, each to target port "web".
func manyPorts(n int) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.Ports = nil
		for i := range n {
			s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: fmt.Sprintf("p%d", i), Protocol: v1.ProtocolTCP,
				Port: int32(1000 + i), TargetPort: intstr.FromString("web")})
		}
	}
}

// manyPortsSlice is the EndpointSlice of a manyPorts Service, every port to 8080.
func manyPortsSlice(svc string, n int, eps ...ep) *discovery.EndpointSlice {
	es := newSlice(svc, svc+"-1", v1.ProtocolTCP, eps...)
	es.Ports = nil
	for i := range n {
		es.Ports = append(es.Ports, objects.EndpointPort(fmt.Sprintf("p%d", i), v1.ProtocolTCP, 8080))
	}
	return es
}

// bigSlices are the EndpointSlices of n ready endpoints on node-b (10.245.0.0/16), at most 1000
// per slice as the API server allows, for a Service with the one port "http".
func bigSlices(svc string, n int) []any {
	var out []any
	for first := 0; first < n; first += 1000 {
		var eps []ep
		for i := first; i < min(n, first+1000); i++ {
			eps = append(eps, ep{ip: netip.AddrFrom4([4]byte{10, 245, byte(i >> 8), byte(i)}).String(), node: "node-b"})
		}
		out = append(out, newSlice(svc, fmt.Sprintf("%s-%d", svc, first/1000), v1.ProtocolTCP, eps...))
	}
	return out
}

// TestServiceOverThePortCapIsNotProgrammed: a Service with more ports than the cap gets no
// rule at all; the others are untouched.
func TestServiceOverThePortCapIsNotProgrammed(t *testing.T) {
	tp := newTestProxy(t, func(c *Config) { c.Limits = served.Limits{Ports: 100, EndpointsPerPort: 5000} })
	tp.apply(t, newService("huge", clusterIP("10.96.0.50"), manyPorts(101)), newSlice("huge", "huge-1", v1.ProtocolTCP, remote1),
		newService("web"), newSlice("web", "web-1", v1.ProtocolTCP, local1))
	tr := tp.tracer(t, knftables.IPv4Family)
	pod := "10.244.1.7"
	if diff := cmp.Diff([]string{"ACCEPT"}, tr.trace(tcp(pod, "10.96.0.50", 1000))); diff != "" {
		t.Errorf("the Service over the cap (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{toLocal1}, tr.trace(tcp(pod, "10.96.0.1", 80))); diff != "" {
		t.Errorf("another Service (-want +got):\n%s", diff)
	}
	// At the cap it is programmed.
	tp.apply(t, newService("huge", clusterIP("10.96.0.50"), manyPorts(100)))
	if got := tp.tracer(t, knftables.IPv4Family).trace(tcp(pod, "10.96.0.50", 1099)); len(got) != 1 || got[0] == "ACCEPT" {
		t.Errorf("a Service at the cap: %v, want it forwarded", got)
	}
}

// TestServicePortOverTheEndpointCapKeepsTheCap: a port with more endpoints than the cap is
// programmed with the cap's worth, ready ones first.
func TestServicePortOverTheEndpointCapKeepsTheCap(t *testing.T) {
	tp := newTestProxy(t, func(c *Config) { c.Limits = served.Limits{Ports: 100, EndpointsPerPort: 3} })
	tp.apply(t, newService("web"), newSlice("web", "web-1", v1.ProtocolTCP,
		ep{ip: "10.244.1.1", node: testNode, notReady: true}, local1, local2, remote1, remote2))
	want := []string{toLocal1, toLocal2, toRemote1}
	if diff := cmp.Diff(want, tp.tracer(t, knftables.IPv4Family).trace(tcp("10.244.1.7", "10.96.0.1", 80))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestHugeServicesDoNotSwampTheTable: with the default caps, a 5,000-port Service and a
// 6,000-endpoint Service leave the table the size of a few ordinary Services plus one capped
// cascade, and the others are served. Uncapped, they are 5,000 chains and 21,000 rules
// on every node, which the next full resync rewrites in one transaction.
func TestHugeServicesDoNotSwampTheTable(t *testing.T) {
	tp := newTestProxy(t)
	objs := []any{
		newService("ports", clusterIP("10.96.0.50"), manyPorts(5000)), manyPortsSlice("ports", 5000, remote1, remote2),
		newService("endpoints", clusterIP("10.96.0.51")),
		newService("web"), newSlice("web", "web-1", v1.ProtocolTCP, local1),
	}
	tp.apply(t, append(objs, bigSlices("endpoints", 6000)...)...)
	tbl := tp.tables[0]
	limit := served.DefaultLimits.EndpointsPerPort + 100
	if tbl.rules > limit || tbl.chains > 100 {
		t.Errorf("the IPv4 table holds %d rules in %d chains; want at most %d rules, 100 chains", tbl.rules, tbl.chains, limit)
	}
	tr := tp.tracer(t, knftables.IPv4Family)
	if diff := cmp.Diff([]string{toLocal1}, tr.trace(tcp("10.244.1.7", "10.96.0.1", 80))); diff != "" {
		t.Errorf("an ordinary Service beside them (-want +got):\n%s", diff)
	}
	// One rule per endpoint (the cascade) and the masquerade rule before them.
	name := svcChain(portName{"default", "endpoints", "http", v1.ProtocolTCP})
	if got := len(tbl.applied[keyOf(newService("endpoints"))].chains[name]) - 1; got != served.DefaultLimits.EndpointsPerPort {
		t.Errorf("the 6,000-endpoint Service sends to %d endpoints, want the cap, %d", got, served.DefaultLimits.EndpointsPerPort)
	}
}
