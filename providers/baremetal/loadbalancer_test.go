package baremetal

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func newPool(name string, addresses []string, tweaks ...func(*v1alpha1.IPPool)) *v1alpha1.IPPool {
	p := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1000, 0))},
		Spec: v1alpha1.IPPoolSpec{Addresses: addresses}}
	for _, t := range tweaks {
		t(p)
	}
	return p
}

type testLB struct {
	*balancer
	api  *fakeAllocations
	kick chan struct{} // a token once the pool status writer was asked for a pass
}

// newTestBalancer builds a balancer over pools, with the stateful fake API for IPAllocations, as
// the provider does after restoring (here from nothing, or from api when given).
func newTestBalancer(t *testing.T, api *fakeAllocations, svcs []*v1.Service, pools ...*v1alpha1.IPPool) testLB {
	t.Helper()
	if api == nil {
		api = newFakeAllocations()
	}
	var views []poolView
	for _, p := range pools {
		views = append(views, viewPool(p))
	}
	views, defs := admitPools(views)
	alloc, err := allocator.NewIPAllocator(defs)
	if err != nil {
		t.Fatal(err)
	}
	probs, leaving, _ := restore(alloc, api.list(), svcs, func(*v1.Service) bool { return true })
	if len(probs) > 0 {
		t.Fatalf("restore problems: %v", probs)
	}
	kick := make(chan struct{}, 1)
	ps := newPoolState(func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	ps.set(views)
	ready := make(chan struct{})
	close(ready)
	b := &balancer{alloc: alloc, claims: &claimStore{client: api}, index: api, pools: ps,
		nsLabels: func(ns string) (labels.Set, error) { return labels.Set{"team": ns}, nil },
		ready:    ready, metrics: newRecorder()}
	for _, owner := range leaving {
		b.leaving.add(owner)
	}
	return testLB{balancer: b, api: api, kick: kick}
}

func (lb testLB) ensure(t *testing.T, svc *v1.Service) ([]string, error) {
	t.Helper()
	st, err := lb.EnsureLoadBalancer(context.Background(), "cluster", svc, nil)
	if err != nil {
		return nil, err
	}
	var ips []string
	for _, ing := range st.Ingress {
		if ing.IPMode == nil || *ing.IPMode != v1.LoadBalancerIPModeVIP {
			t.Errorf("ingress %s has ipMode %v, want VIP", ing.IP, ing.IPMode)
		}
		ips = append(ips, ing.IP)
	}
	svc.Status.LoadBalancer = *st
	return ips, nil
}

func mustEnsure(t *testing.T, lb testLB, svc *v1.Service) []string {
	t.Helper()
	ips, err := lb.ensure(t, svc)
	if err != nil {
		t.Fatalf("EnsureLoadBalancer(%s): %v", svc.Name, err)
	}
	return ips
}

func TestEnsureAllocatesAndRecords(t *testing.T) {
	lb := newTestBalancer(t, nil, nil, newPool("blue", []string{"198.51.100.0/30"}))
	<-lb.kick // setting the pools asked for a status pass
	a := newService("a")
	got := mustEnsure(t, lb, a)
	if len(got) != 1 || !strings.HasPrefix(got[0], "198.51.100.") {
		t.Fatalf("addresses = %v, want one from 198.51.100.0/30", got)
	}
	if diff := cmp.Diff(map[string][]string{got[0]: {"default/a"}}, lb.api.holders()); diff != "" {
		t.Fatalf("IPAllocations (-want +got):\n%s", diff)
	}
	calls := lb.api.mutating
	select { // the allocation asked the pool status writer for a pass; take it
	case <-lb.kick:
	default:
		t.Error("a new allocation did not wake the pool status writer")
	}
	if again := mustEnsure(t, lb, a); !cmp.Equal(again, got) {
		t.Fatalf("resync moved the address: %v -> %v", got, again)
	}
	if lb.api.mutating != calls {
		t.Errorf("a resync of an unchanged Service made %d mutating calls, want 0", lb.api.mutating-calls)
	}
	select {
	case <-lb.kick:
		t.Error("a resync of an unchanged Service woke the pool status writer")
	default:
	}
	if err := lb.EnsureLoadBalancerDeleted(context.Background(), "cluster", a); err != nil {
		t.Fatal(err)
	}
	if len(lb.api.holders()) != 0 || len(lb.alloc.Addresses("default/a")) != 0 {
		t.Fatalf("after delete: objects %v, memory %v; want none", lb.api.holders(), lb.alloc.Addresses("default/a"))
	}
}

func TestEnsureBadInputChangesNothing(t *testing.T) {
	pools := []*v1alpha1.IPPool{
		newPool("blue", []string{"198.51.100.0/31"}),
		newPool("team-only", []string{"203.0.113.0/30"}, func(p *v1alpha1.IPPool) { p.Spec.Namespaces = []string{"team"} }),
	}
	tests := []struct {
		name string
		svc  *v1.Service
		want string
	}{
		{"malformed annotation", newService("x", objects.WithAnnotations(AnnotationLoadBalancerIPs, "not-an-ip")), "is not an IP address"},
		{"address outside every pool", newService("x", withLoadBalancerIP("192.0.2.1")), "is not in any candidate pool"},
		{"address of a pool the namespace may not use", newService("x", withLoadBalancerIP("203.0.113.1")), "is not in any candidate pool"},
		{"unknown pool", newService("x", objects.WithAnnotations(AnnotationIPPool, "green")), `IPPool "green" named by frontdesk.dev/ip-pool does not exist`},
		{"pool of another namespace", newService("x", objects.WithAnnotations(AnnotationIPPool, "team-only")), `namespace "default" is neither listed`},
		{"family without pool", newService("x", withFamilies(v1.IPFamilyPolicySingleStack, v1.IPv6Protocol)), "no free address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := newTestBalancer(t, nil, nil, pools...)
			_, err := lb.ensure(t, tt.svc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if len(lb.api.holders()) != 0 || len(lb.alloc.Addresses("default/x")) != 0 {
				t.Fatalf("bad input changed state: objects %v", lb.api.holders())
			}
		})
	}
}

func TestEnsureExhaustedPool(t *testing.T) {
	lb := newTestBalancer(t, nil, nil, newPool("blue", []string{"198.51.100.0/31"}))
	mustEnsure(t, lb, newService("a"))
	mustEnsure(t, lb, newService("b"))
	_, err := lb.ensure(t, newService("c"))
	if !errors.Is(err, allocator.ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if n := len(lb.api.holders()); n != 2 {
		t.Fatalf("%d addresses recorded, want 2", n)
	}
}

func TestEnsureRequestedAndShared(t *testing.T) {
	lb := newTestBalancer(t, nil, nil, newPool("blue", []string{"198.51.100.0/28"}))
	a := newService("a", withLoadBalancerIP("198.51.100.5"), objects.WithAnnotations(AnnotationAllowSharedIP, "k"), objects.WithPorts(tcp(80)))
	if got := mustEnsure(t, lb, a); !cmp.Equal(got, []string{"198.51.100.5"}) {
		t.Fatalf("a got %v, want the requested 198.51.100.5", got)
	}
	b := newService("b", withLoadBalancerIP("198.51.100.5"), objects.WithAnnotations(AnnotationAllowSharedIP, "k"), objects.WithPorts(udp(53)))
	if got := mustEnsure(t, lb, b); !cmp.Equal(got, []string{"198.51.100.5"}) {
		t.Fatalf("b got %v, want to share 198.51.100.5", got)
	}
	c := newService("c", withLoadBalancerIP("198.51.100.5"), objects.WithAnnotations(AnnotationAllowSharedIP, "k"), objects.WithPorts(tcp(80)))
	if _, err := lb.ensure(t, c); err == nil || !strings.Contains(err.Error(), "cannot be shared") {
		t.Fatalf("c with a colliding port: err = %v, want a refusal to share", err)
	}
	d := newService("d", withLoadBalancerIP("198.51.100.5"), objects.WithAnnotations(AnnotationAllowSharedIP, "k"),
		objects.WithPorts(tcp(8080)), objects.LocalTraffic)
	if _, err := lb.ensure(t, d); err == nil || !strings.Contains(err.Error(), "cannot be shared") {
		t.Fatalf("d with an incompatible traffic policy: err = %v, want a refusal to share", err)
	}
	if diff := cmp.Diff(map[string][]string{"198.51.100.5": {"default/a", "default/b"}}, lb.api.holders()); diff != "" {
		t.Fatalf("IPAllocations (-want +got):\n%s", diff)
	}
	// Changing the requested address moves the Service; the old one is released once the status
	// has moved (until then another Service could show it while a's status still does).
	a.Spec.LoadBalancerIP = "198.51.100.6"
	if got := mustEnsure(t, lb, a); !cmp.Equal(got, []string{"198.51.100.6"}) {
		t.Fatalf("a got %v after asking for 198.51.100.6", got)
	}
	if diff := cmp.Diff(map[string][]string{"198.51.100.5": {"default/a", "default/b"}, "198.51.100.6": {"default/a"}}, lb.api.holders()); diff != "" {
		t.Fatalf("IPAllocations in the Ensure that moved a, its status still naming 198.51.100.5 (-want +got):\n%s", diff)
	}
	mustEnsure(t, lb, a) // the status now names 198.51.100.6 only
	if diff := cmp.Diff(map[string][]string{"198.51.100.5": {"default/b"}, "198.51.100.6": {"default/a"}}, lb.api.holders()); diff != "" {
		t.Fatalf("IPAllocations after the move (-want +got):\n%s", diff)
	}
}

func TestEnsureDualStack(t *testing.T) {
	v4, v6 := v1.IPv4Protocol, v1.IPv6Protocol
	lb := newTestBalancer(t, nil, nil, newPool("v4", []string{"198.51.100.0/30"}), newPool("v6", []string{"2001:db8::/64"}))
	got := mustEnsure(t, lb, newService("ds", withFamilies(v1.IPFamilyPolicyRequireDualStack, v6, v4)))
	if len(got) != 2 || !strings.Contains(got[0], ":") || strings.Contains(got[1], ":") {
		t.Fatalf("dual stack got %v, want an IPv6 then an IPv4 address", got)
	}
	only4 := newTestBalancer(t, nil, nil, newPool("v4", []string{"198.51.100.0/30"}))
	if got := mustEnsure(t, only4, newService("p", withFamilies(v1.IPFamilyPolicyPreferDualStack, v4, v6))); len(got) != 1 {
		t.Fatalf("PreferDualStack with IPv4 pools only got %v, want one IPv4 address", got)
	}
	if _, err := only4.ensure(t, newService("r", withFamilies(v1.IPFamilyPolicyRequireDualStack, v4, v6))); err == nil {
		t.Fatal("RequireDualStack with IPv4 pools only succeeded, want an error")
	}
	if n := len(only4.alloc.Addresses("default/r")); n != 0 {
		t.Fatalf("a failed dual-stack request left %d addresses held", n)
	}
}

func TestPoolPriorityAndAutoAssign(t *testing.T) {
	off := false
	lb := newTestBalancer(t, nil, nil,
		newPool("late", []string{"203.0.113.0/30"}, func(p *v1alpha1.IPPool) { p.Spec.Priority = 10 }),
		newPool("early", []string{"198.51.100.0/31"}, func(p *v1alpha1.IPPool) { p.Spec.Priority = -1 }),
		newPool("reserved", []string{"192.0.2.0/30"}, func(p *v1alpha1.IPPool) { p.Spec.AutoAssign = &off }))
	var got []string
	for _, n := range []string{"a", "b", "c"} {
		got = append(got, mustEnsure(t, lb, newService(n))...)
	}
	for i, prefix := range []string{"198.51.100.", "198.51.100.", "203.0.113."} {
		if !strings.HasPrefix(got[i], prefix) {
			t.Fatalf("allocation order %v: address %d should come from %s*", got, i, prefix)
		}
	}
	if got := mustEnsure(t, lb, newService("r", objects.WithAnnotations(AnnotationIPPool, "reserved"))); !strings.HasPrefix(got[0], "192.0.2.") {
		t.Fatalf("named reserved pool gave %v", got)
	}
	if got := mustEnsure(t, lb, newService("q", withLoadBalancerIP("192.0.2.3"))); got[0] != "192.0.2.3" {
		t.Fatalf("requested address of an autoAssign=false pool gave %v", got)
	}
}

// Another controller replica took the address this one was about to give: Create is the lock, the
// loser records the address as held and picks another.
func TestEnsureLosesRaceToOtherController(t *testing.T) {
	lb := newTestBalancer(t, nil, nil, newPool("blue", []string{"198.51.100.0/30"}))
	other := &claimStore{client: lb.api}
	for _, a := range []string{"198.51.100.0", "198.51.100.1"} {
		if err := other.claim(context.Background(), mustAddr(a), "blue", "", false, refOf("default", "elsewhere-"+a, "u"), ""); err != nil {
			t.Fatal(err)
		}
	}
	got := mustEnsure(t, lb, newService("a"))
	if got[0] == "198.51.100.0" || got[0] == "198.51.100.1" {
		t.Fatalf("got %v, an address another controller holds", got)
	}
	holders := lb.api.holders()
	for addr, hs := range holders {
		if len(hs) != 1 {
			t.Fatalf("address %s has holders %v, want exactly one", addr, hs)
		}
	}
}

// A restart rebuilds state from the IPAllocations and Service statuses: nothing moves, and the new
// allocator never hands out a held address.
func TestRestartMovesNothing(t *testing.T) {
	pool := newPool("blue", []string{"198.51.100.0/29"})
	lb := newTestBalancer(t, nil, nil, pool)
	var svcs []*v1.Service
	want := map[string][]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		s := newService(n)
		want[n] = mustEnsure(t, lb, s)
		svcs = append(svcs, s)
	}
	// One Service's status was written but its IPAllocation was lost (a crash, or an older version).
	lost := svcs[3]
	if err := lb.api.Delete(context.Background(), v1alpha1.IPAllocationName(mustAddr(want["d"][0])), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		lb = newTestBalancer(t, lb.api, svcs, pool)
		// A new Service asks first: it must not get an address the restored state holds.
		fresh := mustEnsure(t, lb, newService("new"))
		for _, s := range svcs {
			if got := mustEnsure(t, lb, s); !cmp.Equal(got, want[s.Name]) {
				t.Fatalf("restart %d: %s moved from %v to %v", round, s.Name, want[s.Name], got)
			}
		}
		if hs := lb.api.holders()[want["d"][0]]; len(hs) != 1 || hs[0] != "default/"+lost.Name {
			t.Fatalf("restart %d: the lost IPAllocation was not re-created: %v", round, hs)
		}
		for _, w := range want {
			if fresh[0] == w[0] {
				t.Fatalf("restart %d: new Service got %s, which is held", round, fresh[0])
			}
		}
		if err := lb.EnsureLoadBalancerDeleted(context.Background(), "c", newService("new")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOverlappingPoolsOlderWins(t *testing.T) {
	older := newPool("older", []string{"198.51.100.0/30"})
	newer := newPool("newer", []string{"198.51.100.2-198.51.100.9"}, func(p *v1alpha1.IPPool) {
		p.CreationTimestamp = metav1.NewTime(time.Unix(2000, 0))
	})
	views, defs := admitPools([]poolView{viewPool(newer), viewPool(older)})
	if len(defs) != 1 || defs[0].Name != "older" {
		t.Fatalf("admitted %v, want only the older pool", defs)
	}
	for _, v := range views {
		if v.name == "newer" && (v.invalidReason != v1alpha1.IPPoolReasonOverlap || !strings.Contains(v.invalid, `older pool "older"`)) {
			t.Fatalf("newer pool: reason %q message %q, want an Overlap naming the older pool", v.invalidReason, v.invalid)
		}
	}
}

func TestNamespaceRestrictionsAndLocalSharing(t *testing.T) {
	lb := newTestBalancer(t, nil, nil,
		newPool("team-only", []string{"203.0.113.0/30"}, func(p *v1alpha1.IPPool) { p.Spec.Namespaces = []string{"team"} }),
		newPool("shared", []string{"198.51.100.0/30"}, func(p *v1alpha1.IPPool) { p.Spec.Priority = 1 }))
	if got := mustEnsure(t, lb, newService("t", objects.WithNamespace("team"))); !strings.HasPrefix(got[0], "203.0.113.") {
		t.Fatalf("Service in namespace team got %v, want its team pool first", got)
	}
	if got := mustEnsure(t, lb, newService("o", objects.WithNamespace("other"))); !strings.HasPrefix(got[0], "198.51.100.") {
		t.Fatalf("Service in namespace other got %v, want the shared pool", got)
	}
	// externalTrafficPolicy Local Services share an address only when they select the same Pods.
	sel := map[string]string{"app": "dns"}
	a := newService("dns-tcp", objects.LocalTraffic, objects.WithSelector(sel), objects.WithPorts(tcp(53)), objects.WithAnnotations(AnnotationAllowSharedIP, "dns"))
	b := newService("dns-udp", objects.LocalTraffic, objects.WithSelector(sel), objects.WithPorts(udp(53)), objects.WithAnnotations(AnnotationAllowSharedIP, "dns"))
	c := newService("web", objects.LocalTraffic, objects.WithPorts(tcp(80)), objects.WithAnnotations(AnnotationAllowSharedIP, "dns"))
	ga, gb, gc := mustEnsure(t, lb, a), mustEnsure(t, lb, b), mustEnsure(t, lb, c)
	if ga[0] != gb[0] {
		t.Errorf("Local Services with the same selector got %v and %v, want one shared address", ga, gb)
	}
	if gc[0] == ga[0] {
		t.Errorf("a Local Service with another selector shares %v, want its own address", gc)
	}
}

// The restore saw the IPAllocation but not yet its Service (an informer behind, or the Service
// listed late): the address goes to a stale owner, and the Service adopts it on its first Ensure.
func TestServiceAdoptsAddressRestoredWithoutIt(t *testing.T) {
	pool := newPool("blue", []string{"198.51.100.0/30"})
	lb := newTestBalancer(t, nil, nil, pool)
	a := newService("a")
	want := mustEnsure(t, lb, a)
	restarted := newTestBalancer(t, lb.api, nil, pool) // no Services known at restore time
	if got := mustEnsure(t, restarted, newService("b")); got[0] == want[0] {
		t.Fatalf("b got %v, the address a's IPAllocation holds", got)
	}
	if got := mustEnsure(t, restarted, a); !cmp.Equal(got, want) {
		t.Fatalf("a moved from %v to %v after a restore that did not see it", want, got)
	}
	if n := len(restarted.alloc.Addresses(staleOwner(refOf("default", "a", a.UID)))); n != 0 {
		t.Fatalf("the stale owner still holds %d addresses", n)
	}
}

// A pool the API server never validated (stored before a rule existed) is refused with the reason
// the CRD would have given, and hands out nothing.
func TestUnvalidatedPoolIsRefused(t *testing.T) {
	for _, addrs := range [][]string{
		{"198.51.100.9-198.51.100.1"},            // reversed
		{"198.51.100.0/24", "198.51.100.128/25"}, // overlapping entries
		{"198.51.100.7/24"},                      // host bits set
		// Issue 17: addresses that are never a LoadBalancer's, and whole address spaces.
		{"127.0.0.0/30"}, {"169.254.1.0/24"}, {"224.0.0.0/24"}, {"0.0.0.0/0"},
		{"::1/128"}, {"fe80::/64"}, {"ff02::/16"}, {"::/0"},
	} {
		v := viewPool(newPool("old", addrs))
		if v.invalidReason != v1alpha1.IPPoolReasonInvalidAddresses || !strings.HasPrefix(v.invalid, "spec.addresses: ") {
			t.Errorf("pool %v: reason %q message %q, want InvalidAddresses naming spec.addresses", addrs, v.invalidReason, v.invalid)
		}
		_, defs := admitPools([]poolView{v})
		if len(defs) != 0 {
			t.Errorf("pool %v was admitted", addrs)
		}
	}
}

// Issue 17: a Service's Events name no pool kept for other namespaces or Services, nor its
// restrictions: a tenant learns only that such pools exist.
func TestPoolRefusalsHideOtherTenantsPools(t *testing.T) {
	pools := []*v1alpha1.IPPool{
		newPool("team-secret", []string{"203.0.113.0/30"}, func(p *v1alpha1.IPPool) { p.Spec.Namespaces = []string{"team"} }),
		newPool("labelled", []string{"203.0.113.8/30"}, func(p *v1alpha1.IPPool) {
			p.Spec.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "gold"}}}
		}),
	}
	for _, tt := range []struct {
		name string
		svc  *v1.Service
		want string
	}{
		{"no pool for the namespace", newService("x"), "no IPPool may serve this Service: 2 reserved for other namespaces or Services"},
		{"unknown pool", newService("x", objects.WithAnnotations(AnnotationIPPool, "green")), `IPPool "green" named by frontdesk.dev/ip-pool does not exist; pools this Service may use: (none)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lb := newTestBalancer(t, nil, nil, pools...)
			_, err := lb.ensure(t, tt.svc)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			for _, leak := range []string{"team", "tier", "gold", "labelled"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the message shows %q of another tenant's pool: %v", leak, err)
				}
			}
		})
	}
}

// Issue 17: a refusal by a holder of another namespace names neither that holder nor its key,
// and gives the reason that applies: in a pool that allows cross-namespace sharing the namespace
// is not it, a wrong key is.
func TestForeignConflictGivesItsReason(t *testing.T) {
	pools := []*v1alpha1.IPPool{
		newPool("private", []string{"198.51.100.0/30"}),
		newPool("trusting", []string{"203.0.113.0/30"}, func(p *v1alpha1.IPPool) { p.Spec.AllowCrossNamespaceSharing = true }),
	}
	lb := newTestBalancer(t, nil, nil, pools...)
	for _, addr := range []string{"198.51.100.1", "203.0.113.1"} {
		holder := newService("alpha-"+addr, objects.WithNamespace("tenant-a"),
			objects.WithAnnotations(AnnotationAllowSharedIP, "secret", AnnotationLoadBalancerIPs, addr))
		if _, err := lb.ensure(t, holder); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ addr, want, wrong string }{
		{"198.51.100.1", "only Services of one namespace share an address", "sharing key"},
		{"203.0.113.1", `the holder's sharing key is not "guess"`, "allowCrossNamespaceSharing"},
	} {
		svc := newService("asker", objects.WithNamespace("tenant-b"),
			objects.WithAnnotations(AnnotationAllowSharedIP, "guess", AnnotationLoadBalancerIPs, tt.addr))
		_, err := lb.ensure(t, svc)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.wrong) {
			t.Errorf("%s: err %v; want one saying %q, not %q", tt.addr, err, tt.want, tt.wrong)
		}
		for _, leak := range []string{"tenant-a", "alpha", "secret"} {
			if err != nil && strings.Contains(err.Error(), leak) {
				t.Errorf("%s: the message shows %q of the holder: %v", tt.addr, leak, err)
			}
		}
		if !errors.Is(err, allocator.ErrAllocated) {
			t.Errorf("%s: err %v does not wrap ErrAllocated", tt.addr, err)
		}
	}
}
