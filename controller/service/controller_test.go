package service

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2/ktesting"

	"github.com/frontdesk-lb/frontdesk/controller/internal/fakelb"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// waitEvery is how often the tests poll the fakes and the API server for a state.
const waitEvery = 10 * time.Millisecond

// These tests run the controller against client-go's fake clientset: fast,
// but without the API server's behaviour (finalizers, defaulting, field
// managers). The integration tests cover that against a real control plane.

// fastConfig retries and coalesces quickly so tests do not wait.
func fastConfig() Config {
	cfg := DefaultConfig()
	cfg.ResyncPeriod = 0
	cfg.NodeSyncDelay = 10 * time.Millisecond
	cfg.MinRetryDelay = 10 * time.Millisecond
	cfg.MaxRetryDelay = 200 * time.Millisecond
	return cfg
}

type unitHarness struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	lb       *fakelb.Fake
	factory  informers.SharedInformerFactory
	cancel   context.CancelFunc
	done     chan struct{}
}

func startUnit(t *testing.T, cfg Config, workers int, objs ...runtime.Object) *unitHarness {
	t.Helper()
	lb := fakelb.New()
	return startUnitWith(t, lb, lb, cfg, workers, objs...)
}

// startUnitWith runs the controller on balancer, which wraps lb.
func startUnitWith(t *testing.T, lb *fakelb.Fake, balancer cloudprovider.LoadBalancer, cfg Config, workers int, objs ...runtime.Object) *unitHarness {
	t.Helper()
	client := newVersionedClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := New(balancer, client, factory, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	h := &unitHarness{client: client, services: factory.Core().V1().Services().Lister(), lb: lb,
		factory: factory, cancel: cancel, done: make(chan struct{})}
	factory.Start(ctx.Done())
	go func() {
		defer close(h.done)
		ctrl.Run(ctx, workers)
	}()
	t.Cleanup(func() {
		cancel()
		<-h.done
		factory.Shutdown()
	})
	return h
}

func nn(svc *v1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
}

func TestServesOnlyItsClasses(t *testing.T) {
	cfg := fastConfig()
	cfg.ServeDefaultClass = false
	ours := newService("ours", objects.WithClass(DefaultClass))
	defaultClass := newService("default-class")
	other := newService("other", objects.WithClass(otherClass))
	clusterIP := newService("cluster-ip", withType(v1.ServiceTypeClusterIP))
	h := startUnit(t, cfg, 2, newNode("a"), ours, defaultClass, other, clusterIP)

	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		svc, err := h.client.CoreV1().Services("default").Get(context.Background(), "ours", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if !hasCleanupFinalizer(svc) || len(svc.Status.LoadBalancer.Ingress) == 0 {
			return fmt.Sprintf("Service ours not served yet: finalizers %v, status %v", svc.Finalizers, svc.Status.LoadBalancer)
		}
		return ""
	})
	var got []types.NamespacedName
	for _, lb := range h.lb.LoadBalancers() {
		got = append(got, lb.Service)
	}
	if diff := cmp.Diff([]types.NamespacedName{nn(ours)}, got); diff != "" {
		t.Errorf("load balancers (-want +got):\n%s", diff)
	}
	for _, name := range []string{"default-class", "other", "cluster-ip"} {
		svc, err := h.client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(svc.Finalizers) != 0 || len(svc.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("Service %s was touched: finalizers %v, status %v", name, svc.Finalizers, svc.Status.LoadBalancer)
		}
	}
}

// TestNodeSetChangeUpdatesLoadBalancers runs in a synctest bubble so that "a label change calls
// nothing" is checked once every goroutine of the controller and its informers is idle, with the
// node-sync delay passed in fake time, instead of after a sleep.
func TestNodeSetChangeUpdatesLoadBalancers(t *testing.T) {
	synctest.Test(t, testNodeSetChangeUpdatesLoadBalancers)
}

func testNodeSetChangeUpdatesLoadBalancers(t *testing.T) {
	svcA, svcB := newService("a"), newService("b", objects.WithClass(DefaultClass))
	h := startUnit(t, fastConfig(), 2, newNode("n1"), newNode("n2"), newNode("n3", objects.NotReady), svcA, svcB)

	wantNodes := func(want ...string) func() string {
		return func() string {
			for _, svc := range []*v1.Service{svcA, svcB} {
				lb, ok := h.lb.Get(nn(svc))
				if !ok {
					return fmt.Sprintf("no load balancer for %s", svc.Name)
				}
				if diff := cmp.Diff(want, lb.Nodes); diff != "" {
					return fmt.Sprintf("nodes of %s (-want +got):\n%s", svc.Name, diff)
				}
			}
			return ""
		}
	}
	testkit.Eventually(t, 5*time.Second, waitEvery, wantNodes("n1", "n2"))
	// The fake clientset has no resource versions, so the controller cannot
	// tell a cache that lags its own writes; let the cache catch up first.
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		for _, svc := range []*v1.Service{svcA, svcB} {
			cached, err := h.services.Services(svc.Namespace).Get(svc.Name)
			if err != nil || len(cached.Status.LoadBalancer.Ingress) == 0 {
				return fmt.Sprintf("the informer has no status for %s yet", svc.Name)
			}
		}
		return ""
	})
	// A sync queued by an earlier event (the finalizer's patch) may still be running on the other
	// worker with the cache of before the status: let the Ensure count settle (the same for
	// 300 ms) before counting, so that the count below compares the node change alone.
	ensures, stable := h.lb.Calls(fakelb.OpEnsure), 0
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		if n := h.lb.Calls(fakelb.OpEnsure); n != ensures {
			ensures, stable = n, 0
		} else if stable++; stable < 30 {
			return fmt.Sprintf("Ensure calls settling at %d", n)
		}
		return ""
	})

	ctx := context.Background()
	n2 := newNode("n2", objects.NotReady)
	if _, err := h.client.CoreV1().Nodes().Update(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n3 := newNode("n3")
	if _, err := h.client.CoreV1().Nodes().Update(ctx, n3, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, waitEvery, wantNodes("n1", "n3"))
	if got := h.lb.Calls(fakelb.OpEnsure); got != ensures {
		t.Errorf("EnsureLoadBalancer calls went from %d to %d; a node change alone must use UpdateLoadBalancer", ensures, got)
	}

	// A heartbeat-like change (a label) does not reach the provider, nor even re-queue the served
	// Services (a sync that finds nothing to do is still one per Service per heartbeat).
	updates := h.lb.Calls(fakelb.OpUpdate)
	idleSyncs := func() uint64 {
		n, err := testutil.GetHistogramMetricCount(syncDuration.WithLabelValues(string(opNone), resultSuccess))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	synctest.Wait()
	idle := idleSyncs()
	n1 := newNode("n1", objects.WithLabel("example.com/rack", "r1"))
	if _, err := h.client.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Long past the node-sync delay (fake time), then until nothing in the bubble can run: any
	// pass the label change caused has finished.
	time.Sleep(20 * fastConfig().NodeSyncDelay)
	synctest.Wait()
	if got := h.lb.Calls(fakelb.OpUpdate); got != updates {
		t.Errorf("UpdateLoadBalancer calls went from %d to %d after a change that does not affect eligibility", updates, got)
	}
	if got := idleSyncs(); got != idle {
		t.Errorf("%d Service syncs after a change that does not affect eligibility, want none", got-idle)
	}
}

func TestSlowLoadBalancerDoesNotBlockOthers(t *testing.T) {
	slow, fast := newService("slow"), newService("fast")
	h := startUnit(t, fastConfig(), 2, newNode("n1"))
	release := h.lb.Hold(nn(slow))
	defer release()

	ctx := context.Background()
	for _, svc := range []*v1.Service{slow, fast} {
		if _, err := h.client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		if _, ok := h.lb.Get(nn(fast)); !ok {
			return "the fast Service got no load balancer while the slow one is held"
		}
		return ""
	})
	if _, ok := h.lb.Get(nn(slow)); ok {
		t.Fatalf("the held Service got a load balancer before being released")
	}
	release()
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		if _, ok := h.lb.Get(nn(slow)); !ok {
			return "the slow Service got no load balancer after release"
		}
		return ""
	})
}

func TestRunReturnsAfterCurrentItem(t *testing.T) {
	svc := newService("held")
	h := startUnit(t, fastConfig(), 1, newNode("n1"), svc)
	release := h.lb.Hold(nn(svc))
	defer release()
	// Other Services queue up behind the held one (one worker).
	ctx := context.Background()
	for i := range 5 {
		if _, err := h.client.CoreV1().Services("default").Create(ctx, newService(fmt.Sprintf("queued-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		if h.lb.Calls(fakelb.OpEnsure) == 0 {
			return "the worker has not reached the provider yet"
		}
		return ""
	})
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of its context ending")
	}
	// The worker stopped: the queued Services never reached the provider.
	if got := h.lb.Calls(fakelb.OpEnsure); got != 1 {
		t.Errorf("EnsureLoadBalancer was called %d times; after shutdown the queued Services must be left", got)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	cfg := DefaultConfig()
	cfg.Classes, cfg.ServeDefaultClass = nil, false
	if _, err := New(fakelb.New(), client, factory, cfg); err == nil {
		t.Error("New accepted a configuration that serves nothing")
	}
	if _, err := New(nil, client, factory, DefaultConfig()); err == nil {
		t.Error("New accepted a nil load balancer")
	}
}
