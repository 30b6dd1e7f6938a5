package baremetal

import (
	"slices"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/allocator"
)

// sharingOf returns what decides whether a Service may share an address with another: the ports it
// listens on, and a backend string that must be equal between sharers. With externalTrafficPolicy
// Local only the nodes with a local endpoint announce the address, so Services sharing it must select
// the same Pods (MetalLB has the same rule); Cluster Services can share with any Cluster Service.
func sharingOf(svc *v1.Service) (ports []allocator.Port, backend string) {
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		ports = append(ports, allocator.Port{Port: uint16(p.Port), Protocol: allocator.Protocol(proto)})
	}
	slices.SortFunc(ports, func(a, b allocator.Port) int {
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return strings.Compare(string(a.Protocol), string(b.Protocol))
	})
	if svc.Spec.ExternalTrafficPolicy != v1.ServiceExternalTrafficPolicyLocal {
		return ports, "externalTrafficPolicy=Cluster"
	}
	keys := make([]string, 0, len(svc.Spec.Selector))
	for k := range svc.Spec.Selector {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("externalTrafficPolicy=Local, selector ")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + svc.Spec.Selector[k])
	}
	return ports, b.String()
}
