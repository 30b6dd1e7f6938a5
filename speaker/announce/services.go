package announce

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// vipGroup is one address and the Services holding it.
type vipGroup struct {
	services []types.NamespacedName
	// local are the Services with externalTrafficPolicy Local.
	local []types.NamespacedName
}

// groupServices folds the served Services by ingress address. Services sharing an address become
// one group; a dual-stack Service is in two groups.
func groupServices(svcs []*corev1.Service, classes []string) map[netip.Addr]*vipGroup {
	groups := make(map[netip.Addr]*vipGroup, len(svcs))
	for _, svc := range svcs {
		if svc == nil || !served(svc, classes) {
			continue
		}
		key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			addr, ok := ingressAddr(ing)
			if !ok {
				continue
			}
			g := groups[addr]
			if g == nil {
				g = &vipGroup{}
				groups[addr] = g
			}
			// A Service listing one address twice must count once.
			if n := len(g.services); n > 0 && g.services[n-1] == key {
				continue
			}
			g.services = append(g.services, key)
			if local {
				g.local = append(g.local, key)
			}
		}
	}
	for _, g := range groups {
		g.services = sortNames(g.services)
		g.local = sortNames(g.local)
	}
	return groups
}

// served reports whether frontdesk announces svc's addresses: a LoadBalancer whose class is unset
// or one of classes (spec.loadBalancerClass is immutable, so a Service never changes hands).
func served(svc *corev1.Service, classes []string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	c := svc.Spec.LoadBalancerClass
	return c == nil || slices.Contains(classes, *c)
}

// ingressAddr parses an ingress IP. Hostname-only entries (a cloud load balancer's name) and
// unparsable IPs are not addresses to announce. An IPv4-mapped IPv6 form is announced as IPv4,
// since that is what ARP asks for.
func ingressAddr(ing corev1.LoadBalancerIngress) (netip.Addr, bool) {
	if ing.IP == "" {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(ing.IP)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

func sortNames(ns []types.NamespacedName) []types.NamespacedName {
	slices.SortFunc(ns, func(a, b types.NamespacedName) int {
		if a.Namespace != b.Namespace {
			if a.Namespace < b.Namespace {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return slices.Compact(ns)
}
