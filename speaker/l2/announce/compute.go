package announce

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/served"
	"github.com/frontdesk-lb/frontdesk/speaker/election"
)

// Compute decides, for the node s.Self, which addresses it announces on layer 2. It fails only
// when the Nodes are ambiguous or Self is empty (see election.New): then no speaker could be sure
// to agree with the others, and the caller should keep its previous Plan.
//
// Slices in the returned Decisions may be shared between Decisions: treat them as read-only.
func Compute(s Snapshot) (Plan, error) {
	nodes := make([]*corev1.Node, 0, len(s.Nodes))
	facts := make([]election.Node, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		if n != nil {
			nodes = append(nodes, n)
			facts = append(facts, nodeFacts(n, s.Alive))
		}
	}
	el, err := election.New(election.Config{Self: s.Self, Nodes: facts, NoQuorum: s.NoQuorum})
	if err != nil {
		return Plan{}, fmt.Errorf("announce: %w", err)
	}
	// The node table: names are unique now that election.New accepted them.
	names := make([]string, len(nodes))
	nodeIdx := make(map[string]int, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
		nodeIdx[n.Name] = i
	}
	self, ok := nodeIdx[s.Self]
	if !ok {
		self = -1
	}

	classes := s.Classes
	if classes == nil {
		classes = []string{DefaultClass}
	}
	groups := served.ByAddress(s.Services, served.Classes{Names: classes, Unset: true})
	eps := map[types.NamespacedName]*localEndpoints{}
	for _, g := range groups {
		for _, k := range g.Local {
			if eps[k] == nil {
				eps[k] = &localEndpoints{}
			}
		}
	}
	indexEndpoints(s.EndpointSlices, eps, nodeIdx)

	dc := &decider{
		pools: s.Pools, rules: newRuleSet(s.Rules, nodes, self, s.PoolLabels), eps: eps, el: el,
		names: names, scratch: newBitset(len(nodes)), union: newBitset(len(nodes)),
	}
	plan := Plan{VIPs: map[netip.Addr]Announcement{}, Decisions: make([]Decision, 0, len(groups))}
	for _, addr := range sortedAddrs(groups) {
		d := dc.decide(addr, groups[addr])
		if d.Announce() {
			plan.VIPs[addr] = Announcement{Interfaces: slices.Clone(d.Interfaces)}
		}
		plan.Decisions = append(plan.Decisions, d)
	}
	return plan, nil
}

// sortedAddrs sorts by a precomputed key: netip.Addr.Compare is the bulk of the cost of sorting
// 10k addresses otherwise. The key orders as Compare does (IPv4 before IPv6, then by value);
// zones never occur here (served.IngressAddr refuses them).
func sortedAddrs(groups map[netip.Addr]*served.Group) []netip.Addr {
	type keyed struct {
		v6     bool
		hi, lo uint64
		addr   netip.Addr
	}
	ks := make([]keyed, 0, len(groups))
	for a := range groups {
		b := a.As16()
		ks = append(ks, keyed{v6: a.Is6(), hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:]), addr: a})
	}
	slices.SortFunc(ks, func(x, y keyed) int {
		if x.v6 != y.v6 {
			if y.v6 {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(x.hi, y.hi); c != 0 {
			return c
		}
		return cmp.Compare(x.lo, y.lo)
	})
	out := make([]netip.Addr, len(ks))
	for i, k := range ks {
		out[i] = k.addr
	}
	return out
}

// decider holds what every address's decision reads, and scratch space reused between them.
type decider struct {
	pools   map[netip.Addr]string
	rules   *ruleSet
	eps     map[types.NamespacedName]*localEndpoints
	el      *election.Electorate
	names   []string
	scratch bitset
	union   bitset
	local   []string
}

func (dc *decider) decide(addr netip.Addr, g *served.Group) Decision {
	d := Decision{Addr: addr, Services: g.Services}
	if len(g.Local) > 0 {
		// One Local Service is enough: kube-proxy drops its external traffic on nodes without a
		// local endpoint, whatever the other Services on the address say.
		d.Policy = election.PolicyLocal
	}
	pool, ok := dc.pools[addr]
	if !ok {
		d.Reason = NoPool
		return d
	}
	d.Pool = pool
	pp := dc.rules.forPool(pool)
	if len(pp.rules) == 0 {
		d.Reason = NotAdvertised
		return d
	}
	d.Rules = pp.rules
	if pp.selfSelected {
		d.Interfaces = pp.interfaces
	}

	ann := election.Announcement{Addr: addr, Policy: d.Policy}
	switch {
	case d.Policy == election.PolicyLocal:
		ann.LocalNodes = dc.localNodes(g.Local, familyOf(addr), pp.candidates)
	case pp.candidates != nil:
		// Node selectors narrow the candidates; the election's LocalNodes does exactly that (an
		// eligible node outside it ranks as absent), so the ranking among the selected nodes is
		// the rendezvous ranking every speaker computes.
		ann.Policy = election.PolicyLocal
		dc.local = pp.candidates.appendNames(dc.local[:0], dc.names)
		ann.LocalNodes = dc.local
	}
	res := dc.el.Elect(ann)
	d.Winner = res.Winner
	d.Reason = fromElection(res.Reason)
	if res.Reason == election.NoLocalEndpoint && !pp.selfSelected {
		d.Reason = NodeNotSelected
	}
	return d
}

// localNodes returns the candidates that can serve every Local Service of an address: the
// intersection of their usable nodes. Services only share an address when the allocator finds
// their backends compatible, so the sets are normally equal; when they are not and the
// intersection is empty, the union is used instead, so that the address stays reachable for the
// Services that do have endpoints rather than for none. candidates nil means every node. The
// result is valid until the next call (Elect does not keep it).
func (dc *decider) localNodes(local []types.NamespacedName, f family, candidates bitset) []string {
	inter, union := dc.scratch, dc.union
	clear(union)
	for i, k := range local {
		ns := dc.eps[k].nodes(f)
		if i == 0 {
			clear(inter)
			inter.or(ns)
		} else {
			inter.and(ns)
		}
		union.or(ns)
	}
	set := inter
	if set.empty() {
		set = union
	}
	if candidates != nil {
		set.and(candidates)
	}
	dc.local = set.appendNames(dc.local[:0], dc.names)
	return dc.local
}

// nodeFacts reads what the election needs from a Node: whether package served lets a speaker on
// it announce (the same rule as over BGP), and whether its speaker is alive.
func nodeFacts(n *corev1.Node, alive map[string]bool) election.Node {
	return election.Node{Name: n.Name, SpeakerAlive: alive[n.Name], Ineligible: electionReason(served.NodeOf(n).Announcer())}
}

// electionReason maps a reason of package served to the election's of the same name; "" (the
// node may announce) is 0.
func electionReason(r served.Reason) election.Reason {
	if r == "" {
		return 0
	}
	if er, ok := electionReasons[r]; ok {
		return er
	}
	// A reason the election does not name still keeps the node out (TestElectionReasons fails
	// first).
	return election.NodeExcluded
}

var electionReasons = func() map[served.Reason]election.Reason {
	m := map[served.Reason]election.Reason{}
	for _, r := range election.Reasons() {
		m[served.Reason(r.String())] = r
	}
	return m
}()

// Decision returns the decision for addr, if the Plan has one.
func (p Plan) Decision(addr netip.Addr) (Decision, bool) {
	i, ok := slices.BinarySearchFunc(p.Decisions, addr, func(d Decision, a netip.Addr) int { return d.Addr.Compare(a) })
	if !ok {
		return Decision{}, false
	}
	return p.Decisions[i], true
}
