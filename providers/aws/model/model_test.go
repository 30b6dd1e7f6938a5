package model

import (
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// IP plan: VPC 10.0.0.0/16; public subnets in a/b/c, private in a/b; Pods 10.0.128.0/17.
var vpcSubnets = []Subnet{
	{ID: "subnet-pub-a", Zone: "eu-west-1a", Tags: map[string]string{TagRoleELB: "1", "Name": "public-a"}},
	{ID: "subnet-pub-a2", Zone: "eu-west-1a", Tags: map[string]string{TagRoleELB: "1", ClusterTag("test"): "shared"}},
	{ID: "subnet-pub-b", Zone: "eu-west-1b", Tags: map[string]string{TagRoleELB: ""}},
	{ID: "subnet-other", Zone: "eu-west-1c", Tags: map[string]string{TagRoleELB: "1", ClusterTag("other"): "owned"}},
	{ID: "subnet-priv-a", Zone: "eu-west-1a", Tags: map[string]string{TagRoleInternalELB: "1", "Name": "private-a"}},
	{ID: "subnet-priv-b", Zone: "eu-west-1b", Tags: map[string]string{TagRoleInternalELB: "1", "Name": "private-b"}},
}

// node is a Node in eu-west-1a with these labels and no conditions: the model reads only labels
// and provider IDs.
func node(name, id string, labels map[string]string) *v1.Node {
	n := objects.Node(name, objects.NoConditions, objects.WithProviderID("aws:///eu-west-1a/"+id))
	n.Labels = labels
	return n
}

var nodes = []*v1.Node{
	node("n1", "i-0001", map[string]string{"role": "edge"}),
	node("n2", "i-0002", nil),
	node("n3", "i-0003", map[string]string{"role": "edge"}),
	{ObjectMeta: metav1.ObjectMeta{Name: "no-provider-id"}},
}

// service is the LoadBalancer Service shop/frontend with a fixed UID, empty (non-nil) annotations,
// Cluster policy and two TCP ports, http 80 → 8080 (node port 30080) and https 443 → "tls"
// (30443); tweaks change it.
func service(tweaks ...func(*v1.Service)) *v1.Service {
	return objects.Service("shop", "frontend", append([]func(*v1.Service){
		objects.WithUID("0b5a1c2e-uid"),
		objects.WithAnnotations(),
		objects.LoadBalancer,
		objects.WithPorts(
			v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
			v1.ServicePort{Name: "https", Port: 443, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("tls"), NodePort: 30443},
		),
		objects.WithExternalTrafficPolicy(v1.ServiceExternalTrafficPolicyCluster),
	}, tweaks...)...)
}

var endpoints = []Endpoint{
	{Addr: netip.MustParseAddr("10.0.130.7"), Ports: map[string]int32{"http": 8080, "https": 8443}},
	{Addr: netip.MustParseAddr("10.0.129.3"), Ports: map[string]int32{"http": 8080, "https": 8443}},
}

func build(t *testing.T, svc *v1.Service, cfg *config.Config) (*LoadBalancer, error) {
	t.Helper()
	spec, err := annotations.Parse(svc.Annotations)
	if err != nil {
		t.Fatalf("annotations: %v", err)
	}
	if cfg == nil {
		cfg = &config.Config{}
		cfg.Default()
	}
	return Build(Input{Cluster: "test", Service: svc, Spec: spec, Nodes: nodes, Endpoints: endpoints, Subnets: vpcSubnets, Config: cfg})
}

func TestBuildGolden(t *testing.T) {
	proxyHC := &config.Config{HealthCheck: config.HealthCheckNodeProxy}
	proxyHC.Default()
	selCfg := &config.Config{NodeSelector: "role=edge"}
	selCfg.Default()
	tests := []struct {
		name string
		svc  *v1.Service
		cfg  *config.Config
	}{
		{"nlb-default", service(), nil},
		{"nlb-local", service(func(s *v1.Service) {
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 32000
		}), nil},
		{"nlb-node-proxy-health", service(), proxyHC},
		{"nlb-config-node-selector", service(), selCfg},
		{"nlb-ip-targets", service(objects.WithAnnotations(annotations.NLBTargetType, "ip")), nil},
		{"nlb-internal-tls-proxy", service(objects.WithAnnotations(
			annotations.Internal, "true",
			annotations.SSLCert, "arn:aws:acm:eu-west-1:123:certificate/abc",
			annotations.SSLPorts, "https",
			annotations.ProxyProtocol, "*",
			annotations.CrossZone, "true",
			annotations.AdditionalTags, "team=shop,cost=42",
			annotations.TargetNodeLabels, "role=edge",
		)), nil},
		{"nlb-lbc-names", service(objects.WithAnnotations(
			annotations.Type, "external",
			annotations.Scheme, "internet-facing",
			annotations.Subnets, "public-a,subnet-pub-b",
			annotations.EIPAllocations, "eipalloc-1,eipalloc-2",
			annotations.IPAddressType, "dualstack",
			annotations.TGAttributes, "deregistration_delay.timeout_seconds=30",
			annotations.LBAttributes, "deletion_protection.enabled=false",
			annotations.HCProtocol, "http",
			annotations.HCPath, "/ready",
			annotations.HCInterval, "30",
			annotations.HCSuccessCodes, "200",
		), func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/24", "2001:db8::/32"} }), nil},
		{"nlb-udp", service(func(s *v1.Service) {
			s.Spec.Ports = []v1.ServicePort{{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP, TargetPort: intstr.FromInt32(53), NodePort: 30053}}
		}), nil},
		{"clb", service(objects.WithAnnotations(
			annotations.Type, "clb",
			annotations.SSLCert, "arn:aws:acm:eu-west-1:123:certificate/abc",
			annotations.SSLPorts, "443",
			annotations.BackendProtocol, "http",
			annotations.ConnectionIdleTimeout, "120",
			annotations.ConnectionDraining, "true",
		)), nil},
		{"clb-proxy-local", service(objects.WithAnnotations(annotations.Type, "clb", annotations.ProxyProtocol, "*", annotations.Internal, "true"),
			func(s *v1.Service) {
				s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
				s.Spec.HealthCheckNodePort = 32000
			}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lb, err := build(t, tc.svc, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(lb, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("model differs from %s (-want +got):\n%s", path, d)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		svc     *v1.Service
		subnets []Subnet
		want    string
		invalid bool // an annotation error
	}{
		{"unknown subnet", service(objects.WithAnnotations(annotations.Subnets, "nope")), vpcSubnets, "subnet-pub-a (public-a)", true},
		{"no tagged subnet", service(), nil, "kubernetes.io/role/elb=1", false},
		{"eip count", service(objects.WithAnnotations(annotations.EIPAllocations, "eipalloc-1")), vpcSubnets, "one allocation per subnet", true},
		{"bad source range", service(func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.300/8"} }), vpcSubnets, "CIDR prefixes", true},
		{"sctp", service(func(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolSCTP }), vpcSubnets, "accepted: TCP, UDP", false},
		{"no node port", service(func(s *v1.Service) { s.Spec.Ports[0].NodePort = 0 }), vpcSubnets, "nlb-target-type: ip", false},
		{"clb udp", service(objects.WithAnnotations(annotations.Type, "clb"), func(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolUDP }), vpcSubnets, "accepted: TCP", false},
		{"cross-zone conflict", service(objects.WithAnnotations(annotations.CrossZone, "true", annotations.LBAttributes, "load_balancing.cross_zone.enabled=false")), vpcSubnets, "agrees with", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := annotations.Parse(tc.svc.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			cfg := &config.Config{}
			cfg.Default()
			_, err = Build(Input{Cluster: "test", Service: tc.svc, Spec: spec, Nodes: nodes, Subnets: tc.subnets, Config: cfg})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if got := annotations.IsInvalid(err); got != tc.invalid {
				t.Errorf("IsInvalid = %v, want %v", got, tc.invalid)
			}
			if tc.name == "no tagged subnet" && !errors.Is(err, ErrNoSubnets) {
				t.Errorf("error %v is not ErrNoSubnets", err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	long := Owner{Namespace: "a-very-long-namespace-name", Name: "and-an-even-longer-service-name", UID: "u1"}
	for _, n := range []string{lbName("c", long, "nlb"), tgName("k8s-x", long, "TCP", "30080", "instance", "ipv4", "80")} {
		if len(n) > 32 || !strings.HasPrefix(n, "k8s-a-very-") {
			t.Errorf("name %q: want ≤ 32 characters starting with the namespace", n)
		}
	}
	a := lbName("c", long, "nlb")
	if a == lbName("c", long, "clb") || a == lbName("c", Owner{Namespace: long.Namespace, Name: long.Name, UID: "u2"}, "nlb") {
		t.Error("type and UID must change the load-balancer name")
	}
	if a != lbName("c", long, "nlb") {
		t.Error("names must be deterministic")
	}
}

func TestInstanceID(t *testing.T) {
	for in, want := range map[string]string{"aws:///eu-west-1a/i-0abc": "i-0abc", "aws://eu-west-1a/i-1": "i-1", "gce://x/y": "", "aws:///zone/": ""} {
		got, err := InstanceID(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("InstanceID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
