//go:build linux && netns

package nftwatch

import (
	"context"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
)

// TestWatchesAKernel: in a namespace of its own, an element committed right after Start returns
// is seen, with the time nft printed it; another table's map is not.
func TestWatchesAKernel(t *testing.T) {
	netnstest.RequireRoot(t, "nft", "stdbuf")
	ns := netnstest.New(t, netnstest.RunID(t), "nftw")
	w, err := Start(context.Background(), func(_ context.Context, name string, args ...string) *exec.Cmd {
		return ns.Command(name, args...)
	}, "proxy")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	mapDef := " service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }"
	for _, tbl := range []string{"proxy", "other"} {
		ns.Exec("nft", "add table ip "+tbl+"; add map ip "+tbl+mapDef)
		defer ns.Exec("nft", "delete", "table", "ip", tbl)
	}
	before := time.Now()
	ns.Exec("nft", "add element ip other service-ips { 10.96.0.2 . tcp . 80 : drop }")
	ns.Exec("nft", "add element ip proxy service-ips { 10.96.0.1 . tcp . 80 : drop, 10.96.0.3 . udp . 53 : drop }")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last, err := w.WaitAll(ctx, []netip.Addr{netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("10.96.0.3")})
	if err != nil {
		t.Fatal(err)
	}
	if last.Before(before) || time.Since(last) > 10*time.Second {
		t.Errorf("last arrival at %v, want between the commit (%v) and now", last, before)
	}
	if _, ok := w.Seen(netip.MustParseAddr("10.96.0.2")); ok {
		t.Error("another table's element counted")
	}
	if w.Lost() {
		t.Error("nft lost events")
	}
}
