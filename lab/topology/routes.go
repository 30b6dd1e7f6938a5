package topology

import "net/netip"

// Route is one route of the lab's plan: Dst via the gateway Via, in the main table.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

func (r Route) ipRoute() string {
	dst := r.Dst.String()
	if r.Dst.Bits() == 0 {
		dst = "default"
	}
	return "route add " + dst + " via " + r.Via.String()
}

// Routes are the routes of every namespace of the plan, by namespace name: on every LAN member a
// route to each other node's Pod range via that node, and a default route via the router (the
// router excepted); behind the router, the client's default route. Connected routes (the LAN,
// a node's own Pod range on its bridge) are the kernel's.
func Routes(p Plan) map[string][]Route {
	any4 := netip.MustParsePrefix("0.0.0.0/0")
	out := map[string][]Route{}
	for _, role := range []string{RoleControlPlane, RoleRouter, RoleLANClient} {
		out[p.NS(role)] = podRoutes(p, "")
	}
	for _, n := range p.Nodes {
		out[n.NS] = podRoutes(p, n.Name)
	}
	for ns := range out {
		if ns != p.NS(RoleRouter) {
			out[ns] = append(out[ns], Route{Dst: any4, Via: p.Router})
		}
	}
	out[p.NS(RoleClient)] = []Route{{Dst: any4, Via: p.RouterExternal}}
	return out
}

// podRoutes are routes to every node's Pod range but node self's.
func podRoutes(p Plan, self string) []Route {
	var rs []Route
	for _, n := range p.Nodes {
		if n.Name != self {
			rs = append(rs, Route{Dst: n.PodCIDR, Via: n.IP})
		}
	}
	return rs
}
