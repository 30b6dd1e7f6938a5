package baremetal

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// atVersion is s as the API server stored it at resourceVersion rv, with status addrs: the copy an
// informer cache hands a replica.
func atVersion(s *v1.Service, rv string, addrs ...string) *v1.Service {
	c := s.DeepCopy()
	c.ResourceVersion = rv
	c.Status.LoadBalancer = v1.LoadBalancerStatus{}
	for _, a := range addrs {
		c.Status.LoadBalancer.Ingress = append(c.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: a})
	}
	return c
}

// twoReplicas returns two balancers over one IPAllocation API whose next picks differ, as two
// replicas' allocators do after different histories: b gave an address to a Service that a then
// deleted, and b has not heard of it yet.
func twoReplicas(t *testing.T) (a, b testLB, api *fakeAllocations) {
	t.Helper()
	pool := newPool("blue", []string{"198.51.100.0/29"})
	api = newFakeAllocations()
	a = newTestBalancer(t, api, nil, pool)
	b = newTestBalancer(t, api, nil, pool)
	w := newService("w")
	ensureOnce(t, b, w)
	if err := a.EnsureLoadBalancerDeleted(context.Background(), "cluster", w); err != nil {
		t.Fatal(err)
	}
	return a, b, api
}

func ensureOnce(t *testing.T, lb testLB, svc *v1.Service) []string {
	t.Helper()
	st, err := lb.EnsureLoadBalancer(context.Background(), "cluster", svc, nil)
	if err != nil {
		t.Fatalf("EnsureLoadBalancer(%s@%s): %v", svc.Name, svc.ResourceVersion, err)
	}
	var ips []string
	for _, in := range st.Ingress {
		ips = append(ips, in.IP)
	}
	return ips
}

// Two replicas act on one Service. Replica a's pick reached the status (version 6); replica b,
// its Service cache still at version 5 (no status), picks another address and, seeing a's claim
// naming the Service, would release it: the status names that address, so another Service could
// then be given it too. The claim's fence (a's status write was preconditioned on version 5) makes
// b's release wait. Once b sees version 6 it adopts a's address and releases its own pick.
func TestStaleServiceCacheDoesNotReleaseTheStatusAddress(t *testing.T) {
	a, b, api := twoReplicas(t)
	s := newService("s")

	x := ensureOnce(t, a, atVersion(s, "5"))
	// a's status write, preconditioned on version 5, succeeded: the Service is at version 6.
	y := ensureOnce(t, b, atVersion(s, "5")) // b's cache is behind; its own write will fail
	if cmp.Equal(x, y) {
		t.Fatalf("both replicas picked %v; the test wants them to differ", x)
	}
	if got := api.holders(); !cmp.Equal(got[x[0]], []string{"default/s"}) {
		t.Fatalf("the stale replica released %s while the status names it: IPAllocations %v", x[0], got)
	}

	// b sees version 6: it keeps the status address and releases its own pick.
	if got := ensureOnce(t, b, atVersion(s, "6", x[0])); !cmp.Equal(got, x) {
		t.Fatalf("replica b at version 6 returned %v, want the status address %v", got, x)
	}
	if diff := cmp.Diff(map[string][]string{x[0]: {"default/s"}}, api.holders()); diff != "" {
		t.Fatalf("IPAllocations after b caught up (-want +got):\n%s", diff)
	}
	// And b hands the status address to nobody else.
	if got := ensureOnce(t, b, atVersion(newService("t"), "7")); got[0] == x[0] {
		t.Fatalf("another Service was given %s, which s's status names", x[0])
	}
}

// The release rule of claimStore: a holder leaves only if a version of its Service that is newer
// than the holder's fence shows a status without the address.
func TestReleaseWaitsForTheFence(t *testing.T) {
	ctx := context.Background()
	api := newFakeAllocations()
	st := &claimStore{client: api}
	x, ref := mustAddr("198.51.100.1"), refOf("default", "s", "uid-s")
	if err := st.claim(ctx, x, "blue", "", false, ref, "10"); err != nil { // a status write at 10 is coming
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		seen serviceState
	}{
		{"version of the fence", serviceState{version: "10"}},
		{"older version", serviceState{version: "9"}},
		{"status names it", serviceState{version: "11", status: []netip.Addr{x}}},
		{"version not comparable", serviceState{version: "x"}},
	} {
		if err := st.release(ctx, x, ref, tc.seen); !errors.Is(err, errReleaseDeferred) {
			t.Errorf("%s: release = %v, want it deferred", tc.name, err)
		}
	}
	// Claiming again for a later write raises the fence; an older one leaves it.
	if err := st.claim(ctx, x, "blue", "", false, ref, "12"); err != nil {
		t.Fatal(err)
	}
	writes := api.writes
	if err := st.claim(ctx, x, "blue", "", false, ref, "11"); err != nil || api.writes != writes {
		t.Fatalf("claim with an older fence: err %v, %d writes; want nil and none", err, api.writes-writes)
	}
	if err := st.release(ctx, x, ref, serviceState{version: "11"}); !errors.Is(err, errReleaseDeferred) {
		t.Errorf("release at 11 after the fence went to 12 = %v, want it deferred", err)
	}
	if err := st.release(ctx, x, ref, serviceState{version: "13"}); err != nil {
		t.Fatalf("release at 13: %v", err)
	}
	if len(api.holders()) != 0 {
		t.Fatalf("IPAllocations after the release: %v, want none", api.holders())
	}
}

// The repair pass releases a claim its Service does not stand behind (the other replica's losing
// pick) once the cached Service is newer than that claim's fence, and not before.
func TestRepairReleasesTheOtherReplicasLosingPick(t *testing.T) {
	a, b, api := twoReplicas(t)
	s := newService("s")
	x := ensureOnce(t, a, atVersion(s, "5"))
	y := ensureOnce(t, b, atVersion(s, "5")) // b's write wins: version 6 names y; a stops
	if cmp.Equal(x, y) {
		t.Fatalf("both replicas picked %v; the test wants them to differ", x)
	}
	served := func(*v1.Service) bool { return true }
	r := newRepairer(b.balancer)
	cached := atVersion(s, "5")
	lookup := func(_, name string) (*v1.Service, bool) { return cached, name == "s" }
	if n := r.pass(context.Background(), api.list(), lookup, served); n != 0 {
		t.Fatalf("with the cache at version 5 the pass released %d claims, want 0: %v", n, api.holders())
	}
	cached = atVersion(s, "6", y[0])
	if n := r.pass(context.Background(), api.list(), lookup, served); n != 1 {
		t.Fatalf("with the cache at version 6 the pass released %d claims, want 1", n)
	}
	if diff := cmp.Diff(map[string][]string{y[0]: {"default/s"}}, api.holders()); diff != "" {
		t.Fatalf("IPAllocations after repair (-want +got):\n%s", diff)
	}
}

// A restart while a Service holds two claims of one family (both replicas' picks): the one its
// status names is restored as its own, the other is held apart and released by the next Ensure.
func TestRestartWithTwoClaimsOfOneFamily(t *testing.T) {
	a, b, api := twoReplicas(t)
	s := newService("s")
	x := ensureOnce(t, a, atVersion(s, "5"))
	y := ensureOnce(t, b, atVersion(s, "5"))
	if cmp.Equal(x, y) {
		t.Fatalf("both replicas picked %v; the test wants them to differ", x)
	}
	live := atVersion(s, "6", y[0]) // b's write won
	c := newTestBalancer(t, api, []*v1.Service{live}, newPool("blue", []string{"198.51.100.0/29"}))
	if got := c.alloc.Addresses("default/s"); len(got) != 1 || got[0].String() != y[0] {
		t.Fatalf("restored %v for s, want the status address %s", got, y[0])
	}
	if got := ensureOnce(t, c, atVersion(newService("t"), "7")); got[0] == x[0] || got[0] == y[0] {
		t.Fatalf("after the restart another Service was given %v, which s's claims hold", got)
	}
	if got := ensureOnce(t, c, live); !cmp.Equal(got, y) {
		t.Fatalf("s got %v after the restart, want %v", got, y)
	}
	if got := api.holders(); got[x[0]] != nil || !cmp.Equal(got[y[0]], []string{"default/s"}) {
		t.Fatalf("IPAllocations after s's Ensure: %v, want %s released and %s kept", got, x[0], y[0])
	}
}

// EnsureLoadBalancerDeleted given a copy that still names addresses (the Service was deleted
// without the finalizer, or is being re-created) reads the Service: while a Service of that UID
// still shows the address, the claim stays; once it is gone, the claim goes.
func TestDeleteReadsTheServiceWhenItsCopyNamesAddresses(t *testing.T) {
	lb := newTestBalancer(t, nil, nil, newPool("blue", []string{"198.51.100.0/29"}))
	s := newService("s")
	x := ensureOnce(t, lb, atVersion(s, "5"))
	stored := atVersion(s, "6", x[0])
	kube := fake.NewClientset(stored, atVersion(newService("other"), "3"))
	lb.getService = serviceReader(kube)

	if err := lb.EnsureLoadBalancerDeleted(context.Background(), "cluster", stored); err == nil {
		t.Fatal("EnsureLoadBalancerDeleted succeeded while the Service's status still names its address")
	}
	if got := lb.api.holders(); !cmp.Equal(got[x[0]], []string{"default/s"}) {
		t.Fatalf("IPAllocations while the status names %s: %v", x[0], got)
	}
	if got := ensureOnce(t, lb, atVersion(newService("t"), "7")); got[0] == x[0] {
		t.Fatalf("another Service was given %s while s's status names it", x[0])
	}
	if err := kube.CoreV1().Services("default").Delete(context.Background(), "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lb.EnsureLoadBalancerDeleted(context.Background(), "cluster", stored); err != nil {
		t.Fatalf("EnsureLoadBalancerDeleted after the Service is gone: %v", err)
	}
	if got := lb.api.holders(); got[x[0]] != nil {
		t.Fatalf("IPAllocations after the Service is gone: %v, want %s released", got, x[0])
	}
}
