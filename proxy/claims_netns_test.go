//go:build netns

package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// TestKernelExternalIPHijack: a tenant Service in namespace "a" (which the old name-ordered
// tie-break let win) lists cluster DNS's ClusterIP as an externalIP on DNS's port and protocol,
// and is programmed before DNS is. Every new UDP flow to the DNS ClusterIP still reaches DNS's
// endpoint (ep2), never the tenant's (ep1), in the real kernel; the tenant's own ClusterIP
// works (issue 17, item 1).
func TestKernelExternalIPHijack(t *testing.T) {
	eachFamily(t, func(t *testing.T, p kernelPlan) {
		k := newKernelNet(t, p)
		echo(t, k.ep1, "ep1")
		echo(t, k.ep2, "ep2")
		k.start(t, func(c *Config) {
			// Every externalIP is allowed by CIDR: only ownership may refuse this one.
			c.AllowedExternalIPCIDRs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		})
		dnsIP := p.svc(10)
		evil := newService("evil", objects.WithNamespace("a"), clusterIP(p.svc(99)), protocol(v1.ProtocolUDP), port(53), externalIPs(dnsIP))
		k.program(t, evil, sliceIn("a", "evil", v1.ProtocolUDP, ep{ip: p.ep1, node: testNode}))
		k.program(t,
			newService("kube-dns", objects.WithNamespace("kube-system"), clusterIP(dnsIP), protocol(v1.ProtocolUDP), port(53)),
			sliceIn("kube-system", "kube-dns", v1.ProtocolUDP, ep{ip: p.ep2, node: testNode}))
		for i := range 20 {
			if got, err := askUDP(k.client, hostPort(dnsIP, 53)); err != nil || !strings.HasPrefix(got, "ep2 ") {
				t.Fatalf("flow %d to the DNS ClusterIP: %q, %v; want DNS's endpoint ep2", i, got, err)
			}
		}
		if got, err := askUDP(k.client, hostPort(p.svc(99), 53)); err != nil || !strings.HasPrefix(got, "ep1 ") {
			t.Errorf("the tenant's own ClusterIP: %q, %v; want its endpoint ep1", got, err)
		}
	})
}

// askUDP sends one datagram from a new socket (so a new conntrack flow) and returns the answer.
func askUDP(ns *netnstest.NS, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := ns.Dial(ctx, "udp", addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("q")); err != nil {
		return "", err
	}
	buf := make([]byte, 200)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}
