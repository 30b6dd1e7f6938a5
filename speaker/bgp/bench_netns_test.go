//go:build netns

package bgp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// The benchmarks run one speaker (a child process in a node namespace) against gobgpd in the
// router namespace, and time what the router sees through `gobgp monitor global rib`, which
// streams every best-path change as gobgpd processes it (no polling).

// ribMonitor records when the router saw each prefix appear and disappear.
type ribMonitor struct {
	mu   sync.Mutex
	cond *sync.Cond
	up   map[netip.Prefix]time.Time
	down map[netip.Prefix]time.Time
}

func startMonitor(tb testing.TB, l *lab, r *gobgpRouter) *ribMonitor {
	tb.Helper()
	m := &ribMonitor{up: map[netip.Prefix]time.Time{}, down: map[netip.Prefix]time.Time{}}
	m.cond = sync.NewCond(&m.mu)
	cmd := l.router.Command(r.cli, "-j", "monitor", "global", "rib")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			now := time.Now()
			var paths []struct {
				Nlri       struct{ Prefix string } `json:"nlri"`
				Withdrawal bool                    `json:"withdrawal"`
			}
			if json.Unmarshal(sc.Bytes(), &paths) != nil {
				continue
			}
			m.mu.Lock()
			for _, p := range paths {
				pfx, err := netip.ParsePrefix(p.Nlri.Prefix)
				if err != nil {
					continue
				}
				if p.Withdrawal {
					m.down[pfx] = now
					delete(m.up, pfx)
				} else if _, ok := m.up[pfx]; !ok {
					m.up[pfx] = now
				}
			}
			m.cond.Broadcast()
			m.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	return m
}

// wait blocks until f holds (under the lock) or timeout passes.
func (m *ribMonitor) wait(tb testing.TB, timeout time.Duration, what string, f func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { m.mu.Lock(); m.cond.Broadcast(); m.mu.Unlock() })
	defer timer.Stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for !f() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %s", timeout, what)
		}
		m.cond.Wait()
	}
}

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
func benchLab(b *testing.B) (*lab, *speakerProc, *ribMonitor, []PeerConfig) {
	b.Helper()
	l := newLab(b, 1)
	r := startGoBGP(b, l, routerConfig{nodes: []netip.Addr{nodeAddr(0)}, speakerASN: speakerASN, bfd: true}).(*gobgpRouter)
	m := startMonitor(b, l, r)
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
		m.wait(b, 30*time.Second, "1000 routes at the router", func() bool { return len(m.up) >= 1000 })
		var add, del []time.Duration
		for i := range 50 {
			extra := routes.Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}), 32)}
			start := time.Now()
			sp.set(peers, map[string][]routes.Route{"r": append(slices.Clone(base), extra)})
			m.wait(b, 10*time.Second, fmt.Sprintf("%s at the router", extra.Prefix), func() bool { _, ok := m.up[extra.Prefix]; return ok })
			m.mu.Lock()
			add = append(add, m.up[extra.Prefix].Sub(start))
			m.mu.Unlock()
			start = time.Now()
			sp.set(peers, map[string][]routes.Route{"r": base})
			m.wait(b, 10*time.Second, fmt.Sprintf("%s withdrawn at the router", extra.Prefix), func() bool {
				d, ok := m.down[extra.Prefix]
				return ok && d.After(start)
			})
			m.mu.Lock()
			del = append(del, m.down[extra.Prefix].Sub(start))
			m.mu.Unlock()
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
		m.wait(b, 60*time.Second, "10k routes at the router", func() bool { return len(m.up) >= len(rs) })
		b.ReportMetric(float64(time.Since(start))/float64(time.Second), "announce-10k-s")
		start = time.Now()
		sp.terminate()
		m.wait(b, 60*time.Second, "10k routes withdrawn", func() bool { return len(m.up) == 0 && len(m.down) >= len(rs) })
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
			m.wait(b, 60*time.Second, "route at the router", func() bool { _, ok := m.up[vip]; return ok })
			waitBFDUp(b, sp)
			start := time.Now()
			l.nodes[0].IP("link", "set", "eth0", "down")
			m.wait(b, 10*time.Second, "route withdrawn", func() bool { d, ok := m.down[vip]; return ok && d.After(start) })
			m.mu.Lock()
			ds = append(ds, m.down[vip].Sub(start))
			m.mu.Unlock()
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
