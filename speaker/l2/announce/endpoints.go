package announce

import (
	"net/netip"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/served"
)

// family indexes per-IP-family data: kube-proxy sends an IPv4 VIP's traffic to IPv4 endpoints
// only, so a node with only IPv6 endpoints cannot serve the IPv4 address of a Local Service.
type family uint8

const (
	ipv4 family = iota
	ipv6
	families
)

func familyOf(a netip.Addr) family {
	if a.Is4() {
		return ipv4
	}
	return ipv6
}

// localEndpoints are the nodes holding endpoints of one Service, by family. Nil sets are empty.
type localEndpoints struct {
	// ready: nodes with a ready endpoint.
	ready [families]bitset
	// terminating: nodes with a serving but terminating endpoint.
	terminating [families]bitset
}

// nodes returns the nodes that can serve f-traffic for a Local Service: served.Local.Serves over
// every node at once. Those with a ready endpoint or, when the Service has none anywhere, those
// with a serving terminating one.
func (l *localEndpoints) nodes(f family) bitset {
	if l.ready[f] != nil && !l.ready[f].empty() {
		return l.ready[f]
	}
	return l.terminating[f]
}

// indexEndpoints reads the slices of the wanted Services. Endpoints on nodes missing from
// nodeIdx are skipped: such a node cannot be elected.
func indexEndpoints(slices []*discoveryv1.EndpointSlice, want map[types.NamespacedName]*localEndpoints, nodeIdx map[string]int) {
	if len(want) == 0 {
		return
	}
	size := len(nodeIdx)
	for _, s := range slices {
		svc, fi, ok := served.SliceOf(s)
		le := want[svc]
		if !ok || le == nil {
			continue
		}
		f := family(fi)
		for i := range s.Endpoints {
			ep := &s.Endpoints[i]
			if ep.NodeName == nil {
				continue
			}
			n, ok := nodeIdx[*ep.NodeName]
			if !ok {
				continue
			}
			switch c := served.ConditionsOf(ep.Conditions); {
			case c.Ready:
				add(&le.ready[f], n, size)
			case c.Fallback():
				add(&le.terminating[f], n, size)
			}
		}
	}
}

func add(b *bitset, i, size int) {
	if *b == nil {
		*b = newBitset(size)
	}
	b.set(i)
}
