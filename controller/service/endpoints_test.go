package service

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cloud-provider/api"

	"github.com/frontdesk-lb/frontdesk/controller/internal/fakelb"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// followAnnotation marks the Services whose endpoints followingLB follows.
const followAnnotation = "test.frontdesk.dev/follow"

// followingLB is a provider whose load balancers depend on the endpoints of
// some Services, as AWS ip targets do. It counts Ensure calls per Service.
type followingLB struct {
	*fakelb.Fake
	mu      sync.Mutex
	ensures map[string]int
}

func (f *followingLB) FollowsEndpoints(svc *v1.Service) bool {
	return svc.Annotations[followAnnotation] == "true"
}

func (f *followingLB) EnsureLoadBalancer(ctx context.Context, cluster string, svc *v1.Service, nodes []*v1.Node) (*v1.LoadBalancerStatus, error) {
	f.mu.Lock()
	f.ensures[svc.Name]++
	f.mu.Unlock()
	return f.Fake.EnsureLoadBalancer(ctx, cluster, svc, nodes)
}

func (f *followingLB) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.ensures))
	for k, v := range f.ensures {
		out[k] = v
	}
	return out
}

// newSlice is an IPv4 slice default/name of Service svcName (unlabelled when svcName is "") with
// one condition-less endpoint per address.
func newSlice(svcName, name string, addrs ...string) *discoveryv1.EndpointSlice {
	es := objects.EndpointSlice("default", name, svcName)
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, objects.Endpoint(objects.Addresses(a)))
	}
	return es
}

// waitServed waits until the named Services have a load balancer and the
// cache has their status, then until nothing in the bubble runs or waits for
// less than a second (the node-sync delay, backoffs of the first syncs).
func waitServed(t *testing.T, h *unitHarness, names ...string) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, waitEvery, func() string {
		for _, name := range names {
			cached, err := h.services.Services("default").Get(name)
			if err != nil || len(cached.Status.LoadBalancer.Ingress) == 0 {
				return fmt.Sprintf("%s is not served in the cache yet", name)
			}
		}
		return ""
	})
	time.Sleep(time.Second)
	synctest.Wait()
}

// An EndpointSlice change queues the Service it belongs to, when the provider
// follows that Service's endpoints, and only then: the sync that follows is
// one EnsureLoadBalancer for a burst of changes. Run in a synctest bubble, so
// that "no call" is checked once the sync delay has passed in fake time and
// nothing can run any more, not after a sleep.
func TestEndpointsChangeSyncsOnlyFollowedServices(t *testing.T) {
	synctest.Test(t, testEndpointsChangeSyncsOnlyFollowedServices)
}

func testEndpointsChangeSyncsOnlyFollowedServices(t *testing.T) {
	lb := &followingLB{Fake: fakelb.New(), ensures: map[string]int{}}
	followed := newService("followed", objects.WithAnnotations(followAnnotation, "true"))
	notFollowed := newService("not-followed")
	notServed := newService("not-served", objects.WithClass(otherClass), objects.WithAnnotations(followAnnotation, "true"))
	h := startUnitWith(t, lb.Fake, lb, fastConfig(), 2, newNode("a"), followed, notFollowed, notServed)
	waitServed(t, h, "followed", "not-followed")
	before := lb.counts()

	ctx := context.Background()
	slices := h.client.DiscoveryV1().EndpointSlices("default")
	for _, s := range []*discoveryv1.EndpointSlice{
		newSlice("followed", "followed-1", "10.0.0.1"),
		newSlice("not-followed", "not-followed-1", "10.0.0.2"),
		newSlice("not-served", "not-served-1", "10.0.0.3"),
		newSlice("", "no-service", "10.0.0.4"),
	} {
		if _, err := slices.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A second change of the followed Service's slice within the delay: one sync for both.
	if _, err := slices.Update(ctx, newSlice("followed", "followed-1", "10.0.0.1", "10.0.0.5"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * DefaultEndpointsSyncDelay)
	synctest.Wait()
	after := lb.counts()
	for name, want := range map[string]int{"followed": 1, "not-followed": 0, "not-served": 0} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s: %d EnsureLoadBalancer calls after its EndpointSlice changed, want %d", name, got, want)
		}
	}

	// A failed Ensure keeps the change: the retry calls the provider again although nothing else
	// changed. (A RetryError, because the backoff of utilruntime.HandleError, which other errors
	// go through, compares fake time with the real time of earlier errors and sleeps for years.)
	lb.FailNext(fakelb.OpEnsure, 1, api.NewRetryError("target registration throttled", 10*time.Millisecond))
	if err := slices.Delete(ctx, "followed-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * DefaultEndpointsSyncDelay)
	synctest.Wait()
	if got := lb.counts()["followed"] - after["followed"]; got != 2 {
		t.Errorf("%d EnsureLoadBalancer calls after a change whose first Ensure failed, want 2 (the failure, then the retry)", got)
	}
}

// A provider that follows no endpoints gets no EndpointSlice cache, and a
// slice change syncs nothing.
func TestEndpointsNotWatchedWithoutFollower(t *testing.T) {
	synctest.Test(t, testEndpointsNotWatchedWithoutFollower)
}

func testEndpointsNotWatchedWithoutFollower(t *testing.T) {
	h := startUnit(t, fastConfig(), 2, newNode("a"), newService("web", objects.WithAnnotations(followAnnotation, "true")))
	waitServed(t, h, "web")
	for typ := range h.factory.WaitForCacheSync(nil) {
		if typ == reflect.TypeFor[*discoveryv1.EndpointSlice]() {
			t.Errorf("the controller requested an EndpointSlice informer for a provider that follows no endpoints")
		}
	}
	ensures := h.lb.Calls(fakelb.OpEnsure)
	if _, err := h.client.DiscoveryV1().EndpointSlices("default").Create(context.Background(),
		newSlice("web", "web-1", "10.0.0.1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * DefaultEndpointsSyncDelay)
	synctest.Wait()
	if got := h.lb.Calls(fakelb.OpEnsure); got != ensures {
		t.Errorf("EnsureLoadBalancer calls went from %d to %d after an EndpointSlice change", ensures, got)
	}
}
