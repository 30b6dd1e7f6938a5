package allocator

import (
	"math/big"
	"net/netip"
)

// IP plan for the tests (documentation and benchmarking ranges only: RFC 5737, 3849, 2544):
//
//	192.0.2.0/25               pool "blue" (AvoidBuggyIPs), with 2001:db8::/64
//	192.0.2.200                pool "tiny"
//	192.0.2.210-192.0.2.219    pool "v4only"
//	198.51.100.0/24            pool "green", with 2001:db8:1::/64
//	203.0.113.0/24             outside every pool: orphans
//	192.0.2.0-15, 2001:db8::-f the fuzzers' universe
//	198.18.0.0/16              benchmarks and the step-count test

func bigOf(n uint64) *big.Int { return new(big.Int).SetUint64(n) }

func addr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = addr(s)
	}
	return out
}

func rng(first, last string) Range { return Range{First: addr(first), Last: addr(last)} }

// compatible is the tests' own statement of the sharing rule, kept apart from the code under test:
// equal non-empty keys, equal backends, no common port/protocol.
func compatible(p, q Sharing) bool {
	if p.Key == "" || p.Key != q.Key || p.Backend != q.Backend {
		return false
	}
	for _, x := range p.Ports {
		for _, y := range q.Ports {
			if x.Port == y.Port && x.Protocol == y.Protocol {
				return false
			}
		}
	}
	return true
}

// compatibleAt is compatible, and the scope rule of an address whose pool does (across) or does
// not let owners of different scopes share: checked when an owner joins an address. Holders
// that joined under it stay compatible only by compatible: a pool's ShareAcrossScopes may change.
func compatibleAt(p, q Sharing, across bool) bool {
	return (across || p.Scope == q.Scope) && compatible(p, q)
}
