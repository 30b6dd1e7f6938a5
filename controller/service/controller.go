package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/cloud-provider/api"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/served"
)

// Defaults of Config and Run.
const (
	// DefaultClass is the spec.loadBalancerClass served by default (with Services of no class).
	DefaultClass = served.DefaultClass
	// DefaultWorkers is how many Services are synced at once. One slow
	// load balancer must not hold up the others (upstream's default is 1).
	DefaultWorkers = 10
	// DefaultResyncPeriod is how often every served Service gets a full
	// EnsureLoadBalancer even if nothing changed, to repair drift made
	// outside Kubernetes (a load balancer deleted by hand). Each period costs
	// one EnsureLoadBalancer per served Service.
	DefaultResyncPeriod = 10 * time.Minute
	// DefaultNodeSyncDelay coalesces bursts of node events (a rolling
	// reboot, a zone outage) into one pass over the Services.
	DefaultNodeSyncDelay = time.Second
	// DefaultMinRetryDelay and DefaultMaxRetryDelay bound the per-Service
	// exponential backoff after a failed sync (cloud-provider's values).
	DefaultMinRetryDelay = 5 * time.Second
	DefaultMaxRetryDelay = 5 * time.Minute
)

// FieldManager is the field manager of every write the controller makes. It
// is how a later run recognises a cleanup finalizer that frontdesk added (see
// the package documentation).
const FieldManager = "frontdesk-controller"

// EventComponent is the source component of the controller's Events.
const EventComponent = "frontdesk-controller"

// Config configures a Controller. Start from DefaultConfig: the zero value
// serves nothing and is refused.
type Config struct {
	// ClusterName is passed to every provider call (cloud-provider's
	// --cluster-name), which providers use to name and tag resources.
	ClusterName string
	// Classes are the spec.loadBalancerClass values served.
	Classes []string
	// ServeDefaultClass also serves Services that set no loadBalancerClass.
	// Turn it off when another implementation is the cluster's default.
	ServeDefaultClass bool
	// ResyncPeriod is how often every served Service gets a full
	// EnsureLoadBalancer although nothing changed; zero turns that off.
	ResyncPeriod time.Duration
	// NodeSyncDelay is how long node events are collected before the
	// Services are re-queued; zero re-queues at once.
	NodeSyncDelay time.Duration
	// EndpointsSyncDelay is how long a Service waits after a change of its
	// EndpointSlices before its sync, for a provider that follows them
	// (EndpointsFollower); zero syncs at once.
	EndpointsSyncDelay time.Duration
	// MinRetryDelay and MaxRetryDelay bound the per-Service exponential
	// backoff after a failed sync.
	MinRetryDelay, MaxRetryDelay time.Duration
}

// DefaultConfig returns the configuration frontdesk-controller runs with
// unless told otherwise: class frontdesk.dev/lb and Services with no class.
func DefaultConfig() Config {
	return Config{
		ClusterName:        "kubernetes",
		Classes:            []string{DefaultClass},
		ServeDefaultClass:  true,
		ResyncPeriod:       DefaultResyncPeriod,
		NodeSyncDelay:      DefaultNodeSyncDelay,
		EndpointsSyncDelay: DefaultEndpointsSyncDelay,
		MinRetryDelay:      DefaultMinRetryDelay,
		MaxRetryDelay:      DefaultMaxRetryDelay,
	}
}

// ErrServesNothing is returned by Config.Validate when no class is served.
var ErrServesNothing = errors.New("service controller: no load-balancer class is served; " +
	"accepted: at least one class, or serving Services with no class")

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	if len(c.Classes) == 0 && !c.ServeDefaultClass {
		errs = append(errs, ErrServesNothing)
	}
	for _, class := range c.Classes {
		// The API server validates spec.loadBalancerClass the same way, so a
		// class that fails here could never match a Service.
		if msgs := validation.IsQualifiedName(class); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("service controller: load-balancer class %q is not valid: %s; "+
				"accepted: a qualified name such as %q", class, strings.Join(msgs, "; "), DefaultClass))
		}
	}
	if c.ResyncPeriod < 0 || c.NodeSyncDelay < 0 || c.EndpointsSyncDelay < 0 {
		errs = append(errs, fmt.Errorf("service controller: negative resync period (%s), node sync delay (%s) "+
			"or endpoints sync delay (%s); accepted: zero or more", c.ResyncPeriod, c.NodeSyncDelay, c.EndpointsSyncDelay))
	}
	if c.MinRetryDelay <= 0 || c.MaxRetryDelay < c.MinRetryDelay {
		errs = append(errs, fmt.Errorf("service controller: retry delays %s..%s are not valid; "+
			"accepted: 0 < minimum <= maximum", c.MinRetryDelay, c.MaxRetryDelay))
	}
	return errors.Join(errs...)
}

// Controller keeps the provider's load balancers in line with the served
// Services. Create it with New, then call Run once.
type Controller struct {
	cfg      Config
	filter   served.Classes
	balancer cloudprovider.LoadBalancer
	client   kubernetes.Interface

	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced

	// queue holds Service keys; a key is never processed by two workers at
	// once, which is what serialises provider calls per Service.
	queue workqueue.TypedRateLimitingInterface[string]
	// nodeQueue holds at most the single key nodesKey: while it waits, node
	// events add nothing, which is the coalescing.
	nodeQueue workqueue.TypedDelayingInterface[string]

	applied *tracker
	// conditions counts the Services by their condition, for the metric.
	conditions conditionCounts
	// behind holds the keys whose last sync found the cache older than our own last write: the
	// watch event that brings the write queues them again.
	behind sync.Map
	// follower is the provider when it follows endpoints, else nil.
	follower EndpointsFollower

	// recorder is set by Run before any worker starts.
	recorder record.EventRecorder
}

const nodesKey = "nodes"

// New returns a controller that drives balancer from the Services and Nodes
// (and, for an EndpointsFollower, the EndpointSlices) of factory, the
// process's shared informers: New requests them, the caller starts the factory.
func New(balancer cloudprovider.LoadBalancer, client kubernetes.Interface,
	factory informers.SharedInformerFactory, cfg Config) (*Controller, error) {
	if balancer == nil {
		return nil, errors.New("service controller: the cloud provider has no load-balancer support (LoadBalancer() returned false)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	registerMetrics()

	services, nodes := factory.Core().V1().Services(), factory.Core().V1().Nodes()
	c := &Controller{
		cfg:      cfg,
		filter:   served.Classes{Names: cfg.Classes, Unset: cfg.ServeDefaultClass},
		balancer: balancer,
		client:   client,
		services: services.Lister(),
		nodes:    nodes.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](cfg.MinRetryDelay, cfg.MaxRetryDelay),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "service"},
		),
		nodeQueue: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "service_nodes"}),
		applied:   newTracker(),
	}

	svcReg, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onServiceAdd,
		UpdateFunc: c.onServiceUpdate,
		DeleteFunc: c.onServiceDelete,
	})
	if err != nil {
		return nil, fmt.Errorf("service controller: watching Services: %w", err)
	}
	nodeReg, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.onNodeAdd,
		UpdateFunc: c.onNodeUpdate,
		DeleteFunc: c.onNodeDelete,
	})
	if err != nil {
		return nil, fmt.Errorf("service controller: watching Nodes: %w", err)
	}
	// The registrations' HasSynced also wait until our handlers have seen
	// the initial lists, so no worker starts on a half-filled queue.
	c.synced = []cache.InformerSynced{svcReg.HasSynced, nodeReg.HasSynced}
	if f, ok := balancer.(EndpointsFollower); ok {
		sliceReg, err := c.followEndpoints(factory.Discovery().V1().EndpointSlices().Informer(), f)
		if err != nil {
			return nil, fmt.Errorf("service controller: watching EndpointSlices: %w", err)
		}
		c.synced = append(c.synced, sliceReg.HasSynced)
	}
	if w, ok := balancer.(Waker); ok {
		w.SetWake(c.wakeWaiting)
	}
	if r, ok := balancer.(Readiness); ok {
		r.SetReadinessChanged(c.readinessChanged)
	}
	return c, nil
}

// Run syncs Services with workers goroutines (DefaultWorkers if workers is not
// positive) until ctx is done, then returns once every worker has finished
// the Service it was syncing. Nothing is synced before the informers' caches
// are. Run must be called only once.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrashWithContext(ctx)
	if workers <= 0 {
		workers = DefaultWorkers
	}
	logger := klog.FromContext(ctx).WithName("service-controller")
	ctx = klog.NewContext(ctx, logger)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	c.recorder = broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: EventComponent})

	logger.Info("Starting service controller", "workers", workers, "classes", c.filter.String(),
		"cluster", c.cfg.ClusterName)
	defer logger.Info("Stopped service controller")

	var wg sync.WaitGroup
	if cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		for range workers {
			wg.Go(func() {
				for c.processNextService(ctx) {
				}
			})
		}
		wg.Go(func() {
			for c.processNodeChange(ctx) {
			}
		})
		if c.cfg.ResyncPeriod > 0 {
			wg.Go(func() { c.resyncEvery(ctx, c.cfg.ResyncPeriod) })
		}
	}
	<-ctx.Done()
	c.queue.ShutDown()
	c.nodeQueue.ShutDown()
	wg.Wait()
}

// processNextService syncs one Service; it returns false when the worker
// must stop.
func (c *Controller) processNextService(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	// A shut-down queue still hands out what it holds; stop instead.
	if ctx.Err() != nil {
		return false
	}
	c.handleResult(ctx, key, c.syncService(ctx, key))
	return true
}

func (c *Controller) handleResult(ctx context.Context, key string, err error) {
	if err == nil {
		c.queue.Forget(key)
		return
	}
	if ctx.Err() != nil {
		return // shutting down; the next leader syncs the Service again
	}
	var retry *api.RetryError
	if errors.As(err, &retry) {
		// The provider asked for a fixed delay (say, a load balancer still
		// being provisioned): exponential backoff would only add latency.
		klog.FromContext(ctx).V(2).Info("Provider asked to retry later", "service", key,
			"after", retry.RetryAfter(), "reason", err.Error())
		c.queue.AddAfter(key, retry.RetryAfter())
		return
	}
	utilruntime.HandleErrorWithContext(ctx, err, "Syncing Service failed; retrying with backoff",
		"service", key, "failures", c.queue.NumRequeues(key)+1)
	c.queue.AddRateLimited(key)
}

// resyncEvery queues every relevant Service for a full EnsureLoadBalancer
// each period, to repair drift made outside Kubernetes.
func (c *Controller) resyncEvery(ctx context.Context, period time.Duration) {
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		services, err := c.services.List(labels.Everything())
		if err != nil {
			klog.FromContext(ctx).Error(err, "Listing Services for the periodic resync failed")
			continue
		}
		queued := 0
		for _, svc := range services {
			if !c.relevant(svc) {
				continue
			}
			key, err := cache.MetaNamespaceKeyFunc(svc)
			if err != nil {
				continue
			}
			c.applied.markStale(key)
			c.queue.Add(key)
			queued++
		}
		klog.FromContext(ctx).V(4).Info("Periodic resync queued Services", "services", queued)
	}
}

// Informer handlers: they only decide whether a key is worth queuing.

func (c *Controller) onServiceAdd(obj any) {
	if svc, ok := obj.(*v1.Service); ok && c.relevant(svc) {
		c.enqueue(svc)
	}
}

func (c *Controller) onServiceUpdate(oldObj, newObj any) {
	oldSvc, ok1 := oldObj.(*v1.Service)
	newSvc, ok2 := newObj.(*v1.Service)
	if !ok1 || !ok2 {
		return
	}
	if oldSvc.ResourceVersion == newSvc.ResourceVersion && newSvc.ResourceVersion != "" {
		// The informer's own resync: nothing changed. resyncEvery does
		// periodic work whatever the informer factory's resync period.
		return
	}
	if onlyConditionsChanged(oldSvc, newSvc) {
		// Our own condition write (or another controller's): nothing a sync reads changed.
		// Queuing it would retry a failing Service at once, ahead of its backoff; unless a sync
		// found the cache behind our write and waits for it to arrive.
		if key, err := cache.MetaNamespaceKeyFunc(newSvc); err == nil {
			if _, waiting := c.behind.LoadAndDelete(key); waiting {
				c.queue.Add(key)
			}
		}
		return
	}
	if c.relevant(oldSvc) || c.relevant(newSvc) {
		c.enqueue(newSvc)
	}
}

// onlyConditionsChanged reports whether two versions of a Service differ in status.conditions
// only (and so in resourceVersion and managedFields).
func onlyConditionsChanged(a, b *v1.Service) bool {
	if equality.Semantic.DeepEqual(a.Status.Conditions, b.Status.Conditions) {
		return false
	}
	strip := func(s *v1.Service) *v1.Service {
		s = s.DeepCopy()
		s.ResourceVersion, s.ManagedFields, s.Status.Conditions = "", nil, nil
		return s
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

func (c *Controller) onServiceDelete(obj any) {
	// A Service carrying our finalizer is handled when its deletionTimestamp
	// is set. This catches one whose finalizer someone removed: its load
	// balancer still has to go.
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil && c.applied.has(key) {
		c.queue.Add(key)
	}
}

// relevant reports whether a Service may need work: one that wants a load
// balancer from us, one that carries a cleanup finalizer (ours or not: sync
// tells), and one we have a load balancer for.
func (c *Controller) relevant(svc *v1.Service) bool {
	if c.filter.Wants(svc) || hasCleanupFinalizer(svc) {
		return true
	}
	key, err := cache.MetaNamespaceKeyFunc(svc)
	return err == nil && c.applied.has(key)
}

func (c *Controller) enqueue(svc *v1.Service) {
	key, err := cache.MetaNamespaceKeyFunc(svc)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("service controller: no key for Service %s/%s: %w", svc.Namespace, svc.Name, err))
		return
	}
	c.queue.Add(key)
}
