//go:build integration

package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cloud-provider/api"
	"k8s.io/component-base/metrics/testutil"

	"github.com/frontdesk-lb/frontdesk/controller/internal/fakelb"
	"github.com/frontdesk-lb/frontdesk/internal/poll"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// TestController runs the controller against a real kube-apiserver (from
// lab/controlplane), with the permissions of the bootstrap service-controller
// role, and a fake provider that records which load balancers exist.
//
// IP plan: the fake hands out 192.0.2.0/24 (TEST-NET-1); nothing is sent there.
func TestController(t *testing.T) {
	e := newEnv(t)
	e.createNodes(t, newNode("node-a"), newNode("node-b"))

	t.Run("ensures and deletes", func(t *testing.T) { testEnsureAndDelete(t, e) })
	t.Run("serves only its classes", func(t *testing.T) { testClasses(t, e) })
	t.Run("type change cleans up", func(t *testing.T) { testTypeChange(t, e) })
	t.Run("type change while stopped", func(t *testing.T) { testTypeChangeWhileStopped(t, e) })
	t.Run("provider error", func(t *testing.T) { testProviderError(t, e) })
	t.Run("retry error", func(t *testing.T) { testRetryError(t, e) })
	t.Run("node set change", func(t *testing.T) { testNodeSetChange(t, e) })
	t.Run("resync writes nothing", func(t *testing.T) { testResyncWritesNothing(t, e) })
	t.Run("status write is fenced", func(t *testing.T) { testStatusWriteIsFenced(t, e) })
}

func key(svc *v1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
}

func testEnsureAndDelete(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	e.start(t, ns, lb, testConfig())
	created := e.create(t, newService("web", objects.WithNamespace(ns)), metav1.CreateOptions{})

	svc := e.waitServed(t, ns, "web")
	got, ok := lb.Get(key(svc))
	if !ok {
		t.Fatal("the Service is served but the provider holds no load balancer")
	}
	wantStatus := v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{
		IP: got.Addr.String(), IPMode: ptrTo(v1.LoadBalancerIPModeVIP),
	}}}
	if diff := cmp.Diff(wantStatus, svc.Status.LoadBalancer); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"node-a", "node-b"}, got.Nodes); diff != "" {
		t.Errorf("load balancer nodes (-want +got):\n%s", diff)
	}
	if !finalizerAddedByUs(svc) {
		t.Errorf("managedFields do not show %s adding the finalizer: %+v", FieldManager, svc.ManagedFields)
	}
	e.waitEvent(t, svc, "Normal "+EventEnsuringLoadBalancer)
	e.waitEvent(t, svc, "Normal "+EventEnsuredLoadBalancer+": Ensured load balancer: "+got.Addr.String())

	if err := e.admin.CoreV1().Services(ns).Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, waitEvery, func() string {
		if _, ok := e.get(t, ns, "web"); ok {
			return "the Service still exists (finalizer not removed)"
		}
		if _, ok := lb.Get(key(created)); ok {
			return "the load balancer still exists"
		}
		return ""
	})
	e.waitEvent(t, created, "Normal "+EventDeletedLoadBalancer)
}

func testClasses(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	cfg := testConfig()
	cfg.ServeDefaultClass = false
	e.start(t, ns, lb, cfg)

	e.create(t, newService("ours", objects.WithNamespace(ns), objects.WithClass(DefaultClass)), metav1.CreateOptions{})
	e.create(t, newService("default-class", objects.WithNamespace(ns)), metav1.CreateOptions{})
	e.create(t, newService("other", objects.WithNamespace(ns), objects.WithClass(otherClass)), metav1.CreateOptions{})
	// Another implementation's Service, carrying the shared cleanup
	// finalizer it added, being deleted: its finalizer is not ours to remove.
	theirs := e.create(t, newService("theirs", objects.WithNamespace(ns), objects.WithClass(otherClass), withFinalizer(cleanupFinalizer)),
		metav1.CreateOptions{FieldManager: "other-controller"})
	t.Cleanup(func() { e.dropFinalizers(t, ns, "theirs") })
	if err := e.admin.CoreV1().Services(ns).Delete(context.Background(), "theirs", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	e.waitServed(t, ns, "ours")
	// The other Services were created after "ours" and may still be in the
	// queue: watch the provider for a while.
	poll.Consistently(t, 500*time.Millisecond, func() string {
		var served []string
		for _, l := range lb.LoadBalancers() {
			served = append(served, l.Service.Name)
		}
		if diff := cmp.Diff([]string{"ours"}, served); diff != "" {
			return fmt.Sprintf("load balancers (-want +got):\n%s", diff)
		}
		return ""
	})
	for _, name := range []string{"default-class", "other"} {
		svc, _ := e.get(t, ns, name)
		if len(svc.Finalizers) != 0 || len(svc.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("Service %s was touched: finalizers %v, status %+v", name, svc.Finalizers, svc.Status.LoadBalancer)
		}
		if evs := e.events(t, svc); len(evs) != 0 {
			t.Errorf("Service %s got Events %q", name, evs)
		}
	}
	svc, ok := e.get(t, ns, "theirs")
	if !ok || !hasCleanupFinalizer(svc) {
		t.Errorf("the other implementation's finalizer was removed from %s", theirs.Name)
	}
	if got := lb.Calls(fakelb.OpDelete); got != 0 {
		t.Errorf("EnsureLoadBalancerDeleted was called %d times for Services that are not ours", got)
	}
}

func testTypeChange(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	e.start(t, ns, lb, testConfig())
	svc := e.create(t, newService("web", objects.WithNamespace(ns), objects.WithClass(DefaultClass)), metav1.CreateOptions{})
	e.waitServed(t, ns, "web")

	e.update(t, ns, "web", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeClusterIP })
	testkit.Eventually(t, 20*time.Second, waitEvery, func() string {
		got, _ := e.get(t, ns, "web")
		if hasCleanupFinalizer(got) || len(got.Status.LoadBalancer.Ingress) != 0 {
			return fmt.Sprintf("not cleaned up: finalizers %v, status %+v", got.Finalizers, got.Status.LoadBalancer)
		}
		if _, ok := lb.Get(key(svc)); ok {
			return "the load balancer still exists"
		}
		return ""
	})
	e.waitEvent(t, svc, "Normal "+EventDeletedLoadBalancer)
}

// testTypeChangeWhileStopped changes a served Service to ClusterIP while no
// controller runs. The API server wipes the class, so only the finalizer's
// field manager says the Service was ours: a fresh controller must clean it
// up, and must leave alone a look-alike whose finalizer another manager set.
func testTypeChangeWhileStopped(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	cfg := testConfig()
	cfg.ServeDefaultClass = false
	first := e.start(t, ns, lb, cfg)
	svc := e.create(t, newService("web", objects.WithNamespace(ns), objects.WithClass(DefaultClass)), metav1.CreateOptions{})
	e.waitServed(t, ns, "web")
	first.stop()

	e.update(t, ns, "web", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeClusterIP })
	e.create(t, newService("theirs", objects.WithNamespace(ns), withType(v1.ServiceTypeClusterIP), withFinalizer(cleanupFinalizer)),
		metav1.CreateOptions{FieldManager: "other-controller"})
	t.Cleanup(func() { e.dropFinalizers(t, ns, "theirs") })

	e.start(t, ns, lb, cfg)
	testkit.Eventually(t, 20*time.Second, waitEvery, func() string {
		got, _ := e.get(t, ns, "web")
		if hasCleanupFinalizer(got) {
			return "the finalizer is still there"
		}
		if _, ok := lb.Get(key(svc)); ok {
			return "the load balancer still exists"
		}
		return ""
	})
	// "web" is done, and "theirs", listed before it at start-up, was most
	// likely handled already; watch it for a while to leave no doubt.
	poll.Consistently(t, 500*time.Millisecond, func() string {
		if theirs, _ := e.get(t, ns, "theirs"); !hasCleanupFinalizer(theirs) {
			return "the finalizer another manager set was removed"
		}
		return ""
	})
}

func testProviderError(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	e.start(t, ns, lb, testConfig()) // backoff 200 ms doubling, capped at 1 s
	bad := newService("bad", objects.WithNamespace(ns))
	lb.FailFor(key(bad), errors.New(`pool "gold" does not exist; accepted: "silver"`))
	svc := e.create(t, bad, metav1.CreateOptions{})

	ensureErrors := func() float64 {
		v, err := testutil.GetCounterMetricValue(syncErrors.WithLabelValues("ensure"))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	errorsBefore := ensureErrors()
	e.waitEvent(t, svc, `Warning `+EventSyncLoadBalancerFailed+`: Error syncing load balancer: pool "gold" does not exist; accepted: "silver"`)
	before := lb.Calls(fakelb.OpEnsure)
	const window = 4 * time.Second
	time.Sleep(window)
	retries := lb.Calls(fakelb.OpEnsure) - before
	// Backoff allows about 0.2+0.4+0.8+1+1... : 4 to 6 attempts in 4 s. A
	// retry storm would make hundreds; no retry at all would make 0.
	t.Logf("%d EnsureLoadBalancer retries in %s", retries, window)
	if retries < 2 || retries > 10 {
		t.Errorf("%d retries in %s; want 2..10 (retried, with backoff)", retries, window)
	}
	if got := ensureErrors() - errorsBefore; got < float64(retries) {
		t.Errorf("%s{reason=\"ensure\"} grew by %v; want at least the %d failed retries", "frontdesk_service_controller_sync_errors_total", got, retries)
	}
	if got, _ := e.get(t, ns, "bad"); len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("status set although the provider failed: %+v", got.Status.LoadBalancer)
	}

	lb.ClearFailures()
	e.waitServed(t, ns, "bad")
}

func testRetryError(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	cfg := testConfig()
	// Exponential backoff would wait 60 s: only AddAfter can retry sooner.
	cfg.MinRetryDelay, cfg.MaxRetryDelay = time.Minute, time.Minute
	e.start(t, ns, lb, cfg)
	time.Sleep(500 * time.Millisecond) // let the start-up node pass go by

	const retryAfter = 2 * time.Second
	lb.FailNext(fakelb.OpEnsure, 1, api.NewRetryError("load balancer still provisioning", retryAfter))
	// Created with the finalizer, as the controller's field manager would
	// have set it, so that no write of ours re-queues the Service early.
	start := time.Now()
	e.create(t, newService("slow", objects.WithNamespace(ns), withFinalizer(cleanupFinalizer)), metav1.CreateOptions{FieldManager: FieldManager})
	e.waitServed(t, ns, "slow")
	elapsed := time.Since(start)
	t.Logf("served %s after creation, provider asked for %s", elapsed.Round(time.Millisecond), retryAfter)
	if elapsed < retryAfter-100*time.Millisecond || elapsed > 20*time.Second {
		t.Errorf("served after %s; want about %s (the provider's delay, not the 60 s backoff)", elapsed, retryAfter)
	}
	if got := lb.Calls(fakelb.OpEnsure); got != 2 {
		t.Errorf("EnsureLoadBalancer called %d times; want 2 (the refused call and the one after the delay)", got)
	}
}

func testNodeSetChange(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	e.start(t, ns, lb, testConfig())
	svc := e.create(t, newService("web", objects.WithNamespace(ns)), metav1.CreateOptions{})
	e.waitServed(t, ns, "web")
	wantNodes := func(want ...string) func() string {
		return func() string {
			got, ok := lb.Get(key(svc))
			if !ok {
				return "no load balancer"
			}
			if diff := cmp.Diff(want, got.Nodes); diff != "" {
				return fmt.Sprintf("load balancer nodes (-want +got):\n%s", diff)
			}
			return ""
		}
	}
	testkit.Eventually(t, 10*time.Second, waitEvery, wantNodes("node-a", "node-b"))
	time.Sleep(500 * time.Millisecond) // let our own writes' events settle
	ensures, updates := lb.Calls(fakelb.OpEnsure), lb.Calls(fakelb.OpUpdate)

	e.setNodeReady(t, "node-b", v1.ConditionFalse)
	t.Cleanup(func() { e.setNodeReady(t, "node-b", v1.ConditionTrue) })
	testkit.Eventually(t, 10*time.Second, waitEvery, wantNodes("node-a"))
	if got := lb.Calls(fakelb.OpUpdate); got <= updates {
		t.Errorf("UpdateLoadBalancer calls went from %d to %d; want more", updates, got)
	}
	if got := lb.Calls(fakelb.OpEnsure); got != ensures {
		t.Errorf("EnsureLoadBalancer calls went from %d to %d; a node change alone must use UpdateLoadBalancer", ensures, got)
	}
	e.waitEvent(t, svc, "Normal "+EventUpdatedLoadBalancer+": Updated load balancer with 1 eligible nodes")

	e.setNodeReady(t, "node-b", v1.ConditionTrue)
	testkit.Eventually(t, 10*time.Second, waitEvery, wantNodes("node-a", "node-b"))
}

func testResyncWritesNothing(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New() // leaves ipMode unset: the API server defaults it to VIP
	cfg := testConfig()
	cfg.ResyncPeriod = time.Second
	e.start(t, ns, lb, cfg)
	e.create(t, newService("web", objects.WithNamespace(ns)), metav1.CreateOptions{})
	e.waitServed(t, ns, "web")
	time.Sleep(500 * time.Millisecond) // let the events of our own writes pass
	svc, _ := e.get(t, ns, "web")
	ensures := lb.Calls(fakelb.OpEnsure)
	servicePath := "/namespaces/" + ns + "/services/"
	patches := e.writes.count(http.MethodPatch, servicePath)

	w, err := e.admin.CoreV1().Services(ns).Watch(context.Background(), metav1.ListOptions{
		FieldSelector:   "metadata.name=web",
		ResourceVersion: svc.ResourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const window = 4 * time.Second
	timeout := time.After(window)
	for done := false; !done; {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Modified {
				got := ev.Object.(*v1.Service)
				t.Errorf("the Service was written during resyncs: resourceVersion %s -> %s, status %+v",
					svc.ResourceVersion, got.ResourceVersion, got.Status.LoadBalancer)
			}
		case <-timeout:
			done = true
		}
	}
	if got := e.writes.count(http.MethodPatch, servicePath) - patches; got != 0 {
		t.Errorf("the controller sent %d patches for an unchanged Service during resyncs", got)
	}
	// The resyncs did run: each asked the provider again.
	if got := lb.Calls(fakelb.OpEnsure) - ensures; got < 2 {
		t.Errorf("%d EnsureLoadBalancer calls in %s with a 1 s resync period; want at least 2", got, window)
	}
}

// answerAnnotation tells answerByAnnotation which address to report.
const answerAnnotation = "test.frontdesk.dev/answer"

// answerByAnnotation is the fake provider reporting the address the Service's annotation names,
// so that the answer depends on the version of the Service the provider was given.
type answerByAnnotation struct{ *fakelb.Fake }

func (a answerByAnnotation) EnsureLoadBalancer(ctx context.Context, cluster string, svc *v1.Service, nodes []*v1.Node) (*v1.LoadBalancerStatus, error) {
	if _, err := a.Fake.EnsureLoadBalancer(ctx, cluster, svc, nodes); err != nil {
		return nil, err
	}
	return &v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: svc.Annotations[answerAnnotation]}}}, nil
}

// A status the provider decided on an old version of the Service is never written: the patch is
// preconditioned on the resourceVersion the provider was given. Two replicas acting at once cannot
// overwrite each other's decision with a stale one, which bare metal's address claims rely on.
func testStatusWriteIsFenced(t *testing.T, e *env) {
	ns := e.namespace(t)
	lb := fakelb.New()
	e.start(t, ns, answerByAnnotation{lb}, testConfig())
	release := lb.Hold(types.NamespacedName{Namespace: ns, Name: "web"})
	defer release() // idempotent
	created := e.create(t, newService("web", objects.WithNamespace(ns), objects.WithAnnotations(answerAnnotation, "192.0.2.101")), metav1.CreateOptions{})
	w, err := e.admin.CoreV1().Services(ns).Watch(context.Background(), metav1.ListOptions{
		FieldSelector: "metadata.name=web", ResourceVersion: created.ResourceVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
		if lb.Calls(fakelb.OpEnsure) == 0 {
			return "no EnsureLoadBalancer call yet"
		}
		return ""
	})
	// The provider is deciding on the Service as it was; it changes meanwhile.
	e.update(t, ns, "web", func(s *v1.Service) { s.Annotations[answerAnnotation] = "192.0.2.102" })
	release()

	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-w.ResultChan():
			s, ok := ev.Object.(*v1.Service)
			if !ok {
				continue
			}
			switch ips := ingressIPs(s); {
			case cmp.Equal(ips, []string{"192.0.2.101"}):
				t.Fatalf("the status decided on the first version of the Service was written after the Service changed: %v", ips)
			case cmp.Equal(ips, []string{"192.0.2.102"}):
				if got := lb.Calls(fakelb.OpEnsure); got < 2 {
					t.Errorf("%d EnsureLoadBalancer calls, want 2 (the first one's answer refused)", got)
				}
				return
			}
		case <-timeout:
			t.Fatal("the status never became 192.0.2.102")
		}
	}
}

func ingressIPs(s *v1.Service) []string {
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}
