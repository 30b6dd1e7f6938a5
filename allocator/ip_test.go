package allocator

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testPools: "blue" 192.0.2.0/25 (AvoidBuggyIPs) and 2001:db8::/64; "green" 198.51.100.0/24 and
// 2001:db8:1::/64; "tiny" one address, 192.0.2.200, shared across scopes; "v4only"
// 192.0.2.210-192.0.2.219.
func testPools() []Pool {
	return []Pool{
		{Name: "blue", CIDRs: []netip.Prefix{prefix("192.0.2.0/25"), prefix("2001:db8::/64")}, AvoidBuggyIPs: true},
		{Name: "green", CIDRs: []netip.Prefix{prefix("198.51.100.0/24"), prefix("2001:db8:1::/64")}},
		{Name: "tiny", Ranges: []Range{rng("192.0.2.200", "192.0.2.200")}, ShareAcrossScopes: true},
		{Name: "v4only", Ranges: []Range{rng("192.0.2.210", "192.0.2.219")}},
	}
}

const sharingRules = "(owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)"

type step func(t *testing.T, a *IPAllocator)

func assigned(req Request) step {
	return func(t *testing.T, a *IPAllocator) {
		t.Helper()
		if _, err := a.Assign(req); err != nil {
			t.Fatalf("Assign(%+v): %v", req, err)
		}
	}
}

func restored(owner string, s Sharing, xs ...string) step {
	return func(t *testing.T, a *IPAllocator) {
		t.Helper()
		if err := a.Restore(owner, addrs(xs...), s); err != nil {
			t.Fatalf("Restore(%s, %v): %v", owner, xs, err)
		}
	}
}

func poolsSet(pools []Pool) step {
	return func(t *testing.T, a *IPAllocator) {
		t.Helper()
		if err := a.SetPools(pools); err != nil {
			t.Fatal(err)
		}
	}
}

func v4(owner string, pools ...string) Request {
	return Request{Owner: owner, Pools: pools, Families: []Family{IPv4}}
}

func shared(r Request, key, backend string, ports ...Port) Request {
	r.Sharing = Sharing{Key: key, Backend: backend, Ports: ports}
	return r
}

// scoped sets the request's sharing scope.
func scoped(r Request, scope string) Request {
	r.Sharing.Scope = scope
	return r
}

func want(r Request, xs ...string) Request {
	r.Addresses = addrs(xs...)
	return r
}

func newTestAllocator(t *testing.T, pools []Pool, steps []step) *IPAllocator {
	t.Helper()
	if pools == nil {
		pools = testPools()
	}
	a, err := NewIPAllocator(pools)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		s(t, a)
	}
	return a
}

var (
	http  = Port{80, TCP}
	https = Port{443, TCP}
	dns   = Port{53, UDP}
)

func TestAssign(t *testing.T) {
	tests := []struct {
		name    string
		before  []step
		req     Request
		want    Result
		wantErr string
		wantIs  error
	}{
		{
			name: "first free address of the first candidate pool",
			req:  v4("ns/a", "blue", "green"),
			want: Result{Addresses: []Address{{Addr: addr("192.0.2.1"), Pool: "blue", New: true}}},
		},
		{
			name: "candidate order decides",
			req:  v4("ns/a", "green", "blue"),
			want: Result{Addresses: []Address{{Addr: addr("198.51.100.0"), Pool: "green", New: true}}},
		},
		{
			name:   "next pool when the first is full",
			before: []step{assigned(v4("ns/x", "tiny"))},
			req:    v4("ns/a", "tiny", "green"),
			want:   Result{Addresses: []Address{{Addr: addr("198.51.100.0"), Pool: "green", New: true}}},
		},
		{
			name:   "full",
			before: []step{assigned(v4("ns/x", "tiny"))},
			req:    v4("ns/a", "tiny"),
			wantIs: ErrFull, wantErr: `no free address or port left: every IPv4 address of the candidate pools ("tiny") is taken`,
		},
		{
			name:   "no address of the family",
			req:    Request{Owner: "ns/a", Pools: []string{"tiny", "v4only"}, Families: []Family{IPv6}},
			wantIs: ErrFull, wantErr: `no free address or port left: none of the candidate pools ("tiny", "v4only") has IPv6 addresses`,
		},
		{
			name:   "no candidate pool",
			req:    v4("ns/a"),
			wantIs: ErrFull, wantErr: `no free address or port left: no candidate pool for a new IPv4 address`,
		},
		{
			name:   "addresses taken by request or restore are skipped",
			before: []step{assigned(want(v4("ns/x", "blue"), "192.0.2.1")), restored("ns/y", Sharing{}, "192.0.2.2")},
			req:    v4("ns/a", "blue"),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.3"), Pool: "blue", New: true}}},
		},
		{
			name: "requested address",
			req:  want(v4("ns/a", "blue"), "192.0.2.77"),
			want: Result{Addresses: []Address{{Addr: addr("192.0.2.77"), Pool: "blue", New: true}}},
		},
		{
			name:    "requested address outside the candidate pools",
			req:     want(v4("ns/a", "blue", "tiny"), "198.51.100.7"),
			wantErr: `address 198.51.100.7 is not in any candidate pool; it must belong to one of: "blue" (192.0.2.0/25), "tiny" (192.0.2.200-192.0.2.200)`,
		},
		{
			name:    "requested address skipped by AvoidBuggyIPs",
			req:     want(v4("ns/a", "blue"), "192.0.2.127"),
			wantErr: `address 192.0.2.127 is not in any candidate pool; it must belong to one of: "blue" (192.0.2.0/25)`,
		},
		{
			name:    "requested address held without a sharing key",
			before:  []step{assigned(want(v4("ns/x", "blue"), "192.0.2.9"))},
			req:     shared(want(v4("ns/a", "blue"), "192.0.2.9"), "k", ""),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.9 is held by "ns/x" and cannot also be given to "ns/a": the holder has no sharing key (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
		},
		{
			name:    "requested address, requester has no key",
			before:  []step{assigned(shared(want(v4("ns/x", "blue"), "192.0.2.9"), "k", ""))},
			req:     want(v4("ns/a", "blue"), "192.0.2.9"),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.9 is held by "ns/x" and cannot also be given to "ns/a": "ns/a" sets no sharing key (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
		},
		{
			name:   "shared: same key, backend, distinct ports",
			before: []step{assigned(shared(want(v4("ns/x", "blue"), "192.0.2.9"), "k", "b", http))},
			req:    shared(want(v4("ns/a", "blue"), "192.0.2.9"), "k", "b", https, Port{80, UDP}),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.9"), Pool: "blue", New: true, Shared: true}}},
		},
		{
			name:    "sharing refused: port collision",
			before:  []step{assigned(shared(want(v4("ns/x", "blue"), "192.0.2.9"), "k", "b", http, dns))},
			req:     shared(want(v4("ns/a", "blue"), "192.0.2.9"), "k", "b", https, dns),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.9 is held by "ns/x" and cannot also be given to "ns/a": both use port 53/UDP (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
		},
		{
			name:    "sharing refused: keys differ",
			before:  []step{assigned(shared(want(v4("ns/x", "blue"), "192.0.2.9"), "k1", "b"))},
			req:     shared(want(v4("ns/a", "blue"), "192.0.2.9"), "k2", "b"),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.9 is held by "ns/x" and cannot also be given to "ns/a": the holder's sharing key is not "k2" (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
		},
		{
			name:    "sharing refused: backends differ",
			before:  []step{assigned(shared(want(v4("ns/x", "blue"), "192.0.2.9"), "k", "local:app=a"))},
			req:     shared(want(v4("ns/a", "blue"), "192.0.2.9"), "k", "local:app=b"),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.9 is held by "ns/x" and cannot also be given to "ns/a": the holder's backend is not "local:app=b" (owners share an address only with equal non-empty sharing keys, equal backends, no common port/protocol, and the same scope unless the pool allows sharing across scopes)`,
		},
		{
			// Issue 17: a key is its scope's own. The reply says neither the holder nor whether
			// the key was right.
			name:    "sharing refused: another scope, same key",
			before:  []step{assigned(scoped(shared(want(v4("ns-a/x", "blue"), "192.0.2.9"), "k", "b", http), "ns-a"))},
			req:     scoped(shared(want(v4("ns-b/a", "blue"), "192.0.2.9"), "k", "b", https), "ns-b"),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.9 is held by an owner of another scope and cannot also be given to "ns-b/a": it is held in another scope, and its pool does not allow sharing across scopes ` + sharingRules,
		},
		{
			name:    "sharing refused: another scope, another key",
			before:  []step{assigned(scoped(shared(want(v4("ns-a/x", "blue"), "192.0.2.9"), "k", "b", http), "ns-a"))},
			req:     scoped(shared(want(v4("ns-b/a", "blue"), "192.0.2.9"), "guess", "b", https), "ns-b"),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.9 is held by an owner of another scope and cannot also be given to "ns-b/a": it is held in another scope, and its pool does not allow sharing across scopes ` + sharingRules,
		},
		{
			name:   "sharing key: holders of another scope are not joined",
			before: []step{assigned(scoped(shared(v4("ns-a/x", "blue"), "k", "b", http), "ns-a"))},
			req:    scoped(shared(v4("ns-b/a", "blue"), "k", "b", https), "ns-b"),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.2"), Pool: "blue", New: true}}},
		},
		{
			name:   "shared across scopes in a pool that allows it",
			before: []step{assigned(scoped(shared(v4("ns-a/x", "tiny"), "k", "b", http), "ns-a"))},
			req:    scoped(shared(v4("ns-b/a", "tiny"), "k", "b", https), "ns-b"),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.200"), Pool: "tiny", New: true, Shared: true}}},
		},
		{
			name:    "across scopes the keys must still match, and the holder's stays unsaid",
			before:  []step{assigned(scoped(shared(want(v4("ns-a/x", "tiny"), "192.0.2.200"), "k", "b", http), "ns-a"))},
			req:     scoped(shared(want(v4("ns-b/a", "tiny"), "192.0.2.200"), "guess", "b", https), "ns-b"),
			wantIs:  ErrAllocated,
			wantErr: `address 192.0.2.200 is held by an owner of another scope and cannot also be given to "ns-b/a": the holder's sharing key is not "guess" ` + sharingRules,
		},
		{
			name: "sharing key joins an address held under the key",
			before: []step{
				assigned(v4("ns/first", "blue")),
				assigned(shared(v4("ns/x", "blue"), "k", "b", http)),
			},
			req:  shared(v4("ns/a", "blue", "green"), "k", "b", https),
			want: Result{Addresses: []Address{{Addr: addr("192.0.2.2"), Pool: "blue", New: true, Shared: true}}},
		},
		{
			name:   "sharing key: a colliding holder is not joined",
			before: []step{assigned(shared(v4("ns/x", "blue"), "k", "b", http))},
			req:    shared(v4("ns/a", "blue"), "k", "b", http),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.2"), Pool: "blue", New: true}}},
		},
		{
			name:   "sharing key: holders outside the candidate pools are not joined",
			before: []step{assigned(shared(v4("ns/x", "green"), "k", "b", http))},
			req:    shared(v4("ns/a", "blue"), "k", "b", https),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.1"), Pool: "blue", New: true}}},
		},
		{
			name: "sharing key: the earliest candidate pool wins",
			before: []step{
				assigned(shared(v4("ns/x", "blue"), "k", "b", http)),
				assigned(shared(v4("ns/y", "green"), "k", "b", https)),
			},
			req:  shared(v4("ns/a", "green", "blue"), "k", "b", dns),
			want: Result{Addresses: []Address{{Addr: addr("198.51.100.0"), Pool: "green", New: true, Shared: true}}},
		},
		{
			name: "dual-stack, in the order asked",
			req:  Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv6, IPv4}},
			want: Result{Addresses: []Address{
				{Addr: addr("2001:db8::"), Pool: "blue", New: true},
				{Addr: addr("192.0.2.1"), Pool: "blue", New: true},
			}},
		},
		{
			name: "dual-stack: each family walks the pool list",
			req:  Request{Owner: "ns/a", Pools: []string{"v4only", "green"}, Families: []Family{IPv4, IPv6}},
			want: Result{Addresses: []Address{
				{Addr: addr("192.0.2.210"), Pool: "v4only", New: true},
				{Addr: addr("2001:db8:1::"), Pool: "green", New: true},
			}},
		},
		{
			name:   "dual-stack, requested IPv6",
			before: []step{assigned(Request{Owner: "ns/x", Pools: []string{"blue"}, Families: []Family{IPv4, IPv6}})},
			req:    Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv4, IPv6}, Addresses: addrs("2001:db8::ff")},
			want: Result{Addresses: []Address{
				{Addr: addr("192.0.2.2"), Pool: "blue", New: true},
				{Addr: addr("2001:db8::ff"), Pool: "blue", New: true},
			}},
		},
		{
			name:    "unknown pool",
			req:     v4("ns/a", "blue", "purple"),
			wantErr: `unknown pool "purple"; known pools: "blue", "green", "tiny", "v4only"`,
		},
		{
			name:   "same request again keeps the address",
			before: []step{assigned(v4("ns/a", "blue"))},
			req:    v4("ns/a", "blue"),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.1"), Pool: "blue"}}},
		},
		{
			name:   "kept while still a candidate, even if not the first",
			before: []step{assigned(v4("ns/a", "blue"))},
			req:    v4("ns/a", "green", "blue"),
			want:   Result{Addresses: []Address{{Addr: addr("192.0.2.1"), Pool: "blue"}}},
		},
		{
			name:   "moved when the pool is no longer a candidate",
			before: []step{assigned(v4("ns/a", "blue"))},
			req:    v4("ns/a", "green"),
			want: Result{
				Addresses: []Address{{Addr: addr("198.51.100.0"), Pool: "green", New: true}},
				Released:  addrs("192.0.2.1"),
			},
		},
		{
			name:   "moved when another address is requested",
			before: []step{assigned(v4("ns/a", "blue"))},
			req:    want(v4("ns/a", "blue"), "192.0.2.50"),
			want: Result{
				Addresses: []Address{{Addr: addr("192.0.2.50"), Pool: "blue", New: true}},
				Released:  addrs("192.0.2.1"),
			},
		},
		{
			name: "moved when its ports now collide with a co-holder",
			before: []step{
				assigned(shared(v4("ns/x", "blue"), "k", "b", http)),
				assigned(shared(v4("ns/a", "blue"), "k", "b", https)),
			},
			req: shared(v4("ns/a", "blue"), "k", "b", http),
			want: Result{
				Addresses: []Address{{Addr: addr("192.0.2.2"), Pool: "blue", New: true}},
				Released:  addrs("192.0.2.1"),
			},
		},
		{
			name:   "family dropped is released",
			before: []step{assigned(Request{Owner: "ns/a", Pools: []string{"blue"}, Families: []Family{IPv4, IPv6}})},
			req:    v4("ns/a", "blue"),
			want: Result{
				Addresses: []Address{{Addr: addr("192.0.2.1"), Pool: "blue"}},
				Released:  addrs("2001:db8::"),
			},
		},
		{
			name: "orphan kept when its pool shrank",
			before: []step{
				assigned(want(v4("ns/a", "blue"), "192.0.2.100")),
				poolsSet(append(testPools()[1:], Pool{Name: "blue", CIDRs: []netip.Prefix{prefix("192.0.2.0/26")}})),
			},
			req:  v4("ns/a", "blue"),
			want: Result{Addresses: []Address{{Addr: addr("192.0.2.100")}}},
		},
		{
			name: "orphan kept when its pool is gone",
			before: []step{
				assigned(v4("ns/a", "tiny")),
				poolsSet(testPools()[:2]),
			},
			req:  v4("ns/a", "green"),
			want: Result{Addresses: []Address{{Addr: addr("192.0.2.200")}}},
		},
		{
			name: "orphan moved when the owner asks for another existing pool",
			before: []step{
				assigned(want(v4("ns/a", "blue"), "192.0.2.100")),
				poolsSet(append(testPools()[1:], Pool{Name: "blue", CIDRs: []netip.Prefix{prefix("192.0.2.0/26")}})),
			},
			req: v4("ns/a", "green"),
			want: Result{
				Addresses: []Address{{Addr: addr("198.51.100.0"), Pool: "green", New: true}},
				Released:  addrs("192.0.2.100"),
			},
		},
		{
			name:   "restored orphan is kept",
			before: []step{restored("ns/a", Sharing{}, "203.0.113.5")},
			req:    v4("ns/a", "blue"),
			want:   Result{Addresses: []Address{{Addr: addr("203.0.113.5")}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAllocator(t, nil, tt.before)
			got, err := a.Assign(tt.req)
			if tt.wantErr != "" || err != nil {
				if diff := cmp.Diff(tt.wantErr, errString(err)); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
				}
			}
			if diff := cmp.Diff(tt.want, got, cmpOpts); diff != "" {
				t.Errorf("Assign (-want +got):\n%s", diff)
			}
			if err := a.checkInvariants(); err != nil {
				t.Error(err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
