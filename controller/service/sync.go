package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/served"
)

// Event reasons on the Service. They are part of frontdesk's interface: users
// and alerts filter on them.
const (
	EventEnsuringLoadBalancer   = "EnsuringLoadBalancer"
	EventEnsuredLoadBalancer    = "EnsuredLoadBalancer"
	EventUpdatedLoadBalancer    = "UpdatedLoadBalancer"
	EventDeletingLoadBalancer   = "DeletingLoadBalancer"
	EventDeletedLoadBalancer    = "DeletedLoadBalancer"
	EventSyncLoadBalancerFailed = "SyncLoadBalancerFailed"
)

// operation is what one sync asked of the provider; it labels metrics.
type operation string

const (
	opNone   operation = "none"
	opEnsure operation = "ensure"
	opUpdate operation = "update"
	opDelete operation = "delete"
)

// action is what a Service needs, decided from the object alone.
type action int

const (
	actNone action = iota
	actEnsure
	actCleanup
)

func (a action) String() string {
	return [...]string{"none", "ensure", "cleanup"}[a]
}

// decide returns what svc needs. tracked says this controller holds a load
// balancer for it. Cleanup is only ever decided for a Service that is ours:
// one of a served class, one we hold a load balancer for, or one whose
// cleanup finalizer we added; another implementation's finalizer is left alone.
func decide(f served.Classes, svc *v1.Service, tracked bool) action {
	if svc.DeletionTimestamp == nil && f.Wants(svc) {
		return actEnsure
	}
	if !hasCleanupFinalizer(svc) && !tracked {
		return actNone // nothing of ours can exist
	}
	// Either being deleted, or no longer asking us for a load balancer.
	if f.Wants(svc) || tracked || finalizerAddedByUs(svc) {
		return actCleanup
	}
	return actNone
}

// syncService brings one Service's load balancer in line with the Service.
func (c *Controller) syncService(ctx context.Context, key string) error {
	start := time.Now()
	logger := klog.FromContext(ctx).WithValues("service", key)
	ctx = klog.NewContext(ctx, logger)

	op, why, err := c.sync(ctx, key)

	elapsed := time.Since(start)
	observeSync(op, err, elapsed)
	switch {
	case err != nil:
		logger.V(2).Info("Sync failed", "operation", op, "reason", why, "duration", elapsed, "err", err)
	case op != opNone:
		logger.V(2).Info("Synced load balancer", "operation", op, "reason", why, "duration", elapsed)
	default:
		logger.V(4).Info("Nothing to do", "duration", elapsed)
	}
	return err
}

func (c *Controller) sync(ctx context.Context, key string) (operation, string, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		// Cannot happen with keys from MetaNamespaceKeyFunc. Retrying would
		// not help, so report it and let the key go.
		utilruntime.HandleErrorWithContext(ctx, err, "Dropping a malformed queue key", "key", key)
		return opNone, "bad key", nil //nolint:nilerr // handled above; a retry cannot succeed
	}
	prev, tracked := c.applied.get(key)
	cached, err := c.services.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.conditions.forget(key)
		if !tracked {
			c.applied.takeEndpoints(key)
			return opNone, "gone", nil
		}
		// Deleted without our finalizer (someone removed it): the load
		// balancer is still there.
		if err := c.deleteLoadBalancer(ctx, prev.svc); err != nil {
			return opDelete, "deleted without finalizer", err
		}
		c.applied.forget(key)
		return opDelete, "deleted without finalizer", nil
	}
	if err != nil {
		return opNone, "lister", err
	}
	svc := cached.DeepCopy() // never change the informer's copy

	if tracked && prev.svc.UID != svc.UID {
		// Deleted and re-created under the same name while our finalizer
		// was missing: the old load balancer is ours to delete first.
		if err := c.deleteLoadBalancer(ctx, prev.svc); err != nil {
			return opDelete, "re-created", err
		}
		c.applied.forget(key)
		tracked = false
	}
	if tracked && cacheBehind(svc, prev.svc) {
		c.behind.Store(key, true)
		// The write may have reached the cache between the read above and the Store, its event
		// finding no key to queue: look again.
		if cur, err := c.services.Services(namespace).Get(name); err == nil && !cacheBehind(cur, prev.svc) {
			if _, waiting := c.behind.LoadAndDelete(key); waiting {
				c.queue.Add(key)
			}
		}
		return opNone, "cache behind our last write", nil
	}

	switch decide(c.filter, svc, tracked) {
	case actEnsure:
		endpoints := c.applied.takeEndpoints(key)
		op, why, err := c.ensure(ctx, key, svc, endpoints)
		if err != nil && endpoints {
			c.applied.markEndpoints(key) // the retry must still carry the new endpoints
		}
		if why == whyElsewhere {
			c.conditions.forget(key)
			return op, why, err
		}
		// After every sync, failed or not: the condition says where the load balancer stands.
		// A failed write is retried with the sync (the error is returned); after a failed
		// sync, the sync's own error is the one that matters.
		cond := c.readiness(svc, err)
		c.conditions.set(key, cond.Status, cond.Reason)
		switch cerr := c.setCondition(ctx, svc, cond); {
		case cerr == nil:
			c.applied.wrote(key, svc.ResourceVersion)
		case err == nil:
			syncErrors.WithLabelValues("status").Inc()
			err = cerr
		default:
			klog.FromContext(ctx).V(2).Info("Setting the Service's condition failed", "err", cerr)
		}
		return op, why, err
	case actCleanup:
		c.conditions.forget(key)
		return opDelete, cleanupReason(svc), c.cleanup(ctx, key, svc)
	default:
		c.conditions.forget(key)
		c.applied.takeEndpoints(key)
		return opNone, "not served", nil
	}
}

func cleanupReason(svc *v1.Service) string {
	if svc.DeletionTimestamp != nil {
		return "deleted"
	}
	return "no longer wants a load balancer"
}

// whyElsewhere: the provider said another controller implements the Service's load balancer
// (cloudprovider.ImplementedElsewhere), so the Service is not ours to report on.
const whyElsewhere = "implemented elsewhere"

// Reasons for a full EnsureLoadBalancer. Only a periodic resync and a change
// of endpoints with nothing else changed stay quiet: two Events per Service
// per period, or per Pod rollout, would be noise.
const whyResync = "resync"

// ensureReason returns why svc needs a full EnsureLoadBalancer, or "" when
// only its node set may have changed since prev. endpoints: its
// EndpointSlices changed (EndpointsFollower).
func ensureReason(prev applied, tracked, endpoints bool, svc *v1.Service) string {
	switch {
	case !tracked:
		return "not ensured since start"
	case !hasCleanupFinalizer(svc):
		return "finalizer missing"
	case !equality.Semantic.DeepEqual(prev.svc.Spec, svc.Spec),
		!equality.Semantic.DeepEqual(prev.svc.Annotations, svc.Annotations):
		// Providers read annotations (pool, address requests), so they count.
		return "spec changed"
	case !statusEqual(&prev.svc.Status.LoadBalancer, &svc.Status.LoadBalancer):
		return "status changed outside the controller"
	case endpoints:
		return whyEndpoints
	case prev.stale:
		return whyResync
	}
	return ""
}

// ensure converges the load balancer of a Service that wants one. endpoints
// says its EndpointSlices changed since the last EnsureLoadBalancer began
// (EndpointsFollower).
func (c *Controller) ensure(ctx context.Context, key string, svc *v1.Service, endpoints bool) (operation, string, error) {
	nodes, err := c.eligibleNodes()
	if err != nil {
		syncErrors.WithLabelValues("nodes").Inc()
		return opEnsure, "listing nodes", err
	}
	set := nodeSetOf(nodes)
	prev, tracked := c.applied.get(key)
	why := ensureReason(prev, tracked, endpoints, svc)
	if why == "" {
		if prev.nodes.equal(set) {
			return opNone, "up to date", nil
		}
		return opUpdate, "node set changed", c.update(ctx, key, svc, nodes, prev)
	}
	logger := klog.FromContext(ctx)
	logger.V(4).Info("Ensuring load balancer", "reason", why, "nodes", set.String())

	announce := why != whyResync && why != whyEndpoints
	if announce {
		c.recorder.Event(svc, v1.EventTypeNormal, EventEnsuringLoadBalancer, "Ensuring load balancer")
	}
	// The finalizer goes on before the provider creates anything, so the
	// Service cannot vanish while an external resource exists.
	if err := c.addFinalizer(ctx, svc); err != nil {
		syncErrors.WithLabelValues("finalizer").Inc()
		return opEnsure, why, fmt.Errorf("adding finalizer %s: %w", cleanupFinalizer, err)
	}
	status, err := c.balancer.EnsureLoadBalancer(ctx, c.cfg.ClusterName, svc, nodes)
	if errors.Is(err, cloudprovider.ImplementedElsewhere) {
		logger.V(4).Info("Provider says another controller implements this load balancer")
		return opNone, whyElsewhere, nil
	}
	if err == nil && status == nil {
		err = errors.New("the provider returned neither a status nor an error")
	}
	if err != nil {
		c.failed(svc, "ensure", err)
		// %w keeps an api.RetryError visible to handleResult.
		return opEnsure, why, fmt.Errorf("ensuring load balancer: %w", err)
	}
	status = normalizeStatus(status)
	changed, err := c.patchStatus(ctx, svc, status, true)
	if err != nil {
		syncErrors.WithLabelValues("status").Inc()
		return opEnsure, why, fmt.Errorf("patching status: %w", err)
	}
	if announce || changed {
		c.recorder.Eventf(svc, v1.EventTypeNormal, EventEnsuredLoadBalancer, "Ensured load balancer%s", ingressSummary(status))
	}
	c.applied.set(key, applied{svc: svc, nodes: set})
	return opEnsure, why, nil
}

// update tells the provider about a new node set when nothing else changed.
func (c *Controller) update(ctx context.Context, key string, svc *v1.Service, nodes []*v1.Node, prev applied) error {
	set := nodeSetOf(nodes)
	klog.FromContext(ctx).V(4).Info("Updating load balancer nodes", "nodes", set.String())
	err := c.balancer.UpdateLoadBalancer(ctx, c.cfg.ClusterName, svc, nodes)
	if err != nil && !errors.Is(err, cloudprovider.ImplementedElsewhere) {
		// The retry does a full EnsureLoadBalancer, which also carries the
		// nodes: a provider whose update path is broken still converges.
		c.applied.markStale(key)
		c.failed(svc, "update", err)
		return fmt.Errorf("updating load balancer nodes: %w", err)
	}
	c.recorder.Eventf(svc, v1.EventTypeNormal, EventUpdatedLoadBalancer, "Updated load balancer with %d eligible nodes", len(nodes))
	prev.nodes = set
	c.applied.set(key, prev)
	return nil
}

// cleanup clears the status of a Service that no longer wants a load
// balancer, deletes the load balancer and then releases the Service by
// removing the finalizer. The status goes first (cloud-provider's controller
// clears it last): a provider that hands out addresses must not release one
// that a status still names, or another Service could show it too.
func (c *Controller) cleanup(ctx context.Context, key string, svc *v1.Service) error {
	if _, err := c.patchStatus(ctx, svc, &v1.LoadBalancerStatus{}, false); err != nil && !apierrors.IsNotFound(err) {
		syncErrors.WithLabelValues("status").Inc()
		return fmt.Errorf("clearing status: %w", err)
	}
	if err := c.clearCondition(ctx, svc); err != nil && !apierrors.IsNotFound(err) {
		syncErrors.WithLabelValues("status").Inc()
		return err
	}
	if err := c.deleteLoadBalancer(ctx, svc); err != nil {
		return err
	}
	if err := c.removeFinalizer(ctx, svc); err != nil && !apierrors.IsNotFound(err) {
		syncErrors.WithLabelValues("finalizer").Inc()
		return fmt.Errorf("removing finalizer %s: %w", cleanupFinalizer, err)
	}
	c.applied.forget(key)
	return nil
}

func (c *Controller) deleteLoadBalancer(ctx context.Context, svc *v1.Service) error {
	c.recorder.Event(svc, v1.EventTypeNormal, EventDeletingLoadBalancer, "Deleting load balancer")
	err := c.balancer.EnsureLoadBalancerDeleted(ctx, c.cfg.ClusterName, svc)
	if err != nil && !errors.Is(err, cloudprovider.ImplementedElsewhere) {
		c.failed(svc, "delete", err)
		return fmt.Errorf("deleting load balancer: %w", err)
	}
	c.recorder.Event(svc, v1.EventTypeNormal, EventDeletedLoadBalancer, "Deleted load balancer")
	return nil
}

// failed reports a provider error where the user looks: an Event on the
// Service carrying the provider's message (bad input shows up here).
func (c *Controller) failed(svc *v1.Service, step string, err error) {
	syncErrors.WithLabelValues(step).Inc()
	c.recorder.Eventf(svc, v1.EventTypeWarning, EventSyncLoadBalancerFailed, "Error syncing load balancer: %v", err)
}

// ingressSummary is ": 192.0.2.1, lb.example" for an Event message.
func ingressSummary(s *v1.LoadBalancerStatus) string {
	var addrs []string
	for _, in := range s.Ingress {
		switch {
		case in.IP != "":
			addrs = append(addrs, in.IP)
		case in.Hostname != "":
			addrs = append(addrs, in.Hostname)
		}
	}
	if len(addrs) == 0 {
		return ""
	}
	return ": " + strings.Join(addrs, ", ")
}
