package baremetal

import (
	"net/netip"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// IP plan of these tests: pools live in 198.51.100.0/24 and 203.0.113.0/24 (IPv4 documentation
// ranges) and 2001:db8::/64 (IPv6 documentation range).

// newService returns a LoadBalancer Service in namespace "default" with one TCP port 80, changed by
// tweaks, in the functional-tweak style of cloud-provider's controller tests.
func newService(name string, tweaks ...func(*v1.Service)) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			Annotations: map[string]string{}},
		Spec: v1.ServiceSpec{
			Type:       v1.ServiceTypeLoadBalancer,
			Ports:      []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}},
			Selector:   map[string]string{"app": name},
			IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
		},
	}
	for _, t := range tweaks {
		t(s)
	}
	return s
}

func withAnnotation(k, v string) func(*v1.Service) {
	return func(s *v1.Service) { s.Annotations[k] = v }
}

func withNamespace(ns string) func(*v1.Service) {
	return func(s *v1.Service) { s.Namespace = ns }
}

func withLoadBalancerIP(ip string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.LoadBalancerIP = ip }
}

func withPorts(ports ...v1.ServicePort) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.Ports = ports }
}

func withFamilies(policy v1.IPFamilyPolicy, fams ...v1.IPFamily) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.IPFamilyPolicy = &policy; s.Spec.IPFamilies = fams }
}

func withLocalTraffic() func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal }
}

func withSelector(sel map[string]string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.Selector = sel }
}

func tcp(port int32) v1.ServicePort { return v1.ServicePort{Port: port, Protocol: v1.ProtocolTCP} }
func udp(port int32) v1.ServicePort { return v1.ServicePort{Port: port, Protocol: v1.ProtocolUDP} }

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

var metaGet = metav1.GetOptions{}
