package allocator

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
)

// Pool is an admin-defined set of LoadBalancer addresses: CIDRs and explicit ranges, IPv4, IPv6 or
// both. Pools must not overlap.
type Pool struct {
	Name   string
	CIDRs  []netip.Prefix // canonical (no host bits set)
	Ranges []Range        // inclusive, First <= Last, one family each

	// AvoidBuggyIPs skips, in every IPv4 CIDR of /30 or larger, its first address (the network
	// address) and its last (the broadcast address): some old clients and routers mishandle them.
	// Nothing else is skipped: not /31 and /32 CIDRs (RFC 3021: no network or broadcast address),
	// not explicit ranges (the admin listed exactly what to hand out), not IPv6 (no broadcast).
	AvoidBuggyIPs bool

	// ShareAcrossScopes lets owners of different Sharing.Scope share the pool's addresses (with
	// equal keys, as always). Off, an address is shared within one scope only.
	ShareAcrossScopes bool
}

// pool is the compiled form of a Pool.
type pool struct {
	name  string
	index int           // position in the list given to SetPools
	segs  [2][]*segment // per family, sorted by address
	cfg   Pool          // the definition, kept for Pools()
	caps  [2]*big.Int   // per family: how many addresses the pool hands out
}

// poolSet is a validated, compiled set of pools.
type poolSet struct {
	order  []*pool
	byName map[string]*pool
	segs   [2][]*segment // all segments per family, sorted by address, disjoint
}

// compilePools validates defs and builds their segments. Every problem found is returned, joined,
// so that an admin sees them all at once.
func compilePools(defs []Pool) (*poolSet, error) {
	ps := &poolSet{byName: make(map[string]*pool, len(defs))}
	var errs []error
	for i, d := range defs {
		if d.Name == "" {
			errs = append(errs, &ErrInvalidPool{Pool: d.Name, Reason: fmt.Sprintf("pool #%d has no name; every pool needs a unique name", i)})
			continue
		}
		if _, dup := ps.byName[d.Name]; dup {
			errs = append(errs, &ErrInvalidPool{Pool: d.Name, Reason: "the name is used by another pool; pool names must be unique"})
			continue
		}
		p, perrs := compilePool(i, d)
		errs = append(errs, perrs...)
		if p == nil {
			continue
		}
		ps.byName[d.Name] = p
		ps.order = append(ps.order, p)
		for f := range p.segs {
			ps.segs[f] = append(ps.segs[f], p.segs[f]...)
		}
	}
	for f := range ps.segs {
		errs = append(errs, checkOverlaps(ps.segs[f])...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ps, nil
}

func compilePool(index int, d Pool) (*pool, []error) {
	p := &pool{name: d.Name, index: index, cfg: clonePool(d)}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, &ErrInvalidPool{Pool: d.Name, Reason: fmt.Sprintf(format, args...)})
	}
	add := func(entry string, first, last netip.Addr) {
		f, _ := FamilyOf(first).index()
		p.segs[f] = append(p.segs[f], newSegment(p, entry, first, last))
	}
	for _, c := range d.CIDRs {
		switch {
		case !c.IsValid():
			bad("CIDR %q is not valid; write it as 192.0.2.0/24 or 2001:db8::/64", c.String())
			continue
		case c.Addr().Is4In6():
			bad("CIDR %s is an IPv4-mapped IPv6 prefix; write the IPv4 prefix instead", c)
			continue
		case c != c.Masked():
			bad("CIDR %s has host bits set; write %s", c, c.Masked())
			continue
		}
		first, last := c.Addr(), lastAddr(c)
		if d.AvoidBuggyIPs && first.Is4() && c.Bits() <= 30 {
			first, last = first.Next(), last.Prev()
		}
		add(c.String(), first, last)
	}
	for _, r := range d.Ranges {
		switch {
		case !r.First.IsValid() || !r.Last.IsValid():
			bad("range %s is missing an address; write FIRST-LAST", r)
		case r.First.Zone() != "" || r.Last.Zone() != "":
			bad("range %s has an IPv6 zone; pool addresses take no zone", r)
		case r.First.Is4In6() || r.Last.Is4In6():
			bad("range %s uses IPv4-mapped IPv6 addresses; write IPv4 addresses instead", r)
		case r.First.Is4() != r.Last.Is4():
			bad("range %s mixes IPv4 and IPv6; a range has one family", r)
		case r.Last.Less(r.First):
			bad("range %s ends before it starts; write the lower address first", r)
		default:
			add(r.String(), r.First, r.Last)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(p.segs[0])+len(p.segs[1]) == 0 {
		return nil, []error{&ErrInvalidPool{Pool: d.Name, Reason: "it has no CIDR and no range; give it at least one"}}
	}
	for f := range p.segs {
		slices.SortFunc(p.segs[f], func(a, b *segment) int { return a.first.Compare(b.first) })
		caps := new(big.Int)
		for _, s := range p.segs[f] {
			caps.Add(caps, s.span.big())
			caps.Add(caps, big.NewInt(1))
		}
		p.caps[f] = caps
	}
	return p, nil
}

// checkOverlaps sorts segs (one family) by address and reports each segment that starts before the
// furthest end seen so far, naming the segment that reaches furthest.
func checkOverlaps(segs []*segment) []error {
	slices.SortFunc(segs, func(a, b *segment) int { return a.first.Compare(b.first) })
	var errs []error
	var reach *segment
	for _, s := range segs {
		if reach != nil && s.first.Compare(reach.last) <= 0 {
			errs = append(errs, &ErrPoolOverlap{Pool: reach.pool.name, Entry: reach.entry, OtherPool: s.pool.name, OtherEntry: s.entry})
		}
		if reach == nil || reach.last.Less(s.last) {
			reach = s
		}
	}
	return errs
}

// lookup returns the segment that holds a, or nil.
func (ps *poolSet) lookup(a netip.Addr) *segment {
	f, _ := FamilyOf(a).index()
	segs := ps.segs[f]
	i, found := slices.BinarySearchFunc(segs, a, func(s *segment, a netip.Addr) int { return s.first.Compare(a) })
	if found {
		return segs[i]
	}
	if i == 0 {
		return nil
	}
	if s := segs[i-1]; s.contains(a) {
		return s
	}
	return nil
}

func (ps *poolSet) names() []string {
	n := make([]string, len(ps.order))
	for i, p := range ps.order {
		n[i] = p.name
	}
	return n
}

func clonePool(d Pool) Pool {
	d.CIDRs = slices.Clone(d.CIDRs)
	d.Ranges = slices.Clone(d.Ranges)
	return d
}
