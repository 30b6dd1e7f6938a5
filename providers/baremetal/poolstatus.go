package baremetal

import (
	"fmt"
	"math"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/allocator"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// poolStatus computes the status an IPPool should show: capacity and assignment per family, and the
// conditions Valid, AddressesOutsideSpec and Exhausted. Conditions that do not change keep their
// lastTransitionTime (meta.SetStatusCondition).
func poolStatus(p *v1alpha1.IPPool, v poolView, stats []allocator.PoolStats, orphans []allocator.Orphan) v1alpha1.IPPoolStatus {
	st := *p.Status.DeepCopy()
	st.CapacityIPv4, st.CapacityIPv6, st.AssignedIPv4, st.AssignedIPv6 = "0", "0", 0, 0
	var full []string
	for _, s := range stats {
		if s.Pool != v.name {
			continue
		}
		assigned := int32(min(s.Assigned, math.MaxInt32))
		switch s.Family {
		case allocator.IPv4:
			st.CapacityIPv4, st.AssignedIPv4 = s.Capacity.String(), assigned
		case allocator.IPv6:
			st.CapacityIPv6, st.AssignedIPv6 = s.Capacity.String(), assigned
		}
		if s.Free.Sign() == 0 && s.Capacity.Sign() > 0 {
			full = append(full, string(s.Family))
		}
	}
	gen := p.Generation
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}

	if v.invalid != "" {
		set(v1alpha1.IPPoolConditionValid, false, v.invalidReason, v.invalid)
	} else {
		set(v1alpha1.IPPoolConditionValid, true, v1alpha1.IPPoolReasonValid, "the pool hands out addresses")
	}

	var outside []string
	for _, o := range orphans {
		if o.Pool == v.name {
			outside = append(outside, fmt.Sprintf("%s (held by %s)", o.Addr, strings.Join(o.Owners, ", ")))
		}
	}
	if len(outside) > 0 {
		set(v1alpha1.IPPoolConditionAddressesOutsideSpec, true, v1alpha1.IPPoolReasonAddressesInUse,
			fmt.Sprintf("addresses no longer in spec.addresses are still in use and were not moved: %s; "+
				"put them back in spec.addresses, or give those Services another address (annotation %s or %s) "+
				"or delete them, and the addresses are released", strings.Join(outside, "; "), AnnotationLoadBalancerIPs, AnnotationIPPool))
	} else {
		set(v1alpha1.IPPoolConditionAddressesOutsideSpec, false, v1alpha1.IPPoolReasonAllInSpec, "every address in use is in spec.addresses")
	}

	if len(full) > 0 {
		set(v1alpha1.IPPoolConditionExhausted, true, v1alpha1.IPPoolReasonNoFreeAddresses,
			fmt.Sprintf("every %s address of the pool is assigned", strings.Join(full, " and ")))
	} else {
		set(v1alpha1.IPPoolConditionExhausted, false, v1alpha1.IPPoolReasonFreeAddresses, "free addresses remain")
	}
	return st
}
