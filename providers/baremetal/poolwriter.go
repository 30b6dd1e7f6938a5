package baremetal

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/runner"
)

// poolStatusWriter is the part of the IPPool client the writer uses.
type poolStatusWriter interface {
	UpdateStatus(ctx context.Context, obj *v1alpha1.IPPool, opts metav1.UpdateOptions) (*v1alpha1.IPPool, error)
}

// poolWriter applies IPPool changes to the allocator and keeps every pool's status true: counts,
// validity, addresses in use outside the spec, exhaustion. Services whose address lost its pool
// altogether (the pool was deleted) get a warning Event, since no pool status can tell them.
type poolWriter struct {
	b      *balancer
	runner *runner.Runner
	// Start sets the rest, before the runner's Loop.
	pools    poolStatusWriter
	lister   cache.Store
	services corelisters.ServiceLister
	recorder record.EventRecorder
	cidrs    *serviceCIDRs   // pools overlapping them are refused
	warned   map[string]bool // "address owner" pairs already told their pool is gone
}

// newPoolWriter returns b's status writer, whose runner a poolState wakes. Passes are at least
// interval apart, so that a burst of allocations updates each pool's status once; after a failed
// update the next pass waits interval too.
func newPoolWriter(b *balancer, interval time.Duration) *poolWriter {
	w := &poolWriter{b: b}
	w.runner = runner.New("ippool-status", w.pass, runner.Options{MinInterval: interval, RetryMin: interval})
	return w
}

// reloadIfSpecChanged ignores the status updates the writer itself makes.
func (w *poolWriter) reloadIfSpecChanged(ctx context.Context, old, cur any) {
	o, ok1 := old.(*v1alpha1.IPPool)
	n, ok2 := cur.(*v1alpha1.IPPool)
	if ok1 && ok2 && o.Generation == n.Generation && reflect.DeepEqual(o.Spec, n.Spec) {
		return
	}
	w.reload(ctx)
}

// reload recomputes the pools in force from every IPPool and hands them to the allocator at once.
func (w *poolWriter) reload(ctx context.Context) {
	views, defs := admitPools(refuseServiceCIDRs(poolViews(w.lister.List()), w.cidrs.list()))
	told := map[netip.Addr]bool{}
	for _, k := range w.b.alloc.KeptShares() {
		told[k.Addr] = true
	}
	if err := w.b.alloc.SetPools(defs); err != nil {
		klog.FromContext(ctx).Error(err, "Admitted pools were refused by the allocator; keeping the previous pools")
		return
	}
	w.b.pools.set(views)
	// A pool that stopped allowing shares across namespaces keeps the ones it holds: say so.
	var kept []keptShare
	for _, k := range w.b.alloc.KeptShares() {
		if !told[k.Addr] {
			for _, owner := range k.Owners {
				kept = append(kept, keptShare{service: owner, addr: k.Addr, pool: k.Pool, edited: true})
			}
		}
	}
	tellKept(klog.FromContext(ctx), w.services, w.recorder, kept)
	// A pool added or grown may serve a Service that found no address.
	w.b.wakeWaiting()
}

func (w *poolWriter) pass(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	var errs []error
	stats, orphans := w.b.alloc.Stats(), w.b.alloc.Orphans()
	w.b.metrics.observePools(stats)
	existing := map[string]bool{}
	for _, v := range w.b.pools.views() {
		existing[v.name] = true
		obj, ok, err := w.lister.GetByKey(v.name)
		if err != nil || !ok {
			continue
		}
		p := obj.(*v1alpha1.IPPool)
		st := poolStatus(p, v, stats, orphans)
		if apiequality.Semantic.DeepEqual(st, p.Status) {
			continue
		}
		upd := p.DeepCopy()
		upd.Status = st
		if _, err := w.pools.UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			// A conflict means the cache is behind; the retry, interval later, reads it again.
			logger.V(2).Info("Updating IPPool status failed; will retry", "pool", p.Name, "err", err)
			errs = append(errs, fmt.Errorf("IPPool %s: %w", p.Name, err))
		}
	}
	// Keep only the pairs still orphaned: a pair that recovers and is orphaned again is warned again,
	// and the map does not grow with every address that was ever orphaned.
	still := map[string]bool{}
	for _, o := range orphans {
		if existing[o.Pool] {
			continue // the pool's AddressesOutsideSpec condition says it
		}
		for _, owner := range o.Owners {
			key := o.Addr.String() + " " + owner
			still[key] = true
			if w.warned[key] {
				continue
			}
			if s := findService(w.services, owner); s != nil {
				w.recorder.Eventf(s, v1.EventTypeWarning, "AddressOutsidePools",
					"address %s is kept but no IPPool contains it any more (its pool %q was deleted or shrunk); "+
						"recreate the pool, or give the Service another address with %s or %s, to end this",
					o.Addr, o.Pool, AnnotationLoadBalancerIPs, AnnotationIPPool)
			}
		}
	}
	w.warned = still
	return errors.Join(errs...)
}
