package aws_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	frontdeskaws "github.com/frontdesk-lb/frontdesk/providers/aws"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// IP plan: VPC 10.0.0.0/16; public subnets 10.0.1.0/24 (eu-west-1a) and
// 10.0.2.0/24 (eu-west-1b), private 10.0.11.0/24 and 10.0.12.0/24; three
// nodes, two in a, one in b; Elastic IPs from 203.0.113.0/24.
const (
	region  = "eu-west-1"
	cluster = "test"
)

// certPrefix is where the tests' ACM certificates live; allowCerts lets
// Services name them (the cloud config allows no certificate by default).
const certPrefix = "arn:aws:acm:eu-west-1:123456789012:certificate/"

func allowCerts(c *config.Config) { c.Allow.CertificateARNPrefixes = []string{certPrefix} }

type env struct {
	t       testing.TB
	fake    *fakeaws.Server
	cloud   *frontdeskaws.Cloud
	cfg     *config.Config
	clients *awsapi.Clients
	nodes   []*v1.Node
	subnets map[string]string // name → ID
}

type envOption struct {
	fake      []fakeaws.Option
	limits    awsapi.Limits
	cfg       func(*config.Config)
	endpoints []model.Endpoint // every Service's ready Pods, for ip targets
}

func newEnv(t testing.TB, o envOption) *env {
	t.Helper()
	fake := fakeaws.Start(t, append([]fakeaws.Option{fakeaws.WithRegion(region)}, o.fake...)...)
	e := &env{t: t, fake: fake, subnets: map[string]string{}}
	vpc := fake.AddVPC(netip.MustParsePrefix("10.0.0.0/16"), map[string]string{"Name": "test"})
	for _, s := range []struct {
		name, zone, cidr, role string
	}{
		{"public-a", region + "a", "10.0.1.0/24", model.TagRoleELB},
		{"public-b", region + "b", "10.0.2.0/24", model.TagRoleELB},
		{"private-a", region + "a", "10.0.11.0/24", model.TagRoleInternalELB},
		{"private-b", region + "b", "10.0.12.0/24", model.TagRoleInternalELB},
	} {
		e.subnets[s.name] = fake.AddSubnet(s.zone, netip.MustParsePrefix(s.cidr),
			map[string]string{"Name": s.name, s.role: "1", model.ClusterTag(cluster): "shared"})
	}
	for i, sn := range []string{"private-a", "private-a", "private-b"} {
		id := fake.AddInstance(fakeaws.Instance{SubnetID: e.subnets[sn]})
		zone := region + "a"
		if sn == "private-b" {
			zone = region + "b"
		}
		role := "worker"
		if i == 0 {
			role = "edge"
		}
		// No conditions: the cloud reads only labels and provider IDs.
		e.nodes = append(e.nodes, objects.Node(fmt.Sprintf("node-%d", i), objects.NoConditions,
			objects.WithLabel("role", role), objects.WithProviderID("aws:///"+zone+"/"+id)))
	}
	e.cfg = &config.Config{ClusterName: cluster, Region: region, VPCID: vpc, Endpoints: map[string]string{
		config.ServiceEC2: fake.URL(), config.ServiceELB: fake.URL(), config.ServiceELBv2: fake.URL(), config.ServiceTagging: fake.URL(),
	}}
	if o.cfg != nil {
		o.cfg(e.cfg)
	}
	e.cfg.Default()
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.limits == nil {
		// Far above AWS's budget: functional tests should not wait. The
		// burst test sets real, scaled limits.
		o.limits = awsapi.Limits{"Elastic Load Balancing v2": {QPS: 5000, Burst: 5000}, "Elastic Load Balancing": {QPS: 5000, Burst: 5000}, "EC2": {QPS: 5000, Burst: 5000},
			"Resource Groups Tagging API": {QPS: 5000, Burst: 5000}}
	}
	clients, err := awsapi.New(context.Background(), e.cfg, awsapi.Options{
		Credentials: awsapi.StaticCredentials(),
		BaseBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Limits: o.limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clients = clients
	e.cloud = frontdeskaws.New(e.cfg, clients, frontdeskaws.Options{
		Endpoints: func(string, string) ([]model.Endpoint, error) { return o.endpoints, nil },
	})
	return e
}

var uidSeq int

// newService is a LoadBalancer Service shop/name with a fresh UID, empty (non-nil) annotations,
// Cluster policy and two TCP ports, http 80 → 8080 (node port 30080) and https 443 → 8443
// (30443); tweaks change it.
func newService(name string, tweaks ...func(*v1.Service)) *v1.Service {
	uidSeq++
	return objects.Service("shop", name, append([]func(*v1.Service){
		objects.WithUID(types.UID(fmt.Sprintf("uid-%s-%d", name, uidSeq))),
		objects.WithAnnotations(),
		objects.LoadBalancer,
		objects.WithPorts(
			v1.ServicePort{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(8080), NodePort: 30080},
			v1.ServicePort{Name: "https", Port: 443, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(8443), NodePort: 30443},
		),
		objects.WithExternalTrafficPolicy(v1.ServiceExternalTrafficPolicyCluster),
	}, tweaks...)...)
}

// ensure runs EnsureLoadBalancer and records the status in svc, as the
// service controller would.
func (e *env) ensure(svc *v1.Service) error {
	e.t.Helper()
	st, err := e.cloud.EnsureLoadBalancer(context.Background(), cluster, svc, e.nodes)
	if err == nil {
		svc.Status.LoadBalancer = *st
	}
	return err
}

func (e *env) mustEnsure(svc *v1.Service) {
	e.t.Helper()
	if err := e.ensure(svc); err != nil {
		e.t.Fatalf("EnsureLoadBalancer(%s): %v", svc.Name, err)
	}
}

func (e *env) mustDelete(svc *v1.Service) {
	e.t.Helper()
	if err := e.cloud.EnsureLoadBalancerDeleted(context.Background(), cluster, svc); err != nil {
		e.t.Fatalf("EnsureLoadBalancerDeleted(%s): %v", svc.Name, err)
	}
}

// owned lists the live resources tagged as owned by the cluster for a
// Service (the cluster's shared backend security group is not a Service's).
func (e *env) owned() []fakeaws.Resource {
	var out []fakeaws.Resource
	for _, r := range e.fake.Resources() {
		if r.Tags[model.ClusterTag(cluster)] == model.TagOwned && r.Tags[model.TagResource] != "backend-security-group" {
			out = append(out, r)
		}
	}
	return out
}

// kinds counts owned resources by kind ("load-balancer=1 listener=2 ...").
func (e *env) kinds() string {
	n := map[string]int{}
	for _, r := range e.owned() {
		n[r.Kind]++
	}
	var parts []string
	for k, v := range n {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// mutating returns the mutating calls since the last ResetCalls.
func (e *env) mutating() []string {
	var out []string
	for _, c := range e.fake.Calls() {
		if c.Mutating {
			out = append(out, string(c.Service)+":"+c.Action)
		}
	}
	return out
}

func (e *env) countCalls() (all, mutating int) {
	for _, c := range e.fake.Calls() {
		all++
		if c.Mutating {
			mutating++
		}
	}
	return all, mutating
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
