package proxy

import (
	"context"
	"net/netip"
)

// orphanFlows lists the UDP conntrack entries of table t that lead to an endpoint its Services
// no longer use: what staleFlows would have found had the proxy been running when the endpoint
// left. A proxy starts with no memory of what it programmed, so an endpoint removed while none
// ran keeps its UDP flows (which have no end) until their sender stops; kube-proxy compares the
// kernel's table with the endpoints the same way. Only DNATed entries (reply source other than
// the original destination) to a Service address or NodePort the table serves are considered;
// entries of Services deleted while the proxy was down are not (their addresses are unknown).
func (p *Proxy) orphanFlows(ctx context.Context, t *table) []FlowFilter {
	lister, ok := p.cfg.Conntrack.(FlowLister)
	if !ok {
		return nil
	}
	dests := map[netip.AddrPort]map[netip.AddrPort]bool{}
	nodePorts := map[uint16]map[netip.AddrPort]bool{}
	add := func(m map[netip.AddrPort]bool, eps []netip.AddrPort) map[netip.AddrPort]bool {
		if m == nil {
			m = map[netip.AddrPort]bool{}
		}
		for _, e := range eps {
			m[e] = true
		}
		return m
	}
	for _, st := range t.applied {
		for _, u := range st.udp {
			for _, d := range u.dests {
				dests[d] = add(dests[d], u.endpoints)
			}
			if u.nodePort != 0 {
				nodePorts[u.nodePort] = add(nodePorts[u.nodePort], u.endpoints)
			}
		}
	}
	if len(dests) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, p.conntrackTimeout)
	defer cancel()
	flows, err := lister.List(cctx, t.fam.nft == familyIPv6.nft)
	if err != nil {
		p.metrics.conntrackErrors.Inc()
		p.log.Error(err, "listing conntrack entries at start; UDP flows to endpoints removed while the proxy was down stay until their senders stop")
		return nil
	}
	var out []FlowFilter
	seen := map[FlowFilter]bool{}
	for _, f := range flows {
		if f.Protocol != "udp" || f.ReplySrc == f.Dst {
			continue
		}
		var ff FlowFilter
		ep := netip.AddrPortFrom(f.ReplySrc, f.ReplySrcPort)
		if eps, ok := dests[netip.AddrPortFrom(f.Dst, f.DstPort)]; ok {
			if eps[ep] {
				continue
			}
			ff = FlowFilter{Dst: f.Dst, DstPort: f.DstPort, ReplySrc: f.ReplySrc, ReplySrcPort: f.ReplySrcPort}
		} else if eps, ok := nodePorts[f.DstPort]; ok && !eps[ep] {
			ff = FlowFilter{DstPort: f.DstPort, ReplySrc: f.ReplySrc, ReplySrcPort: f.ReplySrcPort, IPv6: f.ReplySrc.Is6()}
		} else {
			continue
		}
		if !seen[ff] {
			seen[ff] = true
			out = append(out, ff)
		}
	}
	if len(out) > 0 {
		p.log.Info("clearing UDP conntrack entries of endpoints removed while the proxy was down", "filters", len(out), "family", t.fam.nft)
	}
	return out
}
