package announce

import (
	"math/rand/v2"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// BenchmarkCompute: one op is a whole Plan for 10k Services (≈10.1k addresses, a quarter Local,
// every 50th shared) over 100 nodes with 20k EndpointSlices, and two rules, one with a node
// selector. Target (docs/benchmarks.md): well under 50 ms.
func BenchmarkCompute(b *testing.B) {
	s := syntheticSnapshot(10_000, 100, 2, rand.New(rand.NewPCG(7, 8)))
	sel, err := labels.Parse("parity=odd")
	if err != nil {
		b.Fatal(err)
	}
	s.Rules = append(s.Rules, L2Rule{Name: "l2/odd", Pools: []string{"pool-1"}, NodeSelectors: []labels.Selector{sel}, Interfaces: []string{"eth1"}})
	s.Self = "node-1"
	b.ReportAllocs()
	var announced int
	for b.Loop() {
		p, err := Compute(s)
		if err != nil {
			b.Fatal(err)
		}
		announced = len(p.VIPs)
	}
	b.ReportMetric(float64(announced), "announced")
}
