package allocator

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// TestAdmitAcrossScopes: owners of two scopes found sharing an address on start-up in a pool
// that does not allow it (a share made before scopes existed) are restored and keep it through
// their Assigns; no other owner joins them across scopes, and an owner that leaves cannot come
// back.
func TestAdmitAcrossScopes(t *testing.T) {
	a, err := NewIPAllocator([]Pool{
		{Name: "p", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/29")}},
		{Name: "open", CIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/29")}, ShareAcrossScopes: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	x := netip.MustParseAddr("192.0.2.3")
	sharing := func(scope string, port uint16) Sharing {
		return Sharing{Key: "team", Scope: scope, Backend: "b", Ports: []Port{{port, TCP}}}
	}
	req := func(owner, scope string, port uint16) Request {
		return Request{Owner: owner, Pools: []string{"p"}, Families: []Family{IPv4}, Sharing: sharing(scope, port)}
	}

	if a.AdmitAcrossScopes(netip.MustParseAddr("198.51.100.3"), []string{"a/one", "b/two"}) {
		t.Error("AdmitAcrossScopes in a pool that shares across scopes reports itself needed")
	}
	if !a.AdmitAcrossScopes(x, []string{"a/one", "b/two"}) {
		t.Fatal("AdmitAcrossScopes in a pool that does not share across scopes reports itself not needed")
	}
	for _, o := range []struct {
		owner, scope string
		port         uint16
	}{{"a/one", "a", 80}, {"b/two", "b", 443}} {
		if err := a.Restore(o.owner, []netip.Addr{x}, sharing(o.scope, o.port)); err != nil {
			t.Fatalf("restoring %s: %v", o.owner, err)
		}
		if res, err := a.Assign(req(o.owner, o.scope, o.port)); err != nil || res.Addresses[0].Addr != x {
			t.Fatalf("%s: Assign gave %v, %v; want it to keep %s", o.owner, res, err, x)
		}
	}

	// Not admitted: refused for the scope, as without the admission.
	var conflict *ErrConflict
	_, err = a.Assign(Request{Owner: "b/three", Pools: []string{"p"}, Families: []Family{IPv4}, Addresses: []netip.Addr{x}, Sharing: sharing("b", 8443)})
	if !errors.As(err, &conflict) || conflict.Reason != ReasonOtherScope {
		t.Errorf("b/three joining %s: %v, want a conflict for the scope", x, err)
	}

	// b/two changes its key: the other rules still hold, so it moves, and cannot come back.
	moved := req("b/two", "b", 443)
	moved.Sharing.Key = "other"
	if res, err := a.Assign(moved); err != nil || res.Addresses[0].Addr == x {
		t.Fatalf("b/two with another key: Assign gave %v, %v; want another address", res, err)
	}
	back := req("b/two", "b", 443)
	back.Addresses = []netip.Addr{x}
	if _, err := a.Assign(back); !errors.As(err, &conflict) || conflict.Reason != ReasonOtherScope {
		t.Errorf("b/two asking for %s back: %v, want a conflict for the scope", x, err)
	}
	if res, err := a.Assign(req("a/one", "a", 80)); err != nil || res.Addresses[0].Addr != x {
		t.Errorf("a/one: Assign gave %v, %v; want it to keep %s", res, err, x)
	}
	if got := a.KeptShares(); len(got) != 0 {
		t.Errorf("KeptShares with one owner left: %v, want none", got)
	}
}

// TestPoolEditKeepsSharesAcrossScopes: a pool that stops allowing shares across scopes leaves the
// shares it holds where they are, as any pool edit does; it only stops new ones.
func TestPoolEditKeepsSharesAcrossScopes(t *testing.T) {
	a, x := shareAcrossScopes(t)
	if got := a.KeptShares(); len(got) != 0 {
		t.Errorf("KeptShares before the edit: %v, want none", got)
	}
	if err := a.SetPools(acrossPool(false)); err != nil {
		t.Fatal(err)
	}
	want := []KeptShare{{Addr: x, Pool: "p", Owners: []string{"a/one", "b/two"}}}
	if got := a.KeptShares(); !reflect.DeepEqual(got, want) {
		t.Errorf("KeptShares after the edit: %v, want %v", got, want)
	}
	for _, r := range []Request{scopedReq("a/one", "a", 80), scopedReq("b/two", "b", 443)} {
		if res, err := a.Assign(r); err != nil || res.Addresses[0].Addr != x {
			t.Errorf("%s after the edit: Assign gave %v, %v; want it to keep %s", r.Owner, res, err, x)
		}
	}
	late := scopedReq("b/three", "b", 8443)
	late.Addresses = []netip.Addr{x}
	var conflict *ErrConflict
	if _, err := a.Assign(late); !errors.As(err, &conflict) || conflict.Reason != ReasonOtherScope {
		t.Errorf("b/three joining %s after the edit: %v, want a conflict for the scope", x, err)
	}
}

// TestPoolReopenedDropsKeptShares: a pool that allows shares across scopes again has no share
// kept against its rule; when it stops once more, it keeps the holders of then, those that joined
// while it allowed them included, as newly kept (the baremetal provider tells the shares KeptShares
// gains on a pool edit).
func TestPoolReopenedDropsKeptShares(t *testing.T) {
	a, x := shareAcrossScopes(t)
	if err := a.SetPools(acrossPool(false)); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPools(acrossPool(true)); err != nil {
		t.Fatal(err)
	}
	if got := a.KeptShares(); len(got) != 0 {
		t.Errorf("KeptShares once the pool allows sharing across scopes again: %v, want none", got)
	}
	if res, err := a.Assign(scopedReq("c/three", "c", 8443)); err != nil || res.Addresses[0].Addr != x {
		t.Fatalf("c/three: Assign gave %v, %v; want it to join %s", res, err, x)
	}
	if err := a.SetPools(acrossPool(false)); err != nil {
		t.Fatal(err)
	}
	want := []KeptShare{{Addr: x, Pool: "p", Owners: []string{"a/one", "b/two", "c/three"}}}
	if got := a.KeptShares(); !reflect.DeepEqual(got, want) {
		t.Errorf("KeptShares after the second edit: %v, want %v", got, want)
	}
}

// acrossPool is the one pool "p" of the pool-edit tests, sharing across scopes or not.
func acrossPool(across bool) []Pool {
	return []Pool{{Name: "p", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/29")}, ShareAcrossScopes: across}}
}

// scopedReq asks pool "p" for an IPv4 address shared under key "team" on port/TCP, in scope.
func scopedReq(owner, scope string, port uint16) Request {
	return Request{Owner: owner, Pools: []string{"p"}, Families: []Family{IPv4},
		Sharing: Sharing{Key: "team", Scope: scope, Backend: "b", Ports: []Port{{port, TCP}}}}
}

// shareAcrossScopes makes the pool-edit tests' start: a/one (scope a) and b/two (scope b)
// sharing x in pool "p", which allows it.
func shareAcrossScopes(t *testing.T) (*IPAllocator, netip.Addr) {
	t.Helper()
	a, err := NewIPAllocator(acrossPool(true))
	if err != nil {
		t.Fatal(err)
	}
	first, err := a.Assign(scopedReq("a/one", "a", 80))
	if err != nil {
		t.Fatal(err)
	}
	x := first.Addresses[0].Addr
	if res, err := a.Assign(scopedReq("b/two", "b", 443)); err != nil || res.Addresses[0].Addr != x {
		t.Fatalf("b/two: Assign gave %v, %v; want it to join %s", res, err, x)
	}
	return a, x
}
