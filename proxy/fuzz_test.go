package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
)

// fuzzAddrs is the pool every address of the fuzzed Services comes from, small so that
// ClusterIPs, LoadBalancer IPs and externalIPs collide often.
var fuzzAddrs = []string{"10.96.0.1", "10.96.0.2", "10.96.0.3", "203.0.113.1", "203.0.113.2", "198.51.100.1"}

// fuzzReader hands out the fuzzer's bytes; past the end it gives zeros.
type fuzzReader []byte

func (r *fuzzReader) next(n int) int {
	if len(*r) == 0 {
		return 0
	}
	b := (*r)[0]
	*r = (*r)[1:]
	return int(b) % n
}

func (r *fuzzReader) service() *v1.Service {
	ns := []string{"a", "b"}[r.next(2)]
	name := fmt.Sprintf("s%d", r.next(4))
	tweaks := []func(*v1.Service){objects.WithNamespace(ns), clusterIP(fuzzAddrs[r.next(len(fuzzAddrs))]),
		port([]int32{53, 80}[r.next(2)]), protocol([]v1.Protocol{v1.ProtocolTCP, v1.ProtocolUDP}[r.next(2)])}
	if r.next(2) == 1 {
		tweaks = append(tweaks, loadBalancer(fuzzAddrs[r.next(len(fuzzAddrs))]), nodePort(int32(30000+r.next(3))))
		if r.next(2) == 1 {
			tweaks = append(tweaks, externalLocal(32000))
		}
	}
	var ext []string
	for mask, i := r.next(1<<len(fuzzAddrs)), 0; i < len(fuzzAddrs); i++ {
		if mask&(1<<i) != 0 {
			ext = append(ext, fuzzAddrs[i])
		}
	}
	tweaks = append(tweaks, externalIPs(ext...))
	return newService(name, tweaks...)
}

// FuzzNoServiceAnswersForAnotherServicesAddress builds random Services (addresses drawn from
// one small pool), EndpointSlices and deletions, synced in random batches, and checks after
// each sync that every element of the address maps for a ClusterIP, or a LoadBalancer IP that
// is no one's ClusterIP, was written by a Service holding it as such, and that the table
// equals a fresh full sync of the same objects (issue 17, item 1).
func FuzzNoServiceAnswersForAnotherServicesAddress(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 1, 1, 3, 1, 1, 0, 0, 0, 1, 3})
	f.Add([]byte{0, 1, 2, 0, 1, 1, 1, 3, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 3, 2, 1, 2, 3})
	f.Add([]byte{0, 0, 1, 4, 1, 0, 1, 1, 0, 0, 255, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 3, 2, 0, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := fuzzReader(data)
		live := newTestProxy(t, allowAll)
		objs := map[types.NamespacedName]*v1.Service{}
		for ops := 0; len(r) > 0 && ops < 40; ops++ {
			switch r.next(4) {
			case 0:
				svc := r.service()
				objs[keyOf(svc)] = svc
				live.SetService(svc)
			case 1:
				ns := []string{"a", "b"}[r.next(2)]
				name := fmt.Sprintf("s%d", r.next(4))
				eps := []ep{local1, remote1, remote2}[:1+r.next(3)]
				proto := v1.ProtocolTCP
				if s := objs[types.NamespacedName{Namespace: ns, Name: name}]; s != nil {
					proto = s.Spec.Ports[0].Protocol
				}
				live.store.setSlice(sliceIn(ns, name, proto, eps...))
			case 2:
				key := types.NamespacedName{Namespace: []string{"a", "b"}[r.next(2)], Name: fmt.Sprintf("s%d", r.next(4))}
				delete(objs, key)
				live.DeleteService(key.Namespace, key.Name)
			case 3:
				if err := live.Sync(context.Background()); err != nil {
					t.Fatal(err)
				}
				checkOwnership(t, live, objs)
			}
		}
		if err := live.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkOwnership(t, live, objs)
		fresh := newTestProxy(t, allowAll)
		for _, s := range objs {
			fresh.SetService(s)
		}
		live.store.mu.Lock()
		for _, bySlice := range live.store.slices {
			for _, es := range bySlice {
				fresh.store.setSlice(es)
			}
		}
		live.store.mu.Unlock()
		if err := fresh.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(normalizedDump(fresh.fakes[knftables.IPv4Family]), normalizedDump(live.fakes[knftables.IPv4Family])); diff != "" {
			t.Errorf("partial syncs differ from a full sync (-full +partial):\n%s", diff)
		}
	})
}

// checkOwnership: each element of service-ips and no-endpoint-services for an owned address
// comes from one of its owners, and Forwards never answers for a ClusterIP.
func checkOwnership(t *testing.T, tp *testProxy, objs map[types.NamespacedName]*v1.Service) {
	t.Helper()
	byKind := map[served.AddrKind]map[netip.Addr][]types.NamespacedName{served.KindClusterIP: {}, served.KindLoadBalancerIP: {}}
	for key, svc := range objs {
		for a, kinds := range served.ClaimsOf(svc) {
			for _, k := range kinds {
				if byKind[k] != nil {
					byKind[k][a] = append(byKind[k][a], key)
				}
			}
		}
	}
	owners := func(a netip.Addr) []types.NamespacedName {
		if o := byKind[served.KindClusterIP][a]; len(o) > 0 {
			return o
		}
		return byKind[served.KindLoadBalancerIP][a]
	}
	tbl := tp.tables[0]
	for id, e := range tbl.elems.installed {
		if e.set != mapServiceIPs && e.set != mapNoEndpointServices {
			continue
		}
		a := netip.MustParseAddr(e.key[0])
		o := owners(a)
		if len(o) == 0 {
			continue
		}
		winner := sortedKeys(tbl.elems.claims[id])[0]
		if !slices.Contains(o, winner) {
			t.Fatalf("%s %v → %s is %s's, but %v hold %s", e.set, e.key, e.value, winner, o, a)
		}
	}
	for a := range byKind[served.KindClusterIP] {
		if tp.Forwards(a) {
			t.Fatalf("Forwards(%s) is true for a ClusterIP", a)
		}
	}
}
