package service

import (
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// Waker is implemented by a provider's LoadBalancer that learns, outside Services and Nodes, of a
// change that may let a waiting Service be served: on bare metal an IPPool added or grown, or
// addresses freed. New hands it the controller's wake function; the provider may call it from any
// goroutine, as often as it likes (the queue deduplicates).
//
// Without it a Service that found no address waits for its backoff, up to MaxRetryDelay (5
// minutes by default): a user who creates the Service before the pool would wait that long.
type Waker interface {
	SetWake(wake func())
}

// wakeWaiting queues at once, with its backoff reset, every Service of ours that has no
// load-balancer address yet: those are the ones a new address may serve. Services that have one
// are left alone.
func (c *Controller) wakeWaiting() {
	services, err := c.services.List(labels.Everything())
	if err != nil {
		return // the lister reads a cache: it does not fail
	}
	for _, svc := range services {
		if !c.filter.Wants(svc) || svc.DeletionTimestamp != nil || len(svc.Status.LoadBalancer.Ingress) > 0 {
			continue
		}
		key, err := cache.MetaNamespaceKeyFunc(svc)
		if err != nil {
			continue
		}
		c.queue.Forget(key)
		c.queue.Add(key)
	}
}
