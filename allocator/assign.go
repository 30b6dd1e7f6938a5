package allocator

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Request asks for the addresses of one owner. Assign is declarative: the owner ends up holding
// exactly one address per family in Families, and nothing else.
type Request struct {
	Owner string
	// Pools are the candidate pools in order of preference. The provider decides which pools an
	// owner may use and in which order; the allocator tries them in that order.
	Pools []string
	// Families lists one or two distinct families (dual-stack), e.g. from spec.ipFamilies.
	Families []Family
	// Addresses are requested addresses, at most one per family; a family without one gets any free
	// address.
	Addresses []netip.Addr
	Sharing   Sharing
}

// Result is what Assign did.
type Result struct {
	Addresses []Address    // one per requested family, in the order of Request.Families
	Released  []netip.Addr // addresses the owner held before the call and no longer holds
}

// Address is one assigned address.
type Address struct {
	Addr   netip.Addr
	Pool   string // the pool that contains Addr; "" for an orphan the owner kept
	New    bool   // the owner did not hold Addr before this call
	Shared bool   // other owners hold Addr too
}

// Assign gives req.Owner one address per requested family, all or nothing: if any family fails,
// the allocator is left exactly as it was (apart from internal cursors).
//
// For each family, an address the owner already holds is kept when it satisfies the request: it
// equals the requested address (if any), its sharing with co-holders still holds, and it is in a
// candidate pool, or no pool contains it any more and the pool it came from is a candidate or gone
// (so a pool edit never moves it; changing the requested address or the pool does). Otherwise the
// family gets, in this order: the requested address if it is in a candidate pool and free or
// shareable; else, with a sharing key, a shareable address already held under that key in a
// candidate pool (earliest pool first); else a free address from the candidate pools in order.
//
// Errors: *ErrInvalidRequest, *ErrUnknownPool, *ErrNotInRange (requested address outside the
// candidate pools), *ErrConflict (requested address held, not shareable; matches ErrAllocated),
// ErrFull (wrapped, naming the family and pools).
func (a *IPAllocator) Assign(req Request) (Result, error) {
	want, err := checkRequest(req)
	if err != nil {
		return Result{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var buf [8]*pool
	cands := buf[:0]
	for _, n := range req.Pools {
		p := a.pools.byName[n]
		if p == nil {
			return Result{}, &ErrUnknownPool{Pool: n, Known: a.pools.names()}
		}
		cands = append(cands, p)
	}
	old := a.owners[req.Owner]
	next := a.newOwner(req.Owner, req.Sharing)
	var kept [2]bool
	for _, f := range req.Families {
		fi, _ := f.index()
		if old != nil && a.keepable(old.addrs[fi], want[fi], cands, next) {
			next.addrs[fi], kept[fi] = old.addrs[fi], true
			continue
		}
		x, err := a.pick(next, f, want[fi], cands)
		if err != nil {
			// Undo the other family, if it was picked in this call.
			for fj, y := range next.addrs {
				if y.IsValid() && !kept[fj] {
					a.unhold(y, next)
				}
			}
			a.freeOwner(next)
			return Result{}, err
		}
		next.addrs[fi] = x
	}

	var res Result
	if old != nil {
		for fi, x := range old.addrs {
			switch {
			case !x.IsValid():
			case kept[fi]:
				a.swapHolder(x, old, next)
			default:
				a.unhold(x, old)
				if x != next.addrs[fi] {
					res.Released = append(res.Released, x)
				}
			}
		}
		a.freeOwner(old)
	}
	a.owners[req.Owner] = next
	for _, f := range req.Families {
		fi, _ := f.index()
		x := next.addrs[fi]
		st := a.addrs[x]
		ad := Address{Addr: x, New: !kept[fi], Shared: len(st.holders) > 1}
		if st.seg != nil {
			ad.Pool = st.seg.pool.name
		}
		res.Addresses = append(res.Addresses, ad)
	}
	return res, nil
}

// checkRequest validates req and returns the requested address per family.
func checkRequest(req Request) (want [2]netip.Addr, err error) {
	bad := func(format string, args ...any) error {
		return &ErrInvalidRequest{Owner: req.Owner, Reason: fmt.Sprintf(format, args...)}
	}
	if req.Owner == "" {
		return want, bad("the owner is empty; name it, e.g. namespace/name")
	}
	if len(req.Families) == 0 || len(req.Families) > 2 {
		return want, bad("%d families requested; want IPv4, IPv6 or both", len(req.Families))
	}
	var asked [2]bool
	for _, f := range req.Families {
		fi, ok := f.index()
		if !ok {
			return want, bad("unknown family %q; want IPv4 or IPv6", f)
		}
		if asked[fi] {
			return want, bad("family %s requested twice", f)
		}
		asked[fi] = true
	}
	for _, x := range req.Addresses {
		if r := addrProblem(x); r != "" {
			return want, bad("%s", r)
		}
		fi, _ := FamilyOf(x).index()
		if !asked[fi] {
			return want, bad("address %s is %s but the families requested are %v", x, FamilyOf(x), req.Families)
		}
		if want[fi].IsValid() {
			return want, bad("two %s addresses requested (%s, %s); want at most one per family", FamilyOf(x), want[fi], x)
		}
		want[fi] = x
	}
	if r := req.Sharing.validate(); r != "" {
		return want, bad("%s", r)
	}
	return want, nil
}

// addrProblem says why x cannot be a LoadBalancer address, or "".
func addrProblem(x netip.Addr) string {
	switch {
	case !x.IsValid():
		return "an address is empty"
	case x.Zone() != "":
		return fmt.Sprintf("address %s has an IPv6 zone; LoadBalancer addresses take none", x)
	case x.Is4In6():
		return fmt.Sprintf("address %s is IPv4-mapped IPv6; write %s", x, x.Unmap())
	}
	return ""
}

// keepable says whether the owner may keep x, which it holds, under the new request.
func (a *IPAllocator) keepable(x, want netip.Addr, cands []*pool, next *ownerState) bool {
	if !x.IsValid() || (want.IsValid() && want != x) {
		return false
	}
	st := a.addrs[x]
	switch {
	case st.seg != nil:
		if !slices.Contains(cands, st.seg.pool) {
			return false
		}
	case st.pool != "" && a.pools.byName[st.pool] != nil:
		if !slices.Contains(cands, a.pools.byName[st.pool]) {
			return false
		}
	}
	return conflict(x, st, next, a.across[x]) == nil
}

// pick finds and holds an address of family f for next.
func (a *IPAllocator) pick(next *ownerState, f Family, want netip.Addr, cands []*pool) (netip.Addr, error) {
	fi, _ := f.index()
	if want.IsValid() {
		s := a.pools.lookup(want)
		if s == nil || !slices.Contains(cands, s.pool) {
			return netip.Addr{}, &ErrNotInRange{Addr: want, Valid: describe(cands, fi)}
		}
		if st := a.addrs[want]; st != nil {
			if err := conflict(want, st, next, a.across[want]); err != nil {
				return netip.Addr{}, err
			}
		}
		a.hold(want, next, false)
		return want, nil
	}
	if x, ok := a.shareable(next, fi, cands); ok {
		a.hold(x, next, false)
		return x, nil
	}
	ranges := 0
	for _, p := range cands {
		for _, s := range p.segs[fi] {
			ranges++
			if x, ok := s.take(a.addrs); ok {
				a.hold(x, next, true)
				return x, nil
			}
		}
	}
	names := make([]string, len(cands))
	for i, p := range cands {
		names[i] = p.name
	}
	if len(cands) == 0 {
		return netip.Addr{}, fmt.Errorf("%w: no candidate pool for a new %s address", ErrFull, f)
	}
	if ranges == 0 {
		return netip.Addr{}, fmt.Errorf("%w: none of the candidate pools (%s) has %s addresses", ErrFull, quoteList(names), f)
	}
	return netip.Addr{}, fmt.Errorf("%w: every %s address of the candidate pools (%s) is taken", ErrFull, f, quoteList(names))
}

// shareable finds an address of family fi, held under next's sharing key in a candidate pool, that
// next may join: the earliest candidate pool wins, then the lowest address. Sharing keys group few
// owners, so the scan is short.
func (a *IPAllocator) shareable(next *ownerState, fi int, cands []*pool) (netip.Addr, bool) {
	if next.sharing.Key == "" {
		return netip.Addr{}, false
	}
	var best netip.Addr
	bestRank := len(cands)
	for x := range a.byKey[next.sharing.Key] {
		st := a.addrs[x]
		if ffi, _ := FamilyOf(x).index(); ffi != fi || st.seg == nil {
			continue
		}
		rank := slices.Index(cands, st.seg.pool)
		if rank < 0 || rank > bestRank || (rank == bestRank && best.Less(x)) {
			continue
		}
		if conflict(x, st, next, a.across[x]) == nil {
			best, bestRank = x, rank
		}
	}
	return best, best.IsValid()
}

// describe lists the candidate pools and their entries of one family, for ErrNotInRange.
func describe(cands []*pool, fi int) string {
	if len(cands) == 0 {
		return "(no candidate pool)"
	}
	parts := make([]string, len(cands))
	for i, p := range cands {
		entries := make([]string, len(p.segs[fi]))
		for j, s := range p.segs[fi] {
			entries[j] = s.entry
		}
		if len(entries) == 0 {
			entries = []string{"no " + string(families[fi]) + " addresses"}
		}
		parts[i] = fmt.Sprintf("%q (%s)", p.name, strings.Join(entries, ", "))
	}
	return strings.Join(parts, ", ")
}

// hold adds o to the holders of x, creating x's state if no one held it; taken says x comes from
// segment.take rather than a request or a restore. Callers have checked that o may share x with its
// holders, so all holders keep one sharing key.
func (a *IPAllocator) hold(x netip.Addr, o *ownerState, taken bool) {
	st := a.addrs[x]
	if st == nil {
		st = a.newAddrState()
		st.seg = a.pools.lookup(x)
		if st.seg != nil {
			st.seg.hold(x, st, taken)
			st.pool = st.seg.pool.name
		}
		a.addrs[x] = st
	}
	if len(st.holders) == 0 {
		st.key = o.sharing.Key
		a.reindex(x, "", st.key)
	}
	st.holders = append(st.holders, o)
}

// unhold removes o from the holders of x and frees x when no one is left.
func (a *IPAllocator) unhold(x netip.Addr, o *ownerState) {
	st := a.addrs[x]
	if i := slices.Index(st.holders, o); i >= 0 {
		st.holders = slices.Delete(st.holders, i, i+1)
	}
	if adm, ok := a.across[x]; ok {
		// Admitted to keep an old share, not to come back to it.
		if adm = slices.DeleteFunc(adm, func(n string) bool { return n == o.name }); len(adm) > 1 && len(st.holders) > 0 {
			a.across[x] = adm
		} else {
			delete(a.across, x)
		}
	}
	if len(st.holders) == 0 {
		a.reindex(x, st.key, "")
		delete(a.addrs, x)
		if st.seg != nil {
			st.seg.release(x, st)
		}
		a.freeAddrState(st)
	}
}

// swapHolder replaces old by next among the holders of x. With co-holders the key cannot change
// (next was checked against them); alone, next brings its own.
func (a *IPAllocator) swapHolder(x netip.Addr, old, next *ownerState) {
	st := a.addrs[x]
	if i := slices.Index(st.holders, old); i >= 0 {
		st.holders[i] = next
	}
	before := st.key
	st.key = next.sharing.Key
	a.reindex(x, before, st.key)
}

// reindex moves x between sharing-key indexes when its key changed.
func (a *IPAllocator) reindex(x netip.Addr, from, to string) {
	if from == to {
		return
	}
	if from != "" {
		delete(a.byKey[from], x)
		if len(a.byKey[from]) == 0 {
			delete(a.byKey, from)
		}
	}
	if to != "" {
		m := a.byKey[to]
		if m == nil {
			m = make(map[netip.Addr]struct{})
			a.byKey[to] = m
		}
		m[x] = struct{}{}
	}
}

// Restore records that owner holds addrs (at most one per family) with the given sharing, as read
// back from the cluster on start-up: call it for every existing assignment before any Assign, so
// that no Assign hands out an address that is in use. An address may be outside every pool (it is
// then kept and reported by Orphans). Restore is all or nothing and never overwrites: an address
// held by another owner it cannot share with, or a family for which owner already holds another
// address, is a *ErrConflict naming both owners. Restoring what owner already holds is a no-op
// apart from updating its sharing.
func (a *IPAllocator) Restore(owner string, addrs []netip.Addr, sharing Sharing) error {
	bad := func(format string, args ...any) error {
		return &ErrInvalidRequest{Owner: owner, Reason: fmt.Sprintf(format, args...)}
	}
	if owner == "" {
		return bad("the owner is empty; name it, e.g. namespace/name")
	}
	if len(addrs) == 0 {
		return bad("no address to restore")
	}
	if r := sharing.validate(); r != "" {
		return bad("%s", r)
	}
	var given [2]netip.Addr
	for _, x := range addrs {
		if r := addrProblem(x); r != "" {
			return bad("%s", r)
		}
		fi, _ := FamilyOf(x).index()
		if given[fi].IsValid() {
			return bad("two %s addresses (%s, %s); an owner holds at most one per family", FamilyOf(x), given[fi], x)
		}
		given[fi] = x
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.owners[owner]
	next := a.newOwner(owner, sharing)
	if old != nil {
		next.addrs = old.addrs
	}
	for fi, x := range given {
		if !x.IsValid() {
			continue
		}
		if cur := next.addrs[fi]; cur.IsValid() && cur != x {
			a.freeOwner(next)
			return &ErrConflict{Addr: x, Owner: owner, Holder: owner,
				Reason: fmt.Sprintf("%q already holds %s for %s; release it before restoring another", owner, cur, families[fi])}
		}
		next.addrs[fi] = x
	}
	for _, x := range next.addrs {
		if st := a.addrs[x]; x.IsValid() && st != nil {
			if err := conflict(x, st, next, a.across[x]); err != nil {
				a.freeOwner(next)
				return err
			}
		}
	}
	for fi, x := range next.addrs {
		switch {
		case !x.IsValid():
		case old != nil && old.addrs[fi] == x:
			a.swapHolder(x, old, next)
		default:
			a.hold(x, next, false)
		}
	}
	if old != nil {
		a.freeOwner(old)
	}
	a.owners[owner] = next
	return nil
}

// Release frees everything owner holds (a shared address stays with its other holders) and returns
// the addresses it held. Releasing an unknown owner does nothing.
func (a *IPAllocator) Release(owner string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.owners[owner]
	if o == nil {
		return nil
	}
	var out []netip.Addr
	for _, x := range o.addrs {
		if x.IsValid() {
			a.unhold(x, o)
			out = append(out, x)
		}
	}
	delete(a.owners, owner)
	a.freeOwner(o)
	return out
}
