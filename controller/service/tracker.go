package service

import (
	"sync"

	v1 "k8s.io/api/core/v1"
)

// applied is what the controller last told the provider about one Service.
// It is a cache that saves provider calls, never the truth: losing it (a
// restart) only costs one EnsureLoadBalancer per Service.
type applied struct {
	// svc is the Service as passed to the last successful
	// EnsureLoadBalancer, with the status that call produced.
	svc *v1.Service
	// nodes is the node set of the last successful Ensure or Update.
	nodes nodeSet
	// stale asks for a full EnsureLoadBalancer at the next sync: set on
	// periodic resync and after a failed UpdateLoadBalancer.
	stale bool
}

// tracker holds applied by Service key. Informer handlers and workers share it.
type tracker struct {
	mu sync.Mutex
	m  map[string]applied
	// endpoints holds the keys whose EndpointSlices changed since their last
	// EnsureLoadBalancer began (EndpointsFollower). It is apart from m so
	// that it also holds for a Service not ensured yet.
	endpoints map[string]bool
}

func newTracker() *tracker { return &tracker{m: map[string]applied{}, endpoints: map[string]bool{}} }

func (t *tracker) get(key string) (applied, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.m[key]
	return a, ok
}

func (t *tracker) has(key string) bool {
	_, ok := t.get(key)
	return ok
}

func (t *tracker) set(key string, a applied) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[key]; !ok {
		loadBalancers.Inc()
	}
	t.m[key] = a
}

// wrote records the resourceVersion of a later write of ours to a tracked Service (its
// condition), so that cacheBehind also waits for the cache to hold that write: a condition
// decided on an older copy would tell its last change again.
func (t *tracker) wrote(key, resourceVersion string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.m[key]; ok && a.svc.ResourceVersion != resourceVersion {
		svc := *a.svc // the tracked copy may be read meanwhile: replaced, never changed
		svc.ResourceVersion = resourceVersion
		a.svc = &svc
		t.m[key] = a
	}
}

func (t *tracker) markStale(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.m[key]; ok {
		a.stale = true
		t.m[key] = a
	}
}

// markEndpoints records that the Service's endpoints changed.
func (t *tracker) markEndpoints(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endpoints[key] = true
}

// takeEndpoints reports whether the Service's endpoints changed since the
// last call, and clears the mark.
func (t *tracker) takeEndpoints(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := t.endpoints[key]
	delete(t.endpoints, key)
	return changed
}

func (t *tracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.endpoints, key)
	if _, ok := t.m[key]; ok {
		loadBalancers.Dec()
		delete(t.m, key)
	}
}
