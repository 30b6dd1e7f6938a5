package announce

import "math/bits"

// bitset is a set of nodes by index in Compute's node table. Sets of nodes are built and
// intersected once per address; bit operations on a couple of words are much cheaper than maps
// of names at 10k addresses, and names outside the table could never be elected anyway.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// and keeps in b the members of o; a nil o is the empty set.
func (b bitset) and(o bitset) {
	for i := range b {
		if i < len(o) {
			b[i] &= o[i]
		} else {
			b[i] = 0
		}
	}
}

// or adds the members of o to b.
func (b bitset) or(o bitset) {
	for i := range o {
		b[i] |= o[i]
	}
}

// appendNames appends the names of the members, in index order.
func (b bitset) appendNames(dst []string, names []string) []string {
	for i, w := range b {
		for w != 0 {
			j := bits.TrailingZeros64(w)
			dst = append(dst, names[i*64+j])
			w &= w - 1
		}
	}
	return dst
}
