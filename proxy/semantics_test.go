package proxy

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func tcp(src, dst string, port uint16) packet {
	return packet{src: netip.MustParseAddr(src), dst: netip.MustParseAddr(dst), proto: "tcp", dport: port}
}

func fromNode(p packet) packet { p.fromNode = true; return p }

func withProto(proto string, p packet) packet { p.proto = proto; return p }

// Endpoints of the semantics tests: two Pods on this node, two on node-b.
var (
	local1  = ep{ip: "10.244.1.5", node: testNode}
	local2  = ep{ip: "10.244.1.6", node: testNode}
	remote1 = ep{ip: "10.244.2.5", node: "node-b"}
	remote2 = ep{ip: "10.244.2.6", node: "node-b"}
)

const (
	toLocal1  = "DNAT 10.244.1.5:8080"
	toLocal2  = "DNAT 10.244.1.6:8080"
	toRemote1 = "DNAT 10.244.2.5:8080"
	toRemote2 = "DNAT 10.244.2.6:8080"
	masq      = " MASQ"
)

// TestSemantics walks packets through the generated rules for each Service behaviour users rely on
// (the sig-network Service e2e behaviours named in issue #7).
func TestSemantics(t *testing.T) {
	pod := "10.244.1.7"
	outside := "172.16.0.5"
	node := nodeIP.String()
	tcpSlice := func(eps ...ep) *discovery.EndpointSlice { return newSlice("svc", "svc-1", v1.ProtocolTCP, eps...) }
	zone := func(z string, e ep) ep { e.zones = []string{z}; return e }

	type check struct {
		name string
		pkt  packet
		want []string
	}
	tests := []struct {
		name   string
		config func(*Config)
		objs   []any
		checks []check
	}{{
		name: "ClusterIP",
		objs: []any{newService("svc"), tcpSlice(local1, remote1)},
		checks: []check{
			{"from a Pod: any endpoint, source kept", tcp(pod, "10.96.0.1", 80), []string{toLocal1, toRemote1}},
			{"from outside the Pod network: masqueraded", tcp("192.168.0.11", "10.96.0.1", 80), []string{toLocal1 + masq, toRemote1 + masq}},
			{"from the node", fromNode(tcp(node, "10.96.0.1", 80)), []string{toLocal1 + masq, toRemote1 + masq}},
			{"another port of the ClusterIP is left alone", tcp(pod, "10.96.0.1", 81), []string{"ACCEPT"}},
			{"UDP to a TCP port is left alone", withProto("udp", tcp(pod, "10.96.0.1", 80)), []string{"ACCEPT"}},
		},
	}, {
		name: "NodePort on every local address but loopback",
		objs: []any{newService("svc", nodePort(30080)), tcpSlice(local1, remote1)},
		checks: []check{
			{"external client, ETP Cluster: masqueraded", tcp(outside, node, 30080), []string{toLocal1 + masq, toRemote1 + masq}},
			{"IPv4 node address, other port", tcp(outside, node, 30081), []string{"ACCEPT"}},
			{"not a node address", tcp(outside, "192.168.0.11", 30080), []string{"ACCEPT"}},
			{"loopback is never a NodePort (no route_localnet)", fromNode(tcp("127.0.0.1", "127.0.0.1", 30080)), []string{"ACCEPT"}},
			{"from the node to its own address", fromNode(tcp(node, node, 30080)), []string{toLocal1 + masq, toRemote1 + masq}},
		},
	}, {
		name: "NodePort limited to NodePortAddresses",
		config: func(c *Config) {
			c.NodePortAddresses = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}
			c.LocalAddrs = func() ([]netip.Addr, error) {
				return []netip.Addr{nodeIP, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")}, nil
			}
		},
		objs: []any{newService("svc", nodePort(30080)), tcpSlice(remote1)},
		checks: []check{
			{"an address inside", tcp(outside, node, 30080), []string{toRemote1 + masq}},
		},
	}, {
		name: "LoadBalancer IP and externalIPs",
		objs: []any{newService("svc", loadBalancer("203.0.113.1"), nodePort(30080), externalIPs("198.51.100.1")), tcpSlice(local1, remote1)},
		checks: []check{
			{"LoadBalancer IP", tcp(outside, "203.0.113.1", 80), []string{toLocal1 + masq, toRemote1 + masq}},
			{"externalIP", tcp(outside, "198.51.100.1", 80), []string{toLocal1 + masq, toRemote1 + masq}},
			{"LoadBalancer IP from a Pod", tcp(pod, "203.0.113.1", 80), []string{toLocal1 + masq, toRemote1 + masq}},
			{"LoadBalancer IP, other port", tcp(outside, "203.0.113.1", 443), []string{"ACCEPT"}},
		},
	}, {
		name: "externalTrafficPolicy Local",
		objs: []any{newService("svc", loadBalancer("203.0.113.1"), nodePort(30080), externalLocal(32000)), tcpSlice(local1, local2, remote1)},
		checks: []check{
			{"external client: local endpoints, source kept", tcp(outside, "203.0.113.1", 80), []string{toLocal1, toLocal2}},
			{"NodePort: local endpoints, source kept", tcp(outside, node, 30080), []string{toLocal1, toLocal2}},
			{"a Pod: every endpoint", tcp(pod, "203.0.113.1", 80), []string{toLocal1, toLocal2, toRemote1}},
			{"the node: every endpoint, masqueraded", fromNode(tcp(node, "203.0.113.1", 80)), []string{toLocal1 + masq, toLocal2 + masq, toRemote1 + masq}},
			{"ClusterIP is not affected", tcp(pod, "10.96.0.1", 80), []string{toLocal1, toLocal2, toRemote1}},
		},
	}, {
		name: "externalTrafficPolicy Local without a local endpoint drops",
		objs: []any{newService("svc", loadBalancer("203.0.113.1"), nodePort(30080), externalLocal(32000)), tcpSlice(remote1)},
		checks: []check{
			{"LoadBalancer IP", tcp(outside, "203.0.113.1", 80), []string{"DROP"}},
			{"NodePort", tcp(outside, node, 30080), []string{"DROP"}},
			{"ClusterIP still works", tcp(pod, "10.96.0.1", 80), []string{toRemote1}},
			// Pods and the node itself are not external clients: they reach every endpoint even
			// where there is no local one, as with kube-proxy (the e2e test "should implement
			// NodePort and HealthCheckNodePort correctly when ExternalTrafficPolicy changes").
			{"a Pod to the LoadBalancer IP: every endpoint", tcp(pod, "203.0.113.1", 80), []string{toRemote1}},
			{"a Pod to the NodePort: every endpoint", tcp(pod, node, 30080), []string{toRemote1}},
			{"the node to its NodePort: every endpoint, masqueraded", fromNode(tcp(node, node, 30080)), []string{toRemote1 + masq}},
			{"the node to the LoadBalancer IP: every endpoint, masqueraded", fromNode(tcp(node, "203.0.113.1", 80)), []string{toRemote1 + masq}},
		},
	}, {
		name: "internalTrafficPolicy Local",
		objs: []any{newService("svc", internalLocal), tcpSlice(local1, remote1)},
		checks: []check{
			{"from a Pod: local endpoints only", tcp(pod, "10.96.0.1", 80), []string{toLocal1}},
		},
	}, {
		name: "internalTrafficPolicy Local without a local endpoint drops",
		objs: []any{newService("svc", internalLocal), tcpSlice(remote1)},
		checks: []check{
			{"from a Pod", tcp(pod, "10.96.0.1", 80), []string{"DROP"}},
		},
	}, {
		// TCP gets a reset, which a client connecting from this node learns at once even while
		// its connect() holds the socket (an ICMPv6 error arriving then only becomes a soft error,
		// and the client waits for its SYN retransmit); only TCP has a reset, UDP learns by ICMP.
		name: "no endpoints: reject",
		objs: []any{newService("svc", loadBalancer("203.0.113.1"), nodePort(30080))},
		checks: []check{
			{"ClusterIP from a Pod", tcp(pod, "10.96.0.1", 80), []string{"RESET"}},
			{"ClusterIP from the node", fromNode(tcp(node, "10.96.0.1", 80)), []string{"RESET"}},
			{"NodePort", tcp(outside, node, 30080), []string{"RESET"}},
			{"LoadBalancer IP", tcp(outside, "203.0.113.1", 80), []string{"RESET"}},
		},
	}, {
		// Only TCP has a reset; the rest learns through ICMP.
		name: "no endpoints: UDP is rejected with ICMP",
		objs: []any{newService("svc", protocol(v1.ProtocolUDP))},
		checks: []check{
			{"ClusterIP from a Pod", withProto("udp", tcp(pod, "10.96.0.1", 80)), []string{"REJECT"}},
		},
	}, {
		name: "not-ready endpoints are no endpoints",
		objs: []any{newService("svc"), tcpSlice(ep{ip: "10.244.1.5", node: testNode, notReady: true})},
		checks: []check{
			{"from a Pod", tcp(pod, "10.96.0.1", 80), []string{"RESET"}},
		},
	}, {
		name: "terminating endpoints only when none is ready",
		objs: []any{newService("svc"), tcpSlice(local1, ep{ip: "10.244.2.5", node: "node-b", terminating: true})},
		checks: []check{
			{"the ready one", tcp(pod, "10.96.0.1", 80), []string{toLocal1}},
		},
	}, {
		name: "terminating endpoints when nothing else is left",
		objs: []any{newService("svc"), tcpSlice(ep{ip: "10.244.2.5", node: "node-b", terminating: true},
			ep{ip: "10.244.2.6", node: "node-b", notReady: true})},
		checks: []check{
			{"the serving terminating one", tcp(pod, "10.96.0.1", 80), []string{toRemote1}},
		},
	}, {
		name: "hairpin",
		objs: []any{newService("svc"), tcpSlice(local1)},
		checks: []check{
			{"a Pod reaching itself is masqueraded", tcp("10.244.1.5", "10.96.0.1", 80), []string{toLocal1 + masq}},
		},
	}, {
		name: "loadBalancerSourceRanges",
		objs: []any{newService("svc", loadBalancer("203.0.113.1"), sourceRanges("172.16.0.0/16", "2001:db8:ff::/64")), tcpSlice(remote1)},
		checks: []check{
			{"inside the ranges", tcp(outside, "203.0.113.1", 80), []string{toRemote1 + masq}},
			{"outside the ranges", tcp("10.9.9.9", "203.0.113.1", 80), []string{"DROP"}},
			{"ClusterIP is not filtered", tcp("10.244.9.9", "10.96.0.1", 80), []string{toRemote1}},
		},
	}, {
		name:   "trafficDistribution PreferClose",
		config: nil,
		objs: []any{
			objects.Node(testNode, objects.NoConditions, objects.WithLabel(v1.LabelTopologyZone, "z1")),
			newService("svc", distribution(v1.ServiceTrafficDistributionPreferClose)),
			tcpSlice(zone("z1", local1), zone("z1", remote1), zone("z2", remote2)),
		},
		checks: []check{
			{"endpoints hinted for this zone", tcp(pod, "10.96.0.1", 80), []string{toLocal1, toRemote1}},
		},
	}, {
		name: "trafficDistribution PreferClose with an endpoint lacking hints uses all",
		objs: []any{
			objects.Node(testNode, objects.NoConditions, objects.WithLabel(v1.LabelTopologyZone, "z1")),
			newService("svc", distribution(v1.ServiceTrafficDistributionPreferClose)),
			tcpSlice(zone("z1", local1), remote2),
		},
		checks: []check{
			{"every endpoint", tcp(pod, "10.96.0.1", 80), []string{toLocal1, toRemote2}},
		},
	}, {
		name: "UDP and SCTP",
		objs: []any{
			newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP)), newSlice("dns", "dns-1", v1.ProtocolUDP, remote1),
			newService("sig", clusterIP("10.96.0.11"), protocol(v1.ProtocolSCTP)), newSlice("sig", "sig-1", v1.ProtocolSCTP, remote2),
		},
		checks: []check{
			{"UDP", withProto("udp", tcp(pod, "10.96.0.10", 80)), []string{toRemote1}},
			{"SCTP", withProto("sctp", tcp(pod, "10.96.0.11", 80)), []string{toRemote2}},
			{"TCP to the UDP Service", tcp(pod, "10.96.0.10", 80), []string{"ACCEPT"}},
		},
	}, {
		name: "loopback and link-local endpoints are refused",
		objs: []any{newService("svc"), tcpSlice(ep{ip: "127.0.0.1", node: testNode}, ep{ip: "169.254.169.254", node: testNode})},
		checks: []check{
			{"nothing to forward to", tcp(pod, "10.96.0.1", 80), []string{"RESET"}},
		},
	}, {
		name: "named target ports, two ports",
		objs: []any{twoPortService(), twoPortSlice(local1)},
		checks: []check{
			{"http", tcp(pod, "10.96.0.1", 80), []string{toLocal1}},
			{"metrics", tcp(pod, "10.96.0.1", 9100), []string{"DNAT 10.244.1.5:9090"}},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tweaks []func(*Config)
			if tc.config != nil {
				tweaks = append(tweaks, tc.config)
			}
			tp := newTestProxy(t, tweaks...)
			tp.apply(t, tc.objs...)
			tr := tp.tracer(t, knftables.IPv4Family)
			for _, c := range tc.checks {
				if diff := cmp.Diff(c.want, tr.trace(c.pkt)); diff != "" {
					t.Errorf("%s: %s → %s:%d (-want +got):\n%s", c.name, c.pkt.src, c.pkt.dst, c.pkt.dport, diff)
				}
			}
		})
	}
}

func twoPortService() *v1.Service {
	svc := newService("svc")
	svc.Spec.Ports = append(svc.Spec.Ports, v1.ServicePort{Name: "metrics", Protocol: v1.ProtocolTCP, Port: 9100})
	return svc
}

func twoPortSlice(eps ...ep) *discovery.EndpointSlice {
	es := newSlice("svc", "svc-1", v1.ProtocolTCP, eps...)
	name, port, proto := "metrics", int32(9090), v1.ProtocolTCP
	es.Ports = append(es.Ports, discovery.EndpointPort{Name: &name, Port: &port, Protocol: &proto})
	return es
}

func TestSessionAffinity(t *testing.T) {
	tp := newTestProxy(t)
	tp.apply(t, newService("svc", affinity(600)), newSlice("svc", "svc-1", v1.ProtocolTCP, local1, remote1, remote2))
	tr := tp.tracer(t, knftables.IPv4Family)
	pkt := tcp("10.244.1.7", "10.96.0.1", 80)
	if diff := cmp.Diff([]string{toLocal1, toRemote1, toRemote2}, tr.trace(pkt)); diff != "" {
		t.Fatalf("before any connection, every endpoint (-want +got):\n%s", diff)
	}
	tr.affinity = map[string]map[netip.Addr]bool{}
	// The first connection lands on the second endpoint...
	calls := 0
	tr.pick = func(n int) int {
		calls++
		if calls == 2 {
			return 0
		}
		return 1
	}
	if diff := cmp.Diff([]string{toRemote1}, tr.trace(pkt)); diff != "" {
		t.Fatalf("first connection (-want +got):\n%s", diff)
	}
	// ...and every later one from the same client follows it, whatever the random pick.
	tr.pick = nil
	if diff := cmp.Diff([]string{toRemote1}, tr.trace(pkt)); diff != "" {
		t.Errorf("same client again (-want +got):\n%s", diff)
	}
	other := tcp("10.244.1.8", "10.96.0.1", 80)
	if diff := cmp.Diff([]string{toLocal1, toRemote1, toRemote2}, tr.trace(other)); diff != "" {
		t.Errorf("another client (-want +got):\n%s", diff)
	}
	set := tp.fakes[knftables.IPv4Family].Table.Sets["aff-600-default/svc/tcp/http__10.244.2.5/8080"]
	if set == nil || set.Timeout == nil || *set.Timeout != 600e9 {
		t.Errorf("affinity set with a 600 s timeout not found: %+v", set)
	}
}

func TestIPv6(t *testing.T) {
	tp := newTestProxy(t)
	svc := newService("svc", clusterIP("10.96.0.5", "fd00:96::5"), loadBalancer("203.0.113.5", "2001:db8:1::5"))
	tp.apply(t, svc, newService("empty", clusterIP("fd00:96::7")),
		newSlice("svc", "svc-v4", v1.ProtocolTCP, local1),
		newSlice("svc", "svc-v6", v1.ProtocolTCP, ep{ip: "fd00:244:1::5", node: testNode}))
	tr := tp.tracer(t, knftables.IPv6Family)
	for _, c := range []struct {
		pkt  packet
		want []string
	}{
		{tcp("fd00:244:1::7", "fd00:96::5", 80), []string{"DNAT [fd00:244:1::5]:8080"}},
		{tcp(client6.String(), "2001:db8:1::5", 80), []string{"DNAT [fd00:244:1::5]:8080 MASQ"}},
		{tcp("fd00:244:1::7", "fd00:96::6", 80), []string{"ACCEPT"}},
		{tcp("fd00:244:1::7", "fd00:96::7", 80), []string{"RESET"}},
	} {
		if diff := cmp.Diff(c.want, tr.trace(c.pkt)); diff != "" {
			t.Errorf("%s → %s (-want +got):\n%s", c.pkt.src, c.pkt.dst, diff)
		}
	}
	if diff := cmp.Diff([]string{toLocal1}, tp.tracer(t, knftables.IPv4Family).trace(tcp("10.244.1.7", "10.96.0.5", 80))); diff != "" {
		t.Errorf("IPv4 side (-want +got):\n%s", diff)
	}
}
