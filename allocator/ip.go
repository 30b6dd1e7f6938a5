package allocator

import (
	"math/big"
	"net/netip"
	"slices"
	"sync"
)

// IPAllocator hands out LoadBalancer addresses from pools. It is safe for concurrent use: one mutex
// guards all state, and every method does O(1) amortised work under it except the whole-state
// operations SetPools, Orphans and Stats.
//
// An owner is an opaque non-empty key (the bare-metal provider uses "namespace/name"). An owner holds
// at most one address per family; several owners may hold one address when their Sharing allows it.
type IPAllocator struct {
	mu     sync.Mutex
	pools  *poolSet
	addrs  map[netip.Addr]*addrState          // every held address
	owners map[string]*ownerState             // every owner holding an address
	byKey  map[string]map[netip.Addr]struct{} // held addresses by the sharing key of their holders
	// across lists, per address, the owners AdmitAcrossScopes lets share it across scopes: empty
	// but on a cluster upgraded with such shares.
	across map[netip.Addr][]string

	// Spare states, recycled to spare the garbage collector: under churn (a Service deleted,
	// another created) most calls free one state of each kind and need one.
	spareOwners []*ownerState
	spareAddrs  []*addrState
}

const maxSpares = 256

func (a *IPAllocator) newOwner(name string, s Sharing) *ownerState {
	var o *ownerState
	if n := len(a.spareOwners); n > 0 {
		o, a.spareOwners = a.spareOwners[n-1], a.spareOwners[:n-1]
	} else {
		o = new(ownerState)
	}
	o.name = name
	o.sharing = Sharing{Key: s.Key, Scope: s.Scope, Backend: s.Backend, Ports: append(o.sharing.Ports[:0], s.Ports...)}
	return o
}

// freeOwner recycles o, which nothing refers to any more.
func (a *IPAllocator) freeOwner(o *ownerState) {
	if len(a.spareOwners) < maxSpares {
		*o = ownerState{sharing: Sharing{Ports: o.sharing.Ports[:0]}}
		a.spareOwners = append(a.spareOwners, o)
	}
}

func (a *IPAllocator) newAddrState() *addrState {
	var st *addrState
	if n := len(a.spareAddrs); n > 0 {
		st, a.spareAddrs = a.spareAddrs[n-1], a.spareAddrs[:n-1]
	} else {
		st = new(addrState)
	}
	st.holders = st.one[:0]
	return st
}

// freeAddrState recycles st, which nothing refers to any more.
func (a *IPAllocator) freeAddrState(st *addrState) {
	if len(a.spareAddrs) < maxSpares {
		*st = addrState{}
		a.spareAddrs = append(a.spareAddrs, st)
	}
}

// addrState is one held address.
type addrState struct {
	seg     *segment // the segment that contains the address; nil when no pool does (an orphan)
	pool    string   // the pool that last contained the address; "" if none ever did
	key     string   // the sharing key of its holders (equal for all of them); "" for none
	stale   bool     // its segment's queue still lists it (see segment)
	holders []*ownerState
	one     [1]*ownerState // backs holders while there is one holder, the common case
}

// ownerState is what one owner holds. It is replaced, never changed in place, by Assign and
// Restore, so a failed call can drop its new ownerState and leave the old one untouched.
type ownerState struct {
	name    string
	addrs   [2]netip.Addr // per family; the zero Addr when none
	sharing Sharing
}

// NewIPAllocator returns an allocator over pools (see SetPools for the rules).
func NewIPAllocator(pools []Pool) (*IPAllocator, error) {
	a := &IPAllocator{
		pools:  &poolSet{byName: map[string]*pool{}},
		addrs:  make(map[netip.Addr]*addrState),
		owners: make(map[string]*ownerState),
		byKey:  make(map[string]map[netip.Addr]struct{}),
		across: make(map[netip.Addr][]string),
	}
	if err := a.SetPools(pools); err != nil {
		return nil, err
	}
	return a, nil
}

// SetPools replaces the pools, all at once or (on error) not at all. Errors name every invalid pool
// (*ErrInvalidPool) and every overlap (*ErrPoolOverlap), joined. Held addresses never move: an
// address that no pool contains any more stays with its owners and is reported by Orphans until they
// release it. A range that is unchanged (same pool, same first and last address) keeps its
// allocation cursor. Cost: O(held addresses × log(ranges)).
func (a *IPAllocator) SetPools(pools []Pool) error {
	ps, err := compilePools(pools)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	type rangeKey struct {
		pool        string
		first, last netip.Addr
	}
	old := make(map[rangeKey]*segment)
	for _, segs := range a.pools.segs {
		for _, s := range segs {
			old[rangeKey{s.pool.name, s.first, s.last}] = s
		}
	}
	for _, segs := range ps.segs {
		for _, s := range segs {
			if o := old[rangeKey{s.pool.name, s.first, s.last}]; o != nil {
				s.adopt(o)
			}
		}
	}
	for x, st := range a.addrs {
		s := ps.lookup(x)
		// A queue entry survives only in a segment that adopted the old one's queue.
		st.stale = st.stale && s != nil && s.adopted != nil && s.adopted == st.seg
		if sharedAcross(s) {
			// Its pool allows the share: nothing is kept against the rule, and a later edit
			// that stops allowing it keeps (and tells) the holders of then.
			delete(a.across, x)
		} else if sharedAcross(st.seg) {
			a.keepAcross(x, st)
		}
		st.seg = s
		if s != nil {
			s.count++
			st.pool = s.pool.name
		}
	}
	for _, segs := range ps.segs {
		for _, s := range segs {
			s.adopted = nil // do not chain every past pool set
		}
	}
	a.pools = ps
	return nil
}

func sharedAcross(s *segment) bool { return s != nil && s.pool.cfg.ShareAcrossScopes }

// keepAcross admits the holders of x to keep sharing it across scopes (AdmitAcrossScopes), when
// they are of several: its pool stops allowing that, and a pool edit never moves an address.
func (a *IPAllocator) keepAcross(x netip.Addr, st *addrState) {
	if !slices.ContainsFunc(st.holders, func(h *ownerState) bool { return h.sharing.Scope != st.holders[0].sharing.Scope }) {
		return
	}
	for _, h := range st.holders {
		if !slices.Contains(a.across[x], h.name) {
			a.across[x] = append(a.across[x], h.name)
		}
	}
}

// Pools returns the current pool definitions, in the order given to SetPools.
func (a *IPAllocator) Pools() []Pool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Pool, len(a.pools.order))
	for i, p := range a.pools.order {
		out[i] = clonePool(p.cfg)
	}
	return out
}

// Addresses returns the addresses owner holds, IPv4 first.
func (a *IPAllocator) Addresses(owner string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.owners[owner]
	if o == nil {
		return nil
	}
	var out []netip.Addr
	for _, x := range o.addrs {
		if x.IsValid() {
			out = append(out, x)
		}
	}
	return out
}

// Held reports whether any owner holds x.
func (a *IPAllocator) Held(x netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrs[x] != nil
}

// Orphan is a held address that no pool contains.
type Orphan struct {
	Addr   netip.Addr
	Pool   string   // the pool that last contained it; "" if none did since it was restored
	Owners []string // sorted
}

// Orphans lists the held addresses that no pool contains, sorted by address. They are kept (never
// moved silently) until their owners release them or a pool covers them again.
func (a *IPAllocator) Orphans() []Orphan {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Orphan
	for x, st := range a.addrs {
		if st.seg != nil {
			continue
		}
		o := Orphan{Addr: x, Pool: st.pool}
		for _, h := range st.holders {
			o.Owners = append(o.Owners, h.name)
		}
		slices.Sort(o.Owners)
		out = append(out, o)
	}
	slices.SortFunc(out, func(p, q Orphan) int { return p.Addr.Compare(q.Addr) })
	return out
}

// PoolStats counts the addresses of one family of one pool. Capacity and Free are *big.Int because an
// IPv6 pool may hold more than 2^64 addresses; for a metric, take
// new(big.Float).SetInt(Free).Float64().
type PoolStats struct {
	Pool     string
	Family   Family
	Capacity *big.Int // addresses the pool hands out (addresses skipped by AvoidBuggyIPs excluded)
	Assigned uint64   // of those, how many are held (a shared address counts once)
	Free     *big.Int // Capacity - Assigned
}

// Stats returns the counts of every pool, per family it has, in pool order, IPv4 first.
func (a *IPAllocator) Stats() []PoolStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []PoolStats
	for _, p := range a.pools.order {
		for fi, segs := range p.segs {
			if len(segs) == 0 {
				continue
			}
			var n uint64
			for _, s := range segs {
				n += s.count
			}
			capacity := new(big.Int).Set(p.caps[fi])
			free := new(big.Int).Sub(capacity, new(big.Int).SetUint64(n))
			out = append(out, PoolStats{Pool: p.name, Family: families[fi], Capacity: capacity, Assigned: n, Free: free})
		}
	}
	return out
}
