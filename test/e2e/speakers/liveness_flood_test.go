//go:build netns && integration

package speakers

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
)

// floodFor is how long the heartbeat port is flooded.
const floodFor = 30 * time.Second

// A Pod on the flooded node: its own namespace behind a veth, as a CNI's bridge or veth plugin
// gives it, its traffic to the node's addresses delivered locally.
var (
	podNodeSide = netip.MustParsePrefix("10.244.1.1/24")
	podAddr     = netip.MustParsePrefix("10.244.1.2/24")
)

// TestHeartbeatFlood (issue 17, item 6): a Pod floods one node's heartbeat port, at its
// InternalIP and at the node's address on the Pod network, with heartbeat-shaped datagrams in a
// peer's name (valid header, forged MAC: each one costs an unfiltered speaker an HMAC), as fast
// as it can send, for floodFor. Meanwhile the client asks every arpRound who has each address:
// never two answerers, never another answerer than before the flood. Before the fix the flooded
// node could drop its peers' heartbeats behind the flood, see them dead and answer for their
// addresses beside them; on the 2-core machine this was written on, two senders (about 150,000
// datagrams a second) made that happen in one run of five only: the unfiltered reader mostly kept
// up. speaker/liveness's TestFloodDroppedBeforeTheMAC and TestSocketFilter* show each defence
// deterministically.
func TestHeartbeatFlood(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	vips := []netip.Addr{netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101"), netip.MustParseAddr("198.18.0.102")}
	for i, v := range vips {
		e.createService(ctx, fmt.Sprintf("flood-%d", i), v)
	}
	w := e.watchARP(vips...)
	// Flood a node that does not answer for the first address: if it took it, that is a second
	// answerer.
	target := (nodeIndex(e.announcersOf(ctx, vips[0])) + 1) % nodeCount
	victim := nodeName((target + 1) % nodeCount) // the peer whose name the forged datagrams carry

	pod := netnstest.New(t, netnstest.RunID(t), "pod")
	netnstest.Veth(e.nodes[target], "pod0", pod, "eth0")
	e.nodes[target].AddAddr("pod0", podNodeSide)
	pod.AddAddr("eth0", podAddr)
	pod.IP("route", "add", "default", "via", podNodeSide.Addr().String())

	dsts := []netip.AddrPort{netip.AddrPortFrom(nodeAddr(target).Addr(), 7473), netip.AddrPortFrom(podNodeSide.Addr(), 7473)}
	sent := flood(t, pod, dsts, forgedHeartbeat(victim), floodFor)
	t.Logf("flooded %s (%v) from a Pod for %v: %d datagrams, %.0f/s", nodeName(target), dsts, floodFor, sent, float64(sent)/floodFor.Seconds())
	if sent < uint64(floodFor.Seconds())*10000 {
		t.Errorf("the flood sent only %d datagrams in %v: not a flood", sent, floodFor)
	}
	// A little longer than a timeout after the flood: a split brain that the flood started
	// shows now too.
	time.Sleep(2 * time.Second)
	w.check(t)
}

// announcersOf returns the node IPAllocation status names as vip's announcer, waiting for one.
func (e *env) announcersOf(ctx context.Context, v netip.Addr) string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := e.announcers(ctx, v); len(got) == 1 {
			return got[0]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("IPAllocation status of %v names %v, want one announcer", v, e.announcers(ctx, v))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forgedHeartbeat is a wire version 4 heartbeat (speaker/liveness/wire.go) from name, with a
// random MAC, as long as a heartbeat may be (1,200 bytes): a speaker that checks MACs before
// anything else spends the most it can on each.
func forgedHeartbeat(name string) []byte {
	b := append([]byte("FDLV"), 4, 0)
	for range 4 { // incarnation, sequence, nonce, echo
		b = binary.BigEndian.AppendUint64(b, 1)
	}
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, make([]byte, 16)...)             // boot ID: unknown
	b = append(b, make([]byte, 1200-32-len(b))...) // the dead list's room, never read: the MAC fails first
	mac := make([]byte, 32)
	_, _ = rand.Read(mac)
	return append(b, mac...)
}

// flood sends b to dsts from the Pod's namespace, in batches of 64 per system call (sendmmsg),
// as fast as two senders can, for d, and returns how many datagrams went out.
func flood(t *testing.T, pod *netnstest.NS, dsts []netip.AddrPort, b []byte, d time.Duration) uint64 {
	t.Helper()
	var sent atomic.Uint64
	stop := time.Now().Add(d)
	var msgs []ipv4.Message
	for n := range 64 {
		msgs = append(msgs, ipv4.Message{Buffers: [][]byte{b}, Addr: net.UDPAddrFromAddrPort(dsts[n%len(dsts)])})
	}
	var wg sync.WaitGroup
	for range 2 {
		var c *net.UDPConn
		if err := pod.Do(func() (err error) {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: podAddr.Addr().AsSlice()})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		pc := ipv4.NewPacketConn(c)
		batch := slices.Clone(msgs)
		wg.Go(func() {
			defer func() { _ = c.Close() }()
			for time.Now().Before(stop) {
				// Unreachable destinations (ICMP port unreachable) only fail some sends.
				if n, err := pc.WriteBatch(batch, 0); n > 0 {
					sent.Add(uint64(n))
				} else if err != nil {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	return sent.Load()
}
