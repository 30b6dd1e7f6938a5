package l2mode

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// contested picks, among the addresses this node announces, those whose IPAllocation status names
// another node as an L2 announcer, a set of other nodes not reacted to yet. Another node announced
// the address while this one did not hear from it or could not act: it took over while this node
// was frozen or cut off, and this node, back, won the address again without a change of its own
// (nothing new to announce, so no gratuitous packets). Clients still send to the other node's MAC,
// and as long as that node forwards, TCP keeps their entry fresh and they never ask again; the
// next failure of that node would cost them the neighbour timeouts. This node repeats its
// gratuitous packets for those addresses, once per set of other announcers (seen is updated in
// place): the set changes when the other node removes its entry, or this node removes a dead one.
func contested(self string, announced []netip.Addr, status func(netip.Addr) (v1alpha1.IPAllocationStatus, bool),
	seen map[netip.Addr]string) []netip.Addr {
	var out []netip.Addr
	keep := make(map[netip.Addr]bool, len(announced))
	for _, addr := range announced {
		keep[addr] = true
		st, ok := status(addr)
		if !ok {
			continue
		}
		var others []string
		for _, an := range st.Announcers {
			if an.Mode == v1alpha1.AnnouncementModeL2 && an.Node != self {
				others = append(others, an.Node)
			}
		}
		slices.Sort(others)
		key := strings.Join(others, ",")
		if key != "" && key != seen[addr] {
			out = append(out, addr)
		}
		seen[addr] = key
	}
	for addr := range seen {
		if !keep[addr] {
			delete(seen, addr)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
