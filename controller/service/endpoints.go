package service

import (
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// DefaultEndpointsSyncDelay coalesces a burst of EndpointSlice changes of one
// Service (a rollout) into one provider call.
const DefaultEndpointsSyncDelay = time.Second

// EndpointsFollower is implemented by a provider's LoadBalancer whose load
// balancers depend on a Service's endpoints as well as on its spec and the
// node set: AWS ip targets are the ready Pods' addresses. The controller then
// watches EndpointSlices, from the same informer factory as Services and
// Nodes (one cache in the process), and when the slices of a Service the
// provider follows change, it queues that Service in its own queue after
// EndpointsSyncDelay; the sync calls EnsureLoadBalancer as for a spec change,
// without the EnsuringLoadBalancer and EnsuredLoadBalancer Events (Pods come
// and go all the time). The queue never hands one Service to two workers, so
// the provider needs no lock of its own against the controller.
//
// A provider that does not implement it costs nothing: no EndpointSlice is
// cached.
type EndpointsFollower interface {
	// FollowsEndpoints reports whether the load balancer of svc, a Service
	// the controller serves, depends on its endpoints. It is called from
	// informer handlers: it must be quick and must not block.
	FollowsEndpoints(svc *v1.Service) bool
}

// whyEndpoints is the reason of a sync queued by an EndpointSlice change. Like
// a resync it makes no Event.
const whyEndpoints = "endpoints changed"

// followEndpoints registers the EndpointSlice handlers.
func (c *Controller) followEndpoints(slices cache.SharedIndexInformer, f EndpointsFollower) (cache.ResourceEventHandlerRegistration, error) {
	c.follower = f
	return slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.onSliceChange,
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*discoveryv1.EndpointSlice)
			n, ok2 := newObj.(*discoveryv1.EndpointSlice)
			if ok1 && ok2 && o.ResourceVersion == n.ResourceVersion && n.ResourceVersion != "" {
				return // the informer's own resync
			}
			c.onSliceChange(newObj)
		},
		DeleteFunc: c.onSliceChange,
	})
}

// onSliceChange queues the slice's Service if the provider follows it. The
// mark survives until an EnsureLoadBalancer has run after it, so a change
// seen while the Service's first Ensure reads the endpoints is not lost.
func (c *Controller) onSliceChange(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	slice, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	name := slice.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return // not a Service's slice
	}
	svc, err := c.services.Services(slice.Namespace).Get(name)
	if err != nil {
		// Not in the cache (yet): its first sync reads the endpoints anyway.
		return
	}
	if svc.DeletionTimestamp != nil || !c.filter.Wants(svc) || !c.follower.FollowsEndpoints(svc) {
		return
	}
	key := slice.Namespace + "/" + name
	c.applied.markEndpoints(key)
	// While the key waits, further AddAfter calls do not postpone it: a
	// steady stream of changes still gets a sync every delay.
	c.queue.AddAfter(key, c.cfg.EndpointsSyncDelay)
}
