package baremetal

import (
	"context"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// staleRounds is how many consecutive repair passes must see a holder gone before its address is
// released. One pass can be fooled by an informer cache that is behind (a Service just created, its
// IPAllocation already seen); several passes a minute apart cannot. The API server's port-allocator
// repair loop frees suspected leaks the same way.
const staleRounds = 3

// repairer releases IPAllocation entries whose Service is gone, was re-created with another UID, or
// no longer wants a load balancer from us, when the normal path (EnsureLoadBalancerDeleted under the
// cleanup finalizer) did not: the finalizer was removed by hand, or the controller was down.
type repairer struct {
	b    *balancer
	seen map[repairKey]int // consecutive passes a holder was seen stale
}

type repairKey struct {
	addr netip.Addr
	ref  v1alpha1.ServiceRef
}

func newRepairer(b *balancer) *repairer { return &repairer{b: b, seen: map[repairKey]int{}} }

// pass looks at every IPAllocation once. lookup returns the Service of a namespace and name, if any;
// served says whether frontdesk serves it. It returns how many holders it released.
func (r *repairer) pass(ctx context.Context, objs []*v1alpha1.IPAllocation, lookup func(ns, name string) (*v1.Service, bool), served func(*v1.Service) bool) int {
	logger := klog.FromContext(ctx)
	still := map[repairKey]int{}
	released := 0
	for _, o := range objs {
		a, err := netip.ParseAddr(o.Spec.Address)
		if err != nil {
			continue
		}
		for _, ref := range o.Spec.Services {
			svc, ok := lookup(ref.Namespace, ref.Name)
			if ok && svc.UID == ref.UID && served(svc) {
				continue
			}
			k := repairKey{a, ref}
			n := r.seen[k] + 1
			if n < staleRounds {
				still[k] = n
				continue
			}
			if err := r.b.claims.release(ctx, a, ref); err != nil {
				logger.Error(err, "Releasing a stale address failed; will retry", "address", a, "service", ref.Namespace+"/"+ref.Name)
				still[k] = n
				continue
			}
			// In memory the holder is the stale owner (restored on start-up), or the Service's key
			// (held since an Ensure), unless a Service of that name was re-created: that one keeps
			// whatever it holds in its own right.
			r.b.alloc.Release(staleOwner(ref))
			if !ok || svc.UID == ref.UID {
				r.b.alloc.Release(ref.Namespace + "/" + ref.Name)
			}
			released++
			logger.Info("Released an address whose Service is gone", "address", a, "service", ref.Namespace+"/"+ref.Name, "uid", ref.UID)
		}
	}
	r.seen = still
	if released > 0 {
		r.b.freed()
	}
	return released
}
