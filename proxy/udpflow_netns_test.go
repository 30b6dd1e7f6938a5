//go:build netns

package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestKernelUDPFlowThroughLoadBalancerIP: a UDP flow from the client to a LoadBalancer IP, DNATed
// to ep1, keeps its conntrack entry (the same entry, by its id, not one made again that happened
// to pick ep1) while a second endpoint joins, not ready then ready, and while the EndpointSlice
// is replaced by another holding both, as the EndpointSlice controller does (the new one first):
// for externalTrafficPolicy Cluster a second endpoint must not move a running flow. Then the
// address is released (the controller empties the status of a LoadBalancer Service before the
// Service goes): the flow must stop reaching ep1 through it, not keep a DNAT to the old
// endpoint for as long as the client sends (the lab left such entries behind every deleted
// LoadBalancer Service).
func TestKernelUDPFlowThroughLoadBalancerIP(t *testing.T) {
	eachFamily(t, func(t *testing.T, p kernelPlan) {
		k := newKernelNet(t, p)
		echo(t, k.ep1, "ep1")
		echo(t, k.ep2, "ep2")
		k.start(t)
		e1 := ep{ip: p.ep1, node: testNode}
		e2 := ep{ip: p.ep2, node: "node-b"}
		e2NotReady := e2
		e2NotReady.notReady = true
		svc := func(tweaks ...func(*v1.Service)) *v1.Service {
			return newService("dns", append([]func(*v1.Service){clusterIP(p.svc(10)), protocol(v1.ProtocolUDP)}, tweaks...)...)
		}
		k.program(t, svc(loadBalancer(p.lb(10))), newSlice("dns", "dns-1", v1.ProtocolUDP, e1))

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := k.client.Dial(ctx, "udp", hostPort(p.lb(10), 80))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		f := &flows{udp: conn}
		if got, err := f.sendUDP(); err != nil || !strings.HasPrefix(got, "ep1 ") {
			t.Fatalf("the UDP flow to the LoadBalancer IP: %q, %v; want ep1", got, err)
		}
		id := udpFlowIDs(t, k, p, p.lb(10))
		if len(id) != 1 {
			t.Fatalf("conntrack entries of flows to %s: %v, want the client's one", p.lb(10), id)
		}

		for _, step := range []struct {
			name string
			do   func()
		}{
			{"ep2 joins, not ready", func() { k.program(t, newSlice("dns", "dns-1", v1.ProtocolUDP, e1, e2NotReady)) }},
			{"ep2 ready", func() { k.program(t, newSlice("dns", "dns-1", v1.ProtocolUDP, e1, e2)) }},
			{"a new EndpointSlice with both", func() { k.program(t, newSlice("dns", "dns-2", v1.ProtocolUDP, e1, e2)) }},
			{"the old EndpointSlice deleted", func() {
				k.proxy.store.deleteSlice(newSlice("dns", "dns-1", v1.ProtocolUDP))
				k.program(t)
			}},
		} {
			step.do()
			for i := range 5 {
				if got, err := f.sendUDP(); err != nil || !strings.HasPrefix(got, "ep1 ") {
					t.Fatalf("%s: datagram %d of the running flow: %q, %v; want ep1", step.name, i, got, err)
				}
			}
			if got := udpFlowIDs(t, k, p, p.lb(10)); len(got) != 1 || got[0] != id[0] {
				t.Fatalf("%s: conntrack entries of flows to %s: %v, want the flow's first one, %v", step.name, p.lb(10), got, id)
			}
		}

		k.program(t, svc())
		if got, err := f.sendUDP(); err == nil {
			t.Errorf("the running UDP flow still reached %q through %s after the Service released the address", got, p.lb(10))
		}
		if left := udpFlowsDNATed(t, k, p, p.lb(10), p.ep1); left != "" {
			t.Errorf("the node keeps the flow to the released address %s DNATed to ep1:\n%s", p.lb(10), left)
		}
	})
}

// udpFlowIDs lists the ids of the node's UDP conntrack entries whose original destination is dst.
func udpFlowIDs(t *testing.T, k *kernelNet, p kernelPlan, dst string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(k.node.Exec("conntrack", "-L", "-f", p.conntrackFamily(), "-p", "udp", "--orig-dst", dst, "-o", "id"), "\n") {
		for _, field := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(field, "id="); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// udpFlowsDNATed lists the node's UDP conntrack entries to dst that were DNATed to ep.
func udpFlowsDNATed(t *testing.T, k *kernelNet, p kernelPlan, dst, ep string) string {
	t.Helper()
	out := k.node.Exec("conntrack", "-L", "-f", p.conntrackFamily(), "-p", "udp", "--orig-dst", dst, "--reply-src", ep)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		// conntrack's summary ("... flow entries have been shown.") goes to stderr, which Exec
		// returns with stdout.
		if strings.HasPrefix(l, "udp") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// conntrackFamily is conntrack's -f for the plan's family (its default is ipv4).
func (p kernelPlan) conntrackFamily() string {
	if p.family == v1.IPv6Protocol {
		return "ipv6"
	}
	return "ipv4"
}
