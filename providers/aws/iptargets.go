package aws

import (
	"context"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// The service controller calls the provider when a Service or the node set
// changes, not when Pods do. ip targets are Pods, so the provider follows
// EndpointSlices itself: a change queues the Service, and a worker converges
// its load balancer (only the targets differ, so only they are touched).
// Bursts of slice updates for one Service collapse into one pass per
// endpointsDelay.

const endpointsDelay = time.Second

// lockService serialises the provider's own passes with the service
// controller's for one Service.
func (c *Cloud) lockService(uid string) func() {
	m, _ := c.locks.LoadOrStore(uid, &lockEntry{})
	e := m.(*lockEntry)
	e.mu.Lock()
	return e.mu.Unlock
}

type lockEntry struct{ mu sync.Mutex }

// followEndpoints runs until ctx ends.
func (c *Cloud) followEndpoints(ctx context.Context, slices cache.SharedIndexInformer, services corelisters.ServiceLister) {
	queue := workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "aws_ip_targets"})
	go func() { <-ctx.Done(); queue.ShutDown() }()
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
			return
		}
		queue.AddAfter(s.Namespace+"/"+s.Labels[discoveryv1.LabelServiceName], endpointsDelay)
	}
	if _, err := slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue,
	}); err != nil {
		klog.FromContext(ctx).Error(err, "Cannot follow EndpointSlices; ip targets change only on resync")
		return
	}
	for {
		key, quit := queue.Get()
		if quit {
			return
		}
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		if svc, err := services.Services(ns).Get(name); err == nil {
			if err := c.SyncIPTargets(ctx, svc); err != nil {
				klog.FromContext(ctx).V(2).Info("Updating ip targets failed; the next change or resync retries", "service", key, "err", err)
			}
		}
		queue.Done(key)
	}
}

// SyncIPTargets converges the load balancer of a Service with ip targets
// that this provider has already ensured (its status names the load
// balancer the annotations ask for); any other Service is left alone.
func (c *Cloud) SyncIPTargets(ctx context.Context, svc *v1.Service) error {
	if svc.Spec.Type != v1.ServiceTypeLoadBalancer || svc.DeletionTimestamp != nil {
		return nil
	}
	spec, err := annotations.Parse(svc.Annotations)
	if err != nil || spec.Type != annotations.NLB || spec.TargetType != annotations.TargetIP {
		return nil //nolint:nilerr // a bad Service is reported by the service controller
	}
	cluster := c.clusterName("")
	want := model.LoadBalancerName(cluster, svc, spec)
	if !statusNames(svc, want) {
		return nil // not (yet) ours: the service controller creates it first
	}
	// ip targets do not depend on nodes.
	_, err = c.EnsureLoadBalancer(ctx, cluster, svc, nil)
	return err
}
