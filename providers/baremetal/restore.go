package baremetal

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"

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
func restore(alloc *allocator.IPAllocator, objs []*v1alpha1.IPAllocation, svcs []*v1.Service, served func(*v1.Service) bool) ([]restoreProblem, []string) {
	byKey := make(map[string]*v1.Service, len(svcs))
	for _, s := range svcs {
		byKey[ownerKey(s)] = s
	}
	type holding struct {
		addrs   []netip.Addr
		sharing allocator.Sharing
	}
	owners := map[string]*holding{}
	var order []string
	type extra struct {
		ref  v1alpha1.ServiceRef
		addr netip.Addr
	}
	var extras []extra
	for _, o := range objs {
		a, err := netip.ParseAddr(o.Spec.Address)
		if err != nil {
			continue // the CRD's validation makes this impossible; nothing to restore
		}
		for _, r := range o.Spec.Services {
			owner, sharing := staleOwner(r), allocator.Sharing{Key: o.Spec.SharingKey, Scope: r.Namespace}
			var named []netip.Addr
			if s := byKey[r.Namespace+"/"+r.Name]; s != nil && s.UID == r.UID {
				ports, backend := sharingOf(s)
				owner, sharing = ownerKey(s), allocator.Sharing{Key: o.Spec.SharingKey, Scope: s.Namespace, Backend: backend, Ports: ports}
				named = statusAddrs(s)
			}
			h := owners[owner]
			if h == nil {
				h = &holding{sharing: sharing}
				owners[owner] = h
				order = append(order, owner)
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
	slices.Sort(order) // deterministic: the same conflicts are reported the same way on every start
	for _, owner := range order {
		h := owners[owner]
		if err := alloc.Restore(owner, h.addrs, h.sharing); err != nil {
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
	return problems, leaving
}
