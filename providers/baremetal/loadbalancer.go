package baremetal

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/controller/service"
)

// allocationIndex answers, from the informer cache, which IPAllocation objects name a Service. It
// may lag behind the API server; every use tolerates that (claims are idempotent).
type allocationIndex interface {
	byService(namespace, name string) []*v1alpha1.IPAllocation
}

// balancer implements cloudprovider.LoadBalancer for bare metal: a load balancer is one address per
// family drawn from IPPools, announced by the speakers.
type balancer struct {
	alloc  *allocator.IPAllocator
	claims *claimStore
	index  allocationIndex
	pools  *poolState
	// nsLabels returns the labels of a namespace, for IPPool namespace selectors.
	nsLabels func(namespace string) (labels.Set, error)
	// getService reads a Service from the API server (not the cache); only the rare paths that
	// release the claim of a Service whose known status still names the address use it.
	getService func(ctx context.Context, namespace, name string) (*v1.Service, error)
	// leaving lists the addresses given up whose claims wait to be released (see releaseClaim).
	leaving leavingSet
	// ready is closed once the allocator holds every existing allocation: no address is handed out
	// before that, or a restart could hand out one that is already in use.
	ready   <-chan struct{}
	metrics *recorder
	// wake queues the Services waiting for an address at once (the service controller's, through
	// SetWake); nil until it is set.
	wake atomic.Pointer[func()]
	// readinessChanged queues a Service whose addresses' reports changed (the service
	// controller's, through SetReadinessChanged); nil until it is set.
	readinessChanged atomic.Pointer[func(namespace, name string)]
}

// SetWake implements service.Waker: pools added or grown and addresses freed wake the
// Services that found none, instead of leaving them to their backoff.
func (b *balancer) SetWake(wake func()) { b.wake.Store(&wake) }

// wakeWaiting runs the service controller's wake, if it has set one.
func (b *balancer) wakeWaiting() {
	if w := b.wake.Load(); w != nil {
		(*w)()
	}
}

// freed follows any release of addresses: the pool statuses change and a waiting Service may now
// get one of them.
func (b *balancer) freed() {
	b.pools.changed()
	b.wakeWaiting()
}

var (
	_ cloudprovider.LoadBalancer = (*balancer)(nil)
	_ service.Waker              = (*balancer)(nil)
)

func ownerKey(svc *v1.Service) string { return svc.Namespace + "/" + svc.Name }

// maxClaimRaces bounds how often one Ensure retries after losing an address to another controller.
const maxClaimRaces = 3

func (b *balancer) GetLoadBalancer(ctx context.Context, _ string, svc *v1.Service) (*v1.LoadBalancerStatus, bool, error) {
	if err := b.waitReady(ctx); err != nil {
		return nil, false, err
	}
	held := b.alloc.Addresses(ownerKey(svc))
	if len(held) == 0 {
		return nil, false, nil
	}
	return statusOf(held), true, nil
}

func (b *balancer) GetLoadBalancerName(_ context.Context, _ string, svc *v1.Service) string {
	return cloudprovider.DefaultLoadBalancerName(svc)
}

// EnsureLoadBalancer gives svc its addresses: the ones it holds while they still satisfy it, new
// ones otherwise. The IPAllocation of every address exists before the address is returned (and so
// before it reaches the Service's status); addresses the Service no longer holds are released after.
func (b *balancer) EnsureLoadBalancer(ctx context.Context, _ string, svc *v1.Service, _ []*v1.Node) (*v1.LoadBalancerStatus, error) {
	if err := b.waitReady(ctx); err != nil {
		return nil, err
	}
	res, dropped, err := b.assign(ctx, svc)
	if err != nil {
		b.metrics.failure(err)
		return nil, err
	}
	released, err := b.releaseOthers(ctx, svc, res, dropped)
	if err != nil {
		return nil, err
	}
	switch {
	case released > 0:
		b.freed()
	case changedHoldings(res):
		b.pools.changed() // a resync that kept everything leaves the pool statuses alone
	}
	return statusOf(addrsOf(res)), nil
}

// UpdateLoadBalancer has nothing to do: which nodes announce an address is the speakers' decision.
func (b *balancer) UpdateLoadBalancer(context.Context, string, *v1.Service, []*v1.Node) error {
	return nil
}

// EnsureLoadBalancerDeleted releases every address of svc, in memory and in the API server. The
// service controller clears the status first; an address the Service's status still names (or that
// a status write in flight may add) is not released: the call fails and is retried.
func (b *balancer) EnsureLoadBalancerDeleted(ctx context.Context, _ string, svc *v1.Service) error {
	if err := b.waitReady(ctx); err != nil {
		return err
	}
	ref := refOf(svc.Namespace, svc.Name, svc.UID)
	released := b.alloc.Release(ownerKey(svc))
	for _, o := range b.index.byService(svc.Namespace, svc.Name) {
		if a, err := netip.ParseAddr(o.Spec.Address); err == nil && !slices.Contains(released, a) {
			released = append(released, a)
		}
	}
	if len(released) == 0 {
		return nil
	}
	seen, err := b.deletedState(ctx, svc)
	if err != nil {
		return err
	}
	var freed, deferred []netip.Addr
	for _, a := range released {
		ok, err := b.releaseClaim(ctx, a, ref, seen)
		if err != nil {
			return fmt.Errorf("releasing %s: %w", a, err)
		}
		if ok {
			freed = append(freed, a)
		} else {
			deferred = append(deferred, a)
		}
	}
	if len(freed) > 0 {
		klog.FromContext(ctx).V(2).Info("Released load-balancer addresses", "service", klog.KObj(svc), "addresses", freed)
		b.freed()
	}
	if len(deferred) > 0 {
		return fmt.Errorf("the status of %s may still name %v; not released yet, will retry", klog.KObj(svc), deferred)
	}
	return nil
}

func (b *balancer) waitReady(ctx context.Context) error {
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the allocation state to be restored: %w", ctx.Err())
	}
}

// assign decides the addresses in memory and claims the new ones in the API server. An address lost
// to another controller (its IPAllocation already exists) is recorded as held and another is picked.
// It also returns the addresses this replica held for svc and gave up for the ones its status names
// (preferStatus): their IPAllocations are to be released.
func (b *balancer) assign(ctx context.Context, svc *v1.Service) (allocator.Result, []netip.Addr, error) {
	w, err := readWishes(svc)
	if err != nil {
		return allocator.Result{}, nil, err
	}
	plan, err := planFamilies(svc, w.addrs)
	if err != nil {
		return allocator.Result{}, nil, err
	}
	ns, err := b.nsLabels(svc.Namespace)
	if err != nil {
		return allocator.Result{}, nil, fmt.Errorf("reading namespace %q: %w", svc.Namespace, err)
	}
	cands, err := candidates(b.pools.views(), svc, ns, w)
	if err != nil {
		return allocator.Result{}, nil, err
	}
	ports, backend := sharingOf(svc)
	req := allocator.Request{Owner: ownerKey(svc), Pools: cands, Families: plan.families, Addresses: w.addrs,
		Sharing: allocator.Sharing{Key: w.sharingKey, Scope: svc.Namespace, Backend: backend, Ports: ports}}
	ref := refOf(svc.Namespace, svc.Name, svc.UID)
	b.adopt(ctx, req, ref)
	dropped := b.preferStatus(ctx, svc, req)

	for attempt := 0; ; attempt++ {
		res, err := b.assignFamilies(req, plan)
		if err != nil {
			return res, dropped, explain(err)
		}
		lost, err := b.claimAll(ctx, res, w.sharingKey, ref, svc)
		if err == nil {
			return res, dropped, nil
		}
		if lost == nil || attempt == maxClaimRaces {
			return res, dropped, err
		}
		// Another controller holds the address: remember it, so the next pick avoids it. The
		// address stays with its real holders; this Service's in-memory hold is replaced.
		holders := make([]string, len(lost.Holders))
		for i, h := range lost.Holders {
			holders[i] = h.Namespace + "/" + h.Name
		}
		var kept []netip.Addr
		for _, a := range res.Addresses {
			if a.Addr != lost.Addr {
				kept = append(kept, a.Addr)
			}
		}
		b.alloc.Release(req.Owner)
		for i, h := range holders {
			if rerr := b.alloc.Restore(h, []netip.Addr{lost.Addr}, allocator.Sharing{Key: lost.Key, Scope: lost.Holders[i].Namespace}); rerr != nil {
				// The holder holds another address of that family here: this claim is likely one
				// it is giving up (another replica's pick). Hold it apart, so that it is not picked
				// again while claimed; repair releases the claim if the holder does not stand
				// behind it.
				b.holdLeaving(ctx, lost.Holders[i], lost.Addr)
			}
		}
		if len(kept) > 0 { // the other family's address stays: only the lost one is picked again
			if rerr := b.alloc.Restore(req.Owner, kept, req.Sharing); rerr != nil {
				return res, dropped, fmt.Errorf("keeping %v after losing %s: %w", kept, lost.Addr, rerr)
			}
		}
		if slices.Contains(w.addrs, lost.Addr) {
			return res, dropped, err // the requested address itself is taken: nothing else will do
		}
	}
}

// adopt moves to the Service the addresses that the restore gave to its stale owner: the restore
// saw the IPAllocation before it saw the Service (or its UID), and the Service is now here with that
// UID. Without this the Service could not keep its own address.
func (b *balancer) adopt(ctx context.Context, req allocator.Request, ref v1alpha1.ServiceRef) {
	stale := staleOwner(ref)
	addrs := b.alloc.Addresses(stale)
	if len(addrs) == 0 {
		return
	}
	var take, keep []netip.Addr
	held := b.alloc.Addresses(req.Owner)
	for _, a := range addrs {
		if slices.ContainsFunc(held, func(h netip.Addr) bool { return h.Is4() == a.Is4() }) {
			keep = append(keep, a) // the Service already holds one of this family: leave it to repair
		} else {
			take = append(take, a)
		}
	}
	b.alloc.Release(stale)
	logger := klog.FromContext(ctx)
	if err := b.alloc.Restore(req.Owner, take, req.Sharing); err != nil {
		logger.Info("Could not adopt the addresses restored for this Service; they stay held", "service", req.Owner, "addresses", take, "err", err)
		keep = append(keep, take...)
	}
	if len(keep) > 0 {
		if err := b.alloc.Restore(stale, keep, allocator.Sharing{Key: req.Sharing.Key, Scope: req.Sharing.Scope}); err != nil {
			logger.Error(err, "Could not keep holding addresses of a stale owner", "owner", stale, "addresses", keep)
		}
	}
}

// assignFamilies asks for every family of the plan; with PreferDualStack, a family no candidate pool
// can serve is dropped rather than failing the Service.
func (b *balancer) assignFamilies(req allocator.Request, plan familyPlan) (allocator.Result, error) {
	res, err := b.alloc.Assign(req)
	if err == nil || plan.requireAll || len(req.Families) < 2 || !errors.Is(err, allocator.ErrFull) {
		return res, err
	}
	for _, f := range req.Families {
		one := req
		one.Families = []allocator.Family{f}
		if r, e := b.alloc.Assign(one); e == nil {
			return r, nil
		}
	}
	return res, err
}

// claimAll makes sure an IPAllocation names svc for every address of res. It returns the
// *ClaimedError when another controller holds an address.
//
// An address the status of svc (at the version Ensure was given) already names, and that the cache
// shows claimed for svc, needs no call: a resync of an unchanged Service writes nothing, and no
// release can take the claim while the status names it. Any other address is about to be added
// to the status by a write preconditioned on that version, so it is claimed live with the fence
// set to that version, even if this replica has held it for a while: the cache may be behind a
// release by the other replica.
func (b *balancer) claimAll(ctx context.Context, res allocator.Result, key string, ref v1alpha1.ServiceRef, svc *v1.Service) (*ClaimedError, error) {
	have := map[netip.Addr]bool{}
	for _, o := range b.index.byService(ref.Namespace, ref.Name) {
		if a, err := netip.ParseAddr(o.Spec.Address); err == nil && hasRef(o.Spec.Services, ref) {
			have[a] = true
		}
	}
	named := statusAddrs(svc)
	for _, a := range res.Addresses {
		fence := svc.ResourceVersion
		if slices.Contains(named, a.Addr) {
			if have[a.Addr] {
				continue
			}
			fence = "" // in the status already (restored from it, or the cache is behind): no write to fence
		}
		pool := a.Pool
		if pool == "" {
			pool = "(outside every pool)"
		}
		if err := b.claims.claim(ctx, a.Addr, pool, key, b.sharesAcrossNamespaces(a.Pool), ref, fence); err != nil {
			var ce *ClaimedError
			if errors.As(err, &ce) {
				return ce, err
			}
			return nil, fmt.Errorf("recording the allocation of %s: %w", a.Addr, err)
		}
		if a.New {
			b.metrics.allocated(pool)
		}
	}
	return nil, nil
}

// sharesAcrossNamespaces says whether the pool in force named pool lets Services of different
// namespaces share its addresses.
func (b *balancer) sharesAcrossNamespaces(pool string) bool {
	for _, v := range b.pools.views() {
		if v.name == pool {
			return v.invalid == "" && v.def.ShareAcrossScopes
		}
	}
	return false
}

// changedHoldings says whether Assign took or gave up any address.
func changedHoldings(res allocator.Result) bool {
	return len(res.Released) > 0 || slices.ContainsFunc(res.Addresses, func(a allocator.Address) bool { return a.New })
}

func addrsOf(res allocator.Result) []netip.Addr {
	out := make([]netip.Addr, len(res.Addresses))
	for i, a := range res.Addresses {
		out[i] = a.Addr
	}
	return out
}

// statusOf reports the addresses with ipMode VIP: traffic arrives at the nodes addressed to the VIP
// itself, which the node proxy forwards (as opposed to Proxy, where a load balancer rewrites it).
func statusOf(addrs []netip.Addr) *v1.LoadBalancerStatus {
	vip := v1.LoadBalancerIPModeVIP
	st := &v1.LoadBalancerStatus{}
	for _, a := range addrs {
		st.Ingress = append(st.Ingress, v1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
	}
	return st
}

// explain turns allocator errors into messages for a Service's Event.
func explain(err error) error {
	var conflict *allocator.ErrConflict
	switch {
	case errors.As(err, &conflict) && conflict.Reason == allocator.ReasonOtherScope:
		// The holder is another namespace's: its name, key and traffic policy are not this
		// tenant's to read (issue 17), and the allocator's message is not quoted for that reason.
		return fmt.Errorf("requested address %s is in use by a Service of another namespace and cannot be shared with this Service; "+
			"only Services of one namespace share an address, unless its IPPool sets spec.allowCrossNamespaceSharing: %w",
			conflict.Addr, allocator.ErrAllocated)
	case errors.As(err, &conflict) && conflict.Foreign:
		// Another namespace's holder in a pool shared across namespaces: the reason (which never
		// shows the holder's key or backend) applies, the holder's name does not.
		return fmt.Errorf("requested address %s is in use by a Service of another namespace and cannot be shared with this Service (%s); "+
			"to share it, give both Services the same %s annotation, distinct ports, and compatible traffic policies: %w",
			conflict.Addr, conflict.Reason, AnnotationAllowSharedIP, allocator.ErrAllocated)
	case errors.As(err, &conflict):
		return fmt.Errorf("requested address %s is in use by %s and cannot be shared with this Service (%s); "+
			"to share it, give both Services the same %s annotation, distinct ports, and compatible traffic policies: %w",
			conflict.Addr, conflict.Holder, conflict.Reason, AnnotationAllowSharedIP, err)
	case errors.Is(err, allocator.ErrFull):
		return fmt.Errorf("no free address: %w; add addresses to an IPPool or free some", err)
	}
	return err
}
