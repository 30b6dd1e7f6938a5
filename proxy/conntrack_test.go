package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// failingConntrack is a stateful fake of the conntrack seam: it records each filter it is
// asked for, fails those in fail (reporting them in a *FlowErrors), and with hang blocks until
// its context ends, failing everything.
type failingConntrack struct {
	mu    sync.Mutex
	asked []string
	fail  map[string]bool
	hang  bool
}

func (c *failingConntrack) Delete(ctx context.Context, filters []FlowFilter) error {
	c.mu.Lock()
	hang := c.hang
	for _, f := range filters {
		c.asked = append(c.asked, f.String())
	}
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return &FlowErrors{Failed: filters, Err: ctx.Err()}
	}
	var failed []FlowFilter
	for _, f := range filters {
		if c.fail[f.String()] {
			failed = append(failed, f)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &FlowErrors{Failed: failed, Err: errors.New("conntrack: simulated failure")}
}

func (c *failingConntrack) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.asked
	c.asked = nil
	return out
}

// udpEndpoints are n UDP endpoints of a Service on node-b, 10.245.x.y.
func udpEndpoints(n int) []ep {
	var out []ep
	for i := range n {
		out = append(out, ep{ip: netip.AddrFrom4([4]byte{10, 245, byte(i >> 8), byte(i)}).String(), node: "node-b"})
	}
	return out
}

// TestConntrackBounded: a UDP Service of 300 endpoints scaled to zero asks for 300 deletions;
// one sync tries at most conntrackBatch of them and the rest go to the next sync without any
// change to wait for; a filter that fails is retried alone, once per sync, never twice in one.
func TestConntrackBounded(t *testing.T) {
	ct := &failingConntrack{fail: map[string]bool{}}
	tp := newTestProxy(t, func(c *Config) { c.Conntrack = ct })
	tp.apply(t, newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP)), newSlice("dns", "dns-1", v1.ProtocolUDP, udpEndpoints(300)...))
	ct.take()
	stuck := FlowFilter{Dst: netip.MustParseAddr("10.96.0.10"), DstPort: 80, ReplySrc: netip.MustParseAddr("10.245.0.7"), ReplySrcPort: 8080}
	ct.fail[stuck.String()] = true

	tp.apply(t, newSlice("dns", "dns-1", v1.ProtocolUDP))
	first := ct.take()
	if len(first) != conntrackBatch {
		t.Fatalf("the sync that scaled the Service to zero asked for %d deletions, want the batch bound %d", len(first), conntrackBatch)
	}
	// The next sync, with nothing changed, takes the rest and retries the failed one.
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := ct.take()
	all := slices.Concat(first, second)
	want := map[string]int{}
	for _, e := range udpEndpoints(300) {
		want[fmt.Sprintf("-D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --reply-src %s --reply-port-src 8080", e.ip)] = 1
	}
	want[stuck.String()] = 2
	got := map[string]int{}
	for _, f := range all {
		got[f]++
	}
	for f, n := range want {
		if got[f] != n {
			t.Errorf("%q asked %d times over two syncs, want %d", f, got[f], n)
		}
	}
	if len(all) != 301 {
		t.Errorf("two syncs asked for %d deletions, want 301 (300 and the failed one again)", len(all))
	}
	// It stays pending, alone, until it succeeds.
	for range 3 {
		if err := tp.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := ct.take(), []string{stuck.String(), stuck.String(), stuck.String()}; !slices.Equal(got, want) {
		t.Errorf("three later syncs asked for %v, want the failing filter once each", got)
	}
}

// TestConntrackTimeout: a conntrack that hangs holds a sync (and with it every rule update)
// for the timeout, not for ever.
func TestConntrackTimeout(t *testing.T) {
	ct := &failingConntrack{hang: true}
	tp := newTestProxy(t, func(c *Config) { c.Conntrack = ct })
	tp.conntrackTimeout = 200 * time.Millisecond
	tp.apply(t, newService("dns", clusterIP("10.96.0.10"), protocol(v1.ProtocolUDP)), newSlice("dns", "dns-1", v1.ProtocolUDP, remote1))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tp.apply(t, newSlice("dns", "dns-1", v1.ProtocolUDP))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync waited more than 10 s on a hanging conntrack")
	}
}
