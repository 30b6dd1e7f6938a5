package routes

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/served"
)

const (
	notAllowed = "not allowed by the serviceCommunities of any BGPAdvertisement of the address"
	// notShared: a Service that shares its address cannot put a community on the other
	// Services' route (review M1); the message names none of them, which may be in another
	// namespace.
	notShared = "not asked for by every Service sharing the address: a shared address's route carries only the communities all its Services ask for"
)

// Compute returns the routes this node advertises to each of its peers, and why each address
// is or is not advertised.
func Compute(s Snapshot) Plan {
	plan := Plan{Routes: map[string][]Route{}}
	nodeReason := eligible(s.Node)
	var nodeLabels labels.Set
	if s.Node != nil {
		nodeLabels = labels.Set(s.Node.Labels)
	}
	// The peers of this node; a node that peers with nobody advertises nothing.
	var peers []string
	if s.Node != nil {
		for _, p := range s.Peers {
			if len(p.NodeSelectors) == 0 || matchesAny(p.NodeSelectors, nodeLabels) {
				peers = append(peers, p.Name)
				plan.Routes[p.Name] = nil
			}
		}
	}
	classes := s.Classes
	if classes == nil {
		classes = []string{DefaultClass}
	}
	cls := served.Classes{Names: classes, Unset: true}
	groups := served.ByAddress(s.Services, cls)
	asked := askedOf(s.Services, cls)
	ready := readyHere(s.EndpointSlices, s.Self, groups)

	// Rules by pool, computed once per pool.
	type poolRules struct{ pool, node []*Rule }
	byPool := map[string]*poolRules{}
	rulesOf := func(pool string) *poolRules {
		if pr, ok := byPool[pool]; ok {
			return pr
		}
		pr := &poolRules{}
		for i := range s.Rules {
			r := &s.Rules[i]
			if !selectsPool(r, pool, s.PoolLabels[pool]) {
				continue
			}
			pr.pool = append(pr.pool, r)
			if s.Node != nil && (len(r.NodeSelectors) == 0 || matchesAny(r.NodeSelectors, nodeLabels)) {
				pr.node = append(pr.node, r)
			}
		}
		byPool[pool] = pr
		return pr
	}

	// Routes being built, by peer and prefix.
	acc := map[string]map[netip.Prefix]*Route{}
	refused := map[RefusedCommunity]bool{}
	refusedAgg := map[aggKey]RefusedAggregation{}
	addrs := make([]netip.Addr, 0, len(groups))
	for a := range groups {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, addr := range addrs {
		g := groups[addr]
		d := Decision{Addr: addr, Services: g.Services}
		shared := sharedAsk(g.Services, asked) // for the routes and the refusals
		pool, ok := s.Pools[addr]
		pr := (*poolRules)(nil)
		if ok {
			d.Pool = pool
			pr = rulesOf(pool)
		}
		// The rules that may advertise the address from this node: those whose route stays in
		// the pool. Every rule of the pool is checked, whatever this node, so that every node
		// finds the same refusals. (pr.node is the part of pr.pool for this node, in its order.)
		var usable []*Rule
		if pr != nil {
			for _, r := range pr.pool {
				if !refuseAggregation(r, pool, s.PoolSpans[pool], addr, refusedAgg) && slices.Contains(pr.node, r) {
					usable = append(usable, r)
				}
			}
		}
		var peerRules map[string][]*Rule
		switch {
		case !ok:
			d.Reason = NoPool
		case len(pr.pool) == 0:
			d.Reason = NotAdvertised
		case nodeReason != "":
			d.Reason = nodeReason
		case len(pr.node) == 0:
			d.Reason = NodeNotSelected
		case len(usable) == 0:
			d.Reason = AggregationTooShort
		default:
			peerRules = map[string][]*Rule{}
			for _, p := range peers {
				for _, r := range usable {
					if len(r.Peers) == 0 || slices.Contains(r.Peers, p) {
						peerRules[p] = append(peerRules[p], r)
					}
				}
			}
			switch {
			case len(peerRules) == 0:
				d.Reason = NoPeer
			case !ready.serves(addr, g.Local):
				d.Reason = NoLocalEndpoint
			default:
				d.Reason = Advertising
			}
		}
		if d.Reason == Advertising {
			for _, p := range peers {
				rules := peerRules[p]
				if len(rules) == 0 {
					continue
				}
				d.Peers = append(d.Peers, p)
				if acc[p] == nil {
					acc[p] = map[netip.Prefix]*Route{}
				}
				for _, r := range rules {
					rt := routeFor(acc[p], addr, r)
					mergeRule(rt, r)
					for _, c := range shared {
						if allows(rules, c) {
							rt.Communities = append(rt.Communities, c)
						}
					}
				}
			}
		}
		// Refusals are reported whether or not the address is advertised now, so that a
		// mistake shows before the first endpoint is ready.
		if pr != nil {
			for _, svc := range g.Services {
				a := asked[svc]
				for _, bad := range a.bad {
					refused[bad] = true
				}
				for i, c := range a.ok {
					switch {
					case !allows(pr.pool, c):
						refused[RefusedCommunity{Service: svc, Community: a.text[i], Why: notAllowed}] = true
					case !slices.Contains(shared, c):
						refused[RefusedCommunity{Service: svc, Community: a.text[i], Why: notShared}] = true
					}
				}
			}
		}
		plan.Decisions = append(plan.Decisions, d)
	}
	for p, m := range acc {
		rs := make([]Route, 0, len(m))
		for _, r := range m {
			slices.Sort(r.Communities)
			r.Communities = slices.Compact(r.Communities)
			slices.SortFunc(r.LargeCommunities, compareLarge)
			r.LargeCommunities = slices.Compact(r.LargeCommunities)
			rs = append(rs, *r)
		}
		slices.SortFunc(rs, func(a, b Route) int { return comparePrefix(a.Prefix, b.Prefix) })
		plan.Routes[p] = rs
	}
	for r := range refused {
		plan.Refused = append(plan.Refused, r)
	}
	for _, r := range refusedAgg {
		plan.Aggregations = append(plan.Aggregations, r)
	}
	slices.SortFunc(plan.Aggregations, compareRefusedAggregation)
	slices.SortFunc(plan.Refused, func(a, b RefusedCommunity) int {
		return strings.Compare(a.Service.String()+"\x00"+a.Community, b.Service.String()+"\x00"+b.Community)
	})
	return plan
}

// sharedAsk is what the annotations of svcs, the Services of one address, ask for together: the
// communities every one of them asks for. A route is shared by all the Services of its address,
// so one Service alone must not decide what the router does with the others' traffic (a
// no-export set by a co-sharer would hide them all: review M1). Admin-set communities of the
// BGPAdvertisements are not subject to this.
func sharedAsk(svcs []types.NamespacedName, asked map[types.NamespacedName]askedCommunities) []v1alpha1.Community {
	if len(svcs) == 0 {
		return nil
	}
	out := slices.Clone(asked[svcs[0]].ok)
	for _, svc := range svcs[1:] {
		other := asked[svc].ok
		out = slices.DeleteFunc(out, func(c v1alpha1.Community) bool { return !slices.Contains(other, c) })
	}
	return out
}

// routeFor returns the route of addr under r's aggregation, adding it to m if new.
func routeFor(m map[netip.Prefix]*Route, addr netip.Addr, r *Rule) *Route {
	bits := r.AggregationLength
	if addr.Is6() {
		bits = r.AggregationLengthV6
	}
	if bits < 0 || bits > addr.BitLen() {
		bits = addr.BitLen()
	}
	pfx, _ := addr.Prefix(bits) // bits is within the address's length
	rt := m[pfx]
	if rt == nil {
		rt = &Route{Prefix: pfx}
		m[pfx] = rt
	}
	return rt
}

// mergeRule adds r's attributes: communities add up, the highest local preference wins (the
// route is preferred as much as the most insistent advertisement asks).
func mergeRule(rt *Route, r *Rule) {
	rt.Communities = append(rt.Communities, r.Communities...)
	rt.LargeCommunities = append(rt.LargeCommunities, r.LargeCommunities...)
	if r.LocalPref != nil && (rt.LocalPref == nil || *r.LocalPref > *rt.LocalPref) {
		lp := *r.LocalPref
		rt.LocalPref = &lp
	}
}

func allows(rules []*Rule, c v1alpha1.Community) bool {
	for _, r := range rules {
		for _, p := range r.ServiceCommunities {
			if p.Matches(c) {
				return true
			}
		}
	}
	return false
}

func compareLarge(a, b v1alpha1.LargeCommunity) int {
	switch {
	case a.Global != b.Global:
		return cmpU32(a.Global, b.Global)
	case a.Local1 != b.Local1:
		return cmpU32(a.Local1, b.Local1)
	default:
		return cmpU32(a.Local2, b.Local2)
	}
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// eligible says why this node must not attract traffic, or "" when it may: package served's
// rule for announcing nodes, the one the layer-2 election applies too. A cordon does not count
// (docs/design/eligibility.md): a drained node's Local Services lose their endpoints and its
// routes go with them (NoLocalEndpoint); its Cluster Services keep being forwarded.
func eligible(n *corev1.Node) Reason {
	if n == nil {
		return NodeUnknown
	}
	return Reason(served.NodeOf(n).Announcer())
}

func selectsPool(r *Rule, pool string, poolLabels labels.Set) bool {
	if len(r.Pools) == 0 && len(r.PoolSelectors) == 0 {
		return true
	}
	return slices.Contains(r.Pools, pool) || matchesAny(r.PoolSelectors, poolLabels)
}

func matchesAny(sels []labels.Selector, set labels.Set) bool {
	for _, s := range sels {
		if s != nil && s.Matches(set) {
			return true
		}
	}
	return false
}

// askedCommunities is what one Service's annotation asks for.
type askedCommunities struct {
	ok   []v1alpha1.Community
	text []string // the entries of ok as written
	bad  []RefusedCommunity
}

// askedOf parses the communities annotation of the served Services.
func askedOf(svcs []*corev1.Service, cls served.Classes) map[types.NamespacedName]askedCommunities {
	asked := map[types.NamespacedName]askedCommunities{}
	for _, svc := range svcs {
		if !cls.Wants(svc) {
			continue
		}
		if v, ok := svc.Annotations[v1alpha1.ServiceCommunitiesAnnotation]; ok {
			key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
			asked[key] = parseAsked(key, v)
		}
	}
	return asked
}

func parseAsked(svc types.NamespacedName, v string) askedCommunities {
	var a askedCommunities
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		c, err := v1alpha1.ParseCommunity(f)
		if err != nil {
			a.bad = append(a.bad, RefusedCommunity{Service: svc, Community: f, Why: err.Error()})
			continue
		}
		a.ok = append(a.ok, c)
		a.text = append(a.text, f)
	}
	return a
}

// localReady is, per Local Service, what this node holds of its endpoints, by family (0: IPv4,
// 1: IPv6).
type localReady map[types.NamespacedName]*[2]served.Local

// readyHere reads the EndpointSlices of the Local Services of groups, as served.Local: a route
// goes as soon as the node's last endpoint stops being ready while another node has a ready one,
// so that the router stops sending new connections to a node that only drains; when no node has
// a ready endpoint, the nodes with serving terminating ones keep (or get) the route, as a cloud
// load balancer fails open, rather than the address going dark (served.Local.Serves).
func readyHere(slices []*discoveryv1.EndpointSlice, self string, groups map[netip.Addr]*served.Group) localReady {
	lr := localReady{}
	for _, g := range groups {
		for _, k := range g.Local {
			if lr[k] == nil {
				lr[k] = &[2]served.Local{}
			}
		}
	}
	if len(lr) == 0 {
		return lr
	}
	for _, s := range slices {
		svc, f, ok := served.SliceOf(s)
		fam := lr[svc]
		if !ok || fam == nil {
			continue
		}
		l := &fam[f]
		for _, ep := range s.Endpoints {
			if ep.NodeName == nil {
				continue
			}
			c := served.ConditionsOf(ep.Conditions)
			l.AnyReady = l.AnyReady || c.Ready
			if *ep.NodeName == self {
				l.Ready = l.Ready || c.Ready
				l.Fallback = l.Fallback || c.Fallback()
			}
		}
	}
	return lr
}

// serves says whether this node can serve addr for every Local Service in local (kube-proxy
// drops a Local Service's external traffic on a node without a local endpoint of the
// address's family).
func (lr localReady) serves(addr netip.Addr, local []types.NamespacedName) bool {
	f := 0
	if addr.Is6() {
		f = 1
	}
	for _, k := range local {
		if !lr[k][f].Serves() {
			return false
		}
	}
	return true
}
