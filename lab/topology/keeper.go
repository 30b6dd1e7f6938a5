package topology

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// keepInterval is how often KeepRoutes checks every namespace besides reacting to link changes.
const keepInterval = 2 * time.Second

// KeepRoutes keeps the plan's routes (Routes) in place until ctx ends. A link that goes down
// takes the routes through it along, and bringing it up again brings back only the connected
// route: what a failover test does to a node's link (ip link set eth0 down; up) would otherwise
// leave that node without its routes to the other nodes' Pods and its default route for good.
// Each namespace is checked when one of its links changes and every keepInterval; a missing
// route is added again (the routing daemon or CNI of a real cluster does the same).
func KeepRoutes(ctx context.Context, p Plan, log logr.Logger) {
	var wg sync.WaitGroup
	for ns, routes := range Routes(p) {
		wg.Go(func() { keepNS(ctx, ns, routes, log.WithValues("netns", ns)) })
	}
	wg.Wait()
}

func keepNS(ctx context.Context, ns string, routes []Route, log logr.Logger) {
	nsh, err := vnetns.GetFromPath(filepath.Join("/run/netns", ns))
	if err != nil {
		log.Error(err, "route keeper: cannot open the namespace")
		return
	}
	defer func() { _ = nsh.Close() }()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		log.Error(err, "route keeper: netlink handle")
		return
	}
	defer h.Close()
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{Namespace: &nsh,
		ErrorCallback: func(err error) { log.V(2).Info("route keeper: link updates", "err", err) }}); err != nil {
		log.Error(err, "route keeper: link updates; checking every interval only")
	}
	tick := time.NewTicker(keepInterval)
	defer tick.Stop()
	for {
		for _, r := range ensureRoutes(h, routes) {
			log.Info("route keeper: route added again", "dst", r.Dst, "via", r.Via)
		}
		select {
		case <-ctx.Done():
			return
		case <-updates:
		case <-tick.C:
		}
	}
}

// ensureRoutes adds the routes of want missing from the main table and returns those it added.
// A route whose gateway is unreachable (its link still down) is left for the next round.
func ensureRoutes(h *netlink.Handle, want []Route) []Route {
	have, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	present := map[Route]bool{}
	for _, r := range have {
		dst := netip.MustParsePrefix("0.0.0.0/0")
		if r.Dst != nil {
			if p, ok := prefixOf(r.Dst); ok {
				dst = p
			}
		}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok {
			present[Route{Dst: dst, Via: gw.Unmap()}] = true
		}
	}
	var added []Route
	for _, r := range want {
		if present[r] {
			continue
		}
		// Fails with ENETUNREACH while the link is down: the next round tries again.
		if h.RouteAdd(&netlink.Route{
			Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
			Gw:  r.Via.AsSlice(),
		}) == nil {
			added = append(added, r)
		}
	}
	return added
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
