package baremetal

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// Two controller replicas may both act on one Service (a lease handed over without fencing, or a
// partition). Each may pick its own address for it and claim it; only one status write wins,
// because the service controller preconditions it on the resourceVersion Ensure was given. This
// file makes both replicas converge on the winner and release the loser's claim without ever
// leaving an address in a status with no claim behind it (see claimStore).

// leavingOwnerPrefix marks in-memory owners of addresses a Service gave up whose IPAllocation could
// not be released yet (errReleaseDeferred): this replica must not hand them out meanwhile. A later
// Ensure of the Service or the repair pass releases them.
const leavingOwnerPrefix = "leaving:"

func leavingOwner(r v1alpha1.ServiceRef, a netip.Addr) string {
	return leavingOwnerPrefix + r.Namespace + "/" + r.Name + "#" + string(r.UID) + "@" + a.String()
}

// leavingSet lists the leaving owners held in memory, so that the repair pass can drop those
// whose claim is gone (released by the other replica).
type leavingSet struct {
	mu     sync.Mutex
	owners map[string]bool
}

func (s *leavingSet) add(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[string]bool{}
	}
	s.owners[owner] = true
}

func (s *leavingSet) has(owner string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owners[owner]
}

func (s *leavingSet) remove(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.owners, owner)
}

func (s *leavingSet) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.owners))
	for o := range s.owners {
		out = append(out, o)
	}
	return out
}

// preferStatus makes this replica hold, for each family, the address the status of svc names,
// instead of a different address it picked itself: the status is what the winning replica wrote,
// and an IPAllocation names svc for it (an address reaches a status only that way). Without this,
// two replicas would each write their own pick back, for ever. It returns the addresses given up;
// their claims are released by releaseOthers. Whether the status address still suits the Service
// (requested address, pools) is left to Assign, as for any held address.
func (b *balancer) preferStatus(ctx context.Context, svc *v1.Service, req allocator.Request) []netip.Addr {
	held := b.alloc.Addresses(req.Owner)
	want := slices.Clone(held)
	for _, a := range statusAddrs(svc) {
		if slices.Contains(want, a) {
			continue
		}
		want = slices.DeleteFunc(want, func(h netip.Addr) bool { return h.Is4() == a.Is4() })
		want = append(want, a)
	}
	var dropped []netip.Addr
	for _, h := range held {
		if !slices.Contains(want, h) {
			dropped = append(dropped, h)
		}
	}
	if len(dropped) == 0 && len(want) == len(held) {
		return nil
	}
	ref := refOf(svc.Namespace, svc.Name, svc.UID)
	for _, a := range want {
		// An address this Service was giving up, and whose release had to wait, is its own again
		// (a replica whose cache was behind picked another, and lost).
		if b.leaving.has(leavingOwner(ref, a)) {
			b.alloc.Release(leavingOwner(ref, a))
			b.leaving.remove(leavingOwner(ref, a))
		}
	}
	b.alloc.Release(req.Owner)
	err := b.alloc.Restore(req.Owner, want, req.Sharing)
	for range want {
		// This replica believes another owner holds a status address. The status is the truth
		// (an IPAllocation names svc for it), so that belief is stale: a Service since deleted, or
		// an address recorded for a holder after a lost race. Take it from that owner; its next
		// Ensure finds the address claimed and picks another.
		var conflict *allocator.ErrConflict
		if !errors.As(err, &conflict) || conflict.Holder == req.Owner || !slices.Contains(want, conflict.Addr) {
			break
		}
		b.evict(ctx, conflict.Holder, conflict.Addr)
		err = b.alloc.Restore(req.Owner, want, req.Sharing)
	}
	if err != nil {
		klog.FromContext(ctx).Info("Could not take the addresses the status names; keeping this replica's",
			"service", req.Owner, "status", want, "held", held, "err", err)
		if len(held) > 0 {
			if err := b.alloc.Restore(req.Owner, held, req.Sharing); err != nil {
				klog.FromContext(ctx).Error(err, "Could not hold the Service's addresses again", "service", req.Owner, "addresses", held)
			}
		}
		return nil
	}
	klog.FromContext(ctx).V(2).Info("Holding the addresses the status names", "service", req.Owner, "status", want, "gave up", dropped)
	return dropped
}

// evict takes a from owner in memory, leaving it what else it holds.
func (b *balancer) evict(ctx context.Context, owner string, a netip.Addr) {
	rest := slices.DeleteFunc(b.alloc.Release(owner), func(x netip.Addr) bool { return x == a })
	logger := klog.FromContext(ctx)
	if strings.HasPrefix(owner, leavingOwnerPrefix) {
		logger = logger.V(2) // routine: the other replica released that claim before the repair pass noticed
	}
	logger.Info("An address a Service's status names was held in memory for another owner; taken from it",
		"address", a, "owner", owner)
	if len(rest) == 0 {
		b.leaving.remove(owner)
		return
	}
	// Its sharing is not known here; its next Ensure sets it again.
	if err := b.alloc.Restore(owner, rest, allocator.Sharing{}); err != nil {
		klog.FromContext(ctx).Info("Could not keep the other addresses of an owner an address was taken from", "owner", owner, "addresses", rest, "err", err)
	}
}

// releaseOthers releases the IPAllocations that name svc for addresses it no longer holds: those
// Assign gave up, those preferStatus dropped, and any the cache shows from an earlier, interrupted
// change or from the other replica's pick. Each release is checked against svc at the version
// Ensure was given (see claimStore.release); one that cannot be done yet (the status still names
// the address, or a status write adding it may be in flight) is left to a later Ensure or the
// repair pass, and the address stays held in memory meanwhile. It returns how many it released.
func (b *balancer) releaseOthers(ctx context.Context, svc *v1.Service, res allocator.Result, dropped []netip.Addr) (int, error) {
	keep := addrsOf(res)
	ref := refOf(svc.Namespace, svc.Name, svc.UID)
	var drop []netip.Addr
	add := func(a netip.Addr) {
		if !slices.Contains(keep, a) && !slices.Contains(drop, a) {
			drop = append(drop, a)
		}
	}
	for _, a := range res.Released {
		add(a)
	}
	for _, a := range dropped {
		add(a)
	}
	for _, o := range b.index.byService(svc.Namespace, svc.Name) {
		if a, err := netip.ParseAddr(o.Spec.Address); err == nil && hasRef(o.Spec.Services, ref) {
			add(a)
		}
	}
	seen := stateOf(svc)
	released := 0
	for _, a := range drop {
		ok, err := b.releaseClaim(ctx, a, ref, seen)
		if err != nil {
			return released, err
		}
		if ok {
			released++
		}
	}
	return released, nil
}

// releaseClaim releases ref's claim of a, checked against seen. If that must wait, a stays held in
// memory under a leaving owner, so that this replica does not hand it out while the claim exists;
// once released, that hold goes too. It reports whether the claim is gone.
func (b *balancer) releaseClaim(ctx context.Context, a netip.Addr, ref v1alpha1.ServiceRef, seen serviceState) (bool, error) {
	err := b.claims.release(ctx, a, ref, seen)
	switch {
	case err == nil:
		b.alloc.Release(leavingOwner(ref, a))
		b.leaving.remove(leavingOwner(ref, a))
		return true, nil
	case errors.Is(err, errReleaseDeferred):
		klog.FromContext(ctx).V(2).Info("Address given up but not released yet: the Service's status may still name it",
			"service", ref.Namespace+"/"+ref.Name, "address", a)
		b.holdLeaving(ctx, ref, a)
		return false, nil
	default:
		return false, err
	}
}

// holdLeaving holds a in memory for ref as an address it is giving up, unless a is held already.
func (b *balancer) holdLeaving(ctx context.Context, ref v1alpha1.ServiceRef, a netip.Addr) {
	owner := leavingOwner(ref, a)
	if err := b.alloc.Restore(owner, []netip.Addr{a}, allocator.Sharing{}); err != nil {
		klog.FromContext(ctx).V(2).Info("Could not hold an address being given up", "address", a, "err", err)
		return
	}
	b.leaving.add(owner)
}

// deletedState is what EnsureLoadBalancerDeleted checks its releases against. The service
// controller clears the status before the call, so svc usually names nothing and is enough. A copy
// that still names addresses (the Service was deleted without the finalizer, or re-created) is
// checked by reading the Service: gone, or of another UID, nobody can write that status any more.
func (b *balancer) deletedState(ctx context.Context, svc *v1.Service) (serviceState, error) {
	if len(statusAddrs(svc)) == 0 && svc.ResourceVersion != "" {
		return stateOf(svc), nil
	}
	return b.liveState(ctx, refOf(svc.Namespace, svc.Name, svc.UID))
}

// liveState reads the Service of ref from the API server.
func (b *balancer) liveState(ctx context.Context, ref v1alpha1.ServiceRef) (serviceState, error) {
	if b.getService == nil {
		return serviceGone, nil // no API server (unit tests that model a deleted Service)
	}
	live, err := b.getService(ctx, ref.Namespace, ref.Name)
	switch {
	case apierrors.IsNotFound(err):
		return serviceGone, nil
	case err != nil:
		return serviceState{}, err
	case live.UID != ref.UID:
		return serviceGone, nil
	}
	return stateOf(live), nil
}

// stateOf is svc's version and the addresses its status names.
func stateOf(svc *v1.Service) serviceState {
	return serviceState{version: svc.ResourceVersion, status: statusAddrs(svc)}
}

// statusAddrs is the addresses svc's load-balancer status names.
func statusAddrs(svc *v1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}
