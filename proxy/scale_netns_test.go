//go:build netns

package proxy

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// BenchmarkKernelScale programs 44k Services × 2 endpoints into the real kernel (a node namespace)
// and times, inside the proxy, what reaches the kernel: the cold start (chunked), one Service
// changed at a time with all of them present (an incremental sync; k8s #139513 measured 1.33 s
// for kube-proxy at this size after its fixes), and a full resync of the serving table (one
// transaction). No API server: the objects go straight into the proxy's store, so the figures
// are the proxy and nft alone. Run with -benchtime=1x (make bench SUITE=proxy-scale).
func BenchmarkKernelScale(b *testing.B) {
	n := 44000
	if s := os.Getenv("FRONTDESK_SCALE_SERVICES"); s != "" {
		_, _ = fmt.Sscan(s, &n)
	}
	const changes = 100
	k := newKernelNet(b, ipv4Plan)
	k.proxy = k.build(b)
	ctx := context.Background()
	svcIP := func(i int) string { return fmt.Sprintf("10.96.%d.%d", i/250, i%250+1) }
	epIP := func(i, j int) string { return fmt.Sprintf("10.%d.%d.%d", 98+j, i/250, i%250+1) }
	for i := range n {
		name := fmt.Sprintf("s%05d", i)
		k.proxy.SetService(newService(name, clusterIP(svcIP(i))))
		k.proxy.store.setSlice(newSlice(name, name, v1.ProtocolTCP,
			ep{ip: epIP(i, 0), node: testNode}, ep{ip: epIP(i, 1), node: "node-b"}))
	}
	t0 := time.Now()
	if err := k.proxy.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "cold-start-s")

	var d []time.Duration
	for c := range changes {
		i := (c * 7919) % n
		name := fmt.Sprintf("s%05d", i)
		// A new endpoint for one Service: its chain is rewritten, its map elements stay.
		k.proxy.store.setSlice(newSlice(name, name, v1.ProtocolTCP,
			ep{ip: epIP(i, 0), node: testNode}, ep{ip: fmt.Sprintf("10.100.%d.%d", c/250, c%250+1), node: "node-b"}))
		t := time.Now()
		if err := k.proxy.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t))
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	b.ReportMetric(ms(d[len(d)/2]), "one-change-p50-ms")
	b.ReportMetric(ms(d[(len(d)*99+99)/100-1]), "one-change-p99-ms")
	b.ReportMetric(ms(d[len(d)-1]), "one-change-max-ms")

	k.proxy.store.markAll()
	t0 = time.Now()
	if err := k.proxy.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "full-resync-s")
	out, err := k.node.Command("nft", "list", "map", "ip", k.table, mapServiceIPs).Output()
	if err != nil {
		b.Fatal(err)
	}
	if got := countGotos(out); got != n {
		b.Fatalf("%s holds %d Services after the resync, want %d", mapServiceIPs, got, n)
	}
}

// countGotos counts the elements of a verdict map in nft's listing.
func countGotos(listing []byte) int { return strings.Count(string(listing), " : goto ") }
