package aws_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	frontdeskaws "github.com/frontdesk-lb/frontdesk/providers/aws"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// TestTypeChanges: a change AWS cannot make in place gives a new resource,
// the status moves to it, and the old one is gone after the same call.
func TestTypeChanges(t *testing.T) {
	pods := []model.Endpoint{{Addr: mustAddr("10.0.11.20"), Ports: map[string]int32{"http": 8080, "https": 8443}}}
	e := newEnv(t, envOption{endpoints: pods})
	steps := []struct {
		name  string
		set   func(*v1.Service)
		kinds string
		check func(t *testing.T, host string)
	}{
		{"nlb", func(*v1.Service) {}, "listener=2 load-balancer=1 security-group=1 target-group=2", nil},
		{"nlb to ip targets", objects.WithAnnotations(annotations.NLBTargetType, "ip"), "listener=2 load-balancer=1 security-group=1 target-group=2",
			nil},
		{"nlb to clb", func(s *v1.Service) {
			delete(s.Annotations, annotations.NLBTargetType)
			s.Annotations[annotations.Type] = "clb"
		}, "classic-load-balancer=1 security-group=1", func(t *testing.T, host string) {
			if !strings.HasSuffix(host, "."+region+".elb.amazonaws.com") {
				t.Errorf("hostname %q is not a classic load balancer's", host)
			}
		}},
		{"clb internal", objects.WithAnnotations(annotations.Internal, "true"), "classic-load-balancer=1 security-group=1", nil},
		{"back to nlb", func(s *v1.Service) {
			s.Annotations = map[string]string{}
		}, "listener=2 load-balancer=1 security-group=1 target-group=2", func(t *testing.T, host string) {
			if !strings.HasSuffix(host, ".elb."+region+".amazonaws.com") {
				t.Errorf("hostname %q is not an NLB's", host)
			}
		}},
	}
	svc := newService("moving")
	var prevHost string
	var prevTGs []string
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.t = t
			st.set(svc)
			e.mustEnsure(svc)
			host := svc.Status.LoadBalancer.Ingress[0].Hostname
			if got := e.kinds(); got != st.kinds {
				t.Errorf("owned resources %s, want %s", got, st.kinds)
			}
			if st.check != nil {
				st.check(t, host)
			}
			tgs := e.ids("target-group")
			if st.name == "nlb to ip targets" && (host != prevHost || overlap(tgs, prevTGs)) {
				t.Errorf("a target-type change must keep the load balancer (%s → %s) and replace the target groups (%v → %v)", prevHost, host, prevTGs, tgs)
			}
			prevHost, prevTGs = host, tgs
			e.fake.ResetCalls()
			e.mustEnsure(svc)
			if m := e.mutating(); len(m) != 0 {
				t.Errorf("resync after the change made mutating calls: %v", m)
			}
		})
	}
	e.t = t
	e.mustDelete(svc)
	if left := e.owned(); len(left) != 0 {
		t.Errorf("left after delete: %v", left)
	}
}

func (e *env) ids(kind string) []string {
	var out []string
	for _, r := range e.owned() {
		if r.Kind == kind {
			out = append(out, r.ID)
		}
	}
	return out
}

func overlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// TestCLBAnnotations checks the classic load balancer's settings in AWS.
func TestCLBAnnotations(t *testing.T) {
	e := newEnv(t, envOption{cfg: allowCerts})
	cert := certPrefix + "0e1f"
	svc := newService("classic", objects.WithAnnotations(
		annotations.Type, "clb",
		annotations.SSLCert, cert, annotations.SSLPorts, "443",
		annotations.BackendProtocol, "http",
		annotations.ProxyProtocol, "*",
		annotations.CrossZone, "true",
		annotations.ConnectionIdleTimeout, "120",
		annotations.ConnectionDraining, "true",
		annotations.DrainingTimeout, "45",
		annotations.HCHealthy, "4",
		annotations.HCInterval, "15",
		annotations.TargetNodeLabels, "role=worker",
	))
	e.mustEnsure(svc)
	ctx := context.Background()
	name := model.LoadBalancerName(cluster, svc, mustSpec(t, svc))
	out, err := e.clients.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	lb := out.LoadBalancerDescriptions[0]
	listeners := map[int32]string{}
	for _, d := range lb.ListenerDescriptions {
		l := d.Listener
		listeners[l.LoadBalancerPort] = aws.ToString(l.Protocol) + ">" + aws.ToString(l.InstanceProtocol) + ":" + itoa(aws.ToInt32(l.InstancePort)) + " " + aws.ToString(l.SSLCertificateId)
	}
	if listeners[80] != "HTTP>HTTP:30080 " || listeners[443] != "HTTPS>HTTP:30443 "+cert {
		t.Errorf("listeners %v", listeners)
	}
	if len(lb.Instances) != 2 {
		t.Errorf("instances %v, want the 2 worker nodes", lb.Instances)
	}
	if hc := lb.HealthCheck; aws.ToString(hc.Target) != "TCP:30080" || aws.ToInt32(hc.HealthyThreshold) != 4 || aws.ToInt32(hc.Interval) != 15 {
		t.Errorf("health check %+v", hc)
	}
	proxied := 0
	for _, b := range lb.BackendServerDescriptions {
		if len(b.PolicyNames) > 0 {
			proxied++
		}
	}
	if proxied != 2 {
		t.Errorf("backend policies %+v, want proxy protocol on both instance ports", lb.BackendServerDescriptions)
	}
	attrs, err := e.clients.ELB.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	a := attrs.LoadBalancerAttributes
	if !a.CrossZoneLoadBalancing.Enabled || aws.ToInt32(a.ConnectionSettings.IdleTimeout) != 120 || !a.ConnectionDraining.Enabled ||
		aws.ToInt32(a.ConnectionDraining.Timeout) != 45 {
		t.Errorf("attributes %+v %+v %+v", a.CrossZoneLoadBalancing, a.ConnectionSettings, a.ConnectionDraining)
	}
	e.fake.ResetCalls()
	e.mustEnsure(svc)
	if m := e.mutating(); len(m) != 0 {
		t.Errorf("unchanged resync made mutating calls: %v", m)
	}
	e.nodes = e.nodes[:2]
	e.fake.ResetCalls()
	e.mustEnsure(svc)
	if m := e.mutating(); len(m) != 1 || m[0] != "elb:DeregisterInstancesFromLoadBalancer" {
		t.Errorf("node removal: mutating calls %v", m)
	}
	svc.Annotations[annotations.AdditionalTags] = "team=shop"
	e.fake.ResetCalls()
	e.mustEnsure(svc)
	if m := strings.Join(e.mutating(), " "); m != "ec2:CreateTags elb:AddTags" {
		t.Errorf("new tags: mutating calls %s", m)
	}
	e.mustDelete(svc)
	if left := e.owned(); len(left) != 0 {
		t.Errorf("left after delete: %v", left)
	}
}

func mustSpec(t *testing.T, svc *v1.Service) *annotations.Spec {
	t.Helper()
	s, err := annotations.Parse(svc.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestInPlaceUpdates: changes AWS can make in place keep the load balancer
// and touch only what changed.
func TestInPlaceUpdates(t *testing.T) {
	e := newEnv(t, envOption{cfg: allowCerts})
	cert := certPrefix + "0e1f"
	svc := newService("updated")
	e.mustEnsure(svc)
	host := svc.Status.LoadBalancer.Ingress[0].Hostname
	steps := []struct {
		name string
		set  func(*v1.Service)
		want []string // mutating calls, in order
	}{
		{"subnets", objects.WithAnnotations(annotations.Subnets, "public-a"), []string{"elbv2:SetSubnets"}},
		{"health check", objects.WithAnnotations(annotations.HCInterval, "30"), []string{"elbv2:ModifyTargetGroup", "elbv2:ModifyTargetGroup"}},
		{"cross zone", objects.WithAnnotations(annotations.CrossZone, "true"), []string{"elbv2:ModifyLoadBalancerAttributes"}},
		{"proxy protocol", objects.WithAnnotations(annotations.ProxyProtocol, "*"), []string{"elbv2:ModifyTargetGroupAttributes", "elbv2:ModifyTargetGroupAttributes"}},
		{"tls on 443", objects.WithAnnotations(annotations.SSLCert, cert, annotations.SSLPorts, "443"), []string{"elbv2:ModifyListener"}},
		{"source ranges", func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"198.51.100.0/24"} },
			[]string{"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"}},
		{"tags", objects.WithAnnotations(annotations.AdditionalTags, "team=shop"), []string{"ec2:CreateTags", "elbv2:AddTags", "elbv2:AddTags", "elbv2:AddTags"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.t = t
			st.set(svc)
			e.fake.ResetCalls()
			e.mustEnsure(svc)
			if got := e.mutating(); strings.Join(got, " ") != strings.Join(st.want, " ") {
				t.Errorf("mutating calls %v, want %v", got, st.want)
			}
			if h := svc.Status.LoadBalancer.Ingress[0].Hostname; h != host {
				t.Errorf("hostname moved from %s to %s", host, h)
			}
			e.fake.ResetCalls()
			e.mustEnsure(svc)
			if m := e.mutating(); len(m) != 0 {
				t.Errorf("resync after the change made mutating calls: %v", m)
			}
		})
	}
	e.t = t
	e.mustDelete(svc)
	if left := e.owned(); len(left) != 0 {
		t.Errorf("left after delete: %v", left)
	}
}

// TestIPTargetsFollowEndpoints: the provider asks the service controller to
// follow the endpoints of an ip-target NLB only, and the EnsureLoadBalancer a
// change of endpoints brings touches only the targets.
func TestIPTargetsFollowEndpoints(t *testing.T) {
	pods := []model.Endpoint{{Addr: mustAddr("10.0.11.20"), Ports: map[string]int32{"http": 8080, "https": 8443}}}
	e := newEnv(t, envOption{})
	e.cloud = frontdeskaws.New(e.cfg, e.clients, frontdeskaws.Options{
		Endpoints: func(string, string) ([]model.Endpoint, error) { return pods, nil },
	})
	for _, tc := range []struct {
		name string
		svc  *v1.Service
		want bool
	}{
		{"nlb ip", newService("pods", objects.WithAnnotations(annotations.NLBTargetType, "ip")), true},
		{"nlb-ip shorthand", newService("shorthand", objects.WithAnnotations(annotations.Type, "nlb-ip")), true},
		{"nlb instance", newService("nodes"), false},
		{"classic", newService("classic", objects.WithAnnotations(annotations.Type, "clb")), false},
		{"bad annotation", newService("bad", objects.WithAnnotations(annotations.NLBTargetType, "ip"), objects.WithAnnotations(annotations.Scheme, "sideways")), false},
	} {
		if got := e.cloud.FollowsEndpoints(tc.svc); got != tc.want {
			t.Errorf("%s: FollowsEndpoints = %v, want %v", tc.name, got, tc.want)
		}
	}
	svc := newService("pods", objects.WithAnnotations(annotations.NLBTargetType, "ip"))
	e.mustEnsure(svc)
	pods = append(pods, model.Endpoint{Addr: mustAddr("10.0.12.30"), Ports: map[string]int32{"http": 8080, "https": 8443}})
	e.fake.ResetCalls()
	e.mustEnsure(svc) // what the service controller does when the endpoints change
	if m := strings.Join(e.mutating(), " "); m != "elbv2:RegisterTargets elbv2:RegisterTargets" {
		t.Errorf("mutating calls %s, want one registration per target group", m)
	}
	if got := e.nlb(svc).targets[443]; strings.Join(got, ",") != "10.0.11.20:8443,10.0.12.30:8443" {
		t.Errorf("targets %v", got)
	}
	e.mustDelete(svc)
}

// TestBackendSecurityGroup: every load balancer carries the cluster's
// backend group, which the nodes' group admits once, however many Services.
func TestBackendSecurityGroup(t *testing.T) {
	e := newEnv(t, envOption{})
	ctx := context.Background()
	var svcs []*v1.Service
	for i, typ := range []string{"nlb", "clb", "nlb"} {
		svc := newService("be"+itoa(int32(i)), objects.WithAnnotations(annotations.Type, typ))
		if i == 2 {
			svc.Annotations[annotations.HCPort] = "10254" // outside the NodePort range
		}
		e.mustEnsure(svc)
		svcs = append(svcs, svc)
	}
	var backend string
	for _, r := range e.fake.Resources() {
		if r.Tags[model.TagResource] == "backend-security-group" {
			backend = r.ID
		}
	}
	if backend == "" {
		t.Fatal("no backend security group")
	}
	// The nodes were seeded in the VPC's default group.
	out, err := e.clients.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, p := range out.SecurityGroups[0].IpPermissions {
		for _, pair := range p.UserIdGroupPairs {
			if aws.ToString(pair.GroupId) == backend {
				rules = append(rules, aws.ToString(p.IpProtocol)+"/"+itoa(aws.ToInt32(p.FromPort))+"-"+itoa(aws.ToInt32(p.ToPort)))
			}
		}
	}
	slices.Sort(rules)
	if want := []string{"tcp/10254-10254", "tcp/30000-32767", "udp/30000-32767"}; !slices.Equal(rules, want) {
		t.Errorf("node group rules for the backend group %v, want %v", rules, want)
	}
	for _, svc := range svcs {
		e.mustDelete(svc)
	}
	if left := e.owned(); len(left) != 0 {
		t.Errorf("left after delete: %v", left)
	}
}
