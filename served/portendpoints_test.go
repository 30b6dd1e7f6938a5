package served

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// TestPortEndpoints: the counting rule of the endpoint cap, on the cases where a count of the
// slices' entries says more.
func TestPortEndpoints(t *testing.T) {
	at := func(addrs ...string) discoveryv1.Endpoint { return objects.Endpoint(objects.Addresses(addrs...)) }
	slice := func(name string, af discoveryv1.AddressType, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return objects.EndpointSlice("a", name, "web", objects.WithAddressType(af),
			objects.WithEndpointPorts(objects.EndpointPort("http", corev1.ProtocolTCP, port)), objects.WithEndpoints(eps...))
	}
	slices := []*discoveryv1.EndpointSlice{
		slice("web-1", discoveryv1.AddressTypeIPv4, 8080, at("10.0.0.1"), at("10.0.0.2", "10.0.0.9"), at("10.0.0.1"), at("127.0.0.1"), at("fd00::1")),
		// The same Pod in a second slice: counted once. The same address with another target
		// port (a Pod listed under both ports during a rollout of targetPort) is another endpoint.
		slice("web-2", discoveryv1.AddressTypeIPv4, 8080, at("10.0.0.2"), at("x")),
		slice("web-3", discoveryv1.AddressTypeIPv4, 9090, at("10.0.0.2")),
		slice("web-4", discoveryv1.AddressTypeIPv4, 0, at("10.0.0.3")),
		slice("web-6", discoveryv1.AddressTypeIPv6, 8080, at("fd00::1"), at("::ffff:10.0.0.4"), at("fe80::1")),
	}
	var refused []error
	var got []netip.AddrPort
	for pe := range PortEndpoints(slices, discoveryv1.AddressTypeIPv4, "http", corev1.ProtocolTCP, func(_ *discoveryv1.EndpointSlice, err error) {
		refused = append(refused, err)
	}) {
		got = append(got, netip.AddrPortFrom(pe.Addr, pe.Port))
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:8080"), netip.MustParseAddrPort("10.0.0.2:8080"), netip.MustParseAddrPort("10.0.0.2:9090")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("IPv4 (-want +got):\n%s", diff)
	}
	if len(refused) != 1 || !errors.Is(refused[0], ErrForbiddenEndpoint) {
		t.Errorf("refused %v, want 127.0.0.1 only", refused)
	}
	if n := CountEndpoints(slices, discoveryv1.AddressTypeIPv4, "http", ""); n != 3 {
		t.Errorf("CountEndpoints(IPv4, protocol unset) = %d, want 3", n)
	}
	if n := CountEndpoints(slices, discoveryv1.AddressTypeIPv6, "http", corev1.ProtocolTCP); n != 2 {
		t.Errorf("CountEndpoints(IPv6) = %d, want 2 (fd00::1 and ::ffff:10.0.0.4; fe80::1 refused)", n)
	}
	if n := CountEndpoints(slices, discoveryv1.AddressTypeIPv4, "http", corev1.ProtocolUDP); n != 0 {
		t.Errorf("CountEndpoints(UDP) = %d, want 0", n)
	}
}
