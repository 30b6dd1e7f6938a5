package announce

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
)

// TestOrderIndependent: every speaker lists objects in its own order; the Plan must not depend
// on it (nor on map iteration), or two speakers could announce one address.
func TestOrderIndependent(t *testing.T) {
	s := syntheticSnapshot(200, 10, 2, rand.New(rand.NewPCG(1, 2)))
	s.Rules = append(s.Rules, L2Rule{Name: "l2/odd", NodeSelectors: []labels.Selector{selector(t, "parity=odd")}, Interfaces: []string{"eth1", "eth0"}})
	s.Self = "node-3"
	want, err := Compute(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.VIPs) == 0 || len(want.VIPs) == len(want.Decisions) {
		t.Fatalf("fixture: %d of %d addresses announced; want some but not all", len(want.VIPs), len(want.Decisions))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		sh := s
		sh.Services = slices.Clone(s.Services)
		sh.EndpointSlices = slices.Clone(s.EndpointSlices)
		sh.Nodes = slices.Clone(s.Nodes)
		sh.Rules = slices.Clone(s.Rules)
		rng.Shuffle(len(sh.Services), func(i, j int) { sh.Services[i], sh.Services[j] = sh.Services[j], sh.Services[i] })
		rng.Shuffle(len(sh.EndpointSlices), func(i, j int) {
			sh.EndpointSlices[i], sh.EndpointSlices[j] = sh.EndpointSlices[j], sh.EndpointSlices[i]
		})
		rng.Shuffle(len(sh.Nodes), func(i, j int) { sh.Nodes[i], sh.Nodes[j] = sh.Nodes[j], sh.Nodes[i] })
		rng.Shuffle(len(sh.Rules), func(i, j int) { sh.Rules[i], sh.Rules[j] = sh.Rules[j], sh.Rules[i] })
		got, err := Compute(sh)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, addrCmp); diff != "" {
			t.Fatalf("shuffle %d (-want +got):\n%s", i, diff)
		}
	}
}

// TestOneAnnouncerPerAddress: computed on every node from the same facts, each address is
// announced by exactly its winner, and every speaker names the same winner.
func TestOneAnnouncerPerAddress(t *testing.T) {
	s := syntheticSnapshot(500, 8, 2, rand.New(rand.NewPCG(5, 6)))
	s.Rules = append(s.Rules, L2Rule{Name: "l2/odd", Pools: []string{"pool-1"}, NodeSelectors: []labels.Selector{selector(t, "parity=odd")}})
	announcers := map[netip.Addr][]string{}
	winners := map[netip.Addr]string{}
	for _, n := range s.Nodes {
		s.Self = n.Name
		p, err := Compute(s)
		if err != nil {
			t.Fatal(err)
		}
		for addr := range p.VIPs {
			announcers[addr] = append(announcers[addr], n.Name)
		}
		for _, d := range p.Decisions {
			if w, ok := winners[d.Addr]; ok && w != d.Winner {
				t.Fatalf("%s: %s sees winner %q, another node %q", d.Addr, n.Name, d.Winner, w)
			}
			winners[d.Addr] = d.Winner
		}
	}
	announced := 0
	for addr, w := range winners {
		var want []string
		if w != "" {
			want = []string{w}
			announced++
		}
		if diff := cmp.Diff(want, announcers[addr]); diff != "" {
			t.Errorf("%s announcers (-want +got):\n%s", addr, diff)
		}
	}
	if announced == 0 || announced == len(winners) {
		t.Fatalf("fixture: %d of %d addresses have a winner; want some but not all", announced, len(winners))
	}
}

// syntheticSnapshot builds a cluster of nodes (every tenth not Ready, odd ones labelled
// parity=odd), n Services with one IPv4 address each (every 50th sharing the previous one's,
// every 100th also IPv6), a quarter of them Local, slicesPer EndpointSlices of three endpoints
// per Service, and two pools with one rule for every pool.
func syntheticSnapshot(n, nodes, slicesPer int, rng *rand.Rand) Snapshot {
	s := Snapshot{Alive: map[string]bool{}, Pools: map[netip.Addr]string{}, Rules: []L2Rule{{Name: "l2/all", Pools: []string{"pool-0"}}}}
	for i := range nodes {
		name := fmt.Sprintf("node-%d", i)
		var tw []func(*corev1.Node)
		if i%10 == 9 {
			tw = append(tw, objects.WithCondition(corev1.NodeReady, corev1.ConditionFalse))
		}
		if i%2 == 1 {
			tw = append(tw, objects.WithLabel("parity", "odd"))
		}
		s.Nodes = append(s.Nodes, newNode(name, tw...))
		s.Alive[name] = true
	}
	s.Self = "node-0"
	for i := range n {
		idx := i
		if i%50 == 49 {
			idx = i - 1 // shares the previous Service's address
		}
		v4 := netip.AddrFrom4([4]byte{10, byte(idx >> 16), byte(idx >> 8), byte(idx)})
		addrs := []netip.Addr{v4}
		if i%100 == 0 {
			addrs = append(addrs, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(idx >> 8), 15: byte(idx)}))
		}
		name := fmt.Sprintf("svc-%d", i)
		tw := []func(*corev1.Service){ingress(addrs...)}
		if i%4 == 0 {
			tw = append(tw, objects.LocalTraffic)
		}
		s.Services = append(s.Services, newService(name, tw...))
		for _, a := range addrs {
			s.Pools[a] = fmt.Sprintf("pool-%d", idx%2)
		}
		for j := range slicesPer {
			var eps []discoveryv1.Endpoint
			for range 3 {
				node := fmt.Sprintf("node-%d", rng.IntN(nodes))
				switch rng.IntN(10) {
				case 0:
					eps = append(eps, endpoint(node, objects.EndpointTerminating))
				case 1:
					eps = append(eps, endpoint(node, objects.EndpointNotReady))
				default:
					eps = append(eps, endpoint(node))
				}
			}
			sl := newSlice(name, discoveryv1.AddressTypeIPv4, eps...)
			sl.Name = fmt.Sprintf("%s-%d", name, j)
			s.EndpointSlices = append(s.EndpointSlices, sl)
		}
	}
	return s
}

// TestSortedAddrs: the keyed sort orders as netip.Addr.Compare, which Plan.Decision and Diff
// rely on.
func TestSortedAddrs(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	groups := map[netip.Addr]*served.Group{}
	for range 2000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.IntN(3)) // few distinct bytes: many shared prefixes
		}
		switch rng.IntN(3) {
		case 0:
			groups[netip.AddrFrom4([4]byte(b[:4]))] = nil
		case 1:
			groups[netip.AddrFrom16(b)] = nil
		default:
			b[0], b[1] = 0, 0
			groups[netip.AddrFrom16(b)] = nil // in ::/16, where a naive key would meet IPv4
		}
	}
	want := slices.SortedFunc(maps.Keys(groups), netip.Addr.Compare)
	if diff := cmp.Diff(want, sortedAddrs(groups), addrCmp); diff != "" {
		t.Errorf("sortedAddrs (-want +got):\n%s", diff)
	}
}
