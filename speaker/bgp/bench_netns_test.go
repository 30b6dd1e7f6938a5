//go:build netns

package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
	"github.com/frontdesk-lb/frontdesk/test/bgprouters"
)

// The benchmarks run one speaker (a child process in a node namespace) against gobgpd in the
// router namespace, and time what the router sees through bgprouters.Monitor (`gobgp monitor
// global rib`, which streams every best-path change as gobgpd processes it: no polling).

func vipRoutes(n int) []routes.Route {
	rs := make([]routes.Route, n)
	for i := range rs {
		rs[i] = routes.Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)}
	}
	return rs
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchLab is one router (gobgpd with BFD), one speaker, a monitor.
func benchLab(b *testing.B) (*lab, *speakerProc, *bgprouters.Monitor, []PeerConfig) {
	b.Helper()
	l := newLab(b, 1)
	rc := routerConfig(speakerASN, nodeAddr(0))
	rc.BFD = routerBFD
	m := l.startGoBGP(b, rc).Monitor(b)
	sp := startSpeaker(b, l.nodes[0], nodeAddr(0))
	peers := []PeerConfig{routerPeer("r", func(p *PeerConfig) {
		p.BFD = &BFDConfig{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
	})}
	sp.set(peers, nil)
	sp.waitState("r", StateEstablished, 30*time.Second)
	return l, sp, m, peers
}

// BenchmarkRouteLatency: with 1000 routes advertised, one route more in the full set, then one
// less, 50 times: time from the SetRoutes call (the speaker's input; the agent calls it
// within MinInterval of a cluster change) to the router's best-path change.
func BenchmarkRouteLatency(b *testing.B) {
	for range b.N {
		_, sp, m, peers := benchLab(b)
		base := vipRoutes(1000)
		sp.set(peers, map[string][]routes.Route{"r": base})
		m.Wait(b, 30*time.Second, "1000 routes at the router", func() bool { up, _ := m.Counts(); return up >= 1000 })
		var add, del []time.Duration
		for i := range 50 {
			extra := routes.Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}), 32)}
			start := time.Now()
			sp.set(peers, map[string][]routes.Route{"r": append(slices.Clone(base), extra)})
			m.Wait(b, 10*time.Second, fmt.Sprintf("%s at the router", extra.Prefix), func() bool { _, ok := m.Up(extra.Prefix); return ok })
			up, _ := m.Up(extra.Prefix)
			add = append(add, up.Sub(start))
			start = time.Now()
			sp.set(peers, map[string][]routes.Route{"r": base})
			m.Wait(b, 10*time.Second, fmt.Sprintf("%s withdrawn at the router", extra.Prefix), func() bool {
				d, ok := m.Down(extra.Prefix)
				return ok && d.After(start)
			})
			down, _ := m.Down(extra.Prefix)
			del = append(del, down.Sub(start))
		}
		b.ReportMetric(ms(percentile(add, 50)), "announce-p50-ms")
		b.ReportMetric(ms(percentile(add, 99)), "announce-p99-ms")
		b.ReportMetric(ms(percentile(del, 50)), "withdraw-p50-ms")
		b.ReportMetric(ms(percentile(del, 99)), "withdraw-p99-ms")
	}
}

// BenchmarkBulk: 10k routes in one SetRoutes, until the router holds them all; then SIGTERM,
// until the router has seen every one withdrawn (the planned shutdown).
func BenchmarkBulk(b *testing.B) {
	for range b.N {
		_, sp, m, peers := benchLab(b)
		rs := vipRoutes(10000)
		start := time.Now()
		sp.set(peers, map[string][]routes.Route{"r": rs})
		m.Wait(b, 60*time.Second, "10k routes at the router", func() bool { up, _ := m.Counts(); return up >= len(rs) })
		b.ReportMetric(float64(time.Since(start))/float64(time.Second), "announce-10k-s")
		start = time.Now()
		sp.terminate()
		m.Wait(b, 60*time.Second, "10k routes withdrawn", func() bool { up, down := m.Counts(); return up == 0 && down >= len(rs) })
		b.ReportMetric(ms(time.Since(start)), "sigterm-withdraw-10k-ms")
	}
}

// BenchmarkFailureDetection: the node's link is cut (nothing sent, nothing closed), 5 times:
// time until the router withdraws its route, BFD at 300 ms × 3 (target ≤ 1 s).
func BenchmarkFailureDetection(b *testing.B) {
	for range b.N {
		l, sp, m, peers := benchLab(b)
		vip := netip.MustParsePrefix("198.51.100.7/32")
		sp.set(peers, map[string][]routes.Route{"r": {{Prefix: vip}}})
		var ds []time.Duration
		for range 5 {
			m.Wait(b, 60*time.Second, "route at the router", func() bool { _, ok := m.Up(vip); return ok })
			waitBFDUp(b, sp)
			start := time.Now()
			l.nodes[0].IP("link", "set", "eth0", "down")
			m.Wait(b, 10*time.Second, "route withdrawn", func() bool { d, ok := m.Down(vip); return ok && d.After(start) })
			down, _ := m.Down(vip)
			ds = append(ds, down.Sub(start))
			l.nodes[0].IP("link", "set", "eth0", "up")
			l.nodes[0].IP("route", "replace", "default", "via", routerAddr.String())
		}
		b.ReportMetric(ms(percentile(ds, 50)), "detect-p50-ms")
		b.ReportMetric(ms(slices.Max(ds)), "detect-max-ms")
	}
}

func waitBFDUp(tb testing.TB, sp *speakerProc) {
	tb.Helper()
	testkit.Eventually(tb, 60*time.Second, waitEvery, func() string {
		s := sp.call(helperCmd{Cmd: "sessions"}).Sessions
		if len(s) != 1 || s[0].BFD != "Up" || s[0].State != StateEstablished {
			return fmt.Sprintf("session not up with BFD: %+v", s)
		}
		return ""
	})
}
