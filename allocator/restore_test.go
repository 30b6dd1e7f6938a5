package allocator

import (
	"errors"
	"net/netip"
	"runtime"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAssignInvalidRequest(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no owner", Request{Pools: []string{"blue"}, Families: []Family{IPv4}},
			`invalid request for "": the owner is empty; name it, e.g. namespace/name`},
		{"no family", Request{Owner: "ns/a", Pools: []string{"blue"}},
			`invalid request for "ns/a": 0 families requested; want IPv4, IPv6 or both`},
		{"unknown family", Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{"IPv5"}},
			`invalid request for "ns/a": unknown family "IPv5"; want IPv4 or IPv6`},
		{"family twice", Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv4, IPv4}},
			`invalid request for "ns/a": family IPv4 requested twice`},
		{"address of another family", want(v4("ns/a", "blue"), "2001:db8::1"),
			`invalid request for "ns/a": address 2001:db8::1 is IPv6 but the families requested are [IPv4]`},
		{"two addresses of a family", want(v4("ns/a", "blue"), "192.0.2.1", "192.0.2.2"),
			`invalid request for "ns/a": two IPv4 addresses requested (192.0.2.1, 192.0.2.2); want at most one per family`},
		{"mapped address", Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv6}, Addresses: addrs("::ffff:192.0.2.1")},
			`invalid request for "ns/a": address ::ffff:192.0.2.1 is IPv4-mapped IPv6; write 192.0.2.1`},
		{"zone", Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv6}, Addresses: addrs("fe80::1%eth0")},
			`invalid request for "ns/a": address fe80::1%eth0 has an IPv6 zone; LoadBalancer addresses take none`},
		{"empty address", Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv6}, Addresses: []netip.Addr{{}}},
			`invalid request for "ns/a": an address is empty`},
		{"bad protocol", shared(v4("ns/a", "blue"), "k", "", Port{80, "HTTP"}),
			`invalid request for "ns/a": port 80 has protocol "HTTP"; want TCP, UDP or SCTP`},
		{"port 0", shared(v4("ns/a", "blue"), "k", "", Port{0, TCP}),
			`invalid request for "ns/a": port 0/TCP is not a port; want 1-65535`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAllocator(t, nil, nil)
			_, err := a.Assign(tt.req)
			var inv *ErrInvalidRequest
			if !errors.As(err, &inv) {
				t.Fatalf("error %v is not an *ErrInvalidRequest", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// A dual-stack request whose IPv6 half fails leaves nothing behind, and an owner that held
// addresses keeps them unchanged.
func TestAssignAllOrNothing(t *testing.T) {
	a := newTestAllocator(t, nil, []step{
		assigned(Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv4, IPv6}}),
	})
	before := a.Stats()
	_, err := a.Assign(Request{Owner: "ns/b", Pools: []string{"v4only"}, Families: []Family{IPv4, IPv6}})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("got %v, want ErrFull", err)
	}
	// ns/a asks for a new IPv4 address (succeeds alone) and a taken IPv6 one (fails).
	_, err = a.Assign(Request{Owner: "ns/a", Pools: []string{"green"}, Families: []Family{IPv4, IPv6}, Addresses: addrs("2001:db8:1::5")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Assign(Request{Owner: "ns/c", Pools: []string{"blue"}, Families: []Family{IPv4, IPv6}, Addresses: addrs("2001:db8:1::5")}); err == nil {
		t.Fatal("ns/c got an address outside its pools")
	}
	if err := a.Restore("ns/x", addrs("198.51.100.9"), Sharing{}); err != nil {
		t.Fatal(err)
	}
	_, err = a.Assign(Request{Owner: "ns/a", Pools: []string{"green"}, Families: []Family{IPv6, IPv4}, Addresses: addrs("198.51.100.9")})
	var c *ErrConflict
	if !errors.As(err, &c) || c.Holder != "ns/x" || c.Owner != "ns/a" {
		t.Fatalf("got %v, want a conflict with ns/x", err)
	}
	if diff := cmp.Diff(addrs("198.51.100.0", "2001:db8:1::5"), a.Addresses("ns/a"), cmpOpts); diff != "" {
		t.Errorf("ns/a after a failed Assign (-want +got):\n%s", diff)
	}
	if got := a.Addresses("ns/b"); got != nil {
		t.Errorf("ns/b holds %v after a failed Assign", got)
	}
	if err := a.checkInvariants(); err != nil {
		t.Error(err)
	}
	a.Release("ns/x")
	a.Release("ns/a")
	if _, err := a.Assign(Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv4, IPv6}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, a.Stats(), cmpOpts); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestRestore(t *testing.T) {
	tests := []struct {
		name    string
		before  []step
		owner   string
		addrs   []netip.Addr
		sharing Sharing
		wantErr string
		want    map[string][]netip.Addr // holdings afterwards
	}{
		{
			name:  "into a pool and outside every pool",
			owner: "ns/a", addrs: addrs("192.0.2.5", "2001:db8:ffff::1"),
			want: map[string][]netip.Addr{"ns/a": addrs("192.0.2.5", "2001:db8:ffff::1")},
		},
		{
			name:   "conflict names both owners, nothing restored",
			before: []step{restored("ns/x", Sharing{}, "192.0.2.5")},
			owner:  "ns/a", addrs: addrs("2001:db8::7", "192.0.2.5"),
			wantErr: `address 192.0.2.5 is held by "ns/x" and cannot also be given to "ns/a": "ns/a" sets no sharing key (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
			want:    map[string][]netip.Addr{"ns/x": addrs("192.0.2.5")},
		},
		{
			name:   "compatible sharers both hold it",
			before: []step{restored("ns/x", Sharing{Key: "k", Ports: []Port{http}}, "192.0.2.5")},
			owner:  "ns/a", addrs: addrs("192.0.2.5"), sharing: Sharing{Key: "k", Ports: []Port{https}},
			want: map[string][]netip.Addr{"ns/x": addrs("192.0.2.5"), "ns/a": addrs("192.0.2.5")},
		},
		{
			name:   "never overwrites the owner's own address",
			before: []step{restored("ns/a", Sharing{}, "192.0.2.5")},
			owner:  "ns/a", addrs: addrs("192.0.2.6"),
			wantErr: `address 192.0.2.6 is held by "ns/a" and cannot also be given to "ns/a": "ns/a" already holds 192.0.2.5 for IPv4; release it before restoring another (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
			want:    map[string][]netip.Addr{"ns/a": addrs("192.0.2.5")},
		},
		{
			name:   "adds the other family",
			before: []step{restored("ns/a", Sharing{}, "192.0.2.5")},
			owner:  "ns/a", addrs: addrs("2001:db8::5"),
			want: map[string][]netip.Addr{"ns/a": addrs("192.0.2.5", "2001:db8::5")},
		},
		{
			name:   "same again is a no-op",
			before: []step{restored("ns/a", Sharing{}, "192.0.2.5")},
			owner:  "ns/a", addrs: addrs("192.0.2.5"),
			want: map[string][]netip.Addr{"ns/a": addrs("192.0.2.5")},
		},
		{
			name: "new sharing must suit the co-holders of addresses already held",
			before: []step{
				restored("ns/x", Sharing{Key: "k", Ports: []Port{http}}, "192.0.2.5"),
				restored("ns/a", Sharing{Key: "k", Ports: []Port{https}}, "192.0.2.5"),
			},
			owner: "ns/a", addrs: addrs("2001:db8::5"), sharing: Sharing{Key: "k", Ports: []Port{http}},
			wantErr: `address 192.0.2.5 is held by "ns/x" and cannot also be given to "ns/a": both use port 80/TCP (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
			want:    map[string][]netip.Addr{"ns/x": addrs("192.0.2.5"), "ns/a": addrs("192.0.2.5")},
		},
		{
			name:    "two addresses of one family",
			owner:   "ns/a",
			addrs:   addrs("192.0.2.5", "192.0.2.6"),
			wantErr: `invalid request for "ns/a": two IPv4 addresses (192.0.2.5, 192.0.2.6); an owner holds at most one per family`,
			want:    map[string][]netip.Addr{},
		},
		{
			name:    "nothing",
			owner:   "ns/a",
			wantErr: `invalid request for "ns/a": no address to restore`,
			want:    map[string][]netip.Addr{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAllocator(t, nil, tt.before)
			err := a.Restore(tt.owner, tt.addrs, tt.sharing)
			if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			got := map[string][]netip.Addr{}
			for _, o := range []string{"ns/a", "ns/x"} {
				if h := a.Addresses(o); h != nil {
					got[o] = h
				}
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("holdings (-want +got):\n%s", diff)
			}
			if err := a.checkInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	a := newTestAllocator(t, nil, []step{
		assigned(shared(Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv4, IPv6}}, "k", "", http)),
		assigned(shared(v4("ns/b", "blue"), "k", "", https)),
	})
	if diff := cmp.Diff(addrs("192.0.2.1", "2001:db8::"), a.Release("ns/a"), cmpOpts); diff != "" {
		t.Errorf("Release (-want +got):\n%s", diff)
	}
	if got := a.Release("ns/a"); got != nil {
		t.Errorf("second Release = %v, want nil", got)
	}
	// ns/b still holds the shared address, so it is not handed out again.
	res, err := a.Assign(v4("ns/c", "blue"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(addrs("192.0.2.2"), []netip.Addr{res.Addresses[0].Addr}, cmpOpts); diff != "" {
		t.Errorf("next address (-want +got):\n%s", diff)
	}
	if err := a.checkInvariants(); err != nil {
		t.Error(err)
	}
}

// Released addresses are reused oldest first; when a range empties it starts again from its first
// address.
func TestReuseOrder(t *testing.T) {
	a := newTestAllocator(t, nil, nil)
	for _, o := range []string{"a", "b", "c", "d"} {
		assigned(v4(o, "blue"))(t, a)
	}
	a.Release("c")
	a.Release("a")
	var got []netip.Addr
	for _, o := range []string{"e", "f", "g"} {
		res, err := a.Assign(v4(o, "blue"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Addresses[0].Addr)
	}
	if diff := cmp.Diff(addrs("192.0.2.3", "192.0.2.1", "192.0.2.5"), got, cmpOpts); diff != "" {
		t.Errorf("reuse order (-want +got):\n%s", diff)
	}
	for _, o := range []string{"b", "d", "e", "f", "g"} {
		a.Release(o)
	}
	res, err := a.Assign(v4("h", "blue"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Addresses[0].Addr != addr("192.0.2.1") {
		t.Errorf("after the range emptied got %v, want 192.0.2.1", res.Addresses[0].Addr)
	}
}

func TestSetPoolsOrphans(t *testing.T) {
	a := newTestAllocator(t, nil, []step{
		assigned(want(v4("ns/a", "blue"), "192.0.2.100")),
		assigned(v4("ns/c", "tiny")),
		restored("ns/d", Sharing{}, "203.0.113.9"),
	})
	shrunk := []Pool{
		{Name: "blue", CIDRs: []netip.Prefix{prefix("192.0.2.0/26"), prefix("2001:db8::/64")}, AvoidBuggyIPs: true},
		testPools()[1],
	}
	if err := a.SetPools(shrunk); err != nil {
		t.Fatal(err)
	}
	want := []Orphan{
		{Addr: addr("192.0.2.100"), Pool: "blue", Owners: []string{"ns/a"}},
		{Addr: addr("192.0.2.200"), Pool: "tiny", Owners: []string{"ns/c"}},
		{Addr: addr("203.0.113.9"), Owners: []string{"ns/d"}},
	}
	if diff := cmp.Diff(want, a.Orphans(), cmpOpts); diff != "" {
		t.Errorf("Orphans (-want +got):\n%s", diff)
	}
	// Nobody moved.
	for o, x := range map[string]string{"ns/a": "192.0.2.100", "ns/c": "192.0.2.200", "ns/d": "203.0.113.9"} {
		if diff := cmp.Diff(addrs(x), a.Addresses(o), cmpOpts); diff != "" {
			t.Errorf("%s (-want +got):\n%s", o, diff)
		}
	}
	// Growing the pool back adopts the orphan and counts it.
	if err := a.SetPools(testPools()); err != nil {
		t.Fatal(err)
	}
	want = []Orphan{{Addr: addr("203.0.113.9"), Owners: []string{"ns/d"}}}
	if diff := cmp.Diff(want, a.Orphans(), cmpOpts); diff != "" {
		t.Errorf("Orphans after regrowth (-want +got):\n%s", diff)
	}
	if got := a.Stats()[0].Assigned; got != 1 {
		t.Errorf("blue IPv4 assigned = %d, want 1", got)
	}
	if err := a.checkInvariants(); err != nil {
		t.Error(err)
	}
}

// An unchanged range keeps its cursor and queue across SetPools: the oldest released address is
// still the next one handed out.
func TestSetPoolsKeepsUnchangedRanges(t *testing.T) {
	a := newTestAllocator(t, nil, nil)
	for _, o := range []string{"a", "b", "c"} {
		assigned(v4(o, "blue"))(t, a)
	}
	a.Release("c") // 192.0.2.3, queued first
	a.Release("b") // 192.0.2.2
	pools := testPools()
	pools[1].Name = "renamed"
	if err := a.SetPools(pools); err != nil {
		t.Fatal(err)
	}
	res, err := a.Assign(v4("d", "blue"))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Addresses[0].Addr; got != addr("192.0.2.3") {
		t.Errorf("got %v, want 192.0.2.3 (the queue was lost)", got)
	}
	if err := a.checkInvariants(); err != nil {
		t.Error(err)
	}
}

// A /64 pool costs no memory by its size: 10,000 allocations in it take a few MB at most, not 2^64
// bits. The bound is generous; the benchmarks report the real cost.
func TestIPv6Slash64Memory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a, err := NewIPAllocator([]Pool{{Name: "six", CIDRs: []netip.Prefix{prefix("2001:db8::/64")}}})
	if err != nil {
		t.Fatal(err)
	}
	owners := make([]string, 10000)
	for i := range owners {
		owners[i] = "ns/svc-" + strconv.Itoa(i)
		if _, err := a.Assign(Request{Owner: owners[i], Pools: []string{"six"}, Families: []Family{IPv6}}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 32<<20 {
		t.Errorf("10k allocations in a /64 grew the heap by %d bytes", grown)
	}
	if s := a.pools.segs[1][0]; s.cursor != addr("2001:db8::2710") {
		t.Errorf("cursor at %v after 10000 allocations", s.cursor)
	}
	runtime.KeepAlive(a)
}

// An address released (so queued), then requested explicitly, then released again is queued once:
// the next allocations get it and then a new address, never it twice.
func TestStaleQueueEntries(t *testing.T) {
	a := newTestAllocator(t, nil, nil)
	check := func(step string) {
		t.Helper()
		if err := a.checkInvariants(); err != nil {
			t.Fatalf("after %s: %v", step, err)
		}
	}
	for _, o := range []string{"a", "b", "c"} {
		assigned(v4(o, "blue"))(t, a)
	}
	a.Release("b") // 192.0.2.2 queued
	check("release b")
	assigned(want(v4("x", "blue"), "192.0.2.2"))(t, a) // its queue entry goes stale
	check("request 192.0.2.2")
	a.Release("x") // still queued once: not pushed again
	check("release x")
	assigned(want(v4("y", "blue"), "192.0.2.2"))(t, a)
	a.Release("y")
	check("request and release again")
	var got []netip.Addr
	for _, o := range []string{"d", "e"} {
		res, err := a.Assign(v4(o, "blue"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Addresses[0].Addr)
		check("assign " + o)
	}
	if diff := cmp.Diff(addrs("192.0.2.2", "192.0.2.4"), got, cmpOpts); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
}
