package nodeproxy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/served"
)

// testWatcher is a Watcher with small caps whose handlers the tests call.
func testWatcher(rec record.EventRecorder, allowed ...string) *Watcher {
	cfg := Config{Recorder: rec, Limits: served.Limits{Ports: 3, EndpointsPerPort: 2}, Logger: klog.Background()}
	for _, a := range allowed {
		cfg.AllowedExternalIPCIDRs = append(cfg.AllowedExternalIPCIDRs, netip.MustParsePrefix(a))
	}
	return newWatcher(cfg)
}

func service(ns, name, clusterIP string, tweaks ...func(*v1.Service)) *v1.Service {
	return objects.Service(ns, name, append([]func(*v1.Service){func(s *v1.Service) {
		s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs = v1.ServiceTypeClusterIP, clusterIP, []string{clusterIP}
	}, objects.WithPorts(v1.ServicePort{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53})}, tweaks...)...)
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestHijackerIsToldOnce: the tenant whose externalIP names cluster DNS's ClusterIP gets one
// Warning, without kube-dns's name or namespace, whichever arrives first; a resync repeats
// nothing; the owner is never warned.
func TestHijackerIsToldOnce(t *testing.T) {
	dns := service("kube-system", "kube-dns", "10.96.0.10")
	evil := service("a", "evil", "10.96.0.99", func(s *v1.Service) { s.Spec.ExternalIPs = []string{"10.96.0.10"} })
	want := []string{"Warning AddressNotProgrammed externalIP 10.96.0.10 is not programmed by the node proxies: " +
		"it is the ClusterIP of a Service in another namespace"}
	for _, order := range [][]*v1.Service{{dns, evil}, {evil, dns}} {
		t.Run(order[0].Name+" first", func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			w := testWatcher(rec, "10.0.0.0/8")
			for _, s := range order {
				w.setService(s)
			}
			if diff := cmp.Diff(want, drain(rec)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			w.setService(evil)
			w.setService(dns)
			if got := drain(rec); len(got) != 0 {
				t.Errorf("a resync sent %v", got)
			}
			// Once kube-dns is gone the address is free; when it comes back the tenant is told again.
			w.deleteService(cache.DeletedFinalStateUnknown{Key: "kube-system/kube-dns", Obj: dns})
			if got := drain(rec); len(got) != 0 {
				t.Errorf("kube-dns deleted: %v", got)
			}
			w.setService(dns)
			if diff := cmp.Diff(want, drain(rec)); diff != "" {
				t.Errorf("kube-dns back: events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExternalIPOutsideTheAllowedCIDRs(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	w := testWatcher(rec)
	w.setService(service("a", "web", "10.96.0.1", func(s *v1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.1"} }))
	want := []string{"Warning AddressNotProgrammed externalIP 198.51.100.1 is not programmed by the node proxies: " +
		"it is outside the allowed external IP CIDRs (--allowed-external-ip-cidrs)"}
	if diff := cmp.Diff(want, drain(rec)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestLimits(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	w := testWatcher(rec)
	many := service("a", "many", "10.96.0.1", func(s *v1.Service) {
		for i := range 3 {
			s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: fmt.Sprint(i), Protocol: v1.ProtocolTCP, Port: int32(80 + i)})
		}
	})
	w.setService(many)
	want := []string{"Warning TooManyPorts the Service has 4 ports, more than the node proxies' cap of 3 (--max-ports-per-service): it is not programmed on any node"}
	if diff := cmp.Diff(want, drain(rec)); diff != "" {
		t.Errorf("ports: events (-want +got):\n%s", diff)
	}

	w.setService(service("a", "dns", "10.96.0.2"))
	slice := func(name string, addrs ...string) *discovery.EndpointSlice {
		es := objects.EndpointSlice("a", name, "dns", objects.WithEndpointPorts(objects.EndpointPort("dns", v1.ProtocolUDP, 5353)))
		for _, a := range addrs {
			es.Endpoints = append(es.Endpoints, objects.Endpoint(objects.Addresses(a)))
		}
		return es
	}
	w.setSlice(slice("dns-1", "10.244.0.1", "10.244.0.2"), false)
	if got := drain(rec); len(got) != 0 {
		t.Errorf("at the cap: %v", got)
	}
	w.setSlice(slice("dns-2", "10.244.0.3"), false)
	want = []string{"Warning TooManyEndpoints port UDP/53 has 3 endpoints, more than the node proxies' cap of 2 (--max-endpoints-per-service-port): only 2 of them receive traffic"}
	if diff := cmp.Diff(want, drain(rec)); diff != "" {
		t.Errorf("endpoints: events (-want +got):\n%s", diff)
	}
	w.setSlice(slice("dns-2", "10.244.0.3", "10.244.0.4"), false)
	if got := drain(rec); len(got) != 0 {
		t.Errorf("still over the cap, told again: %v", got)
	}
}

// TestEndpointsCountedAsTheProxyCounts: the Event counts a port's endpoints as the node proxies
// cap them (served.CountEndpoints), not the slices' entries. Each slice list below has at most
// the cap's two usable endpoints of UDP/53, and the proxies program all of them; the controller
// used to count every entry and warn of 3 or 4.
func TestEndpointsCountedAsTheProxyCounts(t *testing.T) {
	dns := func(name string, eps ...discovery.Endpoint) *discovery.EndpointSlice {
		return objects.EndpointSlice("a", name, "dns", objects.WithEndpointPorts(objects.EndpointPort("dns", v1.ProtocolUDP, 5353)),
			objects.WithEndpoints(eps...))
	}
	at := func(addrs ...string) discovery.Endpoint { return objects.Endpoint(objects.Addresses(addrs...)) }
	for _, tc := range []struct {
		name   string
		slices []*discovery.EndpointSlice
	}{
		// The EndpointSlice controller moving endpoints between slices lists them in both for a while.
		{"the same endpoints in two slices", []*discovery.EndpointSlice{
			dns("dns-1", at("10.244.0.1"), at("10.244.0.2")), dns("dns-2", at("10.244.0.2"), at("10.244.0.1"))}},
		{"an address listed twice", []*discovery.EndpointSlice{
			dns("dns-1", at("10.244.0.1"), at("10.244.0.2"), at("10.244.0.1"))}},
		{"forbidden and unparsable addresses", []*discovery.EndpointSlice{
			dns("dns-1", at("10.244.0.1"), at("127.0.0.1"), at("169.254.169.254"), at("not-an-ip"), at("10.244.0.2"))}},
		// An unset port is one no proxy can forward to.
		{"a slice without the port's number", []*discovery.EndpointSlice{
			dns("dns-1", at("10.244.0.1"), at("10.244.0.2")),
			objects.EndpointSlice("a", "dns-2", "dns", objects.WithEndpointPorts(discovery.EndpointPort{Name: ptr.To("dns"), Protocol: ptr.To(v1.ProtocolUDP)}),
				objects.WithEndpoints(at("10.244.0.3")))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			w := testWatcher(rec)
			w.setService(service("a", "dns", "10.96.0.2"))
			for _, es := range tc.slices {
				w.setSlice(es, false)
			}
			if got := drain(rec); len(got) != 0 {
				t.Errorf("two usable endpoints, at the cap: %v", got)
			}
		})
	}

	// Over the cap, the Event gives the proxies' count: three endpoints, one of them in two slices.
	rec := record.NewFakeRecorder(10)
	w := testWatcher(rec)
	w.setService(service("a", "dns", "10.96.0.2"))
	w.setSlice(dns("dns-1", at("10.244.0.1"), at("10.244.0.2")), false)
	w.setSlice(dns("dns-2", at("10.244.0.2"), at("10.244.0.3")), false)
	want := []string{"Warning TooManyEndpoints port UDP/53 has 3 endpoints, more than the node proxies' cap of 2 (--max-endpoints-per-service-port): only 2 of them receive traffic"}
	if diff := cmp.Diff(want, drain(rec)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
