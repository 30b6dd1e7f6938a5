//go:build netns && integration

// Package proxybench runs frontdesk-proxy and kube-proxy (nftables mode) side by side, each in
// its own node namespace against one real API server, and times both from outside: rules
// arriving in each kernel, cold starts, first packets. See README.md.
package proxybench

import (
	"context"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// TestHarness runs the benchmark's harness at a small scale (200 Services) with generous bounds,
// so that `make netns` keeps the harness itself working.
func TestHarness(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e := newEnv(t)
	e.createServices(ctx, 0, 100)
	e.startProxies(ctx, 100)

	fp, err := e.firstPacket(ctx, 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	for _, what := range firstPacketCases {
		t.Logf("connect %s: p50 %s, p99 %s", what, quantile(fp[what], 0.5), quantile(fp[what], 0.99))
		if got := len(fp[what]); got != 30 {
			t.Fatalf("%s: %d connections timed, want 30", what, got)
		}
		if p99 := quantile(fp[what], 0.99); p99 > time.Second {
			t.Errorf("%s: connect p99 %s, want ≤ 1s", what, p99)
		}
	}

	e.createServices(ctx, 100, 200)
	e.waitProgrammed(ctx, 200)

	ch, err := e.oneChange(ctx, 200, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range proxyNames {
		if got := len(ch[name]); got != 4 {
			t.Fatalf("%s: %d changes timed, want 4", name, got)
		}
		t.Logf("one change, %s: p50 %s, max %s", name, quantile(ch[name], 0.5), quantile(ch[name], 1))
		if m := quantile(ch[name], 1); m > 5*time.Second {
			t.Errorf("%s: a single change took %s to reach the kernel, want ≤ 5s", name, m)
		}
	}

	for _, nd := range e.nodes {
		if _, c, err := nd.syncTotals(ctx); err != nil || c == 0 {
			t.Errorf("%s: sync-duration histogram count %v (%v), want some syncs", nd.name, c, err)
		}
	}

	for j, name := range proxyNames {
		r, err := e.coldStart(ctx, j, 200)
		if err != nil {
			t.Fatal(err)
		}
		if r.programmed > time.Minute || r.healthy > time.Minute {
			t.Errorf("%s cold start with 200 Services: programmed in %s, healthy in %s, want both ≤ 1 min", name, r.programmed, r.healthy)
		}
		if r.rssMiB <= 0 || r.rssMiB > 2048 {
			t.Errorf("%s: RSS %.1f MiB, want within (0, 2048]", name, r.rssMiB)
		}
	}
	for _, nd := range e.nodes {
		if nd.mon.Lost() {
			t.Errorf("nft monitor in %s lost netlink events: its timings are incomplete", nd.ns.Name)
		}
	}
}

// BenchmarkNodeProxies measures both proxies in one run, against one API server: first-packet
// latency at 1k and 10k Services, one change with 10k present, and a cold start with 10k
// Services × 2 endpoints, with each proxy's memory after it. Run with -benchtime=1x.
func BenchmarkNodeProxies(b *testing.B) {
	const (
		small, large = 1000, 10000
		rounds       = 2000 // connections per case and scale
		// 150 timed on each proxy, in blocks of 10: enough that one stall of the shared machine
		// is not by itself the p99 (nearest rank: the 149th of 150).
		changes = 300
		block   = 10
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	e := newEnv(b)
	e.createServices(ctx, 0, small)
	e.startProxies(ctx, small)

	firstPackets := map[int]map[string][]time.Duration{}
	for _, n := range []int{small, large} {
		if n == large {
			e.createServices(ctx, small, large)
			wctx, wcancel := context.WithTimeout(ctx, 15*time.Minute)
			e.waitProgrammed(wctx, large)
			wcancel()
		}
		b.Run("first-packet-"+scaleName(n), func(b *testing.B) {
			fp, err := e.firstPacket(ctx, n, rounds)
			if err != nil {
				b.Fatal(err)
			}
			firstPackets[n] = fp
			for _, what := range firstPacketCases {
				testkit.ReportQuantiles(b, what, fp[what])
			}
			// The VIP's cost relative to a direct connection measured at the same moments: the
			// 1k and 10k runs are minutes apart, and the machine's load moves both alike.
			vipOverDirect := func(fp map[string][]time.Duration, name string) float64 {
				return ms(quantile(fp[name+"-vip"], 0.5)) / ms(quantile(fp[name+"-direct"], 0.5))
			}
			for _, name := range proxyNames {
				b.ReportMetric(vipOverDirect(fp, name), name+"-vip/direct-p50-x")
			}
			if n == large && firstPackets[small] != nil {
				for _, name := range proxyNames {
					what := name + "-vip"
					growth := func(q float64) float64 {
						return 100 * (ms(quantile(fp[what], q))/ms(quantile(firstPackets[small][what], q)) - 1)
					}
					b.ReportMetric(growth(0.5), what+"-p50-growth-from-1k-%")
					b.ReportMetric(growth(0.99), what+"-p99-growth-from-1k-%")
					b.ReportMetric(100*(vipOverDirect(fp, name)/vipOverDirect(firstPackets[small], name)-1),
						name+"-vip/direct-p50-growth-from-1k-%")
				}
			}
		})
	}

	b.Run("one-change-at-10k", func(b *testing.B) {
		var sums, counts [2]float64
		for j, nd := range e.nodes {
			s, c, err := nd.syncTotals(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sums[j], counts[j] = s, c
		}
		ch, err := e.oneChange(ctx, large, changes, block)
		if err != nil {
			b.Fatal(err)
		}
		// The proxies' own account of their syncs meanwhile: how much of the time from outside
		// is the sync itself (the rest is the API server, the watch and the wait for a sync).
		for j, nd := range e.nodes {
			s, c, err := nd.syncTotals(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if c > counts[j] {
				b.ReportMetric(1000*(s-sums[j])/(c-counts[j]), proxyNames[j]+"-own-mean-sync-ms")
				b.ReportMetric(c-counts[j], proxyNames[j]+"-syncs")
			}
		}
		for _, what := range proxyNames {
			testkit.ReportQuantiles(b, what, ch[what])
		}
		for _, q := range []struct {
			name string
			q    float64
		}{{"p50", 0.5}, {"p99", 0.99}} {
			b.ReportMetric(ms(quantile(ch["kube-proxy"], q.q))/ms(quantile(ch["frontdesk"], q.q)), "kube-proxy/frontdesk-"+q.name+"-x")
		}
	})

	b.Run("cold-start-10k", func(b *testing.B) {
		var rs [2]coldStartResult
		for _, j := range []int{kubeProxy, frontdesk} {
			r, err := e.coldStart(ctx, j, large)
			if err != nil {
				b.Fatal(err)
			}
			rs[j] = r
			b.ReportMetric(r.programmed.Seconds(), proxyNames[j]+"-programmed-s")
			b.ReportMetric(r.healthy.Seconds(), proxyNames[j]+"-healthy-s")
			b.ReportMetric(float64(r.atHealthy), proxyNames[j]+"-ClusterIPs-when-healthy")
			b.ReportMetric(r.rssMiB, proxyNames[j]+"-RSS-MiB")
		}
		b.ReportMetric(rs[kubeProxy].programmed.Seconds()/rs[frontdesk].programmed.Seconds(), "kube-proxy/frontdesk-programmed-x")
	})
	for _, nd := range e.nodes {
		if nd.mon.Lost() {
			b.Errorf("nft monitor in %s lost netlink events: its timings are incomplete", nd.ns.Name)
		}
	}
}

// firstPacketCases are firstPacket's keys, in the order of the report.
var firstPacketCases = []string{"frontdesk-vip", "kube-proxy-vip", "frontdesk-direct", "kube-proxy-direct"}
