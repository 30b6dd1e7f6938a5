package election

import "net/netip"

// The ranking must be identical on every speaker, across processes, architectures and releases, so
// it cannot use Go's map hash or hash/maphash (seeded per process). FNV-1a 64 is specified
// independently of Go (draft-eastlake-fnv), cheap on short keys and in the standard library as
// hash/fnv, against which the tests check this inlined copy (inlined so hashing allocates nothing).
// SHA-256 would do too but costs ~20x more and buys nothing here: nobody gains by steering a
// rendezvous hash, and the inputs (node names, pool addresses) are chosen by the admin.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvString(s string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

func fnvBytes(b []byte) uint64 {
	h := uint64(fnvOffset64)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// nodeKey hashes a node name once per Electorate.
func nodeKey(name string) uint64 { return fnvString(name) }

// addrKey hashes an address in its 16-byte form, so 192.0.2.1 and ::ffff:192.0.2.1 rank alike
// (they reach the same hosts) and the zone, which is local to one node, plays no part.
func addrKey(a netip.Addr) uint64 {
	b := a.As16()
	return fnvBytes(b[:])
}

// weight is the rendezvous weight of a node for an address. Hashing the pair from scratch (one
// FNV pass over name and address) would cost ~25 ns per pair, 25 ms for 10k addresses over 100
// nodes; combining the two precomputed keys costs ~1 ns. XOR alone would not do: comparing
// n1^a with n2^a is decided by one bit of a (the highest bit where n1 and n2 differ), so rankings
// would be strongly correlated across addresses. The murmur3 finaliser (fmix64) is a bijection in
// which every input bit flips each output bit with probability ~1/2, which gives each address an
// independent-looking ranking; the spread and disruption tests measure that.
func weight(node, addr uint64) uint64 {
	return fmix64(node ^ addr)
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
