package allocator

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
)

// The fuzzer works on a small universe so that random operations collide often:
// 192.0.2.0-192.0.2.15 and 2001:db8::-2001:db8::f, a few pool layouts over them (some leave
// addresses out, so pool replacement makes orphans), five owners, two sharing keys.

func u4(i byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, i}) }
func u6(i byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: i})
}

var fuzzLayouts = [][]Pool{
	{
		{Name: "A", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/29"), netip.MustParsePrefix("2001:db8::/125")}, AvoidBuggyIPs: true},
		{Name: "B", Ranges: []Range{{u4(8), u4(11)}, {u6(8), u6(11)}}, ShareAcrossScopes: true},
	},
	{
		{Name: "A", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/30")}},
		{Name: "B", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.8/29"), netip.MustParsePrefix("2001:db8::/124")}},
		{Name: "C", Ranges: []Range{{u4(4), u4(5)}}, ShareAcrossScopes: true},
	},
	{
		{Name: "A", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28"), netip.MustParsePrefix("2001:db8::4/126")}, AvoidBuggyIPs: true},
	},
	{
		{Name: "B", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/31"), netip.MustParsePrefix("2001:db8::/125")}, AvoidBuggyIPs: true},
		{Name: "C", CIDRs: []netip.Prefix{netip.MustParsePrefix("2001:db8::8/125")}},
		{Name: "A", Ranges: []Range{{u4(12), u4(15)}}},
	},
	// Invalid: A and B overlap. SetPools must refuse it and change nothing.
	{
		{Name: "A", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")}},
		{Name: "B", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.8/29")}},
	},
}

var fuzzPoolLists = [][]string{{"A"}, {"B"}, {"A", "B"}, {"B", "A"}, {"C", "A"}, {"A", "B", "C"}, {}, {"B", "C"}}

// maxFuzzInput bounds a fuzz input: a few hundred steps reach every state of these small universes.
const maxFuzzInput = 1024

var fuzzPorts = []Port{{80, TCP}, {80, UDP}, {443, TCP}}

// model is the reference: who holds what, with which sharing, and the pools' address sets
// enumerated one by one.
type model struct {
	held    map[string][2]netip.Addr
	sharing map[string]Sharing
	sets    map[string][2]map[netip.Addr]bool // pool -> family -> addresses it hands out
	across  map[string]bool                   // pools with ShareAcrossScopes
	order   []string
}

func enumerate(p Pool) [2]map[netip.Addr]bool {
	sets := [2]map[netip.Addr]bool{{}, {}}
	add := func(first, last netip.Addr) {
		for x := first; ; x = x.Next() {
			fi, _ := FamilyOf(x).index()
			sets[fi][x] = true
			if x == last {
				return
			}
		}
	}
	for _, c := range p.CIDRs {
		first, last := c.Addr(), lastAddr(c)
		if p.AvoidBuggyIPs && first.Is4() && c.Bits() <= 30 {
			first, last = first.Next(), last.Prev()
		}
		add(first, last)
	}
	for _, r := range p.Ranges {
		add(r.First, r.Last)
	}
	return sets
}

func (m *model) setPools(pools []Pool) {
	m.sets = map[string][2]map[netip.Addr]bool{}
	m.across = map[string]bool{}
	m.order = nil
	for _, p := range pools {
		m.sets[p.Name] = enumerate(p)
		m.across[p.Name] = p.ShareAcrossScopes
		m.order = append(m.order, p.Name)
	}
}

func (m *model) holders(x netip.Addr) []string {
	var out []string
	fi, _ := FamilyOf(x).index()
	for o, h := range m.held {
		if h[fi] == x {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// acrossAt says whether x's pool lets owners of different scopes share it (never outside every
// pool).
func (m *model) acrossAt(x netip.Addr) bool {
	fi, _ := FamilyOf(x).index()
	for p, sets := range m.sets {
		if sets[fi][x] {
			return m.across[p]
		}
	}
	return false
}

// joinable checks that owner, with sharing s, may hold x beside x's other holders.
func (m *model) joinable(x netip.Addr, owner string, s Sharing) error {
	for _, h := range m.holders(x) {
		if h != owner && !compatibleAt(s, m.sharing[h], m.acrossAt(x)) {
			return fmt.Errorf("%q %+v holds %v beside %q %+v, which it may not join", owner, s, x, h, m.sharing[h])
		}
	}
	return nil
}

func (m *model) inPools(x netip.Addr, pools []string) bool {
	fi, _ := FamilyOf(x).index()
	for _, p := range pools {
		if m.sets[p][fi][x] {
			return true
		}
	}
	return false
}

func (m *model) freeIn(fi int, pools []string) bool {
	for _, p := range pools {
		for x := range m.sets[p][fi] {
			if len(m.holders(x)) == 0 {
				return true
			}
		}
	}
	return false
}

// justified checks that a conflict error names a real holder that really cannot share.
func (m *model) justified(err error, owner string, s Sharing) error {
	var c *ErrConflict
	if !errors.As(err, &c) {
		return nil
	}
	if !errors.Is(err, ErrAllocated) {
		return fmt.Errorf("%w does not match ErrAllocated", err)
	}
	fi, _ := FamilyOf(c.Addr).index()
	if c.Holder == owner {
		if cur := m.held[owner][fi]; !cur.IsValid() || cur == c.Addr {
			return fmt.Errorf("self-conflict %w but %q holds %v", err, owner, cur)
		}
		return nil
	}
	if m.held[c.Holder][fi] != c.Addr {
		return fmt.Errorf("conflict %w names a holder that does not hold the address", err)
	}
	if compatibleAt(s, m.sharing[c.Holder], m.acrossAt(c.Addr)) {
		return fmt.Errorf("conflict %w between compatible owners", err)
	}
	return nil
}

type byteReader struct {
	data []byte
	i    int
}

func (r *byteReader) next() byte {
	if r.i >= len(r.data) {
		return 0
	}
	r.i++
	return r.data[r.i-1]
}

func (r *byteReader) sharing() Sharing {
	b := r.next()
	s := Sharing{Key: []string{"", "k1", "k2", "k1"}[b%4], Backend: []string{"x", "x", "x", "y"}[(b>>2)%4], Scope: []string{"s1", "s2"}[b>>7]}
	for i, p := range fuzzPorts {
		if b&(0x10<<i) != 0 {
			s.Ports = append(s.Ports, p)
		}
	}
	return s
}

func (r *byteReader) addr(v6 bool) netip.Addr {
	if v6 {
		return u6(r.next() % 16)
	}
	return u4(r.next() % 16)
}

func FuzzIPAllocator(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 2, 2, 0, 0x31, 0, 2, 2, 2, 0, 0x51, 3, 2, 0, 1})
	f.Add([]byte{0, 0, 2, 5, 1, 3, 0x71, 1, 1, 2, 4, 9, 0x11, 3, 3, 0, 0, 3, 1})
	f.Add([]byte{1, 0, 0, 3, 9, 4, 0x11, 1, 1, 1, 9, 9, 0x21, 0, 2, 2, 0, 0x11, 3, 2, 2, 0})
	f.Add([]byte{0, 0, 2, 2, 0, 0, 0, 1, 2, 2, 0, 0, 0, 2, 2, 2, 0, 0, 0, 3, 2, 2, 0, 0, 0, 4, 2, 2, 0, 0, 3, 4, 3, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return // longer inputs add steps, not new states, and slow minimisation down
		}
		r := &byteReader{data: data}
		layout := int(r.next()) % 4
		a, err := NewIPAllocator(fuzzLayouts[layout])
		if err != nil {
			t.Fatal(err)
		}
		m := &model{held: map[string][2]netip.Addr{}, sharing: map[string]Sharing{}}
		m.setPools(fuzzLayouts[layout])
		for step := 0; r.i < len(r.data); step++ {
			desc, err := fuzzIPStep(r, a, m)
			if err != nil {
				t.Fatalf("step %d (%s): %v", step, desc, err)
			}
			if err := a.checkInvariants(); err != nil {
				t.Fatalf("step %d (%s): invariant: %v", step, desc, err)
			}
			if err := compareIPModel(a, m); err != nil {
				t.Fatalf("step %d (%s): %v", step, desc, err)
			}
		}
	})
}

// fuzzIPStep performs one random operation on a and m and checks its outcome.
func fuzzIPStep(r *byteReader, a *IPAllocator, m *model) (string, error) {
	owner := fmt.Sprintf("ns/o%d", r.next()%5)
	switch op := r.next() % 6; op {
	case 0, 1: // Assign, sometimes with requested addresses
		req := Request{Owner: owner, Pools: fuzzPoolLists[r.next()%8]}
		fb := r.next()
		req.Families = [][]Family{{IPv4}, {IPv6}, {IPv4, IPv6}, {IPv6, IPv4}}[fb%4]
		if op == 1 {
			if fb&0x10 != 0 {
				req.Addresses = append(req.Addresses, r.addr(false))
			}
			if fb&0x20 != 0 {
				req.Addresses = append(req.Addresses, r.addr(true))
			}
		}
		req.Sharing = r.sharing()
		desc := fmt.Sprintf("Assign %+v", req)
		res, err := a.Assign(req)
		return desc, m.assign(req, res, err)
	case 2:
		m2 := r.next()
		var addrs []netip.Addr
		if m2%3 != 1 {
			addrs = append(addrs, r.addr(false))
		}
		if m2%3 != 0 {
			addrs = append(addrs, r.addr(true))
		}
		s := r.sharing()
		desc := fmt.Sprintf("Restore %s %v %+v", owner, addrs, s)
		err := a.Restore(owner, addrs, s)
		return desc, m.restore(owner, addrs, s, err)
	case 3:
		got := a.Release(owner)
		var want []netip.Addr
		for _, x := range m.held[owner] {
			if x.IsValid() {
				want = append(want, x)
			}
		}
		delete(m.held, owner)
		delete(m.sharing, owner)
		if !slices.Equal(got, want) {
			return "Release " + owner, fmt.Errorf("released %v, want %v", got, want)
		}
		return "Release " + owner, nil
	default:
		i := int(r.next()) % len(fuzzLayouts)
		err := a.SetPools(fuzzLayouts[i])
		desc := fmt.Sprintf("SetPools layout %d", i)
		if i == len(fuzzLayouts)-1 {
			var ov *ErrPoolOverlap
			if !errors.As(err, &ov) {
				return desc, fmt.Errorf("overlapping pools accepted: %w", err)
			}
			return desc, nil
		}
		if err != nil {
			return desc, err
		}
		m.setPools(fuzzLayouts[i])
		return desc, nil
	}
}

func (m *model) assign(req Request, res Result, err error) error {
	prev := m.held[req.Owner]
	var want [2]netip.Addr
	for _, x := range req.Addresses {
		fi, _ := FamilyOf(x).index()
		want[fi] = x
	}
	if err != nil {
		var unknown *ErrUnknownPool
		var invalid *ErrInvalidRequest
		var nir *ErrNotInRange
		switch {
		case errors.As(err, &unknown):
			if _, ok := m.sets[unknown.Pool]; ok || !slices.Contains(req.Pools, unknown.Pool) {
				return fmt.Errorf("unjustified %w", err)
			}
		case errors.As(err, &invalid):
			// The only invalid requests generated ask for an address of a family not requested.
			stray := false
			for _, x := range req.Addresses {
				stray = stray || !slices.Contains(req.Families, FamilyOf(x))
			}
			if !stray {
				return fmt.Errorf("unjustified %w", err)
			}
		case errors.As(err, &nir):
			if m.inPools(nir.Addr, req.Pools) {
				return fmt.Errorf("unjustified %w", err)
			}
		case errors.Is(err, ErrFull):
			full := false
			for _, f := range req.Families {
				fi, _ := f.index()
				if !want[fi].IsValid() && !m.freeIn(fi, req.Pools) {
					full = true
				}
			}
			if !full {
				return fmt.Errorf("unjustified %w", err)
			}
		default:
			if e := m.justified(err, req.Owner, req.Sharing); e != nil || !errors.Is(err, ErrAllocated) {
				return fmt.Errorf("unexpected error %w (%w)", err, e)
			}
		}
		return nil
	}
	if len(res.Addresses) != len(req.Families) {
		return fmt.Errorf("got %d addresses for families %v", len(res.Addresses), req.Families)
	}
	var next [2]netip.Addr
	for i, f := range req.Families {
		fi, _ := f.index()
		got := res.Addresses[i]
		if FamilyOf(got.Addr) != f {
			return fmt.Errorf("got %v for family %s", got.Addr, f)
		}
		switch {
		case got.New == (got.Addr == prev[fi]):
			return fmt.Errorf("address %+v: New flag wrong (previously %v)", got, prev[fi])
		case want[fi].IsValid() && got.Addr != want[fi]:
			return fmt.Errorf("got %v, requested %v", got.Addr, want[fi])
		case got.New && !m.inPools(got.Addr, req.Pools):
			return fmt.Errorf("new address %v is not in the candidate pools %v", got.Addr, req.Pools)
		}
		// An address the owner held that still fits the request must be kept.
		if p := prev[fi]; p.IsValid() && got.Addr != p && (!want[fi].IsValid() || want[fi] == p) && m.inPools(p, req.Pools) {
			ok := true
			for _, h := range m.holders(p) {
				if h != req.Owner && !compatibleAt(req.Sharing, m.sharing[h], m.acrossAt(p)) {
					ok = false
				}
			}
			if ok {
				return fmt.Errorf("moved from %v to %v although %v still fits", p, got.Addr, p)
			}
		}
		if err := m.joinable(got.Addr, req.Owner, req.Sharing); got.New && err != nil {
			return err
		}
		next[fi] = got.Addr
	}
	var released []netip.Addr
	for fi, p := range prev {
		if p.IsValid() && p != next[fi] {
			released = append(released, p)
		}
	}
	if !slices.Equal(released, res.Released) {
		return fmt.Errorf("Released = %v, want %v", res.Released, released)
	}
	m.held[req.Owner] = next
	m.sharing[req.Owner] = req.Sharing
	return nil
}

func (m *model) restore(owner string, addrs []netip.Addr, s Sharing, err error) error {
	if err != nil {
		if e := m.justified(err, owner, s); e != nil {
			return e
		}
		if !errors.Is(err, ErrAllocated) {
			return fmt.Errorf("unexpected error %w", err)
		}
		return nil
	}
	next := m.held[owner]
	for _, x := range addrs {
		fi, _ := FamilyOf(x).index()
		if err := m.joinable(x, owner, s); next[fi] != x && err != nil {
			return err
		}
		if next[fi].IsValid() && next[fi] != x {
			return fmt.Errorf("restore of %v overwrote %v", x, next[fi])
		}
		next[fi] = x
	}
	m.held[owner] = next
	m.sharing[owner] = s
	return nil
}

// compareIPModel checks the allocator against the model: holdings, sharing compatibility, counts.
func compareIPModel(a *IPAllocator, m *model) error {
	for i := range 5 {
		o := fmt.Sprintf("ns/o%d", i)
		var want []netip.Addr
		for _, x := range m.held[o] {
			if x.IsValid() {
				want = append(want, x)
			}
		}
		if got := a.Addresses(o); !slices.Equal(got, want) {
			return fmt.Errorf("%s holds %v, model says %v", o, got, want)
		}
	}
	held := map[netip.Addr][]string{}
	for o, h := range m.held {
		for _, x := range h {
			if x.IsValid() {
				held[x] = append(held[x], o)
			}
		}
	}
	for x, os := range held {
		for i, p := range os {
			for _, q := range os[i+1:] {
				if !compatible(m.sharing[p], m.sharing[q]) {
					return fmt.Errorf("%v held by incompatible %q %+v and %q %+v", x, p, m.sharing[p], q, m.sharing[q])
				}
			}
		}
	}
	var stats []PoolStats
	inAny := map[netip.Addr]bool{}
	for _, name := range m.order {
		for fi, set := range m.sets[name] {
			if len(set) == 0 {
				continue
			}
			var n uint64
			for x := range set {
				inAny[x] = true
				if len(held[x]) > 0 {
					n++
				}
			}
			stats = append(stats, PoolStats{Pool: name, Family: families[fi], Assigned: n})
			stats[len(stats)-1].Capacity = bigOf(uint64(len(set)))
			stats[len(stats)-1].Free = bigOf(uint64(len(set)) - n)
		}
	}
	got := a.Stats()
	if len(got) != len(stats) {
		return fmt.Errorf("Stats() = %v, want %v", got, stats)
	}
	for i := range got {
		g, w := got[i], stats[i]
		if g.Pool != w.Pool || g.Family != w.Family || g.Assigned != w.Assigned || g.Capacity.Cmp(w.Capacity) != 0 || g.Free.Cmp(w.Free) != 0 {
			return fmt.Errorf("Stats()[%d] = %+v, want %+v", i, g, w)
		}
	}
	var orphans []Orphan
	for _, x := range slices.SortedFunc(maps.Keys(held), netip.Addr.Compare) {
		if !inAny[x] {
			os := slices.Sorted(slices.Values(held[x]))
			orphans = append(orphans, Orphan{Addr: x, Owners: os})
		}
	}
	gotOrphans := a.Orphans()
	if len(gotOrphans) != len(orphans) {
		return fmt.Errorf("Orphans() = %v, want %v", gotOrphans, orphans)
	}
	for i := range orphans {
		if gotOrphans[i].Addr != orphans[i].Addr || !slices.Equal(gotOrphans[i].Owners, orphans[i].Owners) {
			return fmt.Errorf("Orphans() = %v, want %v", gotOrphans, orphans)
		}
	}
	return nil
}
