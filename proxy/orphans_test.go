package proxy

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
)

func TestParseFlows(t *testing.T) {
	out := `udp      17 29 src=172.31.1.2 dst=10.96.0.10 sport=40000 dport=53 src=10.99.11.2 dst=172.31.1.2 sport=8080 dport=40000 mark=0 use=1
udp      17 27 src=172.31.1.2 dst=203.0.113.9 sport=40001 dport=53 [UNREPLIED] src=203.0.113.9 dst=172.31.1.2 sport=53 dport=40001 mark=0 use=1
udp      17 29 src=fd00:31:1::2 dst=fd00:96::a sport=40000 dport=53 src=fd00:99:11::2 dst=fd00:31:1::2 sport=8080 dport=40000 mark=0 use=1
garbage
`
	want := []Flow{
		{Protocol: "udp", Dst: netip.MustParseAddr("10.96.0.10"), DstPort: 53, ReplySrc: netip.MustParseAddr("10.99.11.2"), ReplySrcPort: 8080},
		{Protocol: "udp", Dst: netip.MustParseAddr("203.0.113.9"), DstPort: 53, ReplySrc: netip.MustParseAddr("203.0.113.9"), ReplySrcPort: 53},
		{Protocol: "udp", Dst: netip.MustParseAddr("fd00:96::a"), DstPort: 53, ReplySrc: netip.MustParseAddr("fd00:99:11::2"), ReplySrcPort: 8080},
	}
	if diff := cmp.Diff(want, parseFlows(out), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// listingConntrack is a stateful fake conntrack table: List returns the entries, Delete removes
// those a filter matches.
type listingConntrack struct {
	flows []Flow
}

func (c *listingConntrack) List(_ context.Context, ipv6 bool) ([]Flow, error) {
	var out []Flow
	for _, f := range c.flows {
		if f.Dst.Is6() == ipv6 {
			out = append(out, f)
		}
	}
	return out, nil
}

func (c *listingConntrack) Delete(_ context.Context, filters []FlowFilter) error {
	for _, ff := range filters {
		kept := c.flows[:0]
		for _, f := range c.flows {
			match := (!ff.Dst.IsValid() || ff.Dst == f.Dst) && (ff.DstPort == 0 || ff.DstPort == f.DstPort) &&
				(!ff.ReplySrc.IsValid() || ff.ReplySrc == f.ReplySrc) && (ff.ReplySrcPort == 0 || ff.ReplySrcPort == f.ReplySrcPort)
			if !match {
				kept = append(kept, f)
			}
		}
		c.flows = kept
	}
	return nil
}

// TestOrphanFlowsClearedAtStart: a proxy starting over a conntrack table that holds UDP flows to
// an endpoint that left while no proxy ran deletes those, and keeps the flows to current
// endpoints, flows never DNATed and flows to addresses it does not serve.
func TestOrphanFlowsClearedAtStart(t *testing.T) {
	a := netip.MustParseAddr
	// A DNATed flow's reply comes from the endpoint's port, 8080; one never DNATed from the
	// Service's own.
	flowTo := func(dst string, port uint16, reply string, replyPort uint16) Flow {
		return Flow{Protocol: "udp", Dst: a(dst), DstPort: port, ReplySrc: a(reply), ReplySrcPort: replyPort}
	}
	flow := func(dst string, port uint16, reply string) Flow {
		if dst == reply {
			return flowTo(dst, port, reply, port)
		}
		return flowTo(dst, port, reply, 8080)
	}
	ct := &listingConntrack{flows: []Flow{
		flow("10.96.0.10", 80, "10.244.2.6"),         // to remote2, which left: goes
		flow("203.0.113.53", 80, "10.244.2.6"),       // the same through the LoadBalancer IP: goes
		flow("192.168.0.10", 30053, "10.244.2.6"),    // the same through the NodePort: goes
		flow("10.96.0.10", 80, "10.244.2.5"),         // to remote1, still an endpoint: stays
		flowTo("10.96.0.10", 80, "10.244.2.5", 9090), // to remote1's port 9090, which the Service's targetPort no longer is: goes
		flow("10.96.0.10", 80, "10.96.0.10"),         // never DNATed (k8s #122740: left alone at start): stays
		flow("10.96.0.99", 80, "10.244.2.6"),         // an address the proxy does not serve: stays
	}}
	tp := newTestProxy(t, func(c *Config) { c.Conntrack = ct })
	tp.apply(t, newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP), nodePort(30053), loadBalancer("203.0.113.53")),
		newSlice("dns", "dns-1", v1.ProtocolUDP, remote1))
	want := []Flow{
		flow("10.96.0.10", 80, "10.244.2.5"),
		flow("10.96.0.10", 80, "10.96.0.10"),
		flow("10.96.0.99", 80, "10.244.2.6"),
	}
	if diff := cmp.Diff(want, ct.flows, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("conntrack after the first sync (-want +got):\n%s", diff)
	}
	// Once per process: a flow that appears later is the ordinary clean-up's business.
	ct.flows = append(ct.flows, flow("10.96.0.10", 80, "10.244.9.9"))
	tp.apply(t, newSlice("dns", "dns-1", v1.ProtocolUDP, remote1, local1))
	if len(ct.flows) != 4 {
		t.Errorf("a later sync listed the table again: %v", ct.flows)
	}
}
