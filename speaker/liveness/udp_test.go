package liveness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

// Real UDP sockets on loopback, real clock: 127.0.0.1 to 127.0.0.<n> (all of 127.0.0.0/8 is
// local on Linux), ephemeral ports. Nothing leaves the host's loopback interface.

type udpNode struct {
	name   string
	addr   netip.AddrPort
	m      *Membership
	cancel context.CancelFunc
	done   chan error
}

type udpCluster struct {
	t     testing.TB
	nodes []*udpNode
	tweak func(*Config)
}

func newUDPCluster(t testing.TB, n int, tweak func(*Config)) *udpCluster {
	c := &udpCluster{t: t, tweak: tweak}
	for i := range n {
		c.nodes = append(c.nodes, &udpNode{
			name: fmt.Sprintf("node-%d", i),
			addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), 0),
		})
	}
	for _, n := range c.nodes {
		c.open(n)
	}
	for _, n := range c.nodes {
		c.setPeers(n)
		c.run(n)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.stop(n)
		}
	})
	c.waitAllAlive(5 * time.Second)
	return c
}

// open creates the node's socket (on the port it had, if any) and Membership.
func (c *udpCluster) open(n *udpNode) {
	conn, err := Listen(n.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	n.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	cfg := Config{NodeName: n.name, Key: testKey, Conn: conn}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	if n.m, err = New(cfg); err != nil {
		c.t.Fatal(err)
	}
}

func (c *udpCluster) setPeers(n *udpNode) {
	peers := map[string]netip.AddrPort{}
	for _, o := range c.nodes {
		peers[o.name] = o.addr
	}
	if err := n.m.SetPeers(peers); err != nil {
		c.t.Fatal(err)
	}
}

func (c *udpCluster) run(n *udpNode) {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func(m *Membership, done chan error) { done <- m.Run(ctx) }(n.m, n.done)
}

// stop cancels the node's Run (a crash as far as peers can tell: no LEAVING) and waits for it.
func (c *udpCluster) stop(n *udpNode) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		c.t.Errorf("%s: Run: %v", n.name, err)
	}
	n.cancel = nil
}

// restart starts a new speaker process on a stopped node, on the same port.
func (c *udpCluster) restart(n *udpNode) {
	c.open(n)
	c.setPeers(n)
	c.run(n)
}

func (c *udpCluster) waitAllAlive(limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok := true
		for _, v := range c.nodes {
			for _, p := range c.nodes {
				ok = ok && v.m.IsAlive(p.name) && (v == p || heard(v.m, p.name))
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			for _, v := range c.nodes {
				c.t.Logf("%s (%s): alive %v, stats %+v", v.name, v.addr, v.m.Alive(), v.m.Stats())
			}
			c.t.Fatalf("not every speaker sees every other within %v", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// watchDeath returns a channel that yields, for each other node, when it saw target die.
func (c *udpCluster) watchDeath(target *udpNode) <-chan time.Time {
	out := make(chan time.Time, len(c.nodes))
	var wg sync.WaitGroup
	for _, v := range c.nodes {
		if v == target {
			continue
		}
		wg.Go(func() {
			deadline := time.After(10 * time.Second)
			for {
				select {
				case <-v.m.Changes():
					if !v.m.IsAlive(target.name) {
						out <- time.Now()
						return
					}
				case <-deadline:
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(out) }()
	return out
}

// crashTrial stops target without a word and returns how long each other node took to see it dead.
func (c *udpCluster) crashTrial(target *udpNode) []time.Duration {
	seen := c.watchDeath(target)
	start := time.Now()
	c.stop(target)
	return since(start, seen, len(c.nodes)-1, c.t)
}

// leaveTrial makes target Leave and returns how long each other node took to see it gone.
func (c *udpCluster) leaveTrial(target *udpNode) []time.Duration {
	seen := c.watchDeath(target)
	start := time.Now()
	if err := target.m.Leave(context.Background()); err != nil {
		c.t.Fatalf("Leave: %v", err)
	}
	ds := since(start, seen, len(c.nodes)-1, c.t)
	c.stop(target)
	return ds
}

func since(start time.Time, seen <-chan time.Time, want int, t testing.TB) []time.Duration {
	var out []time.Duration
	for at := range seen {
		out = append(out, at.Sub(start))
	}
	if len(out) != want {
		t.Fatalf("%d of %d peers saw the death within 10s", len(out), want)
	}
	return out
}

func TestUDPLoopback(t *testing.T) {
	c := newUDPCluster(t, 4, nil)
	crash := c.crashTrial(c.nodes[3])
	for _, d := range crash {
		if d > 2*time.Second {
			t.Errorf("crash seen after %v, want < 2s", d)
		}
	}
	leave := c.leaveTrial(c.nodes[2])
	for _, d := range leave {
		if d > time.Second {
			t.Errorf("leave seen after %v, want < 1s", d)
		}
	}
	// The crashed node comes back with a new incarnation.
	c.restart(c.nodes[3])
	c.restart(c.nodes[2])
	c.waitAllAlive(10 * time.Second)
	t.Logf("crash detected after %v (timeout %v, interval %v); leave seen after %v", crash, timeout, interval, leave)
	for _, n := range c.nodes {
		st := n.m.Stats()
		delete(st.Rejected, RejectStaleEcho)
		if len(st.Rejected) != 0 || st.SendErrors != 0 {
			t.Errorf("%s: rejected %v, send errors %d", n.name, st.Rejected, st.SendErrors)
		}
	}
}

// BenchmarkFailover measures on loopback, per trial: a speaker crashes (no LEAVING) and the time
// until each of the 3 others declares it dead (target ≤ 1 s: detection is Timeout minus the
// phase of the last heartbeat, so between Timeout-Interval and Timeout); and a speaker Leaves and
// the time until the others see it gone (the planned hand-over; target well under 1 s). Run with
// -benchtime=20x for 20 trials; p50/p99 are over every observer of every trial.
func BenchmarkFailover(b *testing.B) {
	c := newUDPCluster(b, 4, nil)
	var crash, leave []time.Duration
	i := 0
	for b.Loop() {
		target := c.nodes[i%len(c.nodes)]
		i++
		// A crash falls anywhere in the heartbeat cycle; without this pause it would follow
		// waitAllAlive, which returns just after a heartbeat, and every trial would see the
		// longest detection.
		time.Sleep(rand.N(interval))
		crash = append(crash, c.crashTrial(target)...)
		c.restart(target)
		c.waitAllAlive(10 * time.Second)
		leave = append(leave, c.leaveTrial(target)...)
		c.restart(target)
		c.waitAllAlive(10 * time.Second)
	}
	b.ReportMetric(ms(percentile(crash, 50)), "detect-p50-ms")
	b.ReportMetric(ms(percentile(crash, 99)), "detect-p99-ms")
	b.ReportMetric(ms(percentile(leave, 50)), "leave-p50-ms")
	b.ReportMetric(ms(percentile(leave, 99)), "leave-p99-ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile by the nearest-rank method.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

// TestSocketFilterDropsStrangers: on a real socket, datagrams from an address that is no peer's
// are dropped by the kernel (the socket filter SetPeers attaches) and never reach the reader,
// while a peer's still do.
func TestSocketFilterDropsStrangers(t *testing.T) {
	conn, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	m := runAlone(t, conn)
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	send := func(from string, n int) {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from)))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		for range n {
			if _, err := c.WriteToUDPAddrPort(encode(datagram{inc: 1, seq: 1, nonce: 1, name: "node-1"}, otherKey), to); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Before any peer is known, the reader alone filters: the stranger's datagrams reach it.
	send("127.0.0.3:0", 5)
	waitFor(t, "the reader to drop 5 datagrams as unknown_source", func() bool { return m.Stats().Rejected[RejectUnknownSource] == 5 })

	if err := m.SetPeers(map[string]netip.AddrPort{"node-1": netip.MustParseAddrPort("127.0.0.2:7473")}); err != nil {
		t.Fatal(err)
	}
	send("127.0.0.3:0", 100) // dropped by the kernel
	send("127.0.0.2:0", 1)   // reaches the reader, which checks its MAC
	waitFor(t, "the peer's datagram to be refused for its MAC", func() bool { return m.Stats().Rejected[RejectMAC] == 1 })
	if got := m.Stats().Rejected[RejectUnknownSource]; got != 5 {
		t.Errorf("unknown_source: %d after the filter was set, want still 5: the kernel drops the stranger's", got)
	}
}

// runAlone runs a Membership named node-0, with no peers yet, on conn until the test ends.
func runAlone(t *testing.T, conn net.PacketConn) *Membership {
	m, err := New(Config{NodeName: "node-0", Key: testKey, Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return m
}

// waitFor waits up to 5 s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testkit.EventuallyTrue(t, 5*time.Second, 5*time.Millisecond, what, cond)
}

// TestSocketFilterIPv6: the same on ::1, the one IPv6 loopback address: while the peer is another
// address, ::1's datagrams are dropped by the kernel; once ::1 is the peer's, they pass.
func TestSocketFilterIPv6(t *testing.T) {
	conn, err := Listen(netip.MustParseAddrPort("[::1]:0"))
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	m := runAlone(t, conn)
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[::1]:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	send := func() {
		if _, err := c.WriteToUDPAddrPort(encode(datagram{inc: 1, seq: 1, nonce: 1, name: "node-1"}, otherKey), to); err != nil {
			t.Fatal(err)
		}
	}
	// fd00::1:2 shares ::1's first three words, so every word of the comparison is exercised.
	for _, peer := range []string{"[fd00::2]:7473", "[::1:2]:7473", "[::2]:7473"} {
		if err := m.SetPeers(map[string]netip.AddrPort{"node-1": netip.MustParseAddrPort(peer)}); err != nil {
			t.Fatal(err)
		}
		send()
	}
	if err := m.SetPeers(map[string]netip.AddrPort{"node-1": netip.MustParseAddrPort("[::1]:7473")}); err != nil {
		t.Fatal(err)
	}
	send()
	waitFor(t, "::1's datagram to be refused for its MAC", func() bool { return m.Stats().Rejected[RejectMAC] == 1 })
	if got := m.Stats().Rejected[RejectUnknownSource]; got != 0 {
		t.Errorf("unknown_source: %d, want 0: the kernel drops ::1's while it is no peer's", got)
	}
}

// TestSocketFilterTooManyPeers: past the kernel's limit on a filter's length the filter is
// removed, not left as it was (it would drop the new peers' heartbeats), and the reader filters
// alone.
func TestSocketFilterTooManyPeers(t *testing.T) {
	conn, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	few := []netip.Addr{netip.MustParseAddr("127.0.0.2")}
	if err := setSourceFilter(conn, few); err != nil {
		t.Fatal(err)
	}
	var many []netip.Addr
	for i := range 2100 {
		many = append(many, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
	}
	many = append(many, netip.MustParseAddr("127.0.0.3"))
	if err := setSourceFilter(conn, many); !errors.Is(err, errTooManyPeers) {
		t.Fatalf("setSourceFilter with %d peers: %v, want errTooManyPeers", len(many), err)
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.3:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.WriteToUDPAddrPort([]byte("from the new peer"), conn.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := conn.ReadFrom(buf); err != nil || string(buf[:n]) != "from the new peer" {
		t.Errorf("the new peer's datagram: %q, %v; want it delivered (no filter left)", buf[:n], err)
	}
	if _, err := sourceFilter(many[:2000]); err != nil {
		t.Errorf("2,000 IPv4 peers: %v, want a filter", err)
	}
}
