package dns

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Services answers from a Service lister (an informer's cache): the ClusterIPs, none for a
// headless Service.
type Services struct{ Lister corelisters.ServiceLister }

// Lookup implements Resolver.
func (s Services) Lookup(namespace, name string) ([]netip.Addr, bool) {
	svc, err := s.Lister.Services(namespace).Get(name)
	if err != nil {
		return nil, false
	}
	var addrs []netip.Addr
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, ip := range ips {
		if ip == corev1.ClusterIPNone {
			continue
		}
		if a, err := netip.ParseAddr(ip); err == nil {
			addrs = append(addrs, a)
		}
	}
	return addrs, true
}
