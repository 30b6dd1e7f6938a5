package served

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultClass is the spec.loadBalancerClass frontdesk serves unless told otherwise, in the
// controller and the speakers alike.
const DefaultClass = "frontdesk.dev/lb"

// Classes says which Services frontdesk serves by their spec.loadBalancerClass (immutable, so a
// Service never changes hands).
type Classes struct {
	// Names are the served class values.
	Names []string
	// Unset: Services that set no class are served too.
	Unset bool
}

// Serves reports whether a Service of type LoadBalancer with this class is served.
func (c Classes) Serves(class *string) bool {
	if class == nil {
		return c.Unset
	}
	return slices.Contains(c.Names, *class)
}

// Wants reports whether svc is a served LoadBalancer Service (whether or not it is being deleted).
func (c Classes) Wants(svc *corev1.Service) bool {
	return svc != nil && svc.Spec.Type == corev1.ServiceTypeLoadBalancer && c.Serves(svc.Spec.LoadBalancerClass)
}

// String lists the served classes for logs and messages, "<none>" for Services with no class.
func (c Classes) String() string {
	names := slices.Sorted(slices.Values(c.Names))
	if c.Unset {
		names = append(names, "<none>")
	}
	return strings.Join(names, ", ")
}

// IngressAddr parses one entry of status.loadBalancer.ingress as an address to announce.
// Hostname-only entries (a cloud load balancer's name), unparsable IPs and zoned ones are not;
// an IPv4-mapped IPv6 form is the IPv4 address, since that is what ARP asks for and what a
// router matches.
func IngressAddr(ing corev1.LoadBalancerIngress) (netip.Addr, bool) {
	if ing.IP == "" {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(ing.IP)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// Group is one ingress address and the served Services holding it, each sorted by namespace and
// name, without duplicates.
type Group struct {
	Services []types.NamespacedName
	// Local are those of Services with externalTrafficPolicy Local.
	Local []types.NamespacedName
}

// ByAddress folds the Services that c wants by ingress address: Services sharing an address are
// one Group, and a dual-stack Service is in two. Nil entries are skipped.
func ByAddress(svcs []*corev1.Service, c Classes) map[netip.Addr]*Group {
	groups := make(map[netip.Addr]*Group, len(svcs))
	for _, svc := range svcs {
		if !c.Wants(svc) {
			continue
		}
		key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			addr, ok := IngressAddr(ing)
			if !ok {
				continue
			}
			g := groups[addr]
			if g == nil {
				g = &Group{}
				groups[addr] = g
			}
			// A Service listing one address twice counts once; while this Service's entries are
			// read, it can only be the last one added.
			if n := len(g.Services); n > 0 && g.Services[n-1] == key {
				continue
			}
			g.Services = append(g.Services, key)
			if local {
				g.Local = append(g.Local, key)
			}
		}
	}
	for _, g := range groups {
		g.Services = sortNames(g.Services)
		g.Local = sortNames(g.Local)
	}
	return groups
}

// CompareNames orders Service names by namespace, then name.
func CompareNames(a, b types.NamespacedName) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// sortNames sorts and removes duplicates (two Service objects of one name, which an informer
// never holds but a caller's list might).
func sortNames(ns []types.NamespacedName) []types.NamespacedName {
	slices.SortFunc(ns, CompareNames)
	return slices.Compact(ns)
}
