package allocator

import (
	"fmt"
	"net/netip"
	"slices"
)

// checkInvariants verifies every internal invariant of the IP allocator; tests call it after each
// step. It reads the state under the lock.
func (a *IPAllocator) checkInvariants() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, o := range a.owners {
		if o.name != name {
			return fmt.Errorf("owner %q is filed under %q", o.name, name)
		}
		n := 0
		for fi, x := range o.addrs {
			if !x.IsValid() {
				continue
			}
			n++
			if ffi, _ := FamilyOf(x).index(); ffi != fi {
				return fmt.Errorf("owner %q holds %s in the %s slot", name, x, families[fi])
			}
			st := a.addrs[x]
			if st == nil || !slices.Contains(st.holders, o) {
				return fmt.Errorf("owner %q holds %s but is not among its holders", name, x)
			}
		}
		if n == 0 {
			return fmt.Errorf("owner %q holds nothing but is recorded", name)
		}
	}
	keys := map[string]map[netip.Addr]struct{}{}
	segCount := map[*segment]uint64{}
	for x, st := range a.addrs {
		if len(st.holders) == 0 {
			return fmt.Errorf("address %s has no holder", x)
		}
		fi, _ := FamilyOf(x).index()
		for i, h := range st.holders {
			if a.owners[h.name] != h || h.addrs[fi] != x {
				return fmt.Errorf("address %s lists holder %q, which does not hold it", x, h.name)
			}
			for _, g := range st.holders[i+1:] {
				if g.name == h.name {
					return fmt.Errorf("address %s lists %q twice", x, h.name)
				}
				if !compatible(h.sharing, g.sharing) {
					return fmt.Errorf("address %s held by incompatible owners %q %+v and %q %+v", x, h.name, h.sharing, g.name, g.sharing)
				}
			}
		}
		if st.seg == nil && st.stale {
			return fmt.Errorf("orphan %s is marked stale", x)
		}
		if seg := a.pools.lookup(x); seg != st.seg {
			return fmt.Errorf("address %s is filed under the wrong segment", x)
		}
		if st.seg != nil {
			segCount[st.seg]++
			if st.pool != st.seg.pool.name {
				return fmt.Errorf("address %s in pool %q records pool %q", x, st.seg.pool.name, st.pool)
			}
		}
		if st.key != st.holders[0].sharing.Key {
			return fmt.Errorf("address %s has key %q, its holders %q", x, st.key, st.holders[0].sharing.Key)
		}
		if k := st.key; k != "" {
			if keys[k] == nil {
				keys[k] = map[netip.Addr]struct{}{}
			}
			keys[k][x] = struct{}{}
		}
	}
	if len(keys) != len(a.byKey) {
		return fmt.Errorf("sharing index has %d keys, want %d", len(a.byKey), len(keys))
	}
	for k, m := range keys {
		if len(a.byKey[k]) != len(m) {
			return fmt.Errorf("sharing index for %q has %d addresses, want %d", k, len(a.byKey[k]), len(m))
		}
		for x := range m {
			if _, ok := a.byKey[k][x]; !ok {
				return fmt.Errorf("sharing index for %q misses %s", k, x)
			}
		}
	}
	for _, segs := range a.pools.segs {
		for _, s := range segs {
			if err := s.check(segCount[s], a.addrs); err != nil {
				return err
			}
		}
	}
	return nil
}

// check verifies the segment's cursor and queue invariants (see segment).
func (s *segment) check(held uint64, addrs map[netip.Addr]*addrState) error {
	if s.count != held {
		return fmt.Errorf("segment %s counts %d held addresses, want %d", s.entry, s.count, held)
	}
	if s.count == 0 && (s.cursor != s.first || s.done || len(s.queue) != 0) {
		return fmt.Errorf("empty segment %s was not reset", s.entry)
	}
	if s.adopted != nil {
		return fmt.Errorf("segment %s still points to the segment it adopted", s.entry)
	}
	queued := map[netip.Addr]bool{}
	for _, x := range s.queue[s.head:] {
		if queued[x] {
			return fmt.Errorf("segment %s: %s is queued twice", s.entry, x)
		}
		queued[x] = true
		if !s.contains(x) || !s.below(x) {
			return fmt.Errorf("segment %s: queued %s is not below the cursor %s", s.entry, x, s.cursor)
		}
		if st := addrs[x]; st != nil && !st.stale {
			return fmt.Errorf("segment %s: queued %s is held but not marked stale", s.entry, x)
		}
	}
	for x, st := range addrs {
		if st.seg == s && st.stale != queued[x] {
			return fmt.Errorf("segment %s: held %s has stale=%v but queued=%v", s.entry, x, st.stale, queued[x])
		}
	}
	// Walk [first, cursor): each free address must be queued. The walk is bounded because
	// cursor-first never exceeds the peak number of held addresses.
	steps := 0
	for x := s.first; s.below(x); x = x.Next() {
		if steps++; steps > 1<<17 {
			return fmt.Errorf("segment %s: cursor %s is too far from %s", s.entry, s.cursor, s.first)
		}
		if !queued[x] && addrs[x] == nil {
			return fmt.Errorf("segment %s: %s is free, below the cursor and not queued", s.entry, x)
		}
		if x == s.last {
			break
		}
	}
	return nil
}

// checkInvariants verifies every internal invariant of the port allocator.
func (a *PortAllocator) checkInvariants() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := make([]bool, len(a.holders))
	for b, list := range a.free {
		for i, off := range list {
			if seen[off] {
				return fmt.Errorf("offset %d is free twice", off)
			}
			seen[off] = true
			if a.band(int(off)) != b {
				return fmt.Errorf("offset %d is in the free list of band %d", off, b)
			}
			if a.pos[off] != int32(i) {
				return fmt.Errorf("offset %d at index %d records index %d", off, i, a.pos[off])
			}
			if a.holders[off].owner != "" {
				return fmt.Errorf("offset %d is free and held by %q", off, a.holders[off].owner)
			}
		}
	}
	owned := map[string][]uint16{}
	for off, h := range a.holders {
		if seen[off] {
			continue
		}
		if h.owner == "" || h.protos == 0 || a.pos[off] != -1 {
			return fmt.Errorf("offset %d is neither free nor properly held: %+v pos %d", off, h, a.pos[off])
		}
		owned[h.owner] = append(owned[h.owner], a.r.First+uint16(off))
	}
	for p, h := range a.outside {
		if a.r.Contains(p) || h.owner == "" || h.protos == 0 {
			return fmt.Errorf("bad outside entry %d: %+v", p, h)
		}
		owned[h.owner] = append(owned[h.owner], p)
	}
	if len(owned) != len(a.byOwner) {
		return fmt.Errorf("byOwner has %d owners, want %d", len(a.byOwner), len(owned))
	}
	for o, ps := range a.byOwner {
		for i, p := range ps {
			h := a.outside[p]
			if a.r.Contains(p) {
				h = &a.holders[p-a.r.First]
			}
			if h == nil || h.owner != o || h.idx != int32(i) {
				return fmt.Errorf("byOwner[%q][%d] = %d, whose holder is %+v", o, i, p, h)
			}
		}
	}
	for o, ps := range owned {
		got := slices.Sorted(slices.Values(a.byOwner[o]))
		slices.Sort(ps)
		if !slices.Equal(got, ps) {
			return fmt.Errorf("byOwner[%q] = %v, want %v", o, got, ps)
		}
	}
	return nil
}
