package baremetal

import (
	"net/netip"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// IP plan of these tests: pools live in 198.51.100.0/24 and 203.0.113.0/24 (IPv4 documentation
// ranges) and 2001:db8::/64 (IPv6 documentation range).

// newService returns a LoadBalancer Service in namespace "default" with UID "uid-<name>", empty
// (non-nil) annotations, one TCP port 80 named http, selector app=<name> and IPv4 as its only
// family, changed by tweaks, in the functional-tweak style of cloud-provider's controller tests.
func newService(name string, tweaks ...func(*v1.Service)) *v1.Service {
	return objects.Service("default", name, append([]func(*v1.Service){
		objects.WithUID(types.UID("uid-" + name)),
		objects.WithAnnotations(),
		objects.LoadBalancer,
		objects.WithPorts(v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}),
		objects.WithSelector(map[string]string{"app": name}),
		objects.WithIPFamilies(v1.IPv4Protocol),
	}, tweaks...)...)
}

func withLoadBalancerIP(ip string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.LoadBalancerIP = ip }
}

// withFamilies sets both the family policy and the families.
func withFamilies(policy v1.IPFamilyPolicy, fams ...v1.IPFamily) func(*v1.Service) {
	return func(s *v1.Service) { objects.WithIPFamilyPolicy(policy)(s); objects.WithIPFamilies(fams...)(s) }
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
