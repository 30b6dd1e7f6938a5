package served

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func ptr[T any](v T) *T { return &v }

// lb is a LoadBalancer Service ns/name with these ingress IPs; tweaks change it.
func lb(name string, ips []string, tweaks ...func(*corev1.Service)) *corev1.Service {
	return objects.Service("ns", name, append([]func(*corev1.Service){objects.LoadBalancer, objects.WithIngressIPs(ips...)}, tweaks...)...)
}

func nn(name string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: name} }

func TestClasses(t *testing.T) {
	ours := Classes{Names: []string{"frontdesk.dev/lb"}, Unset: true}
	classOnly := Classes{Names: []string{"frontdesk.dev/lb"}}
	for _, tt := range []struct {
		name      string
		svc       *corev1.Service
		ours, cls bool
	}{
		{"unset class", lb("a", nil), true, false},
		{"our class", lb("a", nil, objects.WithClass("frontdesk.dev/lb")), true, true},
		{"another class", lb("a", nil, objects.WithClass("example.com/lb")), false, false},
		{"NodePort", lb("a", nil, objects.WithType(corev1.ServiceTypeNodePort)), false, false},
		{"nil", nil, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ours.Wants(tt.svc); got != tt.ours {
				t.Errorf("Wants with the unset class = %v, want %v", got, tt.ours)
			}
			if got := classOnly.Wants(tt.svc); got != tt.cls {
				t.Errorf("Wants without the unset class = %v, want %v", got, tt.cls)
			}
		})
	}
}

func TestIngressAddr(t *testing.T) {
	for _, tt := range []struct {
		ing  corev1.LoadBalancerIngress
		want string // "" when refused
	}{
		{corev1.LoadBalancerIngress{IP: "192.0.2.1"}, "192.0.2.1"},
		{corev1.LoadBalancerIngress{IP: "2001:db8::1"}, "2001:db8::1"},
		{corev1.LoadBalancerIngress{IP: "::ffff:192.0.2.1"}, "192.0.2.1"},
		{corev1.LoadBalancerIngress{Hostname: "lb.example.com"}, ""},
		{corev1.LoadBalancerIngress{IP: "192.0.2.300"}, ""},
		{corev1.LoadBalancerIngress{IP: "fe80::1%eth0"}, ""},
	} {
		got, ok := IngressAddr(tt.ing)
		if tt.want == "" {
			if ok {
				t.Errorf("IngressAddr(%+v) = %s, want refused", tt.ing, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("IngressAddr(%+v) = %s, %v, want %s", tt.ing, got, ok, tt.want)
		}
	}
}

func TestByAddress(t *testing.T) {
	svcs := []*corev1.Service{
		lb("web", []string{"192.0.2.1", "2001:db8::1"}, objects.LocalTraffic),
		lb("dns", []string{"192.0.2.1"}),
		lb("twice", []string{"192.0.2.2", "::ffff:192.0.2.2"}),
		lb("other", []string{"192.0.2.3"}, objects.WithClass("example.com/lb")),
		lb("named", nil, objects.WithIngress(corev1.LoadBalancerIngress{Hostname: "lb.example.com"})),
		nil,
	}
	got := ByAddress(svcs, Classes{Names: []string{"frontdesk.dev/lb"}, Unset: true})
	want := map[netip.Addr]*Group{
		netip.MustParseAddr("192.0.2.1"):   {Services: []types.NamespacedName{nn("dns"), nn("web")}, Local: []types.NamespacedName{nn("web")}},
		netip.MustParseAddr("2001:db8::1"): {Services: []types.NamespacedName{nn("web")}, Local: []types.NamespacedName{nn("web")}},
		netip.MustParseAddr("192.0.2.2"):   {Services: []types.NamespacedName{nn("twice")}},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("ByAddress (-want +got):\n%s", d)
	}
}
