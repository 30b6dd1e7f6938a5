package proxy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// Services of the hijack tests. The hijacker's namespace "a" sorts before both victims', which
// is what won the old name-ordered tie-break for it (issue 17, item 1).
func kubeDNS() *v1.Service {
	return newService("kube-dns", objects.WithNamespace("kube-system"), clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP), port(53))
}

func shop() *v1.Service {
	return newService("shop", objects.WithNamespace("b"), clusterIP("10.96.0.20"), loadBalancer("203.0.113.1"), protocol(v1.ProtocolUDP), port(53))
}

func hijacker(ips ...string) *v1.Service {
	return newService("evil", objects.WithNamespace("a"), clusterIP("10.96.0.99"), protocol(v1.ProtocolUDP), port(53), externalIPs(ips...))
}

func port(p int32) func(*v1.Service) { return func(s *v1.Service) { s.Spec.Ports[0].Port = p } }

func sliceIn(ns, svc string, proto v1.Protocol, eps ...ep) *discovery.EndpointSlice {
	es := newSlice(svc, svc+"-1", proto, eps...)
	es.Namespace = ns
	return es
}

// allowAll lets every externalIP through the CIDR check, so that only ownership refuses.
func allowAll(c *Config) {
	c.AllowedExternalIPCIDRs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
}

// TestExternalIPCannotTakeAnotherServicesAddress: a tenant's externalIPs naming cluster DNS's
// ClusterIP and another tenant's LoadBalancer IP, on the same port and protocol, are not
// programmed; the owners' traffic still reaches the owners' endpoints, whatever order the
// objects arrive in and whichever sync each lands in, and the table equals a fresh full sync.
func TestExternalIPCannotTakeAnotherServicesAddress(t *testing.T) {
	pod := "10.244.1.7"
	objs := []any{
		kubeDNS(), sliceIn("kube-system", "kube-dns", v1.ProtocolUDP, local2, remote2),
		shop(), sliceIn("b", "shop", v1.ProtocolUDP, remote1),
		hijacker("10.96.0.10", "203.0.113.1", "198.51.100.9"), sliceIn("a", "evil", v1.ProtocolUDP, local1),
	}
	orders := map[string][]int{
		"owners first":                 {0, 1, 2, 3, 4, 5},
		"hijacker first":               {4, 5, 0, 1, 2, 3},
		"hijacker between its victims": {0, 1, 4, 5, 2, 3},
	}
	for name, order := range orders {
		for _, oneSyncEach := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/one sync each %v", name, oneSyncEach), func(t *testing.T) {
				tp := newTestProxy(t, allowAll)
				var seq []any
				for _, i := range order {
					seq = append(seq, objs[i])
				}
				if oneSyncEach {
					for _, o := range seq {
						tp.apply(t, o)
					}
				} else {
					tp.apply(t, seq...)
				}
				tr := tp.tracer(t, knftables.IPv4Family)
				udp := func(dst string) packet { return withProto("udp", tcp(pod, dst, 53)) }
				for _, c := range []struct {
					what string
					pkt  packet
					want []string
				}{
					{"cluster DNS reaches its own endpoints", udp("10.96.0.10"), []string{toLocal2, toRemote2}},
					{"the shop's LoadBalancer IP reaches the shop", udp("203.0.113.1"), []string{toRemote1 + masq}},
					{"the hijacker's free externalIP is its own", udp("198.51.100.9"), []string{toLocal1 + masq}},
					{"the hijacker's ClusterIP is its own", udp("10.96.0.99"), []string{toLocal1}},
				} {
					if diff := cmp.Diff(c.want, tr.trace(c.pkt)); diff != "" {
						t.Errorf("%s (-want +got):\n%s", c.what, diff)
					}
				}
				fresh := newTestProxy(t, allowAll)
				fresh.apply(t, objs...)
				if diff := cmp.Diff(normalizedDump(fresh.fakes[knftables.IPv4Family]), normalizedDump(tp.fakes[knftables.IPv4Family])); diff != "" {
					t.Errorf("the table differs from a full sync of the same objects (-full +got):\n%s", diff)
				}
			})
		}
	}
}

// TestExternalIPFreedWhenTheOwnerGoes: the refusal follows the owner; once kube-dns is gone,
// its former address is an ordinary (allowed) externalIP, and back it goes when kube-dns
// returns. Only the hijacker's rules change with the owner, so this needs the store to rebuild
// the Services that name an address whose owner changed.
func TestExternalIPFreedWhenTheOwnerGoes(t *testing.T) {
	tp := newTestProxy(t, allowAll)
	tp.apply(t, kubeDNS(), sliceIn("kube-system", "kube-dns", v1.ProtocolUDP, remote2), hijacker("10.96.0.10"), sliceIn("a", "evil", v1.ProtocolUDP, local1))
	udp := withProto("udp", tcp("172.16.0.5", "10.96.0.10", 53))
	if diff := cmp.Diff([]string{toRemote2 + masq}, tp.tracer(t, knftables.IPv4Family).trace(udp)); diff != "" {
		t.Errorf("with kube-dns (-want +got):\n%s", diff)
	}
	tp.DeleteService("kube-system", "kube-dns")
	tp.apply(t)
	if diff := cmp.Diff([]string{toLocal1 + masq}, tp.tracer(t, knftables.IPv4Family).trace(udp)); diff != "" {
		t.Errorf("kube-dns deleted (-want +got):\n%s", diff)
	}
	tp.apply(t, kubeDNS())
	if diff := cmp.Diff([]string{toRemote2 + masq}, tp.tracer(t, knftables.IPv4Family).trace(udp)); diff != "" {
		t.Errorf("kube-dns back (-want +got):\n%s", diff)
	}
}

// TestExternalIPsNeedAnAllowedCIDR: with no --allowed-external-ip-cidrs no externalIP is
// programmed (kube-proxy's DenyServiceExternalIPs), and with them only those inside are.
func TestExternalIPsNeedAnAllowedCIDR(t *testing.T) {
	svc := newService("svc", externalIPs("198.51.100.1", "192.0.2.1"), loadBalancer("203.0.113.1"))
	slice := newSlice("svc", "svc-1", v1.ProtocolTCP, remote1)
	outside := "172.16.0.5"
	for _, tc := range []struct {
		name    string
		allowed []netip.Prefix
		want    map[string][]string
	}{
		{"none allowed (the default)", nil, map[string][]string{
			"198.51.100.1": {"ACCEPT"}, "192.0.2.1": {"ACCEPT"}, "203.0.113.1": {toRemote1 + masq}}},
		{"one CIDR allowed", []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, map[string][]string{
			"198.51.100.1": {toRemote1 + masq}, "192.0.2.1": {"ACCEPT"}, "203.0.113.1": {toRemote1 + masq}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTestProxy(t, func(c *Config) { c.AllowedExternalIPCIDRs = tc.allowed })
			tp.apply(t, svc, slice)
			tr := tp.tracer(t, knftables.IPv4Family)
			for dst, want := range tc.want {
				if diff := cmp.Diff(want, tr.trace(tcp(outside, dst, 80))); diff != "" {
					t.Errorf("to %s (-want +got):\n%s", dst, diff)
				}
			}
		})
	}
}

// TestLoadBalancerIPCannotTakeAClusterIP: status is written by load-balancer controllers, of any
// class; an ingress IP equal to another Service's ClusterIP is not programmed either.
func TestLoadBalancerIPCannotTakeAClusterIP(t *testing.T) {
	tp := newTestProxy(t)
	rogue := newService("rogue", objects.WithNamespace("a"), clusterIP("10.96.0.98"), loadBalancer("10.96.0.10"), protocol(v1.ProtocolUDP), port(53))
	tp.apply(t, rogue, sliceIn("a", "rogue", v1.ProtocolUDP, local1), kubeDNS(), sliceIn("kube-system", "kube-dns", v1.ProtocolUDP, remote2))
	if diff := cmp.Diff([]string{toRemote2}, tp.tracer(t, knftables.IPv4Family).trace(withProto("udp", tcp("10.244.1.7", "10.96.0.10", 53)))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if tp.Forwards(netip.MustParseAddr("10.96.0.10")) {
		t.Error("Forwards(10.96.0.10) is true: a speaker would announce another Service's ClusterIP")
	}
}
