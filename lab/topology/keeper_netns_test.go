//go:build netns

package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
)

// TestKeepRoutesAfterLinkFlap makes a lab's network, takes a node's LAN link down and up (what a
// failover test does to a node) and checks that the route keeper puts back the routes the flap
// removed: the other nodes' Pod ranges and the default route.
func TestKeepRoutesAfterLinkFlap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes network namespaces")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	p, err := New("fdk"+hex.EncodeToString(b), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(context.Background(), p.Prefix); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if err := Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); KeepRoutes(ctx, p, testr.New(t)) }()
	t.Cleanup(func() { cancel(); <-done })

	node := p.Nodes[0].NS
	routes := func() string {
		out, _ := netns.IP(t.Context(), "-n", node, "-4", "route", "show")
		return out
	}
	want := []string{"default via 198.18.0.1", "198.19.2.0/24 via 198.18.0.12", "198.19.3.0/24 via 198.18.0.13"}
	has := func(out string) []string {
		var missing []string
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = append(missing, w)
			}
		}
		return missing
	}
	if m := has(routes()); len(m) > 0 {
		t.Fatalf("routes missing before the flap: %v\n%s", m, routes())
	}
	for flap := range 2 {
		if err := netns.Script(t.Context(), node, "link set eth0 down"); err != nil {
			t.Fatal(err)
		}
		if out := routes(); len(has(out)) != len(want) {
			t.Fatalf("flap %d: the link down left routes through it; the test proves nothing:\n%s", flap, out)
		}
		if err := netns.Script(t.Context(), node, "link set eth0 up"); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		for m := has(routes()); len(m) > 0; m = has(routes()) {
			if time.Since(began) > 10*time.Second {
				t.Fatalf("flap %d: routes not back after %s: missing %v\n%s", flap, time.Since(began), m, routes())
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("flap %d: routes back %s after the link came up", flap, time.Since(began).Round(time.Millisecond))
	}
}
