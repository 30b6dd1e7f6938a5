package allocator

import (
	"errors"
	"math/big"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(x, y netip.Addr) bool { return x == y }),
	cmp.Comparer(func(x, y netip.Prefix) bool { return x == y }),
	cmp.Comparer(func(x, y *big.Int) bool { return x.Cmp(y) == 0 }),
}

func TestSetPoolsRejects(t *testing.T) {
	good := Pool{Name: "blue", CIDRs: []netip.Prefix{prefix("192.0.2.0/24")}}
	tests := []struct {
		name  string
		pools []Pool
		want  []error // each must be found in the joined error, compared by message
	}{
		{
			name:  "no name",
			pools: []Pool{{CIDRs: good.CIDRs}},
			want:  []error{&ErrInvalidPool{Reason: "pool #0 has no name; every pool needs a unique name"}},
		},
		{
			name:  "duplicate name",
			pools: []Pool{good, {Name: "blue", CIDRs: []netip.Prefix{prefix("198.51.100.0/24")}}},
			want:  []error{&ErrInvalidPool{Pool: "blue", Reason: "the name is used by another pool; pool names must be unique"}},
		},
		{
			name:  "empty",
			pools: []Pool{{Name: "e"}},
			want:  []error{&ErrInvalidPool{Pool: "e", Reason: "it has no CIDR and no range; give it at least one"}},
		},
		{
			name:  "host bits",
			pools: []Pool{{Name: "h", CIDRs: []netip.Prefix{prefix("192.0.2.5/24")}}},
			want:  []error{&ErrInvalidPool{Pool: "h", Reason: "CIDR 192.0.2.5/24 has host bits set; write 192.0.2.0/24"}},
		},
		{
			name:  "mapped prefix",
			pools: []Pool{{Name: "m", CIDRs: []netip.Prefix{prefix("::ffff:192.0.2.0/120")}}},
			want:  []error{&ErrInvalidPool{Pool: "m", Reason: "CIDR ::ffff:192.0.2.0/120 is an IPv4-mapped IPv6 prefix; write the IPv4 prefix instead"}},
		},
		{
			name:  "invalid CIDR",
			pools: []Pool{{Name: "z", CIDRs: []netip.Prefix{{}}}},
			want:  []error{&ErrInvalidPool{Pool: "z", Reason: `CIDR "invalid Prefix" is not valid; write it as 192.0.2.0/24 or 2001:db8::/64`}},
		},
		{
			name: "bad ranges, all reported",
			pools: []Pool{{Name: "r", Ranges: []Range{
				rng("192.0.2.9", "192.0.2.1"),
				rng("192.0.2.1", "2001:db8::1"),
				{First: addr("192.0.2.1")},
				rng("fe80::1%eth0", "fe80::2"),
				rng("::ffff:192.0.2.1", "::ffff:192.0.2.2"),
			}}},
			want: []error{
				&ErrInvalidPool{Pool: "r", Reason: "range 192.0.2.9-192.0.2.1 ends before it starts; write the lower address first"},
				&ErrInvalidPool{Pool: "r", Reason: "range 192.0.2.1-2001:db8::1 mixes IPv4 and IPv6; a range has one family"},
				&ErrInvalidPool{Pool: "r", Reason: "range 192.0.2.1-invalid IP is missing an address; write FIRST-LAST"},
				&ErrInvalidPool{Pool: "r", Reason: "range fe80::1%eth0-fe80::2 has an IPv6 zone; pool addresses take no zone"},
				&ErrInvalidPool{Pool: "r", Reason: "range ::ffff:192.0.2.1-::ffff:192.0.2.2 uses IPv4-mapped IPv6 addresses; write IPv4 addresses instead"},
			},
		},
		{
			name:  "overlap between pools",
			pools: []Pool{good, {Name: "green", Ranges: []Range{rng("192.0.2.200", "192.0.3.5")}}},
			want:  []error{&ErrPoolOverlap{Pool: "blue", Entry: "192.0.2.0/24", OtherPool: "green", OtherEntry: "192.0.2.200-192.0.3.5"}},
		},
		{
			name:  "overlap inside one pool, IPv6",
			pools: []Pool{{Name: "six", CIDRs: []netip.Prefix{prefix("2001:db8::/64"), prefix("2001:db8::/112")}}},
			want:  []error{&ErrPoolOverlap{Pool: "six", Entry: "2001:db8::/64", OtherPool: "six", OtherEntry: "2001:db8::/112"}},
		},
		{
			name: "overlap found past a short range",
			pools: []Pool{
				{Name: "wide", Ranges: []Range{rng("192.0.2.0", "192.0.2.100")}},
				{Name: "a", Ranges: []Range{rng("192.0.2.10", "192.0.2.11")}},
				{Name: "b", Ranges: []Range{rng("192.0.2.50", "192.0.2.50")}},
			},
			want: []error{
				&ErrPoolOverlap{Pool: "wide", Entry: "192.0.2.0-192.0.2.100", OtherPool: "a", OtherEntry: "192.0.2.10-192.0.2.11"},
				&ErrPoolOverlap{Pool: "wide", Entry: "192.0.2.0-192.0.2.100", OtherPool: "b", OtherEntry: "192.0.2.50-192.0.2.50"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewIPAllocator([]Pool{{Name: "before", CIDRs: []netip.Prefix{prefix("203.0.113.0/24")}}})
			if err != nil {
				t.Fatal(err)
			}
			err = a.SetPools(tt.pools)
			if err == nil {
				t.Fatal("SetPools accepted invalid pools")
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				got = append(got, e.Error())
			}
			var want []string
			for _, e := range tt.want {
				want = append(want, e.Error())
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			// Typed: the first wanted error's type is found with errors.As.
			switch tt.want[0].(type) { //nolint:errorlint // the type of the wanted value, not of a returned error
			case *ErrInvalidPool:
				var e *ErrInvalidPool
				if !errors.As(err, &e) {
					t.Errorf("errors.As(*ErrInvalidPool) failed on %v", err)
				}
			case *ErrPoolOverlap:
				var e *ErrPoolOverlap
				if !errors.As(err, &e) {
					t.Errorf("errors.As(*ErrPoolOverlap) failed on %v", err)
				}
			}
			// Nothing changed.
			if diff := cmp.Diff([]string{"before"}, poolNames(a.Pools())); diff != "" {
				t.Errorf("pools changed after a refused SetPools (-want +got):\n%s", diff)
			}
		})
	}
}

func poolNames(ps []Pool) []string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return n
}

// drain assigns addresses from pool until it is full and returns them in order.
func drain(t *testing.T, a *IPAllocator, pool string, f Family) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for i := 0; ; i++ {
		res, err := a.Assign(Request{Owner: "drain/" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Pools: []string{pool}, Families: []Family{f}})
		if errors.Is(err, ErrFull) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Addresses[0].Addr)
	}
}

func TestAvoidBuggyIPs(t *testing.T) {
	tests := []struct {
		name  string
		pool  Pool
		fam   Family
		want  []netip.Addr
		total uint64
	}{
		{"IPv4 /29 skips network and broadcast", Pool{CIDRs: []netip.Prefix{prefix("192.0.2.8/29")}, AvoidBuggyIPs: true}, IPv4,
			addrs("192.0.2.9", "192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"), 6},
		{"IPv4 /30 keeps two", Pool{CIDRs: []netip.Prefix{prefix("192.0.2.0/30")}, AvoidBuggyIPs: true}, IPv4,
			addrs("192.0.2.1", "192.0.2.2"), 2},
		{"IPv4 /31 skips nothing (RFC 3021)", Pool{CIDRs: []netip.Prefix{prefix("192.0.2.0/31")}, AvoidBuggyIPs: true}, IPv4,
			addrs("192.0.2.0", "192.0.2.1"), 2},
		{"IPv4 /32 skips nothing", Pool{CIDRs: []netip.Prefix{prefix("192.0.2.7/32")}, AvoidBuggyIPs: true}, IPv4,
			addrs("192.0.2.7"), 1},
		{"explicit range skips nothing", Pool{Ranges: []Range{rng("192.0.2.255", "192.0.3.0")}, AvoidBuggyIPs: true}, IPv4,
			addrs("192.0.2.255", "192.0.3.0"), 2},
		{"IPv6 skips nothing", Pool{CIDRs: []netip.Prefix{prefix("2001:db8::/126")}, AvoidBuggyIPs: true}, IPv6,
			addrs("2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"), 4},
		{"off: every address", Pool{CIDRs: []netip.Prefix{prefix("192.0.2.0/30")}}, IPv4,
			addrs("192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3"), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pool.Name = "p"
			a, err := NewIPAllocator([]Pool{tt.pool})
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Stats()[0].Capacity; got.Cmp(bigOf(tt.total)) != 0 {
				t.Errorf("capacity %v, want %d", got, tt.total)
			}
			if diff := cmp.Diff(tt.want, drain(t, a, "p", tt.fam), cmpOpts); diff != "" {
				t.Errorf("addresses handed out (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStats(t *testing.T) {
	a, err := NewIPAllocator([]Pool{
		{Name: "dual", CIDRs: []netip.Prefix{prefix("192.0.2.0/24"), prefix("2001:db8::/64")}, AvoidBuggyIPs: true},
		{Name: "four", Ranges: []Range{rng("198.51.100.1", "198.51.100.4")}, CIDRs: []netip.Prefix{prefix("198.51.100.128/25")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range []string{"a", "b", "c"} {
		if _, err := a.Assign(Request{Owner: o, Pools: []string{"dual"}, Families: []Family{IPv4, IPv6}}); err != nil {
			t.Fatal(i, err)
		}
	}
	if _, err := a.Assign(Request{Owner: "d", Pools: []string{"four"}, Families: []Family{IPv4}}); err != nil {
		t.Fatal(err)
	}
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	want := []PoolStats{
		{Pool: "dual", Family: IPv4, Capacity: bigOf(254), Assigned: 3, Free: bigOf(251)},
		{Pool: "dual", Family: IPv6, Capacity: two64, Assigned: 3, Free: new(big.Int).Sub(two64, big.NewInt(3))},
		{Pool: "four", Family: IPv4, Capacity: bigOf(132), Assigned: 1, Free: bigOf(131)},
	}
	if diff := cmp.Diff(want, a.Stats(), cmpOpts); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
	// The whole IPv6 space: 2^128 addresses, one more than a uint128 holds.
	huge, err := NewIPAllocator([]Pool{{Name: "huge", CIDRs: []netip.Prefix{prefix("::/0")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := huge.Assign(Request{Owner: "a", Pools: []string{"huge"}, Families: []Family{IPv6}}); err != nil {
		t.Fatal(err)
	}
	two128 := new(big.Int).Lsh(big.NewInt(1), 128)
	wantHuge := []PoolStats{{Pool: "huge", Family: IPv6, Capacity: two128, Assigned: 1, Free: new(big.Int).Sub(two128, big.NewInt(1))}}
	if diff := cmp.Diff(wantHuge, huge.Stats(), cmpOpts); diff != "" {
		t.Errorf("Stats of ::/0 (-want +got):\n%s", diff)
	}
	// The returned numbers are copies.
	a.Stats()[0].Capacity.SetInt64(0)
	if got := a.Stats()[0].Capacity; got.Cmp(bigOf(254)) != 0 {
		t.Errorf("Stats shares its big.Int with the allocator: capacity now %v", got)
	}
}

func TestPoolsReturnsCopies(t *testing.T) {
	in := []Pool{{Name: "blue", CIDRs: []netip.Prefix{prefix("192.0.2.0/24")}, Ranges: []Range{rng("198.51.100.1", "198.51.100.2")}}}
	a, err := NewIPAllocator(in)
	if err != nil {
		t.Fatal(err)
	}
	in[0].CIDRs[0] = prefix("203.0.113.0/24")
	got := a.Pools()
	got[0].Ranges[0] = rng("203.0.113.1", "203.0.113.2")
	want := []Pool{{Name: "blue", CIDRs: []netip.Prefix{prefix("192.0.2.0/24")}, Ranges: []Range{rng("198.51.100.1", "198.51.100.2")}}}
	if diff := cmp.Diff(want, a.Pools(), cmpOpts); diff != "" {
		t.Errorf("Pools (-want +got):\n%s", diff)
	}
}
