//go:build netns

package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestKernelDeadNodeConnections: ep1 is a Pod on node-b, ep2 one on node-c. A TCP connection and
// a UDP flow run to ep1 through their Services; then node-b dies (ep1's link goes down: packets
// to it vanish) and node-b is excluded. New connections go to ep2; the established TCP connection
// is reset within a second (its conntrack entry is gone, so its next segment reaches ep2, which
// resets it) instead of retransmitting into the dead node; the UDP flow moves to ep2.
func TestKernelDeadNodeConnections(t *testing.T) {
	eachFamily(t, testKernelDeadNodeConnections)
}

func testKernelDeadNodeConnections(t *testing.T, p kernelPlan) {
	k := newKernelNet(t, p)
	echo(t, k.ep1, "ep1")
	echo(t, k.ep2, "ep2")
	k.start(t)
	e1 := ep{ip: p.ep1, node: "node-b"}
	e2 := ep{ip: p.ep2, node: "node-c"}
	// Only ep1 at first, so that the held connection and the flow are on it.
	f := openFlows(t, k, p, e1)
	web, held, heldReader, sendUDP := f.web, f.held, f.heldReader, f.sendUDP
	k.program(t, newSlice("web", "web-1", v1.ProtocolTCP, e1, e2), newSlice("dns", "dns-1", v1.ProtocolUDP, e1, e2))

	// node-b dies: its Pod's link goes down, and Kubernetes still calls the endpoint ready.
	k.ep1.IP("link", "set", "eth0", "down")
	k.proxy.SetExcludedNodes(map[string]ExcludedNode{"node-b": {DeadSince: time.Now()}})
	if err := k.proxy.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	for i := range 10 {
		if got, err := ask(t, k.client, web); err != nil || !strings.HasPrefix(got, "ep2 ") {
			t.Fatalf("new connection %d after the exclusion: %q, %v; want ep2", i, got, err)
		}
	}
	start := time.Now()
	if _, err := fmt.Fprintln(held, "still there?"); err != nil {
		t.Fatalf("write on the held connection: %v", err)
	}
	_ = held.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := heldReader.ReadString('\n')
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the held connection to the dead node's Pod: %v after %s; want a reset at once (its conntrack entry cleared)", err, time.Since(start))
	} else if d := time.Since(start); d > time.Second {
		t.Errorf("the held connection was reset after %s, want within 1 s", d)
	}
	if got, err := sendUDP(); err != nil || !strings.HasPrefix(got, "ep2 ") {
		t.Errorf("the UDP flow after the exclusion: %q, %v; want ep2", got, err)
	}
}
