//go:build netns && integration

package speakers

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// probeInterval is how often the client asks; it is also the resolution of the gaps measured.
const probeInterval = 5 * time.Millisecond

// serveResponders answers UDP on vip in every node namespace with the node's name: the data path
// a node proxy would give, so that each reply says which node the client's packets reached.
func (e *env) serveResponders(vip netip.Addr) {
	e.t.Helper()
	for i, n := range e.nodes {
		c, err := n.ListenPacket("udp4", netip.AddrPortFrom(vip, responderUDP).String())
		if err != nil {
			e.t.Fatalf("responder in %s: %v", n.Name, err)
		}
		name := []byte(nodeName(i) + " ")
		var wg sync.WaitGroup
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				k, from, err := c.ReadFrom(buf)
				if err != nil {
					return // closed
				}
				_, _ = c.WriteTo(append(append([]byte{}, name...), buf[:k]...), from)
			}
		})
		e.t.Cleanup(func() { _ = c.Close(); wg.Wait() })
	}
}

type reply struct {
	at   time.Time
	node int
}

// prober sends a numbered datagram to the VIP every probeInterval from the client namespace and
// records who answered when.
type prober struct {
	conn    net.Conn
	mu      sync.Mutex
	replies []reply
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func (e *env) startProber(vip netip.Addr) *prober {
	e.t.Helper()
	conn, err := e.client.Dial(context.Background(), "udp4", netip.AddrPortFrom(vip, responderUDP).String())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{conn: conn, cancel: cancel}
	p.wg.Go(func() {
		tick := time.NewTicker(probeInterval)
		defer tick.Stop()
		var seq uint64
		b := make([]byte, 8)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			seq++
			binary.BigEndian.PutUint64(b, seq)
			_, _ = conn.Write(b) // refused while no node answers: that is a gap, not an error
		}
	})
	p.wg.Go(func() {
		buf := make([]byte, 64)
		for {
			k, err := conn.Read(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue // ICMP errors surface here while the VIP is unreachable
			}
			at := time.Now()
			name, _, _ := strings.Cut(string(buf[:k]), " ")
			p.mu.Lock()
			p.replies = append(p.replies, reply{at: at, node: nodeIndex(name)})
			p.mu.Unlock()
		}
	})
	e.t.Cleanup(p.stop)
	return p
}

func (p *prober) stop() {
	p.cancel()
	_ = p.conn.Close()
	p.wg.Wait()
}

// since returns the replies received at or after t.
func (p *prober) since(t time.Time) []reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := len(p.replies)
	for i > 0 && !p.replies[i-1].at.Before(t) {
		i--
	}
	return append([]reply(nil), p.replies[i:]...)
}

// otherThan returns the first reply at or after t from a node other than node, if any.
func (p *prober) otherThan(node int, t time.Time) (reply, bool) {
	for _, r := range p.since(t) {
		if r.node != node {
			return r, true
		}
	}
	return reply{}, false
}

// lastBefore is the time of the last reply before t (zero if none).
func (p *prober) lastBefore(t time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.replies) - 1; i >= 0; i-- {
		if p.replies[i].at.Before(t) {
			return p.replies[i].at
		}
	}
	return time.Time{}
}

// longestGap is the longest time without a reply between from and to.
func (p *prober) longestGap(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := from
	var gap time.Duration
	for _, r := range p.replies {
		if r.at.Before(from) || r.at.After(to) {
			continue
		}
		gap = max(gap, r.at.Sub(prev))
		prev = r.at
	}
	return max(gap, to.Sub(prev))
}

// steady waits until every reply of the last window came from one node, and returns it.
func (p *prober) steady(t testing.TB, window, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		time.Sleep(window / 4)
		rs := p.since(time.Now().Add(-window))
		if len(rs) < int(window/probeInterval)/2 {
			continue
		}
		node := rs[0].node
		same := true
		for _, r := range rs {
			same = same && r.node == node
		}
		if same && node >= 0 {
			return node
		}
	}
	t.Fatalf("the client was not served by one node for %v within %v", window, limit)
	return -1
}

// servedBy waits until the client is steadily served by node (a node coming back wins its
// addresses again once it has synced and its heartbeats are heard).
func (p *prober) servedBy(t testing.TB, node int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := p.steady(t, 500*time.Millisecond, limit)
		if got == node {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the client is still served by %s, want %s", limit, nodeName(got), nodeName(node))
		}
	}
}
