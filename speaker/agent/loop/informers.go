package loop

import (
	"context"
	"slices"
	"sync"
	"time"

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
	api    client.Interface
	bgp    client.BGPInterface
	resync time.Duration

	factory informers.SharedInformerFactory

	mu       sync.Mutex
	byNS     map[string]informers.SharedInformerFactory // Secrets of one namespace
	custom   map[string]cache.SharedIndexInformer       // frontdesk.dev kinds, by kind
	stop     <-chan struct{}                            // set by Start
	shutdown bool
	wg       sync.WaitGroup // the custom informers' goroutines
	all      []cache.SharedIndexInformer
}

// NewInformers returns an unstarted set over the clients. bgp may be nil when no loop reads the
// BGP kinds.
func NewInformers(kube kubernetes.Interface, api client.Interface, bgp client.BGPInterface, resync time.Duration) *Informers {
	return &Informers{
		kube: kube, api: api, bgp: bgp, resync: resync,
		factory: informers.NewSharedInformerFactory(kube, resync),
		byNS:    map[string]informers.SharedInformerFactory{},
		custom:  map[string]cache.SharedIndexInformer{},
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
	for _, f := range s.byNS {
		f.Start(s.stop)
	}
	for _, inf := range s.custom {
		s.runLocked(inf)
	}
}

// Shutdown waits for the informers to stop; the context given to Start must have ended (or
// Start was never called).
func (s *Informers) Shutdown() {
	s.mu.Lock()
	s.shutdown = true
	s.mu.Unlock()
	s.factory.Shutdown()
	for _, f := range s.byNS {
		f.Shutdown()
	}
	s.wg.Wait()
}

// Services, EndpointSlices and Nodes are cluster-wide informers of the core factory.
func (s *Informers) Services() cache.SharedIndexInformer {
	return s.core(func() cache.SharedIndexInformer { return s.factory.Core().V1().Services().Informer() })
}

// EndpointSlices: see Services.
func (s *Informers) EndpointSlices() cache.SharedIndexInformer {
	return s.core(func() cache.SharedIndexInformer { return s.factory.Discovery().V1().EndpointSlices().Informer() })
}

// Nodes: see Services.
func (s *Informers) Nodes() cache.SharedIndexInformer {
	return s.core(func() cache.SharedIndexInformer { return s.factory.Core().V1().Nodes().Informer() })
}

// Secrets watches the Secrets of one namespace only (the BGP passwords), not the cluster's.
func (s *Informers) Secrets(namespace string) cache.SharedIndexInformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.byNS[namespace]
	if !ok {
		f = informers.NewSharedInformerFactoryWithOptions(s.kube, s.resync, informers.WithNamespace(namespace))
		s.byNS[namespace] = f
	}
	inf := f.Core().V1().Secrets().Informer()
	s.trackLocked(inf)
	if s.stop != nil {
		f.Start(s.stop)
	}
	return inf
}

func (s *Informers) core(get func() cache.SharedIndexInformer) cache.SharedIndexInformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	inf := get() // the factory creates each informer once
	s.trackLocked(inf)
	if s.stop != nil {
		s.factory.Start(s.stop)
	}
	return inf
}

// IPPools, IPAllocations, L2Advertisements, BGPPeers and BGPAdvertisements are the frontdesk.dev
// kinds, which have no factory of their own.
func (s *Informers) IPPools() cache.SharedIndexInformer {
	return s.own("IPPool", func() cache.SharedIndexInformer { return client.NewIPPoolInformer(s.api, s.resync, nil) })
}

// IPAllocations: see IPPools.
func (s *Informers) IPAllocations() cache.SharedIndexInformer {
	return s.own("IPAllocation", func() cache.SharedIndexInformer { return client.NewIPAllocationInformer(s.api, s.resync, nil) })
}

// L2Advertisements: see IPPools.
func (s *Informers) L2Advertisements() cache.SharedIndexInformer {
	return s.own("L2Advertisement", func() cache.SharedIndexInformer {
		return client.NewL2AdvertisementInformer(s.api, s.resync, nil)
	})
}

// BGPPeers: see IPPools; the set needs its BGP client.
func (s *Informers) BGPPeers() cache.SharedIndexInformer {
	return s.own("BGPPeer", func() cache.SharedIndexInformer { return client.NewBGPPeerInformer(s.bgp, s.resync) })
}

// BGPAdvertisements: see BGPPeers.
func (s *Informers) BGPAdvertisements() cache.SharedIndexInformer {
	return s.own("BGPAdvertisement", func() cache.SharedIndexInformer { return client.NewBGPAdvertisementInformer(s.bgp, s.resync) })
}

func (s *Informers) own(kind string, build func() cache.SharedIndexInformer) cache.SharedIndexInformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inf, ok := s.custom[kind]; ok {
		return inf
	}
	inf := build()
	s.custom[kind] = inf
	s.all = append(s.all, inf)
	if s.stop != nil {
		s.runLocked(inf)
	}
	return inf
}

// All lists every informer asked for so far.
func (s *Informers) All() []cache.SharedIndexInformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

func (s *Informers) trackLocked(inf cache.SharedIndexInformer) {
	if !slices.Contains(s.all, inf) {
		s.all = append(s.all, inf)
	}
}

func (s *Informers) runLocked(inf cache.SharedIndexInformer) {
	stop := s.stop
	s.wg.Go(func() { inf.Run(stop) })
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
