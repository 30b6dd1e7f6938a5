package baremetal

import (
	"fmt"
	"net/netip"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/allocator"
)

// familyPlan is which address families a Service gets a load-balancer address of.
type familyPlan struct {
	families []allocator.Family // in the Service's order of preference
	// requireAll is false for PreferDualStack: a Service whose pools offer only one of its families
	// still gets an address of that family.
	requireAll bool
}

// planFamilies follows spec.ipFamilies and spec.ipFamilyPolicy, as the ClusterIP allocator does: the
// node proxy can only forward a load-balancer address to a ClusterIP family the Service has. Requested
// addresses choose the families themselves, and must be of families the Service has.
func planFamilies(svc *v1.Service, requested []netip.Addr) (familyPlan, error) {
	have := svc.Spec.IPFamilies
	if len(have) == 0 {
		have = []v1.IPFamily{v1.IPv4Protocol} // the API server fills this in; be safe for tests
	}
	policy := v1.IPFamilyPolicySingleStack
	if svc.Spec.IPFamilyPolicy != nil {
		policy = *svc.Spec.IPFamilyPolicy
	}
	if len(requested) > 0 {
		var p familyPlan
		for _, a := range requested {
			f := allocator.FamilyOf(a)
			if !hasFamily(have, f) {
				return familyPlan{}, &AnnotationError{Name: AnnotationLoadBalancerIPs, Value: a.String(),
					Problem:  fmt.Sprintf("is %s but the Service's spec.ipFamilies is %s", f, familiesString(have)),
					Accepted: "addresses of the Service's IP families"}
			}
			p.families = append(p.families, f)
		}
		p.requireAll = true
		return p, nil
	}
	switch policy {
	case v1.IPFamilyPolicyRequireDualStack:
		return familyPlan{families: convert(have), requireAll: true}, nil
	case v1.IPFamilyPolicyPreferDualStack:
		return familyPlan{families: convert(have)}, nil
	default:
		return familyPlan{families: convert(have[:1]), requireAll: true}, nil
	}
}

func hasFamily(have []v1.IPFamily, f allocator.Family) bool {
	for _, h := range have {
		if allocator.Family(h) == f {
			return true
		}
	}
	return false
}

func convert(fs []v1.IPFamily) []allocator.Family {
	out := make([]allocator.Family, len(fs))
	for i, f := range fs {
		out[i] = allocator.Family(f)
	}
	return out
}

func familiesString(fs []v1.IPFamily) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
