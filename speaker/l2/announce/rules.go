package announce

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// ruleSet holds the rules with, for each, the nodes it selects (computed once per Compute).
type ruleSet struct {
	rules []L2Rule
	// selected[i]: the nodes rule i selects; nil when the rule has no node selector (every node).
	selected []bitset
	size     int
	self     int // index of this node, -1 if unknown
	pools    map[string]*poolPlan
	labels   map[string]labels.Set
}

// poolPlan is what the rules say about one pool; every address of the pool shares it. Its slices
// are shared by the Decisions of the pool's addresses.
type poolPlan struct {
	rules []string
	// candidates are the nodes an advertising rule selects; nil when one selects every node.
	candidates bitset
	// selfSelected: an advertising rule selects this node.
	selfSelected bool
	// interfaces this node announces on; nil for every interface.
	interfaces []string
}

// newRuleSet evaluates the node selectors of rules over nodes (the node table: index i is
// nodes[i]).
func newRuleSet(rules []L2Rule, nodes []*corev1.Node, self int, poolLabels map[string]labels.Set) *ruleSet {
	rs := &ruleSet{
		rules:    rules,
		selected: make([]bitset, len(rules)),
		size:     len(nodes),
		self:     self,
		pools:    map[string]*poolPlan{},
		labels:   poolLabels,
	}
	for i, r := range rules {
		if len(r.NodeSelectors) == 0 {
			continue
		}
		sel := newBitset(len(nodes))
		for j, n := range nodes {
			if matchesAny(r.NodeSelectors, labels.Set(n.Labels)) {
				sel.set(j)
			}
		}
		rs.selected[i] = sel
	}
	return rs
}

func matchesAny(sels []labels.Selector, set labels.Set) bool {
	for _, s := range sels {
		if s != nil && s.Matches(set) {
			return true
		}
	}
	return false
}

func (r *L2Rule) advertises(pool string, poolLabels map[string]labels.Set) bool {
	if len(r.Pools) == 0 && len(r.PoolSelectors) == 0 {
		return true
	}
	return slices.Contains(r.Pools, pool) || matchesAny(r.PoolSelectors, poolLabels[pool])
}

// forPool returns (and caches) the plan of a pool.
func (rs *ruleSet) forPool(pool string) *poolPlan {
	if p, ok := rs.pools[pool]; ok {
		return p
	}
	p := &poolPlan{}
	cand := newBitset(rs.size)
	everyNode, allIfaces := false, false
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.advertises(pool, rs.labels) {
			continue
		}
		p.rules = append(p.rules, r.Name)
		sel := rs.selected[i]
		if sel == nil {
			everyNode = true
		} else {
			cand.or(sel)
		}
		if rs.self < 0 || (sel != nil && !sel.has(rs.self)) {
			continue
		}
		p.selfSelected = true
		if len(r.Interfaces) == 0 {
			allIfaces = true
		}
		p.interfaces = append(p.interfaces, r.Interfaces...)
	}
	slices.Sort(p.rules)
	p.rules = slices.Clip(slices.Compact(p.rules))
	if !everyNode {
		p.candidates = cand
	}
	if allIfaces {
		p.interfaces = nil
	} else {
		slices.Sort(p.interfaces)
		p.interfaces = slices.Clip(slices.Compact(p.interfaces))
	}
	rs.pools[pool] = p
	return p
}
