//go:build integration

package baremetal_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/poll"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

func TestAllocateFamilies(t *testing.T) {
	e := newEnv(t, controlplane.WithDualStack())
	e.createPool(t, "v4", "198.51.100.0/28")
	e.createPool(t, "v6", "2001:db8::/64")
	e.startController(t)

	single := func(f v1.IPFamily) func(*v1.Service) {
		return func(s *v1.Service) {
			p := v1.IPFamilyPolicySingleStack
			s.Spec.IPFamilyPolicy, s.Spec.IPFamilies = &p, []v1.IPFamily{f}
		}
	}
	dual := func(s *v1.Service) {
		p := v1.IPFamilyPolicyRequireDualStack
		s.Spec.IPFamilyPolicy, s.Spec.IPFamilies = &p, []v1.IPFamily{v1.IPv6Protocol, v1.IPv4Protocol}
	}
	e.create(t, lbService("four", single(v1.IPv4Protocol)))
	e.create(t, lbService("six", single(v1.IPv6Protocol)))
	e.create(t, lbService("both", dual))
	e.create(t, lbService("asked", func(s *v1.Service) {
		s.Annotations[baremetal.AnnotationLoadBalancerIPs] = "198.51.100.9"
	}))

	if a := e.waitIngress(t, "four", 1, 20*time.Second); !a[0].Is4() {
		t.Errorf("IPv4 Service got %v", a)
	}
	if a := e.waitIngress(t, "six", 1, 20*time.Second); !a[0].Is6() {
		t.Errorf("IPv6 Service got %v", a)
	}
	if a := e.waitIngress(t, "both", 2, 20*time.Second); !a[0].Is6() || !a[1].Is4() {
		t.Errorf("dual-stack Service got %v, want IPv6 then IPv4 as in spec.ipFamilies", a)
	}
	if a := e.waitIngress(t, "asked", 1, 20*time.Second); a[0].String() != "198.51.100.9" {
		t.Errorf("Service asking for 198.51.100.9 got %v", a)
	}
	s, err := e.kube.CoreV1().Services("default").Get(context.Background(), "both", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.IPMode == nil || *ing.IPMode != v1.LoadBalancerIPModeVIP {
			t.Errorf("ingress %s: ipMode %v, want VIP", ing.IP, ing.IPMode)
		}
		obj, err := e.api.IPAllocations().Get(context.Background(), v1alpha1.IPAllocationName(mustParse(ing.IP)), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("no IPAllocation for %s: %v", ing.IP, err)
		}
		if len(obj.Spec.Services) != 1 || obj.Spec.Services[0].UID != s.UID {
			t.Errorf("IPAllocation %s names %v, want the Service's UID %s", obj.Name, obj.Spec.Services, s.UID)
		}
	}
	e.assertDistinct(t)

	// Deleting the Service releases its addresses and lets the Service go (finalizer removed).
	if err := e.kube.CoreV1().Services("default").Delete(context.Background(), "both", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := e.kube.CoreV1().Services("default").Get(ctx, "both", metav1.GetOptions{})
		l, lerr := e.api.IPAllocations().List(ctx, metav1.ListOptions{})
		return err != nil && lerr == nil && len(l.Items) == 3, nil
	})
	if err != nil {
		t.Fatalf("after deleting a dual-stack Service: want it gone and 3 IPAllocations left: %v", err)
	}
}

func TestBadInputIsReportedAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.createPool(t, "blue", "198.51.100.0/30")
	e.startController(t)
	e.create(t, lbService("holder", func(s *v1.Service) { s.Annotations[baremetal.AnnotationLoadBalancerIPs] = "198.51.100.1" }))
	e.waitIngress(t, "holder", 1, 20*time.Second)

	for _, c := range []struct {
		name, annotation, value, want string
	}{
		{"malformed", baremetal.AnnotationLoadBalancerIPs, "198.51.100.x", `"198.51.100.x" is not an IP address`},
		{"outside", baremetal.AnnotationLoadBalancerIPs, "192.0.2.7", "192.0.2.7 is not in any candidate pool"},
		{"taken", baremetal.AnnotationLoadBalancerIPs, "198.51.100.1", "requested address 198.51.100.1 is in use by default/holder"},
		{"nopool", baremetal.AnnotationIPPool, "green", `IPPool "green" named by frontdesk.dev/ip-pool does not exist`},
		{"badkey", baremetal.AnnotationAllowSharedIP, "no spaces please", "is not a valid sharing key"},
	} {
		e.create(t, lbService(c.name, func(s *v1.Service) { s.Annotations[c.annotation] = c.value }))
		e.waitEvent(t, c.name, "SyncLoadBalancerFailed", c.want)
	}
	// The pool still has two free addresses: bad input took none, and the good holder kept its own.
	l, err := e.api.IPAllocations().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Spec.Address != "198.51.100.1" {
		t.Fatalf("IPAllocations after bad input: %+v, want only the holder's", l.Items)
	}
	for _, n := range []string{"malformed", "outside", "taken", "nopool", "badkey"} {
		s, _ := e.kube.CoreV1().Services("default").Get(context.Background(), n, metav1.GetOptions{})
		if len(s.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("Service %s with bad input got %v", n, s.Status.LoadBalancer.Ingress)
		}
	}
	// Fixing the input is all it takes.
	s, _ := e.kube.CoreV1().Services("default").Get(context.Background(), "malformed", metav1.GetOptions{})
	s.Annotations[baremetal.AnnotationLoadBalancerIPs] = "198.51.100.2"
	if _, err := e.kube.CoreV1().Services("default").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if a := e.waitIngress(t, "malformed", 1, 20*time.Second); a[0].String() != "198.51.100.2" {
		t.Fatalf("fixed Service got %v", a)
	}
}

func TestBurstOf200GetsDistinctAddresses(t *testing.T) {
	e := newEnv(t)
	e.createPool(t, "blue", "198.51.100.0/24")
	e.createPool(t, "green", "203.0.113.0/24")
	e.startController(t)
	const n = 200
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); e.create(t, lbService(svcName(i))) }()
	}
	wg.Wait()
	for i := range n {
		e.waitIngress(t, svcName(i), 1, 60*time.Second)
	}
	t.Logf("%d Services created and given addresses in %s", n, time.Since(start))
	if got := len(e.assertDistinct(t)); got != n {
		t.Fatalf("%d distinct addresses, want %d", got, n)
	}
}

// Five restarts with a full pool and Services waiting for an address: no address moves, no
// address is given twice, the waiting Services keep waiting.
func TestRestartsMoveNothing(t *testing.T) {
	e := newEnv(t)
	e.createPool(t, "small", "198.51.100.0/29") // 8 addresses
	k := e.startController(t)
	for i := range 11 {
		e.create(t, lbService(svcName(i)))
	}
	waitAssigned := func(want int) map[string]string {
		t.Helper()
		var got map[string]string
		err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got = map[string]string{}
			for a, o := range e.assertDistinct(t) {
				got[o] = a.String()
			}
			return len(got) == want, nil
		})
		if err != nil {
			t.Fatalf("want %d Services with an address, have %d: %v", want, len(got), got)
		}
		return got
	}
	before := waitAssigned(8)
	for round := range 5 {
		k.stop()
		k = e.startController(t)
		// The new controller syncs every Service; it has reached a waiting one. Watch the
		// addresses while it goes on (no address moves, no waiting Service gets one), then compare.
		e.waitEvent(t, firstPending(before), "SyncLoadBalancerFailed", "no free address")
		poll.Consistently(t, 500*time.Millisecond, func() string {
			for a, svc := range e.assertDistinct(t) {
				if before[svc] != a.String() {
					return fmt.Sprintf("restart %d: %s has %s, had %q", round+1, svc, a, before[svc])
				}
			}
			return ""
		})
		after := waitAssigned(8)
		lb, _ := k.cloud.LoadBalancer()
		for svc, a := range before {
			if after[svc] != a {
				t.Fatalf("restart %d: %s moved from %s to %s", round+1, svc, a, after[svc])
			}
			// The restored state must hold the address for the Service itself, or its next
			// Ensure could not keep it.
			ns, name, _ := strings.Cut(svc, "/")
			st, ok, err := lb.GetLoadBalancer(context.Background(), "kubernetes", &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
			if err != nil || !ok || st.Ingress[0].IP != a {
				t.Fatalf("restart %d: the provider holds %v (found %v, err %v) for %s, want %s", round+1, st, ok, err, svc, a)
			}
		}
		l, err := e.api.IPAllocations().List(context.Background(), metav1.ListOptions{})
		if err != nil || len(l.Items) != 8 {
			t.Fatalf("restart %d: %d IPAllocations (err %v), want 8", round+1, len(l.Items), err)
		}
	}
}

func firstPending(assigned map[string]string) string {
	for i := range 11 {
		if _, ok := assigned["default/"+svcName(i)]; !ok {
			return svcName(i)
		}
	}
	return ""
}

// Two controllers active at once (leader election has no fencing): Create of the IPAllocation is
// the lock, and a claim is released only when no status names its address, so no address is ever
// in two Services' status.
func TestTwoControllersNeverDoubleAssign(t *testing.T) {
	e := newEnv(t)
	e.createPool(t, "blue", "198.51.100.0/26") // 64 addresses for 60 Services: little slack
	a := e.startController(t)
	e.startController(t)
	const n, churn = 60, 40
	stop := make(chan struct{})
	var checks sync.WaitGroup
	checks.Add(1)
	go func() { // sample continuously while both run
		defer checks.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if _, err := e.distinct(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	// Services come and go meanwhile: the two replicas learn of each freed address at different
	// moments, so their picks for one Service differ, and each replica's caches lag the other's
	// writes. That is what puts their decisions at odds.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		svcs := e.kube.CoreV1().Services("default")
		for i := range churn {
			name := fmt.Sprintf("churn-%03d", i)
			if _, err := svcs.Create(context.Background(), lbService(name), metav1.CreateOptions{}); err != nil {
				t.Errorf("creating %s: %v", name, err)
				return
			}
			time.Sleep(time.Duration(20+i%5*20) * time.Millisecond)
			if err := svcs.Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("deleting %s: %v", name, err)
				return
			}
		}
	}()
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); e.create(t, lbService(svcName(i))) }()
	}
	wg.Wait()
	for i := range n {
		e.waitIngress(t, svcName(i), 1, 60*time.Second)
	}
	a.stop() // one replica loses the lease; the other converges alone
	time.Sleep(time.Second)
	close(stop)
	checks.Wait()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := e.api.IPAllocations().List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == n, nil
	})
	if err != nil {
		l, _ := e.api.IPAllocations().List(context.Background(), metav1.ListOptions{})
		t.Fatalf("after one controller stopped: %d IPAllocations, want one per Service (%d)", len(l.Items), n)
	}
	if got := len(e.assertDistinct(t)); got != n {
		t.Fatalf("%d distinct addresses, want %d", got, n)
	}
	e.assertBacked(t)
}

// assertBacked fails unless every address in a Service's status has an IPAllocation naming that
// Service by UID: the half of the invariant that a status alone cannot show. Call it when nothing
// moves any more (the two lists are not read at one instant).
func (e *env) assertBacked(t testing.TB) {
	t.Helper()
	svcs, err := e.kube.CoreV1().Services("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		for _, a := range ingressOf(&s) {
			o, err := e.api.IPAllocations().Get(context.Background(), v1alpha1.IPAllocationName(a), metav1.GetOptions{})
			if err != nil {
				t.Errorf("Service %s/%s shows %s, whose IPAllocation cannot be read: %v", s.Namespace, s.Name, a, err)
				continue
			}
			if !slices.ContainsFunc(o.Spec.Services, func(r v1alpha1.ServiceRef) bool { return r.UID == s.UID }) {
				t.Errorf("Service %s/%s shows %s, whose IPAllocation names %v", s.Namespace, s.Name, a, o.Spec.Services)
			}
		}
	}
}

func TestPoolShrinkKeepsAddressesAndSaysSo(t *testing.T) {
	e := newEnv(t)
	p := e.createPool(t, "blue", "198.51.100.0/30")
	e.startController(t)
	e.create(t, lbService("a", func(s *v1.Service) { s.Annotations[baremetal.AnnotationLoadBalancerIPs] = "198.51.100.3" }))
	e.waitIngress(t, "a", 1, 20*time.Second)

	p, err := e.api.IPPools().Get(context.Background(), p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Addresses = []string{"198.51.100.0/31"}
	if _, err := e.api.IPPools().Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var cond *metav1.Condition
	err = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := e.api.IPPools().Get(ctx, "blue", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // a transient API error: keep polling until the deadline
		}
		cond = meta.FindStatusCondition(p.Status.Conditions, v1alpha1.IPPoolConditionAddressesOutsideSpec)
		return cond != nil && cond.Status == metav1.ConditionTrue, nil
	})
	if err != nil {
		t.Fatalf("IPPool condition %s = %+v, want True", v1alpha1.IPPoolConditionAddressesOutsideSpec, cond)
	}
	if !contains(cond.Message, "198.51.100.3 (held by default/a)") {
		t.Errorf("condition message %q does not name the address and its Service", cond.Message)
	}
	// Touch the Service: it keeps its address.
	s, _ := e.kube.CoreV1().Services("default").Get(context.Background(), "a", metav1.GetOptions{})
	s.Labels = map[string]string{"touched": "yes"}
	if _, err := e.kube.CoreV1().Services("default").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Consistently(t, time.Second, func() string {
		s, err := e.kube.CoreV1().Services("default").Get(context.Background(), "a", metav1.GetOptions{})
		if err != nil {
			return "" // a transient API error: the next poll looks again
		}
		if a := ingressOf(s); len(a) > 1 || len(a) == 1 && a[0].String() != "198.51.100.3" {
			return fmt.Sprintf("after the pool shrank the Service moved to %v", a)
		}
		return ""
	})
	if a := e.waitIngress(t, "a", 1, 5*time.Second); a[0].String() != "198.51.100.3" {
		t.Fatalf("after the pool shrank the Service moved to %v", a)
	}
}
