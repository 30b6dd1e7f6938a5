//go:build netns

package bgp

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
	"github.com/frontdesk-lb/frontdesk/test/bgprouters"
)

// These tests run speakers (each in its own node namespace) against three real BGP daemons in
// a router namespace: gobgpd built from the pinned GoBGP module, BIRD 2 and FRR.

func forEachRouter(t *testing.T, f func(t *testing.T, k bgprouters.Kind)) {
	for _, k := range bgprouters.Kinds {
		t.Run(string(k), func(t *testing.T) { f(t, k) })
	}
}

func nextHops(ps []bgprouters.Path) []netip.Addr {
	var out []netip.Addr
	for _, p := range ps {
		out = append(out, p.NextHop)
	}
	return out
}

// waitPaths waits until the router's next hops for prefix are want (nil: no route).
func waitPaths(t *testing.T, r bgprouters.Router, prefix string, want []netip.Addr, timeout time.Duration) time.Duration {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	return testkit.Eventually(t, timeout, waitEvery, func() string {
		got := nextHops(r.Paths(t)[pfx])
		if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
			return fmt.Sprintf("next hops of %s (-want +got):\n%s", prefix, d)
		}
		return ""
	})
}

func TestAnnounceWithdraw(t *testing.T) {
	forEachRouter(t, func(t *testing.T, k bgprouters.Kind) {
		l := newLab(t, 1)
		r := l.startRouter(t, k, routerConfig(speakerASN, nodeAddr(0)))
		sp := startSpeaker(t, l.nodes[0], nodeAddr(0))
		peers := []PeerConfig{routerPeer("r")}
		sp.set(peers, hostRoutes("r", "198.51.100.7", "198.51.100.8"))
		sp.waitState("r", StateEstablished, 30*time.Second)
		waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, 10*time.Second)
		waitPaths(t, r, "198.51.100.8/32", []netip.Addr{nodeAddr(0)}, 10*time.Second)

		// Full-set semantics: the set without .8 withdraws .8 and keeps .7.
		sp.set(peers, hostRoutes("r", "198.51.100.7"))
		waitPaths(t, r, "198.51.100.8/32", nil, 5*time.Second)
		waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, time.Second)

		// The peer's route reached the speaker, which refused it.
		var rib helperOut
		testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
			if rib = sp.call(helperCmd{Cmd: "rib"}); !containsPrefix(rib.AdjIn, peerRoute) {
				return fmt.Sprintf("the router's %s did not reach the speaker (adj-rib-in %v); the refusal test would prove nothing", peerRoute, rib.AdjIn)
			}
			return ""
		})
		if containsPrefix(rib.RIB, peerRoute) {
			t.Errorf("the speaker accepted the router's %s into its RIB: %v", peerRoute, rib.RIB)
		}
		if out := l.nodes[0].IP("route", "show", peerRoute.String()); out != "" {
			t.Errorf("the node has a kernel route to %s: %s", peerRoute, out)
		}

		sp.set(peers, nil)
		waitPaths(t, r, "198.51.100.7/32", nil, 5*time.Second)
	})
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// TestECMP runs three speakers, one per node, advertising one VIP: the router holds three paths
// (ECMP). With BIRD, which installs them in the router's kernel, a client behind the router
// reaches the VIP on several nodes; a SIGTERMed speaker's route is gone at once, and a node
// whose last local endpoint went (an empty set) withdraws.
func TestECMP(t *testing.T) {
	forEachRouter(t, func(t *testing.T, k bgprouters.Kind) {
		l := newLab(t, 3)
		nodes := []netip.Addr{nodeAddr(0), nodeAddr(1), nodeAddr(2)}
		r := l.startRouter(t, k, routerConfig(speakerASN, nodes...))
		peers := []PeerConfig{routerPeer("r")}
		var sps []*speakerProc
		for i, n := range l.nodes {
			sp := startSpeaker(t, n, nodeAddr(i))
			sp.set(peers, hostRoutes("r", "198.51.100.7"))
			sps = append(sps, sp)
			if k == bgprouters.BIRD {
				serveVIP(t, n, fmt.Sprintf("n%d", i))
			}
		}
		for _, sp := range sps {
			sp.waitState("r", StateEstablished, 30*time.Second)
		}
		waitPaths(t, r, "198.51.100.7/32", nodes, 10*time.Second)
		if k == bgprouters.BIRD {
			waitKernelNextHops(t, l, 3)
			if got := clientSpread(t, l, 40); len(got) < 2 {
				t.Errorf("40 connections from the client reached %v; want several nodes (ECMP)", got)
			}
		}

		// SIGTERM: the speaker withdraws before it closes the session.
		start := time.Now()
		if closed := sps[2].terminate(); closed.Err != "" {
			t.Errorf("closing on SIGTERM: %s", closed.Err)
		}
		waitPaths(t, r, "198.51.100.7/32", nodes[:2], 5*time.Second)
		t.Logf("%s: the SIGTERMed speaker's route was gone at the router %v after SIGTERM", k, time.Since(start))

		// The last local endpoint on node 1 goes: its set is empty, the route goes.
		sps[1].set(peers, nil)
		waitPaths(t, r, "198.51.100.7/32", nodes[:1], 5*time.Second)
		if k == bgprouters.BIRD {
			waitKernelNextHops(t, l, 1)
			if got := clientSpread(t, l, 10); len(got) != 1 || !got["n0"] {
				t.Errorf("after two withdrawals the client reached %v; want n0 only", got)
			}
		}
	})
}

// serveVIP adds the VIP to the node's lo and answers TCP connections on it with the node name.
func serveVIP(t *testing.T, n *netnstest.NS, name string) {
	t.Helper()
	n.AddAddr("lo", netip.MustParsePrefix("198.51.100.7/32"))
	ln, err := n.Listen("tcp", "198.51.100.7:8080")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(name))
			_ = c.Close()
		}
	}()
}

// clientSpread opens n connections from the client to the VIP and counts who answered.
func clientSpread(t *testing.T, l *lab, n int) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := l.client.Dial(ctx, "tcp", "198.51.100.7:8080")
		cancel()
		if err != nil {
			t.Fatalf("client: %v", err)
		}
		b, _ := io.ReadAll(c)
		_ = c.Close()
		got[string(b)] = true
	}
	return got
}

func waitKernelNextHops(t *testing.T, l *lab, want int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
		out := l.router.IP("route", "show", "198.51.100.7/32")
		if got := strings.Count(out, "nexthop via") + map[bool]int{true: 1}[want == 1 && strings.Contains(out, " via ")]; got != want {
			return fmt.Sprintf("router kernel route %q: %d next hops, want %d", out, got, want)
		}
		return ""
	})
}

// TestMD5 checks TCP MD5 (RFC 2385): the right password establishes, a wrong one never does
// and the session state says it is not established; fixing it establishes.
func TestMD5(t *testing.T) {
	forEachRouter(t, func(t *testing.T, k bgprouters.Kind) {
		l := newLab(t, 1)
		rc := routerConfig(speakerASN, nodeAddr(0))
		rc.Password = "s3cret"
		r := l.startRouter(t, k, rc)
		sp := startSpeaker(t, l.nodes[0], nodeAddr(0))
		sp.set([]PeerConfig{routerPeer("r", func(p *PeerConfig) { p.Password = "wrong" })}, hostRoutes("r", "198.51.100.7"))
		// Segments with a wrong signature are dropped silently by the router's kernel: nothing
		// marks the refusal, so "never established" is observed over a bounded window (several
		// connect attempts), polled through rather than looked at once at its end.
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if st := sp.state("r"); st.State == StateEstablished {
				t.Fatalf("established with a wrong password: %+v", st)
			}
			if ps := r.Paths(t); len(ps) != 0 {
				t.Fatalf("the router has routes with a wrong password: %v", ps)
			}
		}
		sessions := sp.call(helperCmd{Cmd: "sessions"}).Sessions
		t.Logf("%s, wrong password: %+v", k, sessions)

		sp.set([]PeerConfig{routerPeer("r", func(p *PeerConfig) { p.Password = "s3cret" })}, hostRoutes("r", "198.51.100.7"))
		sp.waitState("r", StateEstablished, 30*time.Second)
		waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, 10*time.Second)
	})
}

// TestAttributes checks that communities, large communities and local preference reach the
// router (over iBGP, since eBGP never carries LOCAL_PREF), and that two prefixes with different
// attributes each keep their own.
func TestAttributes(t *testing.T) {
	forEachRouter(t, func(t *testing.T, k bgprouters.Kind) {
		l := newLab(t, 1)
		r := l.startRouter(t, k, routerConfig(routerASN, nodeAddr(0)))
		sp := startSpeaker(t, l.nodes[0], nodeAddr(0))
		lp := uint32(250)
		c := func(s string) v1alpha1.Community {
			v, err := v1alpha1.ParseCommunity(s)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		want := map[string][]routes.Route{"r": {
			{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Communities: []v1alpha1.Community{c("65000:100"), c("no-export")},
				LargeCommunities: []v1alpha1.LargeCommunity{{Global: 65000, Local1: 1, Local2: 2}}, LocalPref: &lp},
			{Prefix: netip.MustParsePrefix("198.51.100.8/32"), Communities: []v1alpha1.Community{c("65000:200")}},
		}}
		sp.set([]PeerConfig{routerPeer("r", func(p *PeerConfig) { p.LocalASN = routerASN })}, want)
		sp.waitState("r", StateEstablished, 30*time.Second)
		wantPaths := map[netip.Prefix][]bgprouters.Path{
			netip.MustParsePrefix("198.51.100.7/32"): {{NextHop: nodeAddr(0), Communities: []string{"65000:100", "65535:65281"},
				LargeCommunities: []string{"65000:1:2"}, LocalPref: 250}},
			netip.MustParsePrefix("198.51.100.8/32"): {{NextHop: nodeAddr(0), Communities: []string{"65000:200"}, LocalPref: 100}},
		}
		testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
			if d := cmp.Diff(wantPaths, r.Paths(t), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				return "paths at the router (-want +got):\n" + d
			}
			return ""
		})

		// A kept prefix changing attributes is re-sent (soft reset out).
		want["r"][1].Communities = []v1alpha1.Community{c("65000:300")}
		sp.set([]PeerConfig{routerPeer("r", func(p *PeerConfig) { p.LocalASN = routerASN })}, want)
		wantPaths[netip.MustParsePrefix("198.51.100.8/32")][0].Communities = []string{"65000:300"}
		testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
			if d := cmp.Diff(wantPaths, r.Paths(t), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				return "paths at the router after the change (-want +got):\n" + d
			}
			return ""
		})
	})
}

// TestPeerRestart restarts the router: the session state shows it went down, the speaker
// reconnects, and the routes come back.
func TestPeerRestart(t *testing.T) {
	forEachRouter(t, func(t *testing.T, k bgprouters.Kind) {
		l := newLab(t, 1)
		r := l.startRouter(t, k, routerConfig(speakerASN, nodeAddr(0)))
		sp := startSpeaker(t, l.nodes[0], nodeAddr(0))
		sp.set([]PeerConfig{routerPeer("r")}, hostRoutes("r", "198.51.100.7"))
		sp.waitState("r", StateEstablished, 30*time.Second)
		waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, 10*time.Second)

		r.Stop(t)
		testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
			if st := sp.state("r"); st.State == StateEstablished {
				return "still established after the router stopped"
			}
			return ""
		})
		t.Logf("%s stopped: session %+v", k, sp.state("r"))
		start := time.Now()
		r.Restart(t)
		sp.waitState("r", StateEstablished, 30*time.Second)
		waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodeAddr(0)}, 10*time.Second)
		t.Logf("%s restarted: route back after %v", k, time.Since(start))
	})
}

// TestNodeFailure checks how fast a node's route goes when its speaker cannot withdraw.
// SIGKILL: the kernel closes the TCP connection, so the router drops the route at once. A node
// cut off the network (its link down: nothing is sent at all) is detected by BFD (gobgpd and
// BIRD; 300 ms × 3) or, without BFD, by the hold time (3 s; FRR, whose BFD needs bfdd).
func TestNodeFailure(t *testing.T) {
	forEachRouter(t, func(t *testing.T, k bgprouters.Kind) {
		l := newLab(t, 3)
		bfd := k != bgprouters.FRR
		nodes := []netip.Addr{nodeAddr(0), nodeAddr(1), nodeAddr(2)}
		rc := routerConfig(speakerASN, nodes...)
		rc.Hold = 3 * time.Second
		if bfd {
			rc.BFD = routerBFD
		}
		r := l.startRouter(t, k, rc)
		var sps []*speakerProc
		for i, n := range l.nodes {
			sp := startSpeaker(t, n, nodeAddr(i))
			sp.set([]PeerConfig{routerPeer("r", func(p *PeerConfig) {
				p.HoldTime = 3 * time.Second
				if bfd {
					p.BFD = &BFDConfig{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}
				}
			})}, hostRoutes("r", "198.51.100.7"))
			sps = append(sps, sp)
		}
		for _, sp := range sps {
			sp.waitState("r", StateEstablished, 30*time.Second)
		}
		waitPaths(t, r, "198.51.100.7/32", nodes, 10*time.Second)
		if bfd {
			testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
				s := sps[2].call(helperCmd{Cmd: "sessions"}).Sessions
				if len(s) != 1 || s[0].BFD != "Up" {
					return fmt.Sprintf("BFD not up: %+v", s)
				}
				return ""
			})
		}

		start := time.Now()
		sps[1].kill()
		waitPaths(t, r, "198.51.100.7/32", []netip.Addr{nodes[0], nodes[2]}, 5*time.Second)
		t.Logf("%s: SIGKILLed speaker's route gone after %v", k, time.Since(start))

		start = time.Now()
		l.nodes[2].IP("link", "set", "eth0", "down")
		waitPaths(t, r, "198.51.100.7/32", nodes[:1], 10*time.Second)
		took := time.Since(start)
		t.Logf("%s: cut-off node's route gone after %v (BFD %v)", k, took, bfd)
		limit := 4500 * time.Millisecond // hold time 3 s, plus polling
		if bfd {
			limit = 1500 * time.Millisecond // 0.9 s, plus polling
		}
		if took > limit {
			t.Errorf("route gone after %v; want within %v", took, limit)
		}
	})
}
