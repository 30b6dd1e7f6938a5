package routes

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// TestAggregationStaysInThePool checks issue 17, item 8: an advertisement whose aggregated
// route would cover addresses outside the pool of the address advertises nothing for it, and
// the plan says so (every node alike); other advertisements of the address still advertise it.
// IP plan as in compute_test.go: blue is 198.51.100.0/24 and 2001:db8:b::/64, red
// 203.0.113.0/24 (changed by some cases).
func TestAggregationStaysInThePool(t *testing.T) {
	addr := netip.MustParseAddr
	rule := func(name string, v4, v6 int, tweaks ...func(*Rule)) Rule {
		r := Rule{Name: name, AggregationLength: v4, AggregationLengthV6: v6}
		for _, f := range tweaks {
			f(&r)
		}
		return r
	}
	checkPlans(t, []planCase{
		{
			name: "the pool's own prefix is fine",
			tweak: func(s *Snapshot) {
				s.Rules = []Rule{rule("agg", 24, 64)}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7", "2001:db8:b::7"})}
			},
			routes: map[string][]Route{
				"tor1": {{Prefix: pfx("198.51.100.0/24")}, {Prefix: pfx("2001:db8:b::/64")}},
				"tor2": {{Prefix: pfx("198.51.100.0/24")}, {Prefix: pfx("2001:db8:b::/64")}},
			},
			reasons: map[string]Reason{"198.51.100.7": Advertising, "2001:db8:b::7": Advertising},
		},
		{
			name: "shorter than the pool's prefix: refused, also for an advertisement of other nodes",
			tweak: func(s *Snapshot) {
				s.Rules = []Rule{
					rule("wide", 16, 48),
					rule("other-nodes", 8, -1, func(r *Rule) { r.NodeSelectors = []labels.Selector{sel(t, "rack=b")} }),
				}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7", "198.51.100.8", "2001:db8:b::7"})}
			},
			routes: map[string][]Route{"tor1": nil, "tor2": nil},
			reasons: map[string]Reason{"198.51.100.7": AggregationTooShort, "198.51.100.8": AggregationTooShort,
				"2001:db8:b::7": AggregationTooShort},
			aggregations: []RefusedAggregation{
				{Advertisement: "other-nodes", Pool: "blue", Length: 8, Addr: addr("198.51.100.7"), Route: pfx("198.0.0.0/8"), Within: 24},
				{Advertisement: "wide", Pool: "blue", Length: 16, Addr: addr("198.51.100.7"), Route: pfx("198.51.0.0/16"), Within: 24},
				{Advertisement: "wide", Pool: "blue", Length: 48, Addr: addr("2001:db8:b::7"), Route: pfx("2001:db8:b::/48"), Within: 64},
			},
		},
		{
			name: "another advertisement of the address still advertises it",
			tweak: func(s *Snapshot) {
				s.Rules = []Rule{
					rule("wide", 16, -1, func(r *Rule) { r.Peers = []string{"tor1"} }),
					rule("hosts", -1, -1, func(r *Rule) { r.Peers = []string{"tor2"} }),
				}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			},
			routes:  map[string][]Route{"tor1": nil, "tor2": {{Prefix: pfx("198.51.100.7/32")}}},
			reasons: map[string]Reason{"198.51.100.7": Advertising},
			aggregations: []RefusedAggregation{
				{Advertisement: "wide", Pool: "blue", Length: 16, Addr: addr("198.51.100.7"), Route: pfx("198.51.0.0/16"), Within: 24},
			},
		},
		{
			// 203.0.113.8-203.0.113.23: the smallest prefix covering it (/27: .0 to .31) would
			// still hold addresses outside it; the /29 around each address does not.
			name: "a range: the route must lie within it",
			tweak: func(s *Snapshot) {
				s.PoolSpans["red"] = span("203.0.113.8-203.0.113.23")
				s.Pools[addr("203.0.113.20")] = "red"
				s.Rules = []Rule{rule("by29", 29, -1, func(r *Rule) { r.Pools = []string{"red"} }),
					rule("by28", 28, -1, func(r *Rule) { r.Pools = []string{"red"}; r.Peers = []string{"tor1"} })}
				s.Services = []*corev1.Service{service("a", []string{"203.0.113.9", "203.0.113.20"})}
			},
			routes: map[string][]Route{
				"tor1": {{Prefix: pfx("203.0.113.8/29")}, {Prefix: pfx("203.0.113.16/29")}},
				"tor2": {{Prefix: pfx("203.0.113.8/29")}, {Prefix: pfx("203.0.113.16/29")}},
			},
			reasons: map[string]Reason{"203.0.113.9": Advertising, "203.0.113.20": Advertising},
			aggregations: []RefusedAggregation{
				{Advertisement: "by28", Pool: "red", Length: 28, Addr: addr("203.0.113.9"), Route: pfx("203.0.113.0/28"), Within: 29},
			},
		},
		{
			name: "adjacent entries count as one",
			tweak: func(s *Snapshot) {
				s.PoolSpans["blue"] = span("198.51.100.128-198.51.100.255", "198.51.100.0/25")
				s.Rules = []Rule{rule("agg", 24, -1)}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			},
			routes:  map[string][]Route{"tor1": {{Prefix: pfx("198.51.100.0/24")}}, "tor2": {{Prefix: pfx("198.51.100.0/24")}}},
			reasons: map[string]Reason{"198.51.100.7": Advertising},
		},
		{
			name: "a pool not known, or an address outside its pool: no aggregate; host routes stay",
			tweak: func(s *Snapshot) {
				delete(s.PoolSpans, "red")
				s.PoolSpans["blue"] = span("198.51.100.0/25")
				s.Pools[addr("198.51.100.200")] = "blue"
				s.Rules = []Rule{rule("agg", 24, -1, func(r *Rule) { r.Peers = []string{"tor1"} }), rule("hosts", -1, -1)}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.200", "203.0.113.9"})}
			},
			routes: map[string][]Route{
				"tor1": {{Prefix: pfx("198.51.100.200/32")}, {Prefix: pfx("203.0.113.9/32")}},
				"tor2": {{Prefix: pfx("198.51.100.200/32")}, {Prefix: pfx("203.0.113.9/32")}},
			},
			reasons: map[string]Reason{"198.51.100.200": Advertising, "203.0.113.9": Advertising},
			aggregations: []RefusedAggregation{
				{Advertisement: "agg", Pool: "blue", Length: 24, Addr: addr("198.51.100.200"), Route: pfx("198.51.100.0/24")},
				{Advertisement: "agg", Pool: "red", Length: 24, Addr: addr("203.0.113.9"), Route: pfx("203.0.113.0/24")},
			},
		},
	})
}

// TestPoolSpanHolds checks the containment rule on the edges of a pool's ranges.
func TestPoolSpanHolds(t *testing.T) {
	s := span("198.51.100.0/26", "198.51.100.64-198.51.100.100", "198.51.100.128/25", "2001:db8::/64")
	for _, tt := range []struct {
		p    string
		want bool
	}{
		{"198.51.100.0/26", true},
		{"198.51.100.64/27", true},  // .64-.95, inside the range
		{"198.51.100.96/29", false}, // .96-.103 runs past .100
		{"198.51.100.0/25", false},  // .101-.127 are not the pool's
		{"198.51.100.128/25", true},
		{"198.51.100.0/24", false},
		{"198.51.100.100/32", true},
		{"198.51.100.101/32", false},
		{"2001:db8::/64", true},
		{"2001:db8::/63", false},
		{"0.0.0.0/0", false},
	} {
		if got := s.holds(pfx(tt.p)); got != tt.want {
			t.Errorf("holds(%s) = %v; want %v", tt.p, got, tt.want)
		}
	}
}

// FuzzAggregationStaysInThePool draws a pool of up to three ranges inside 198.51.100.0/24, an
// address of that /24 allocated from it, and an aggregation length of 24 to 32, and checks
// Compute against a brute-force walk of the route's addresses: an advertised route holds only
// pool addresses, a refused one would have held another, and the refusal's Within is the
// shortest length that stays in the pool.
func FuzzAggregationStaysInThePool(f *testing.F) {
	f.Add(byte(0), byte(255), byte(0), byte(0), byte(0), byte(0), byte(7), byte(24))
	f.Add(byte(10), byte(20), byte(0), byte(0), byte(0), byte(0), byte(12), byte(30))
	f.Add(byte(0), byte(127), byte(128), byte(200), byte(0), byte(0), byte(150), byte(25))
	f.Add(byte(0), byte(63), byte(64), byte(100), byte(128), byte(255), byte(70), byte(26))
	f.Fuzz(func(t *testing.T, a1, b1, a2, b2, a3, b3, host, length byte) {
		base := netip.MustParseAddr("198.51.100.0").As4()
		at := func(b byte) netip.Addr { v := base; v[3] = b; return netip.AddrFrom4(v) }
		var texts []string
		for _, r := range [][2]byte{{a1, b1}, {a2, b2}, {a3, b3}} {
			if r[0] < r[1] {
				texts = append(texts, at(r[0]).String()+"-"+at(r[1]).String())
			}
		}
		if len(texts) == 0 {
			return
		}
		es, err := v1alpha1.ParseAddresses(texts)
		if err != nil {
			return // overlapping ranges: the API server refuses the pool
		}
		inPool := func(a netip.Addr) bool {
			for _, e := range es {
				if e.Contains(a) {
					return true
				}
			}
			return false
		}
		// allIn walks every address of p.
		allIn := func(p netip.Prefix) bool {
			for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
				if !inPool(a) {
					return false
				}
			}
			return true
		}
		bits := 24 + int(length%9)
		addr := at(host)
		s := Snapshot{Self: "n1", Node: node(), Peers: []Peer{{Name: "tor1"}},
			Pools:     map[netip.Addr]string{addr: "p"},
			PoolSpans: map[string]PoolSpan{"p": SpanOf(es)},
			Rules:     []Rule{{Name: "agg", AggregationLength: bits, AggregationLengthV6: -1}},
			Services:  []*corev1.Service{service("a", []string{addr.String()})},
		}
		plan := Compute(s)
		route, _ := addr.Prefix(bits)
		switch rs := plan.Routes["tor1"]; {
		case len(rs) == 1:
			// A host route is never refused: the address is frontdesk's by its allocation.
			if rs[0].Prefix != route || (bits < 32 && !allIn(route)) {
				t.Fatalf("pool %v, %v/%d: advertised %v, which leaves the pool", texts, addr, bits, rs[0].Prefix)
			}
			if len(plan.Aggregations) != 0 {
				t.Fatalf("advertised and refused: %+v", plan.Aggregations)
			}
		case len(rs) == 0:
			if bits == 32 || allIn(route) {
				t.Fatalf("pool %v, %v/%d: refused, but every address of %v is the pool's", texts, addr, bits, route)
			}
			if len(plan.Aggregations) != 1 {
				t.Fatalf("refused without saying so: %+v", plan.Aggregations)
			}
			w := plan.Aggregations[0].Within
			switch {
			case w == 0 && inPool(addr):
				t.Fatalf("pool %v, %v: Within 0, but the address is the pool's", texts, addr)
			case w != 0 && !allIn(netip.PrefixFrom(addr, w)):
				t.Fatalf("pool %v, %v: Within %d leaves the pool", texts, addr, w)
			case w > bits+1 && allIn(netip.PrefixFrom(addr, w-1)):
				t.Fatalf("pool %v, %v: Within %d, but %d stays in the pool", texts, addr, w, w-1)
			}
		default:
			t.Fatalf("routes %v", rs)
		}
	})
}
