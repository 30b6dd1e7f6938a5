package proxy

import (
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// IP plan of the unit tests.
//
//	this node "node-a"          192.168.0.10, 2001:db8::10   (local addresses)
//	other node "node-b"         192.168.0.11
//	Pod network                 10.244.0.0/16, fd00:244::/32
//	  Pods on node-a            10.244.1.0/24, fd00:244:1::/64
//	  Pods on node-b            10.244.2.0/24
//	ClusterIPs                  10.96.0.0/16, fd00:96::/112
//	LoadBalancer ingress IPs    203.0.113.0/24
//	externalIPs                 198.51.100.0/24
//	external clients            172.16.0.0/16, 2001:db8:ff::/64
var (
	nodeIP   = netip.MustParseAddr("192.168.0.10")
	nodeIP6  = netip.MustParseAddr("2001:db8::10")
	client6  = netip.MustParseAddr("2001:db8:ff::5")
	podCIDR  = netip.MustParsePrefix("10.244.0.0/16")
	podCIDR6 = netip.MustParsePrefix("fd00:244::/32")
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testNode = "node-a"

// newService is a ClusterIP Service default/name at 10.96.0.1 with one TCP port, http 80 → "web";
// tweaks change it.
func newService(name string, tweaks ...func(*v1.Service)) *v1.Service {
	return objects.Service("default", name, append([]func(*v1.Service){
		objects.WithType(v1.ServiceTypeClusterIP),
		clusterIP("10.96.0.1"),
		objects.WithPorts(v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("web")}),
	}, tweaks...)...)
}

func clusterIP(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ips[0], ips }
}

func nodePort(np int32) func(*v1.Service) {
	return func(s *v1.Service) {
		if s.Spec.Type == v1.ServiceTypeClusterIP {
			s.Spec.Type = v1.ServiceTypeNodePort
		}
		s.Spec.Ports[0].NodePort = np
	}
}

func loadBalancer(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) {
		objects.LoadBalancer(s)
		objects.WithIngressIPs(ips...)(s)
	}
}

func externalLocal(hcPort int32) func(*v1.Service) {
	return func(s *v1.Service) {
		objects.LocalTraffic(s)
		s.Spec.HealthCheckNodePort = hcPort
	}
}

func internalLocal(s *v1.Service) {
	p := v1.ServiceInternalTrafficPolicyLocal
	s.Spec.InternalTrafficPolicy = &p
}

func externalIPs(ips ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.ExternalIPs = ips }
}

func affinity(seconds int32) func(*v1.Service) {
	return func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: &seconds}}
	}
}

func protocol(p v1.Protocol) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.Ports[0].Protocol = p }
}

func sourceRanges(r ...string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = r }
}

func distribution(d string) func(*v1.Service) {
	return func(s *v1.Service) { s.Spec.TrafficDistribution = &d }
}

// ep describes one endpoint of a slice.
type ep struct {
	ip          string
	node        string
	notReady    bool
	terminating bool // serving and terminating (not ready)
	zones       []string
}

// newSlice builds the EndpointSlice the controller would write for a Service with one port named
// "http" resolved to targetPort 8080.
func newSlice(svc, name string, proto v1.Protocol, eps ...ep) *discovery.EndpointSlice {
	es := objects.EndpointSlice("default", name, svc, objects.WithEndpointPorts(objects.EndpointPort("http", proto, 8080)))
	for _, e := range eps {
		if netip.MustParseAddr(e.ip).Is6() {
			es.AddressType = discovery.AddressTypeIPv6
		}
		tweaks := []func(*discovery.Endpoint){
			objects.Addresses(e.ip),
			objects.Conditions(!e.notReady && !e.terminating, !e.notReady || e.terminating, e.terminating),
		}
		if e.node != "" {
			tweaks = append(tweaks, objects.OnNode(e.node))
		}
		if e.zones != nil {
			tweaks = append(tweaks, objects.ForZones(e.zones...))
		}
		es.Endpoints = append(es.Endpoints, objects.Endpoint(tweaks...))
	}
	return es
}

// recordingConntrack is a stateless fake: it records the deletions asked for.
type recordingConntrack struct {
	mu    sync.Mutex
	flows []string
}

func (c *recordingConntrack) Delete(_ context.Context, f []FlowFilter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range f {
		c.flows = append(c.flows, x.String())
	}
	return nil
}

func (c *recordingConntrack) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.flows
	c.flows = nil
	slices.Sort(out)
	return out
}

type testProxy struct {
	*Proxy
	fakes map[knftables.Family]*knftables.Fake
	ct    *recordingConntrack
}

func newTestProxy(t *testing.T, tweak ...func(*Config)) *testProxy {
	t.Helper()
	tp := &testProxy{fakes: map[knftables.Family]*knftables.Fake{}, ct: &recordingConntrack{}}
	cfg := Config{
		NodeName:     testNode,
		ClusterCIDRs: []netip.Prefix{podCIDR, podCIDR6},
		NFTables: func(f knftables.Family, table string) (knftables.Interface, error) {
			fake := knftables.NewFake(f, table)
			tp.fakes[f] = fake
			return fake, nil
		},
		Conntrack: tp.ct,
		Listen:    nil,
		// The plan's externalIP range; kube-dns-like hijack tests put externalIPs elsewhere too.
		AllowedExternalIPCIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
	}
	for _, tw := range tweak {
		tw(&cfg)
	}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.store.setSynced()
	tp.Proxy = p
	return tp
}

func (tp *testProxy) apply(t *testing.T, objs ...any) {
	t.Helper()
	for _, o := range objs {
		switch o := o.(type) {
		case *v1.Service:
			tp.SetService(o)
		case *discovery.EndpointSlice:
			tp.store.setSlice(o)
		case *v1.Node:
			tp.store.setNode(o)
		default:
			t.Fatalf("apply: %T is not a Service, EndpointSlice or Node", o)
		}
	}
	if err := tp.Sync(context.Background()); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func (tp *testProxy) tracer(t *testing.T, f knftables.Family) *tracer {
	return newTracer(t, tp.fakes[f], f, nodeIP, nodeIP6)
}

// normalizedDump is the fake's dump with map and set elements sorted: element order is insertion
// order in the fake and means nothing to the kernel; rule order is kept.
func normalizedDump(f *knftables.Fake) string {
	var rest, elems []string
	for _, l := range strings.Split(strings.TrimSpace(f.Dump()), "\n") {
		if strings.HasPrefix(l, "add element ") {
			elems = append(elems, l)
		} else {
			rest = append(rest, l)
		}
	}
	slices.Sort(elems)
	return strings.Join(append(rest, elems...), "\n") + "\n"
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got); go test -update rewrites it:\n%s", name, diff)
	}
}

// runInBackground runs the proxy's loop until the test ends, and fails the test if Run fails.
func (tp *testProxy) runInBackground(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}
