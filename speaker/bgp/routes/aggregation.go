package routes

import (
	"cmp"
	"net/netip"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// An aggregated route must cover only addresses of the pool its address comes from (issue 17,
// item 8): aggregationLength 16 on a /24 pool would attract a /16 that frontdesk does not own,
// and the CRD's floor (8, 32 for IPv6) cannot see the pools. The rule is containment in the
// pool's addresses (the union of its entries, Snapshot.PoolSpans), for each address: for a
// CIDR entry it is the same as "no shorter than the entry's prefix"; for a range it is
// stricter than the smallest prefix covering the range, which would still cover addresses
// outside it (that of
// 198.51.100.10-198.51.100.20 is a /27, .0 to .31). A host route (/32, /128) is never refused:
// the address is frontdesk's by its IPAllocation.

// RefusedAggregation is a BGPAdvertisement whose aggregationLength (or aggregationLengthV6)
// would make, for an address of Pool, a route covering addresses outside the pool. The
// advertisement does not advertise that address; the others that select it still do.
type RefusedAggregation struct {
	Advertisement string
	Pool          string
	// Length is the advertisement's length for the family of Addr.
	Length int
	// Addr is the first address (in order) refused, and Route the route it would have had.
	Addr  netip.Addr
	Route netip.Prefix
	// Within is the shortest length whose route around Addr stays in the pool, or 0 when Addr
	// itself is outside the pool's addresses (the pool was changed, or is not known).
	Within int
}

// PoolSpan is a pool's addresses as disjoint ranges, adjacent entries merged, sorted.
type PoolSpan []v1alpha1.AddressEntry

// SpanOf merges a pool's entries, as v1alpha1.ParseAddresses returns them (sorted by first
// address, overlaps possible only in an invalid pool).
func SpanOf(entries []v1alpha1.AddressEntry) PoolSpan {
	var out PoolSpan
	for _, e := range entries {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.Last.BitLen() == e.First.BitLen() && (last.Last.Next() == e.First || e.First.Compare(last.Last) <= 0) {
				if e.Last.Compare(last.Last) > 0 {
					last.Last = e.Last
				}
				continue
			}
		}
		out = append(out, v1alpha1.AddressEntry{First: e.First, Last: e.Last})
	}
	return out
}

// holds says whether every address of p is in the span.
func (s PoolSpan) holds(p netip.Prefix) bool {
	r := v1alpha1.PrefixEntry(p.Masked())
	for _, e := range s {
		if e.Contains(r.First) {
			return e.Contains(r.Last)
		}
	}
	return false
}

// within is the shortest length, from from on, whose route around addr the span holds; 0 when
// none does (addr is not in the span).
func (s PoolSpan) within(addr netip.Addr, from int) int {
	for bits := max(from, 0); bits <= addr.BitLen(); bits++ {
		if p, _ := addr.Prefix(bits); s.holds(p) {
			return bits
		}
	}
	return 0
}

// lengthFor is r's route length for addr, and whether it aggregates (is shorter than a host
// route).
func (r *Rule) lengthFor(addr netip.Addr) (int, bool) {
	bits := r.AggregationLength
	if addr.Is6() {
		bits = r.AggregationLengthV6
	}
	if bits < 0 || bits >= addr.BitLen() {
		return addr.BitLen(), false
	}
	return bits, true
}

// refuseAggregation checks r's route for addr against the pool's span: when the route leaves
// it, the refusal is added to refused (the first address per advertisement, pool and family)
// and true returned.
func refuseAggregation(r *Rule, pool string, span PoolSpan, addr netip.Addr, refused map[aggKey]RefusedAggregation) bool {
	bits, agg := r.lengthFor(addr)
	if !agg {
		return false
	}
	route, _ := addr.Prefix(bits) // bits is within the address's length
	if span.holds(route) {
		return false
	}
	k := aggKey{r.Name, pool, addr.Is6()}
	if _, ok := refused[k]; !ok { // Compute goes through the addresses in order
		refused[k] = RefusedAggregation{Advertisement: r.Name, Pool: pool, Length: bits, Addr: addr, Route: route,
			Within: span.within(addr, bits)}
	}
	return true
}

type aggKey struct {
	ad, pool string
	v6       bool
}

func compareRefusedAggregation(a, b RefusedAggregation) int {
	return cmp.Or(cmp.Compare(a.Advertisement, b.Advertisement), cmp.Compare(a.Pool, b.Pool), a.Addr.Compare(b.Addr))
}
