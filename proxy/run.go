package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/frontdesk-lb/frontdesk/internal/runner"
)

// Run is the whole node proxy: New, then (*Proxy).Run.
func Run(ctx context.Context, cfg Config) error {
	p, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// Run watches the cluster (when Config.Client is set), serves /healthz and /metrics, and programs
// the node until ctx ends. The rules stay in the kernel after it returns, so that a restart drops
// no established connection.
func (p *Proxy) Run(ctx context.Context) error {
	defer p.health.close()
	if p.cfg.HealthzBindAddress != "" {
		mux := http.NewServeMux()
		mux.Handle("/healthz", p.HealthzHandler())
		mux.Handle("/livez", p.HealthzHandler())
		stop, err := serve(p.cfg.HealthzBindAddress, mux)
		if err != nil {
			return fmt.Errorf("healthz: %w", err)
		}
		defer stop()
	}
	if p.cfg.MetricsBindAddress != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", p.MetricsHandler())
		stop, err := serve(p.cfg.MetricsBindAddress, mux)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		defer stop()
	}
	if p.cfg.Client != nil {
		stop, err := p.watch(ctx)
		if err != nil {
			return err
		}
		defer stop()
	} else {
		p.store.setSynced()
		p.store.poke() // a sync, even of nothing, closes Ready if the kernel is already written
	}
	p.loop(ctx)
	return nil
}

// watch starts the informers and waits for their first list.
func (p *Proxy) watch(ctx context.Context) (stop func(), err error) {
	// Headless Services never reach the rules; leaving them out of the cache saves memory, as
	// kube-proxy does.
	noHeadless := informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"
	})
	f := informers.NewSharedInformerFactoryWithOptions(p.cfg.Client, 0, noHeadless)
	nodeF := informers.NewSharedInformerFactoryWithOptions(p.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.cfg.NodeName).String()
		}))
	svcInf := f.Core().V1().Services().Informer()
	epInf := f.Discovery().V1().EndpointSlices().Informer()
	nodeInf := nodeF.Core().V1().Nodes().Informer()
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf, handler(p.delivered, p.store.setService, func(s *v1.Service) { p.store.deleteService(keyOf(s)) })},
		{epInf, handler(p.delivered, p.store.setSlice, p.store.deleteSlice)},
		{nodeInf, handler(p.delivered, p.store.setNode, func(*v1.Node) {})},
	}
	// The registrations' HasSynced, not the informers': an informer has synced once its first
	// list is in its own cache, while its handlers receive that list afterwards, through a
	// buffer. Waiting on the informers let the proxy say ready (and the speaker announce) with a
	// quarter of 10,300 ClusterIPs in the kernel; a registration has synced once this handler has
	// been handed every object of the first list.
	var synced []cache.InformerSynced
	for _, x := range handlers {
		reg, err := x.inf.AddEventHandler(x.h)
		if err != nil {
			return nil, fmt.Errorf("adding an informer handler: %w", err)
		}
		synced = append(synced, reg.HasSynced)
	}
	f.Start(ctx.Done())
	nodeF.Start(ctx.Done())
	stop = func() { f.Shutdown(); nodeF.Shutdown() }
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		stop()
		return nil, fmt.Errorf("waiting for the Service, EndpointSlice and Node handlers' first list: %w", ctx.Err())
	}
	p.store.setSynced()
	p.store.markAll()
	return stop, nil
}

// handler adapts typed set and delete functions to an informer, unwrapping tombstones. delivered,
// when not nil, is called before each object is stored (tests slow delivery down with it).
func handler[T any](delivered func(), set func(T), del func(T)) cache.ResourceEventHandlerFuncs {
	hook := func() {
		if delivered != nil {
			delivered()
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(T); ok {
				hook()
				set(o)
			}
		},
		UpdateFunc: func(_, obj any) {
			if o, ok := obj.(T); ok {
				hook()
				set(o)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, ok := obj.(T); ok {
				hook()
				del(o)
			}
		},
	}
}

// syncBurst is how many syncs may follow each other without waiting out MinSyncPeriod, as in
// kube-proxy's runner: a change right after a sync (a Service, then its EndpointSlice a moment
// later) is not held back a whole interval, while a storm of changes still costs one sync per
// interval once the burst is spent.
const syncBurst = 2

// gainedSyncsPerPeriod bounds the syncs that a Service gaining an external address may start
// without waiting out MinSyncPeriod (the runner's Expedite), per MinSyncPeriod. A new
// LoadBalancer Service is three changes in quick succession (the Service, its EndpointSlice, the
// address in its status), so the burst is spent by the time its address comes, and waiting out
// the interval delayed every new Service's first request by up to MinSyncPeriod (BenchmarkLab:
// ≈1 s of its ≈1 s). During a storm of new addresses each such sync takes everything pending, so
// they stay few; this bound keeps them from running back to back.
const gainedSyncsPerPeriod = 10

// newRunner paces the syncs: whenever something changed, at most syncBurst times in a row and
// then once per MinSyncPeriod. A failed sync is retried after a pause that doubles from twice
// MinSyncPeriod to 64 times it (30 s at most), each retry a full sync: a kernel that refuses a
// transaction is not hammered with rewrites of the whole table.
func (p *Proxy) newRunner() *runner.Runner {
	return runner.New("proxy", p.runSync, runner.Options{
		MinInterval:      p.cfg.MinSyncPeriod,
		Burst:            syncBurst,
		RetryMin:         min(2*p.cfg.MinSyncPeriod, 30*time.Second),
		RetryMax:         min(64*p.cfg.MinSyncPeriod, 30*time.Second),
		ExpediteInterval: p.cfg.MinSyncPeriod / gainedSyncsPerPeriod,
	})
}

func (p *Proxy) runSync(ctx context.Context) error {
	if err := p.sync(ctx); err != nil {
		p.failures++
		p.log.Error(err, "sync failed; the next one is a full sync", "failures", p.failures)
		return err
	}
	p.failures = 0
	return nil
}

// loop syncs as the runner paces it, fully every SyncPeriod; with NodePortAddresses it lists the
// node's addresses every NodeAddressesPeriod.
func (p *Proxy) loop(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { p.tick(ctx) })
	p.runner.Loop(ctx)
	wg.Wait()
}

// tick asks for the periodic full resync, on a fixed period rather than the runner's MaxInterval,
// which counts from the last sync of any kind, and refreshes the NodePort addresses, until ctx
// ends.
func (p *Proxy) tick(ctx context.Context) {
	resync := time.NewTicker(p.cfg.SyncPeriod)
	defer resync.Stop()
	// Without NodePortAddresses the rules match local addresses with a fib lookup, which follows
	// the node's addresses by itself; with them, the nodeport-ips set must be kept up to date.
	var addrTick <-chan time.Time
	if len(p.cfg.NodePortAddresses) > 0 {
		tk := time.NewTicker(p.cfg.NodeAddressesPeriod)
		defer tk.Stop()
		addrTick = tk.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-resync.C:
			p.store.markAll()
		case <-addrTick:
			if err := p.refreshNodePortIPs(ctx); err != nil {
				p.log.Error(err, "refreshing the NodePort addresses; keeping the previous ones or falling back to a full sync")
			}
		}
	}
}
