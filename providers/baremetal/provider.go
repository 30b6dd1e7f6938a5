package baremetal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// ProviderName is the value of --cloud-provider that selects this provider.
const ProviderName = "baremetal"

func init() {
	cloudprovider.RegisterCloudProvider(ProviderName, func(io.Reader) (cloudprovider.Interface, error) {
		return New(Options{ServiceCIDRs: flagServiceCIDRs}), nil
	})
}

// Options tune the provider; the zero value is what production uses.
type Options struct {
	// Served says whether a Service may hold an address: by default, any Service of type
	// LoadBalancer. The class does not matter: spec.loadBalancerClass is immutable on such a
	// Service, so one that holds an IPAllocation was ours when it got it; and an address in the
	// status of another implementation's Service is kept out of our hands, which is the safe side.
	Served func(*v1.Service) bool
	// RepairInterval is the time between repair passes (default 1 minute); a holder is released
	// after staleRounds passes without its Service.
	RepairInterval time.Duration
	// StatusInterval is the shortest time between two IPPool status passes (default 1 second):
	// a burst of allocations updates each pool's status once, not once per Service.
	StatusInterval time.Duration
	// ServiceCIDRs are the cluster's Service CIDRs, used only when the API server does not serve
	// networking.k8s.io/v1 ServiceCIDR objects (which are read otherwise): a pool overlapping one
	// is refused.
	ServiceCIDRs []netip.Prefix
}

func (o *Options) defaults() {
	if o.Served == nil {
		o.Served = func(s *v1.Service) bool { return s.Spec.Type == v1.ServiceTypeLoadBalancer }
	}
	if o.RepairInterval == 0 {
		o.RepairInterval = time.Minute
	}
	if o.StatusInterval == 0 {
		o.StatusInterval = time.Second
	}
}

// Cloud is the bare-metal cloudprovider.Interface: load balancers are addresses from IPPools, and
// instances are whatever the Nodes say.
type Cloud struct {
	opts   Options
	ready  chan struct{}
	lb     *balancer
	status *poolWriter

	mu        sync.Mutex
	started   bool
	restoreIn time.Duration // how long the restore itself took, caches already synced
	// shared are the controller manager's informers (SetInformers); informersSet is closed once
	// they are.
	shared       *sharedInformers
	informersSet chan struct{}
}

// sharedInformers are the informers the provider takes from the controller manager's factory
// instead of building its own: one cache of every Service in the process, the service
// controller's.
type sharedInformers struct {
	services   cache.SharedIndexInformer
	namespaces cache.SharedIndexInformer
}

var (
	_ cloudprovider.Interface    = (*Cloud)(nil)
	_ cloudprovider.InformerUser = (*Cloud)(nil)
)

// New returns a provider that does nothing until Initialize (in the cloud-controller-manager) or
// Start (in tests) gives it a cluster.
func New(opts Options) *Cloud {
	opts.defaults()
	c := &Cloud{opts: opts, ready: make(chan struct{}), informersSet: make(chan struct{})}
	c.lb = &balancer{ready: c.ready, metrics: newRecorder()}
	c.status = newPoolWriter(c.lb, opts.StatusInterval)
	c.lb.pools = newPoolState(c.status.runner.Run)
	return c
}

// Initialize is called by the cloud-controller-manager before its controllers start, and
// SetInformers right after it. The state is restored in the background once both are done;
// LoadBalancer calls wait for it.
func (c *Cloud) Initialize(clientBuilder cloudprovider.ControllerClientBuilder, stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	cfg := clientBuilder.ConfigOrDie("frontdesk-baremetal")
	go func() {
		select { // the controller manager calls SetInformers as soon as Initialize returns
		case <-c.informersSet:
		case <-ctx.Done():
			return
		}
		if err := c.Start(ctx, cfg); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "The bare-metal provider could not start")
			klog.FlushAndExit(klog.ExitFlushTimeout, 1)
		}
	}()
}

// SetInformers implements cloudprovider.InformerUser: the provider reads Services and Namespaces
// from the controller manager's informers, which the service controller shares, instead of
// keeping caches of its own. The informers are requested here, before the controller manager
// starts its factory; Start waits for them to sync. Call it before Start, or not at all (tests:
// Start then builds its own).
func (c *Cloud) SetInformers(f informers.SharedInformerFactory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared != nil {
		return
	}
	c.shared = &sharedInformers{services: f.Core().V1().Services().Informer(),
		namespaces: f.Core().V1().Namespaces().Informer()}
	close(c.informersSet)
}

// Start connects the provider to the cluster cfg points at, restores every allocation and runs the
// pool and repair loops until ctx is done. It returns once the restore is done; LoadBalancer calls
// made before then wait.
func (c *Cloud) Start(ctx context.Context, cfg *rest.Config) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("the bare-metal provider was started twice")
	}
	c.started = true
	shared := c.shared
	c.mu.Unlock()

	logger := klog.FromContext(ctx).WithName("baremetal")
	ctx = klog.NewContext(ctx, logger)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	api, err := newAPIClients(cfg)
	if err != nil {
		return err
	}
	var svcInformer, nsInformer cache.SharedIndexInformer
	if shared != nil {
		svcInformer, nsInformer = shared.services, shared.namespaces
	} else {
		svcInformer, nsInformer = ownCoreInformers(kube)
	}
	poolInformer := plainInformer(&v1alpha1.IPPool{}, nil,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return api.set.IPPools().List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return api.set.IPPools().Watch(ctx, o)
		})
	allocInformer := plainInformer(&v1alpha1.IPAllocation{}, cache.Indexers{byServiceIndex: indexByService},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return api.set.IPAllocations().List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return api.set.IPAllocations().Watch(ctx, o)
		})
	cidrInformer, err := serviceCIDRInformer(ctx, kube)
	if err != nil {
		return err
	}
	cidrs := &serviceCIDRs{}
	for _, p := range c.opts.ServiceCIDRs {
		cidrs.static = append(cidrs.static, serviceCIDR{prefix: p.Masked(), source: "the provider's ServiceCIDRs option"})
	}
	if cidrInformer != nil {
		cidrs.store = cidrInformer.GetStore()
	} else {
		logger.Info("The API server serves no ServiceCIDR objects; checking pools against the configured Service CIDRs", "serviceCIDRs", c.opts.ServiceCIDRs)
	}
	svcLister := corelisters.NewServiceLister(svcInformer.GetIndexer())
	nsLister := corelisters.NewNamespaceLister(nsInformer.GetIndexer())

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "frontdesk-baremetal"})
	go func() { <-ctx.Done(); broadcaster.Shutdown() }()

	b := c.lb
	b.claims = &claimStore{client: api.allocs}
	b.index = indexLookup{allocInformer.GetIndexer()}
	b.getService = serviceReader(kube)
	b.nsLabels = func(ns string) (labels.Set, error) {
		n, err := nsLister.Get(ns)
		if apierrors.IsNotFound(err) {
			return labels.Set{}, nil // a namespace being deleted: selectors that need labels fail to match
		}
		if err != nil {
			return nil, err
		}
		return n.Labels, nil
	}

	own := []cache.SharedIndexInformer{poolInformer, allocInformer}
	if shared == nil {
		own = append(own, svcInformer, nsInformer)
	} // else the controller manager runs them
	for _, inf := range own {
		go inf.Run(ctx.Done())
	}
	synced := []cache.InformerSynced{svcInformer.HasSynced, nsInformer.HasSynced, poolInformer.HasSynced, allocInformer.HasSynced}
	if cidrInformer != nil {
		go cidrInformer.Run(ctx.Done())
		synced = append(synced, cidrInformer.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("waiting for the Service, Namespace, IPPool and IPAllocation caches (are the frontdesk CRDs installed?): %w", ctx.Err())
	}

	// Restore before the first allocation: pools, then every IPAllocation, then Service statuses.
	views := refuseServiceCIDRs(poolViews(poolInformer.GetStore().List()), cidrs.list())
	views, defs := admitPools(views)
	alloc, err := allocator.NewIPAllocator(defs)
	if err != nil {
		return fmt.Errorf("admitted pools were refused: %w", err) // admitPools made this impossible
	}
	b.alloc = alloc
	b.pools.set(views)
	svcs, err := svcLister.List(labels.Everything())
	if err != nil {
		return err
	}
	start := time.Now()
	problems, leaving, kept := restore(alloc, allocsOf(allocInformer.GetStore().List()), svcs, c.opts.Served)
	for _, owner := range leaving {
		b.leaving.add(owner)
	}
	for _, p := range problems {
		logger.Info("An existing allocation contradicts another; it was not restored", "service", p.service, "err", p.err)
		if s := findService(svcLister, p.service); s != nil {
			recorder.Eventf(s, v1.EventTypeWarning, "AllocationConflict", "%v", p.err)
		}
	}
	tellKept(logger, svcLister, recorder, kept)
	took := time.Since(start)
	c.mu.Lock()
	c.restoreIn = took
	c.mu.Unlock()
	logger.Info("Restored load-balancer allocations", "services", len(svcs), "conflicts", len(problems), "duration", took)
	close(c.ready)

	// The speakers report on each address in its IPAllocation's status: the Services holding it
	// get their condition recomputed (LoadBalancerReadiness).
	if _, err := allocInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if a, ok := obj.(*v1alpha1.IPAllocation); ok {
				b.allocationChanged(nil, a)
			}
		},
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*v1alpha1.IPAllocation)
			n, ok2 := cur.(*v1alpha1.IPAllocation)
			if ok1 && ok2 {
				b.allocationChanged(o, n)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if a, ok := obj.(*v1alpha1.IPAllocation); ok {
				b.allocationChanged(a, nil)
			}
		},
	}); err != nil {
		return err
	}
	w := c.status
	w.pools, w.lister, w.recorder, w.services, w.cidrs = api.pools, poolInformer.GetStore(), recorder, svcLister, cidrs
	if _, err := poolInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.reload(ctx) },
		UpdateFunc: func(old, cur any) { w.reloadIfSpecChanged(ctx, old, cur) },
		DeleteFunc: func(any) { w.reload(ctx) },
	}); err != nil {
		return err
	}
	if cidrInformer != nil {
		// A Service CIDR added (or removed) changes which pools are in force.
		if _, err := cidrInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { w.reload(ctx) },
			UpdateFunc: func(any, any) { w.reload(ctx) },
			DeleteFunc: func(any) { w.reload(ctx) },
		}); err != nil {
			return err
		}
	}
	go w.runner.Loop(ctx)
	r := newRepairer(b)
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		r.pass(ctx, allocsOf(allocInformer.GetStore().List()), func(ns, name string) (*v1.Service, bool) {
			s, err := svcLister.Services(ns).Get(name)
			return s, err == nil
		}, c.opts.Served)
	}, c.opts.RepairInterval)
	return nil
}

// serviceReader reads one Service from the API server. A list of one name rather than a get: the
// controller's role may list Services, not get them (charts/frontdesk controller-rbac.yaml), and
// the answer is as fresh.
func serviceReader(kube kubernetes.Interface) func(ctx context.Context, ns, name string) (*v1.Service, error) {
	return func(ctx context.Context, ns, name string) (*v1.Service, error) {
		l, err := kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			return nil, err
		}
		for i := range l.Items {
			if l.Items[i].Name == name {
				return &l.Items[i], nil
			}
		}
		return nil, apierrors.NewNotFound(v1.Resource("services"), name)
	}
}

// RestoreDuration is how long rebuilding the allocator took once the caches were synced.
func (c *Cloud) RestoreDuration() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restoreIn
}

func (c *Cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool) { return c.lb, true }
func (c *Cloud) Instances() (cloudprovider.Instances, bool)       { return nil, false }
func (c *Cloud) InstancesV2() (cloudprovider.InstancesV2, bool)   { return instances{}, true }
func (c *Cloud) Zones() (cloudprovider.Zones, bool)               { return nil, false }
func (c *Cloud) Clusters() (cloudprovider.Clusters, bool)         { return nil, false }
func (c *Cloud) Routes() (cloudprovider.Routes, bool)             { return nil, false }
func (c *Cloud) ProviderName() string                             { return ProviderName }
func (c *Cloud) HasClusterID() bool                               { return true }

// ownCoreInformers are the Service and Namespace informers of a provider started without the
// controller manager's (tests, benchmarks).
func ownCoreInformers(kube kubernetes.Interface) (services, namespaces cache.SharedIndexInformer) {
	services = plainInformer(&v1.Service{}, nil,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Services("").List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return kube.CoreV1().Services("").Watch(ctx, o)
		})
	namespaces = plainInformer(&v1.Namespace{}, nil,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Namespaces().List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return kube.CoreV1().Namespaces().Watch(ctx, o)
		})
	return services, namespaces
}

// plainInformer builds an informer whose first fill is one LIST served from the API server's watch
// cache, not the streaming watch-list that client-go uses by default since 1.35. The provider may not
// allocate before its caches are complete, and here a plain LIST fills them 3.4 times faster: the
// rebuild with 10k Services and IPAllocations took 0.98 s instead of 3.36 s (docs/benchmarks.md).
func plainInformer(obj runtime.Object, idx cache.Indexers,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) cache.SharedIndexInformer {
	if idx == nil {
		idx = cache.Indexers{}
	}
	lw := plainListWatch{&cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: watchFn}}
	return cache.NewSharedIndexInformer(lw, obj, 0, idx)
}

// plainListWatch tells the reflector not to use watch-list semantics.
type plainListWatch struct{ *cache.ListWatch }

func (plainListWatch) IsWatchListSemanticsUnSupported() bool { return true }

func findService(l corelisters.ServiceLister, key string) *v1.Service {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	s, err := l.Services(ns).Get(name)
	if err != nil {
		return nil
	}
	return s
}

const byServiceIndex = "service"

func indexByService(obj any) ([]string, error) {
	o, ok := obj.(*v1alpha1.IPAllocation)
	if !ok {
		return nil, nil
	}
	keys := make([]string, len(o.Spec.Services))
	for i, r := range o.Spec.Services {
		keys[i] = r.Namespace + "/" + r.Name
	}
	return keys, nil
}

// indexLookup answers allocationIndex from the informer's index.
type indexLookup struct{ idx cache.Indexer }

func (l indexLookup) byService(namespace, name string) []*v1alpha1.IPAllocation {
	objs, _ := l.idx.ByIndex(byServiceIndex, namespace+"/"+name)
	return allocsOf(objs)
}

func allocsOf(objs []any) []*v1alpha1.IPAllocation {
	out := make([]*v1alpha1.IPAllocation, 0, len(objs))
	for _, o := range objs {
		if a, ok := o.(*v1alpha1.IPAllocation); ok {
			out = append(out, a)
		}
	}
	return out
}

func poolViews(objs []any) []poolView {
	out := make([]poolView, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*v1alpha1.IPPool); ok {
			out = append(out, viewPool(p))
		}
	}
	return out
}
