package served

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func svcWith(ns, name, clusterIP string, tweaks ...func(*corev1.Service)) *corev1.Service {
	return objects.Service(ns, name, append([]func(*corev1.Service){func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ServiceTypeClusterIP, clusterIP, []string{clusterIP}
	}}, tweaks...)...)
}

func ext(ips ...string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ExternalIPs = ips }
}

func TestCheckAddrs(t *testing.T) {
	dns := svcWith("kube-system", "kube-dns", "10.96.0.10")
	shop := svcWith("b", "shop", "10.96.0.20", objects.LoadBalancer, objects.WithIngressIPs("203.0.113.1"))
	neighbour := svcWith("a", "web", "10.96.0.30")
	c := NewClaims()
	for _, s := range []*corev1.Service{dns, shop, neighbour} {
		c.Set(s)
	}
	allowed := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("10.96.0.0/16")}
	evil := svcWith("a", "evil", "10.96.0.99", ext("10.96.0.10", "::ffff:203.0.113.1", "10.96.0.30", "10.96.0.99", "198.51.100.1", "192.0.2.1"))
	affected := c.Set(evil)
	if len(affected) != 0 {
		t.Errorf("Set(evil) = %v: no one's verdict depends on an externalIP", affected)
	}
	var got []string
	for _, r := range c.CheckAddrs(types.NamespacedName{Namespace: "a", Name: "evil"}, allowed) {
		got = append(got, r.Message(types.NamespacedName{Namespace: "a", Name: "evil"}))
	}
	want := []string{
		"externalIP 10.96.0.10 is not programmed by the node proxies: it is the ClusterIP of a Service in another namespace",
		"externalIP 10.96.0.30 is not programmed by the node proxies: it is the ClusterIP of Service web",
		"externalIP 10.96.0.99 is not programmed by the node proxies: it is the ClusterIP of this Service",
		"externalIP 192.0.2.1 is not programmed by the node proxies: it is outside the allowed external IP CIDRs (--allowed-external-ip-cidrs)",
		"externalIP 203.0.113.1 is not programmed by the node proxies: it is the LoadBalancer IP of a Service in another namespace",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refusals (-want +got):\n%s", diff)
	}
	for _, m := range got {
		for _, secret := range []string{"kube-dns", "kube-system", "shop"} {
			if strings.Contains(m, secret) {
				t.Errorf("%q names %q, of another namespace", m, secret)
			}
		}
	}
	// The shop giving up its address frees it for the hijacker's externalIP: Set says so.
	if diff := cmp.Diff([]types.NamespacedName{{Namespace: "a", Name: "evil"}}, c.Set(svcWith("b", "shop", "10.96.0.20"))); diff != "" {
		t.Errorf("Set(shop without its LoadBalancer IP): affected (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]types.NamespacedName{{Namespace: "a", Name: "evil"}}, c.Delete(types.NamespacedName{Namespace: "kube-system", Name: "kube-dns"})); diff != "" {
		t.Errorf("Delete(kube-dns): affected (-want +got):\n%s", diff)
	}
}

// TestSharedLoadBalancerIP: Services sharing one LoadBalancer IP all hold it.
func TestSharedLoadBalancerIP(t *testing.T) {
	a := svcWith("a", "one", "10.96.0.1", objects.LoadBalancer, objects.WithIngressIPs("203.0.113.1"))
	b := svcWith("a", "two", "10.96.0.2", objects.LoadBalancer, objects.WithIngressIPs("203.0.113.1"))
	c := NewClaims()
	c.Set(a)
	c.Set(b)
	for _, s := range []*corev1.Service{a, b} {
		if r := c.CheckAddrs(types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, nil); len(r) != 0 {
			t.Errorf("%s: %v", s.Name, r)
		}
	}
}

// TestClusterIPIsNeverExternal: a Service whose own ClusterIP appears as its LoadBalancer IP or
// externalIP has neither programmed: a speaker would announce a ClusterIP.
func TestClusterIPIsNeverExternal(t *testing.T) {
	s := svcWith("a", "one", "10.96.0.1", objects.LoadBalancer, objects.WithIngressIPs("10.96.0.1"), ext("10.96.0.1"))
	c := NewClaims()
	c.Set(s)
	var got []string
	for _, r := range c.CheckAddrs(types.NamespacedName{Namespace: "a", Name: "one"}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) {
		got = append(got, r.Message(types.NamespacedName{Namespace: "a", Name: "one"}))
	}
	want := []string{
		"LoadBalancer IP 10.96.0.1 is not programmed by the node proxies: it is the ClusterIP of this Service",
		"externalIP 10.96.0.1 is not programmed by the node proxies: it is the ClusterIP of this Service",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
