package baremetal

import (
	"context"
	"errors"
	"net/netip"
	"slices"

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
// cleanup finalizer) did not: the finalizer was removed by hand, or the controller was down. It also
// releases the claims a served Service no longer stands behind (not in its status, not held for it
// in memory): the other replica's losing pick, or an address the Service moved away from whose
// release had to wait for the status to move (releaseClaim).
type repairer struct {
	b    *balancer
	seen map[repairKey]int // consecutive passes a holder was seen stale
}

type repairKey struct {
	addr netip.Addr
	ref  v1alpha1.ServiceRef
}

// backed says whether a served Service still stands behind its claim of a: its status names the
// address, or this replica holds it for the Service in memory (assigned, the status write to come).
func (r *repairer) backed(svc *v1.Service, a netip.Addr) bool {
	return slices.Contains(statusAddrs(svc), a) ||
		slices.Contains(r.b.alloc.Addresses(ownerKey(svc)), a) ||
		slices.Contains(r.b.alloc.Addresses(staleOwner(refOf(svc.Namespace, svc.Name, svc.UID))), a)
}

// releaseLeaving drops the in-memory holds of given-up addresses whose IPAllocation no longer
// names the Service (released by the other replica, or by this pass).
func (r *repairer) releaseLeaving(ctx context.Context, objs []*v1alpha1.IPAllocation) {
	claimed := map[string]bool{}
	for _, o := range objs {
		if a, err := netip.ParseAddr(o.Spec.Address); err == nil {
			for _, ref := range o.Spec.Services {
				claimed[leavingOwner(ref, a)] = true
			}
		}
	}
	for _, owner := range r.b.leaving.list() {
		if !claimed[owner] {
			r.b.alloc.Release(owner)
			r.b.leaving.remove(owner)
			klog.FromContext(ctx).V(2).Info("An address given up is no longer claimed", "owner", owner)
		}
	}
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
				if r.backed(svc, a) {
					continue
				}
				// No need for several passes: the release is checked against the cached version
				// of the Service and the claim's fence, which is safe however stale the cache is.
				done, err := r.b.releaseClaim(ctx, a, ref, stateOf(svc))
				if err != nil {
					logger.Error(err, "Releasing an address its Service gave up failed; will retry", "address", a, "service", ref.Namespace+"/"+ref.Name)
				}
				if done {
					released++
					logger.Info("Released an address its Service no longer holds", "address", a, "service", ref.Namespace+"/"+ref.Name)
				}
				continue
			}
			k := repairKey{a, ref}
			n := r.seen[k] + 1
			if n < staleRounds {
				still[k] = n
				continue
			}
			// The cache may still be behind after several passes; the API server decides.
			seen, err := r.b.liveState(ctx, ref)
			if err == nil {
				err = r.b.claims.release(ctx, a, ref, seen)
			}
			if errors.Is(err, errReleaseDeferred) {
				still[k] = n
				continue
			}
			if err != nil {
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
	r.releaseLeaving(ctx, objs)
	if released > 0 {
		r.b.freed()
	}
	return released
}
