// Package router is the lab's BGP router: gobgpd (GoBGP v4, pinned in hack/tools/go.mod, run from the gobgp image)
// in the router's namespace, which the nodes' speakers peer with, and a route syncer that
// installs what gobgpd learnt into the router's kernel table, one ECMP route per prefix with a
// next hop per node that advertises it. gobgpd alone keeps routes in its RIB only (it has no FIB
// of its own without zebra); the syncer is what makes the client behind the router reach an
// address over the nodes.
package router

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// APIAddr is where gobgpd serves its gRPC API inside the router's namespace.
const APIAddr = "127.0.0.1:50051"

// BFD timers of the router's sessions with the nodes: a node is taken out of every route within
// BFDInterval × BFDMultiplier (0.6 s) of its last packet, as a router in front of a cluster is
// set up when a node's failure must cost less than a second (the BGP hold timer cannot go below
// 3 s). The lab's BGPPeer asks the nodes' speakers for the same timers (lab/supervisor). They
// are faster than the BGPPeer's defaults (300 ms × 3, 0.9 s): with externalTrafficPolicy Local
// the router alone stops new connections to a dead node, and 0.9 s plus the route's removal left
// requests failing past issue 15's one second.
const (
	BFDInterval   = 200 * time.Millisecond
	BFDMultiplier = 3
)

// ConnectRetry is how often gobgpd retries a neighbour it connects to (GoBGP's default is 120 s):
// the nodes' sessions come from the speakers, but a test that makes the BGPPeer passive adds the
// nodes as neighbours of the peer group, and the router then opens the sessions; a speaker that
// restarts must not wait two minutes for it.
const ConnectRetry = 5 * time.Second

// Config is gobgpd's configuration: the router's AS, listening on its LAN address, accepting any
// node of the LAN as a neighbour in the nodes' AS (dynamic neighbours), so that the lab need not
// list the nodes and a speaker can peer as soon as it runs, with BFD on every session.
func Config(p topology.Plan) string {
	return fmt.Sprintf(`[global.config]
  as = %d
  router-id = %q
  port = 179
  local-address-list = [%q]

[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "nodes"
    peer-as = %d
  [peer-groups.timers.config]
    connect-retry = %d
  [peer-groups.bfd.config]
    enabled = true
    desired-minimum-tx-interval = %d
    required-minimum-receive = %d
    detection-multiplier = %d

[[dynamic-neighbors]]
  [dynamic-neighbors.config]
    prefix = %q
    peer-group = "nodes"
`, p.RouterASN, p.Router, p.Router, p.NodeASN, int(ConnectRetry.Seconds()), BFDInterval.Microseconds(), BFDInterval.Microseconds(), BFDMultiplier, p.LAN)
}

// ParseRIB reads `gobgp global rib -j`: for each prefix, the next hops of its paths, sorted and
// without duplicates. Paths without a next hop are skipped.
func ParseRIB(b []byte) (map[netip.Prefix][]netip.Addr, error) {
	var rib map[string][]struct {
		Attrs []struct {
			Type    int    `json:"type"`
			Nexthop string `json:"nexthop"`
		} `json:"attrs"`
	}
	if err := json.Unmarshal(b, &rib); err != nil {
		return nil, fmt.Errorf("gobgp global rib -j: %w", err)
	}
	out := map[netip.Prefix][]netip.Addr{}
	for k, paths := range rib {
		pfx, err := netip.ParsePrefix(k)
		if err != nil {
			return nil, fmt.Errorf("gobgp global rib -j: prefix %q: %w", k, err)
		}
		var hops []netip.Addr
		for _, p := range paths {
			for _, a := range p.Attrs {
				if nh, err := netip.ParseAddr(a.Nexthop); err == nil && !nh.IsUnspecified() {
					hops = append(hops, nh)
				}
			}
		}
		slices.SortFunc(hops, netip.Addr.Compare)
		if hops = slices.Compact(hops); len(hops) > 0 {
			out[pfx] = hops
		}
	}
	return out, nil
}

// Commands returns the `ip route` arguments that move the kernel table from have to want:
// replace for every new or changed prefix (one route with a next hop per node: ECMP), delete for
// every prefix gone. Routes carry proto bgp, which marks them as the syncer's.
func Commands(have, want map[netip.Prefix][]netip.Addr) [][]string {
	var cmds [][]string
	for _, p := range sortedKeys(want) {
		if slices.Equal(have[p], want[p]) {
			continue
		}
		args := []string{"route", "replace", p.String(), "proto", "bgp"}
		if len(want[p]) == 1 {
			args = append(args, "via", want[p][0].String())
		} else {
			for _, nh := range want[p] {
				args = append(args, "nexthop", "via", nh.String())
			}
		}
		cmds = append(cmds, args)
	}
	for _, p := range sortedKeys(have) {
		if _, ok := want[p]; !ok {
			cmds = append(cmds, []string{"route", "del", p.String(), "proto", "bgp"})
		}
	}
	return cmds
}

func sortedKeys(m map[netip.Prefix][]netip.Addr) []netip.Prefix {
	keys := make([]netip.Prefix, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	return keys
}
