package routes

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	for _, tt := range []struct {
		name    string
		tweak   func(*Snapshot)
		routes  map[string][]Route
		reasons map[string]Reason
		refused []RefusedAggregation
	}{
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
			refused: []RefusedAggregation{
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
			refused: []RefusedAggregation{
				{Advertisement: "wide", Pool: "blue", Length: 16, Addr: addr("198.51.100.7"), Route: pfx("198.51.0.0/16"), Within: 24},
			},
		},
		{
			// 203.0.113.8-203.0.113.23: the smallest prefix covering it (/27: .0 to .31) would
			// still hold addresses outside it; the /29 around each address does not.
			name: "a range: the route must lie within it",
			tweak: func(s *Snapshot) {
				s.PoolAddresses["red"] = entries("203.0.113.8-203.0.113.23")
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
			refused: []RefusedAggregation{
				{Advertisement: "by28", Pool: "red", Length: 28, Addr: addr("203.0.113.9"), Route: pfx("203.0.113.0/28"), Within: 29},
			},
		},
		{
			name: "adjacent entries count as one",
			tweak: func(s *Snapshot) {
				s.PoolAddresses["blue"] = entries("198.51.100.128-198.51.100.255", "198.51.100.0/25")
				s.Rules = []Rule{rule("agg", 24, -1)}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.7"})}
			},
			routes:  map[string][]Route{"tor1": {{Prefix: pfx("198.51.100.0/24")}}, "tor2": {{Prefix: pfx("198.51.100.0/24")}}},
			reasons: map[string]Reason{"198.51.100.7": Advertising},
		},
		{
			name: "a pool not known, or an address outside its pool: no aggregate; host routes stay",
			tweak: func(s *Snapshot) {
				delete(s.PoolAddresses, "red")
				s.PoolAddresses["blue"] = entries("198.51.100.0/25")
				s.Pools[addr("198.51.100.200")] = "blue"
				s.Rules = []Rule{rule("agg", 24, -1, func(r *Rule) { r.Peers = []string{"tor1"} }), rule("hosts", -1, -1)}
				s.Services = []*corev1.Service{service("a", []string{"198.51.100.200", "203.0.113.9"})}
			},
			routes: map[string][]Route{
				"tor1": {{Prefix: pfx("198.51.100.200/32")}, {Prefix: pfx("203.0.113.9/32")}},
				"tor2": {{Prefix: pfx("198.51.100.200/32")}, {Prefix: pfx("203.0.113.9/32")}},
			},
			reasons: map[string]Reason{"198.51.100.200": Advertising, "203.0.113.9": Advertising},
			refused: []RefusedAggregation{
				{Advertisement: "agg", Pool: "blue", Length: 24, Addr: addr("198.51.100.200"), Route: pfx("198.51.100.0/24")},
				{Advertisement: "agg", Pool: "red", Length: 24, Addr: addr("203.0.113.9"), Route: pfx("203.0.113.0/24")},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSnapshot()
			tt.tweak(&s)
			plan := Compute(s)
			prefixes := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
			if d := cmp.Diff(tt.routes, plan.Routes, prefixes); d != "" {
				t.Errorf("routes (-want +got):\n%s", d)
			}
			got := map[string]Reason{}
			for _, d := range plan.Decisions {
				got[d.Addr.String()] = d.Reason
			}
			if d := cmp.Diff(tt.reasons, got); d != "" {
				t.Errorf("reasons (-want +got):\n%s", d)
			}
			addrs := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
			if d := cmp.Diff(tt.refused, plan.Aggregations, prefixes, addrs); d != "" {
				t.Errorf("refused aggregations (-want +got):\n%s", d)
			}
		})
	}
}

// TestPoolSpanHolds checks the containment rule on the edges of a pool's ranges.
func TestPoolSpanHolds(t *testing.T) {
	span := spanOf(entries("198.51.100.0/26", "198.51.100.64-198.51.100.100", "198.51.100.128/25", "2001:db8::/64"))
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
		if got := span.holds(pfx(tt.p)); got != tt.want {
			t.Errorf("holds(%s) = %v; want %v", tt.p, got, tt.want)
		}
	}
}
