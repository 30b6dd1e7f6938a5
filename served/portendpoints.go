package served

import (
	"errors"
	"fmt"
	"iter"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// ErrForbiddenEndpoint says an endpoint address lies in a range no node proxy forwards to.
var ErrForbiddenEndpoint = errors.New("endpoint address refused: loopback and link-local addresses " +
	"(127.0.0.0/8, 169.254.0.0/16, ::1, fe80::/10) are never forwarded to")

// forbiddenEndpoint holds the ranges a Service may not redirect traffic to: reaching a node's own
// loopback or link-local services (the cloud metadata endpoint among them) through a Service would
// turn any Endpoints writer into a node-local attacker (CVE-2020-8558 is the loopback case).
var forbiddenEndpoint = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fe80::/10"),
}

// CheckEndpointAddr refuses an endpoint address in a forbidden range, unspecified or multicast.
func CheckEndpointAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, p := range forbiddenEndpoint {
		if p.Contains(a) {
			return fmt.Errorf("%w: got %s", ErrForbiddenEndpoint, a)
		}
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return fmt.Errorf("%w: got %s (unspecified or multicast)", ErrForbiddenEndpoint, a)
	}
	return nil
}

// PortEndpoint is one endpoint of one Service port as the node proxies take it.
type PortEndpoint struct {
	Slice    *discoveryv1.EndpointSlice
	Endpoint *discoveryv1.Endpoint
	// Addr is the endpoint's first address, the one proxies use: every address of one endpoint
	// is the same Pod.
	Addr netip.Addr
	// Port is the slice's port of the Service port's name and protocol: the resolved target port.
	Port uint16
}

// PortEndpoints yields the endpoints of the Service port (name, protocol) found in the slices of
// one address type, in slice order: each address and target port once, however many slices list
// it (two slices hold the same endpoint while the EndpointSlice controller moves it, and a
// hand-written slice may repeat one); endpoints whose slice has no such port, a zero or unset port,
// or whose first address does not parse or is of the other family are skipped, and those with a
// forbidden address (CheckEndpointAddr) go to refused, which may be nil.
//
// It is the one counting rule of --max-endpoints-per-service-port: the node proxy programs what
// it yields and the controller's TooManyEndpoints Event counts it (CountEndpoints), so the two
// agree on which Services are over the cap.
func PortEndpoints(slices []*discoveryv1.EndpointSlice, addrType discoveryv1.AddressType, name string, proto corev1.Protocol,
	refused func(*discoveryv1.EndpointSlice, error)) iter.Seq[PortEndpoint] {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	return func(yield func(PortEndpoint) bool) {
		seen := map[netip.AddrPort]bool{}
		for _, s := range slices {
			if s.AddressType != addrType {
				continue
			}
			port, ok := slicePort(s, name, proto)
			if !ok {
				continue
			}
			for i := range s.Endpoints {
				e := &s.Endpoints[i]
				if len(e.Addresses) == 0 {
					continue
				}
				a, err := netip.ParseAddr(e.Addresses[0])
				if err != nil || (addrType == discoveryv1.AddressTypeIPv4) != a.Is4() {
					continue
				}
				if err := CheckEndpointAddr(a); err != nil {
					if refused != nil {
						refused(s, err)
					}
					continue
				}
				ap := netip.AddrPortFrom(a, port)
				if seen[ap] {
					continue
				}
				seen[ap] = true
				if !yield(PortEndpoint{Slice: s, Endpoint: e, Addr: a, Port: port}) {
					return
				}
			}
		}
	}
}

// CountEndpoints is how many endpoints PortEndpoints yields: the number the node proxies compare
// with Limits.EndpointsPerPort.
func CountEndpoints(slices []*discoveryv1.EndpointSlice, addrType discoveryv1.AddressType, name string, proto corev1.Protocol) int {
	n := 0
	for range PortEndpoints(slices, addrType, name, proto, nil) {
		n++
	}
	return n
}

// slicePort is the target port of the Service port (name, protocol) in s; ok is false when s
// has none, or an unset or zero one.
func slicePort(s *discoveryv1.EndpointSlice, name string, proto corev1.Protocol) (port uint16, ok bool) {
	for _, p := range s.Ports {
		n, pr := "", corev1.ProtocolTCP
		if p.Name != nil {
			n = *p.Name
		}
		if p.Protocol != nil {
			pr = *p.Protocol
		}
		if n == name && pr == proto && p.Port != nil {
			return uint16(*p.Port), *p.Port != 0
		}
	}
	return 0, false
}
