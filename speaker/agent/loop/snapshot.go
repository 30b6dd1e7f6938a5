package loop

import (
	"maps"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

var everything = labels.Everything()

// snapshot lists the informers once for the run, and hands liveness the peers from the Nodes.
func (l *Loop) snapshot() (*Snapshot, error) {
	nodes, err := l.nodes.List(everything)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Self: l.cfg.NodeName, Nodes: nodes, Classes: l.cfg.Classes, Now: metav1.Now()}
	for _, n := range nodes {
		if n.Name == l.cfg.NodeName {
			s.Node = n
		}
	}
	if m := l.cfg.Membership; m != nil {
		if peers := peersFrom(nodes, l.cfg.LivenessPort); !maps.Equal(peers, l.peers) {
			if err := m.SetPeers(peers); err != nil {
				l.log.Error(err, "setting liveness peers from the Nodes; keeping the previous peers")
			} else {
				l.peers = peers
			}
		}
		s.Alive, s.NoQuorum = m.Alive(), !m.HasQuorum()
	}
	if s.Services, err = l.services.List(everything); err != nil {
		return nil, err
	}
	if s.EndpointSlices, err = l.slices.List(everything); err != nil {
		return nil, err
	}
	if s.allocs, err = l.allocs.List(everything); err != nil {
		return nil, err
	}
	pools, err := l.pools.List(everything)
	if err != nil {
		return nil, err
	}
	s.Pools, s.PoolLabels = poolsFrom(s.allocs), poolLabelsFrom(pools)
	s.byName = make(map[string]*v1alpha1.IPAllocation, len(s.allocs))
	for _, a := range s.allocs {
		s.byName[a.Name] = a
	}
	s.Stalled = l.stalled.Swap(false)
	return s, nil
}

// poolsFrom maps every allocated address to its pool. Allocations whose spec.address does not
// parse are skipped: the API server refuses them, so only a stored object predating the rule
// could carry one.
func poolsFrom(allocs []*v1alpha1.IPAllocation) map[netip.Addr]string {
	out := make(map[netip.Addr]string, len(allocs))
	for _, a := range allocs {
		addr, err := netip.ParseAddr(a.Spec.Address)
		if err != nil {
			continue
		}
		out[addr.Unmap()] = a.Spec.Pool
	}
	return out
}

func poolLabelsFrom(pools []*v1alpha1.IPPool) map[string]labels.Set {
	out := make(map[string]labels.Set, len(pools))
	for _, p := range pools {
		out[p.Name] = labels.Set(p.Labels)
	}
	return out
}

// peersFrom gives each Node's speaker address: its first InternalIP and the heartbeat port.
// Nodes without a parsable InternalIP are left out (their speaker cannot be reached anyway).
func peersFrom(nodes []*corev1.Node, port uint16) map[string]netip.AddrPort {
	out := make(map[string]netip.AddrPort, len(nodes))
	for _, n := range nodes {
		if ip, ok := FirstInternalIP(n); ok {
			out[n.Name] = netip.AddrPortFrom(ip, port)
		}
	}
	return out
}

// FirstInternalIP is the address of n's speaker, where its peers send heartbeats (peersFrom)
// and where it listens for them: the first InternalIP that parses, unmapped; zoned addresses
// are skipped.
func FirstInternalIP(n *corev1.Node) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Zone() == "" {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
