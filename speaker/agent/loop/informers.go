package loop

import (
	"context"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/frontdesk-lb/frontdesk/api/client"
)

// Informers is the speaker's one set of informers: each resource is listed and watched once,
// however many protocols read it. The protocols ask for theirs, the loop adds its handler to
// every one (All), then the owner starts the set. Informers asked for after Start are started
// at once.
type Informers struct {
	kube   kubernetes.Interface
	resync time.Duration

	factory informers.SharedInformerFactory // the built-in kinds
	fd      client.InformerFactory          // the frontdesk.dev kinds

	mu       sync.Mutex
	byNS     map[[2]string]informers.SharedInformerFactory // Secrets of one namespace and label selector
	stop     <-chan struct{}                               // set by Start
	shutdown bool
	all      []cache.SharedIndexInformer
}

// NewInformers returns an unstarted set over the clients.
func NewInformers(kube kubernetes.Interface, api client.Interface, resync time.Duration) *Informers {
	return &Informers{
		kube: kube, resync: resync,
		factory: informers.NewSharedInformerFactory(kube, resync),
		fd:      client.NewInformerFactory(api, resync),
		byNS:    map[[2]string]informers.SharedInformerFactory{},
	}
}

// Start runs every informer asked for so far, and those asked for later, until ctx ends.
func (s *Informers) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil || s.shutdown {
		return
	}
	s.stop = ctx.Done()
	s.factory.Start(s.stop)
	s.fd.Start(s.stop)
	for _, f := range s.byNS {
		f.Start(s.stop)
	}
}

// Shutdown waits for the informers to stop; the context given to Start must have ended (or
// Start was never called).
func (s *Informers) Shutdown() {
	s.mu.Lock()
	s.shutdown = true
	s.mu.Unlock()
	s.factory.Shutdown()
	s.fd.Shutdown()
	for _, f := range s.byNS {
		f.Shutdown()
	}
}

// Services, EndpointSlices and Nodes are cluster-wide informers of the core factory.
func (s *Informers) Services() cache.SharedIndexInformer {
	return s.track(s.factory, s.factory.Core().V1().Services().Informer())
}

// EndpointSlices: see Services.
func (s *Informers) EndpointSlices() cache.SharedIndexInformer {
	return s.track(s.factory, s.factory.Discovery().V1().EndpointSlices().Informer())
}

// Nodes: see Services.
func (s *Informers) Nodes() cache.SharedIndexInformer {
	return s.track(s.factory, s.factory.Core().V1().Nodes().Informer())
}

// Secrets watches the Secrets of one namespace that match a label selector (the BGP passwords,
// labelled so), not the cluster's nor the namespace's: a node then holds no copy of the Helm
// release Secrets, the heartbeat key or a cloud config that share the namespace (issue 17).
// The selector is sent to the API server, so Secrets outside it never reach the node.
func (s *Informers) Secrets(namespace, labelSelector string) cache.SharedIndexInformer {
	s.mu.Lock()
	key := [2]string{namespace, labelSelector}
	f, ok := s.byNS[key]
	if !ok {
		f = informers.NewSharedInformerFactoryWithOptions(s.kube, s.resync, informers.WithNamespace(namespace),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = labelSelector }))
		s.byNS[key] = f
	}
	s.mu.Unlock()
	return s.track(f, f.Core().V1().Secrets().Informer())
}

// IPPools, IPAllocations, L2Advertisements, BGPPeers and BGPAdvertisements are the frontdesk.dev
// kinds, from their own factory.
func (s *Informers) IPPools() cache.SharedIndexInformer {
	return s.track(s.fd, s.fd.Frontdesk().V1alpha1().IPPools().Informer())
}

// IPAllocations: see IPPools.
func (s *Informers) IPAllocations() cache.SharedIndexInformer {
	return s.track(s.fd, s.fd.Frontdesk().V1alpha1().IPAllocations().Informer())
}

// L2Advertisements: see IPPools.
func (s *Informers) L2Advertisements() cache.SharedIndexInformer {
	return s.track(s.fd, s.fd.Frontdesk().V1alpha1().L2Advertisements().Informer())
}

// BGPPeers: see IPPools.
func (s *Informers) BGPPeers() cache.SharedIndexInformer {
	return s.track(s.fd, s.fd.Frontdesk().V1alpha1().BGPPeers().Informer())
}

// BGPAdvertisements: see IPPools.
func (s *Informers) BGPAdvertisements() cache.SharedIndexInformer {
	return s.track(s.fd, s.fd.Frontdesk().V1alpha1().BGPAdvertisements().Informer())
}

// track records inf, an informer of factory f (a factory makes each informer once), and starts
// f again when the set already runs: Start starts only the informers made before it.
func (s *Informers) track(f interface{ Start(<-chan struct{}) }, inf cache.SharedIndexInformer) cache.SharedIndexInformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.all, inf) {
		s.all = append(s.all, inf)
	}
	if s.stop != nil {
		f.Start(s.stop)
	}
	return inf
}

// All lists every informer asked for so far.
func (s *Informers) All() []cache.SharedIndexInformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

// handle adds one loop's handler to informers; the returned remove takes it off again, so that
// a loop that stops early leaves the others' informers alone.
func handle(h cache.ResourceEventHandler, infs ...cache.SharedIndexInformer) (synced []cache.InformerSynced, remove func(), err error) {
	var regs []cache.ResourceEventHandlerRegistration
	remove = func() {
		for i, r := range regs {
			_ = infs[i].RemoveEventHandler(r) // only fails for a registration of another informer
		}
	}
	for _, inf := range infs {
		r, err := inf.AddEventHandler(h)
		if err != nil {
			remove()
			return nil, nil, err
		}
		regs = append(regs, r)
		// The registration's HasSynced: true once this handler has seen the initial list, not
		// only the cache (which a loop joining a running set would see at once).
		synced = append(synced, r.HasSynced)
	}
	return synced, remove, nil
}
