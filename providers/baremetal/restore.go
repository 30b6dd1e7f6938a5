package baremetal

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// staleOwnerPrefix marks in-memory owners restored from an IPAllocation whose Service is gone (or
// was re-created with another UID). Their addresses stay held until the repair pass has seen them
// orphaned several times: leaking an address for a while beats handing it out twice.
const staleOwnerPrefix = "stale:"

func staleOwner(r v1alpha1.ServiceRef) string {
	return staleOwnerPrefix + r.Namespace + "/" + r.Name + "#" + string(r.UID)
}

// EventCrossNamespaceShareKept is the reason of the Warning Event on each Service of a share across
// namespaces that its pool does not allow, found on start-up and kept (keptShare).
const EventCrossNamespaceShareKept = "CrossNamespaceShareKept"

// keptShare is an address that Services of several namespaces share under one key in a pool that
// does not allow it: an older version made such shares (keys were global then; issue 17). The
// restore keeps it (allocator.AdmitAcrossScopes) rather than moving a Service on upgrade: those
// Services keep the address as long as each keeps asking for it, and no other Service joins them
// across namespaces. Each is told so on every start, until the pool allows the share or one of
// them leaves it.
type keptShare struct {
	service string // namespace/name
	addr    netip.Addr
	pool    string
	// edited: the pool stopped allowing the share (poolWriter.reload), rather than the share
	// predating per-namespace keys.
	edited bool
}

func (k keptShare) message() string {
	why := "does not allow (sharing keys are per namespace; older versions of frontdesk let any namespace join by key). " +
		"The share predates that and"
	if k.edited {
		why = "no longer allows (its spec.allowCrossNamespaceSharing was turned off). The share was made before that and"
	}
	return fmt.Sprintf("address %s is shared with a Service of another namespace, which IPPool %q %s is kept while its "+
		"Services keep the address: no other Service can join it across namespaces, and one that leaves cannot come back. "+
		"To allow it, set spec.allowCrossNamespaceSharing on the IPPool; otherwise give one of the Services another address "+
		"(%s or %s)",
		k.addr, k.pool, why, AnnotationLoadBalancerIPs, AnnotationIPPool)
}

// tellKept logs each kept share of a Service still there and gives that Service the Warning
// Event. The allocator's owners of a share may also be a gone Service's stale owner or a leaving
// address (names such as "stale:ns/name#uid"): nobody to tell.
func tellKept(logger klog.Logger, services corelisters.ServiceLister, recorder record.EventRecorder, kept []keptShare) {
	for _, k := range kept {
		s := findService(services, k.service)
		if s == nil {
			continue
		}
		msg := "Kept an address shared across namespaces, which its pool does not allow: the share predates per-namespace keys"
		if k.edited {
			msg = "Kept an address shared across namespaces, which its pool no longer allows"
		}
		logger.Info(msg, "service", k.service, "address", k.addr, "pool", k.pool)
		recorder.Event(s, v1.EventTypeWarning, EventCrossNamespaceShareKept, k.message())
	}
}

// restoreProblem is an allocation found on start-up that contradicts another; it is reported on the
// Service, never resolved by overwriting.
type restoreProblem struct {
	service string // namespace/name
	err     error
}

// restore rebuilds the allocator from the truth, before any new allocation: first every IPAllocation
// object, then the addresses in the status of the Services served that have no object yet (written
// before a crash, or by an older version). The Ensure of each such Service then creates the missing
// object. served says whether a Service is ours (type LoadBalancer, our class).
//
// A Service may hold two IPAllocations of one family: two replicas each picked one and the losing
// pick was not released yet. The one its status names (else the lower address) is restored as its
// own; the other is held as a leaving address (returned), which the next Ensure or the repair pass
// releases.
//
// An object naming Services of several namespaces in a pool without allowCrossNamespaceSharing is
// a share an older version made: its holders are admitted to keep it (keptShare, returned).
func restore(alloc *allocator.IPAllocator, objs []*v1alpha1.IPAllocation, svcs []*v1.Service, served func(*v1.Service) bool) ([]restoreProblem, []string, []keptShare) {
	byKey := make(map[string]*v1.Service, len(svcs))
	for _, s := range svcs {
		byKey[ownerKey(s)] = s
	}
	type holding struct {
		addrs   []netip.Addr
		sharing allocator.Sharing
	}
	owners := map[string]*holding{}
	var live, stale []string // owners found, by kind
	type extra struct {
		ref  v1alpha1.ServiceRef
		addr netip.Addr
	}
	var extras []extra
	var kept []keptShare
	for _, o := range objs {
		a, err := netip.ParseAddr(o.Spec.Address)
		if err != nil {
			continue // the CRD's validation makes this impossible; nothing to restore
		}
		kept = append(kept, admitOldShare(alloc, a, o, byKey)...)
		for _, r := range o.Spec.Services {
			owner, sharing := staleOwner(r), allocator.Sharing{Key: o.Spec.SharingKey, Scope: r.Namespace}
			var named []netip.Addr
			order := &stale
			if s := byKey[r.Namespace+"/"+r.Name]; s != nil && s.UID == r.UID {
				ports, backend := sharingOf(s)
				owner, sharing = ownerKey(s), allocator.Sharing{Key: o.Spec.SharingKey, Scope: s.Namespace, Backend: backend, Ports: ports}
				named, order = statusAddrs(s), &live
			}
			h := owners[owner]
			if h == nil {
				h = &holding{sharing: sharing}
				owners[owner] = h
				*order = append(*order, owner)
			}
			i := slices.IndexFunc(h.addrs, func(x netip.Addr) bool { return x.Is4() == a.Is4() })
			switch {
			case i < 0:
				h.addrs = append(h.addrs, a)
			case slices.Contains(named, a) || (!slices.Contains(named, h.addrs[i]) && a.Less(h.addrs[i])):
				extras = append(extras, extra{r, h.addrs[i]})
				h.addrs[i], h.sharing = a, sharing
			default:
				extras = append(extras, extra{r, a})
			}
		}
	}
	var problems []restoreProblem
	// Live Services first, then the stale owners, each group by name: deterministic, so the same
	// conflicts are reported the same way on every start. A stale owner only keeps an address held
	// until the repair pass; restored first, it would keep out a live Service sharing the address
	// (it has no backend or ports to share with), which would then get a false AllocationConflict.
	slices.Sort(live)
	slices.Sort(stale)
	for _, owner := range slices.Concat(live, stale) {
		h := owners[owner]
		addrs := h.addrs
		if strings.HasPrefix(owner, staleOwnerPrefix) {
			// What another owner holds stays held without it.
			if addrs = slices.DeleteFunc(slices.Clone(addrs), alloc.Held); len(addrs) == 0 {
				continue
			}
		}
		if err := alloc.Restore(owner, addrs, h.sharing); err != nil {
			problems = append(problems, restoreProblem{service: strings.TrimPrefix(owner, staleOwnerPrefix), err: err})
		}
	}

	var leaving []string
	for _, e := range extras {
		owner := leavingOwner(e.ref, e.addr)
		if err := alloc.Restore(owner, []netip.Addr{e.addr}, allocator.Sharing{}); err == nil {
			leaving = append(leaving, owner)
		} // else another holder of that object holds it: held all the same
	}

	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := byKey[k]
		if !served(s) {
			continue
		}
		held := alloc.Addresses(k)
		var extra []netip.Addr
		for _, a := range statusAddrs(s) {
			if !slices.Contains(held, a) {
				extra = append(extra, a)
			}
		}
		if len(extra) == 0 {
			continue
		}
		w, _ := readWishes(s) // a malformed annotation still leaves the status address worth keeping
		ports, backend := sharingOf(s)
		if err := alloc.Restore(k, extra, allocator.Sharing{Key: w.sharingKey, Scope: s.Namespace, Backend: backend, Ports: ports}); err != nil {
			problems = append(problems, restoreProblem{service: k,
				err: fmt.Errorf("status.loadBalancer.ingress %v cannot be kept: %w", extra, err)})
		}
	}
	return problems, leaving, kept
}

// admitOldShare admits the holders of o across namespaces if they span several and o's pool does
// not allow it, and returns the live ones, to be told.
func admitOldShare(alloc *allocator.IPAllocator, a netip.Addr, o *v1alpha1.IPAllocation, byKey map[string]*v1.Service) []keptShare {
	if len(o.Spec.Services) < 2 || !slices.ContainsFunc(o.Spec.Services, func(r v1alpha1.ServiceRef) bool {
		return r.Namespace != o.Spec.Services[0].Namespace
	}) {
		return nil
	}
	owners := make([]string, 0, len(o.Spec.Services))
	var live []keptShare
	for _, r := range o.Spec.Services {
		if s := byKey[r.Namespace+"/"+r.Name]; s != nil && s.UID == r.UID {
			owners = append(owners, ownerKey(s))
			live = append(live, keptShare{service: ownerKey(s), addr: a, pool: o.Spec.Pool})
		} else {
			owners = append(owners, staleOwner(r))
		}
	}
	if !alloc.AdmitAcrossScopes(a, owners) || len(live) < 2 {
		return nil // allowed by the pool, or only one Service is left of the share: nothing to tell
	}
	return live
}
