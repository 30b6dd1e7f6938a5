package aws_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// nlbState is what AWS holds for one Service's NLB, read back through the SDK.
type nlbState struct {
	lb        types.LoadBalancer
	attrs     map[string]string
	listeners map[int32]types.Listener
	tgs       map[int32]types.TargetGroup // by listener port
	tgAttrs   map[int32]map[string]string
	targets   map[int32][]string // "id:port", sorted
	tags      map[string]string  // the load balancer's
}

func (e *env) nlb(svc *v1.Service) nlbState {
	e.t.Helper()
	ctx := context.Background()
	ref := strings.Split(svc.Status.LoadBalancer.Ingress[0].Hostname, ".")[0]
	name := ref[:strings.LastIndex(ref, "-")]
	name = strings.TrimPrefix(name, "internal-")
	api := e.clients.ELBv2
	lbs, err := api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{name}})
	if err != nil {
		e.t.Fatal(err)
	}
	st := nlbState{lb: lbs.LoadBalancers[0], attrs: map[string]string{}, listeners: map[int32]types.Listener{},
		tgs: map[int32]types.TargetGroup{}, tgAttrs: map[int32]map[string]string{}, targets: map[int32][]string{}, tags: map[string]string{}}
	arn := st.lb.LoadBalancerArn
	a, err := api.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: arn})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, x := range a.Attributes {
		st.attrs[aws.ToString(x.Key)] = aws.ToString(x.Value)
	}
	tags, err := api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{aws.ToString(arn)}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tg := range tags.TagDescriptions[0].Tags {
		st.tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	ls, err := api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: arn})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, l := range ls.Listeners {
		port := aws.ToInt32(l.Port)
		st.listeners[port] = l
		tgARN := l.DefaultActions[0].TargetGroupArn
		tgs, err := api.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{aws.ToString(tgARN)}})
		if err != nil {
			e.t.Fatal(err)
		}
		st.tgs[port] = tgs.TargetGroups[0]
		ta, err := api.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: tgARN})
		if err != nil {
			e.t.Fatal(err)
		}
		st.tgAttrs[port] = map[string]string{}
		for _, x := range ta.Attributes {
			st.tgAttrs[port][aws.ToString(x.Key)] = aws.ToString(x.Value)
		}
		th, err := api.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tgARN})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, d := range th.TargetHealthDescriptions {
			st.targets[port] = append(st.targets[port], aws.ToString(d.Target.Id)+":"+itoa(aws.ToInt32(d.Target.Port)))
		}
		slices.Sort(st.targets[port])
	}
	return st
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func subnetsOf(lb types.LoadBalancer) []string {
	var out []string
	for _, az := range lb.AvailabilityZones {
		out = append(out, aws.ToString(az.SubnetId))
	}
	slices.Sort(out)
	return out
}

// TestAnnotationsEndToEnd checks every NLB annotation by what it does to AWS.
func TestAnnotationsEndToEnd(t *testing.T) {
	pods := []model.Endpoint{
		{Addr: netip.MustParseAddr("10.0.11.20"), Ports: map[string]int32{"http": 8080, "https": 8443}},
		{Addr: netip.MustParseAddr("10.0.12.30"), Ports: map[string]int32{"http": 8080, "https": 8443}},
	}
	e := newEnv(t, envOption{endpoints: pods, cfg: func(c *config.Config) {
		allowCerts(c)
		c.Allow.EIPAllocationTags = map[string]string{"eip-for": "{namespace}"}
		c.Allow.LoadBalancerAttributes = []string{config.AnyKey}
	}})
	eipA := e.fake.AddEIP(netip.MustParseAddr("203.0.113.10"), map[string]string{"eip-for": "shop"})
	eipB := e.fake.AddEIP(netip.MustParseAddr("203.0.113.11"), map[string]string{"eip-for": "shop"})
	cert := certPrefix + "0e1f"
	pub := []string{e.subnets["public-a"], e.subnets["public-b"]}
	priv := []string{e.subnets["private-a"], e.subnets["private-b"]}
	slices.Sort(pub)
	slices.Sort(priv)
	tests := []struct {
		name  string
		ann   []string
		tweak func(*v1.Service)
		check func(t *testing.T, st nlbState)
	}{
		{"defaults", nil, nil, func(t *testing.T, st nlbState) {
			if st.lb.Type != types.LoadBalancerTypeEnumNetwork || st.lb.Scheme != types.LoadBalancerSchemeEnumInternetFacing ||
				!slices.Equal(subnetsOf(st.lb), pub) || st.attrs["load_balancing.cross_zone.enabled"] != "false" {
				t.Errorf("load balancer %+v attrs %v", st.lb, st.attrs)
			}
			if tg := st.tgs[80]; tg.TargetType != types.TargetTypeEnumInstance || aws.ToInt32(tg.Port) != 30080 ||
				tg.HealthCheckProtocol != types.ProtocolEnumTcp || aws.ToString(tg.HealthCheckPort) != "traffic-port" {
				t.Errorf("target group %+v", tg)
			}
			if len(st.targets[80]) != 3 {
				t.Errorf("targets %v", st.targets[80])
			}
		}},
		{"type external", []string{annotations.Type, "external"}, nil, func(t *testing.T, st nlbState) {
			if st.lb.Type != types.LoadBalancerTypeEnumNetwork {
				t.Errorf("type %s", st.lb.Type)
			}
		}},
		{"internal", []string{annotations.Internal, "true"}, nil, func(t *testing.T, st nlbState) {
			if st.lb.Scheme != types.LoadBalancerSchemeEnumInternal || !slices.Equal(subnetsOf(st.lb), priv) {
				t.Errorf("scheme %s subnets %v", st.lb.Scheme, subnetsOf(st.lb))
			}
		}},
		{"scheme internal", []string{annotations.Scheme, "internal"}, nil, func(t *testing.T, st nlbState) {
			if st.lb.Scheme != types.LoadBalancerSchemeEnumInternal {
				t.Errorf("scheme %s", st.lb.Scheme)
			}
		}},
		{"subnets and eips", []string{annotations.Subnets, "public-a," + e.subnets["public-b"], annotations.EIPAllocations, eipA + "," + eipB}, nil,
			func(t *testing.T, st nlbState) {
				var allocs []string
				for _, az := range st.lb.AvailabilityZones {
					for _, a := range az.LoadBalancerAddresses {
						allocs = append(allocs, aws.ToString(a.AllocationId))
					}
				}
				slices.Sort(allocs)
				want := []string{eipA, eipB}
				slices.Sort(want)
				if !slices.Equal(subnetsOf(st.lb), pub) || !slices.Equal(allocs, want) {
					t.Errorf("subnets %v allocations %v", subnetsOf(st.lb), allocs)
				}
			}},
		{"tls", []string{annotations.SSLCert, cert, annotations.SSLPorts, "https", annotations.SSLNegotiationPolicy, "ELBSecurityPolicy-TLS13-1-2-2021-06",
			annotations.BackendProtocol, "ssl"}, nil, func(t *testing.T, st nlbState) {
			l := st.listeners[443]
			if l.Protocol != types.ProtocolEnumTls || len(l.Certificates) != 1 || aws.ToString(l.Certificates[0].CertificateArn) != cert ||
				aws.ToString(l.SslPolicy) != "ELBSecurityPolicy-TLS13-1-2-2021-06" || st.listeners[80].Protocol != types.ProtocolEnumTcp {
				t.Errorf("listeners %+v", st.listeners)
			}
			if st.tgs[443].Protocol != types.ProtocolEnumTls {
				t.Errorf("backend protocol %s", st.tgs[443].Protocol)
			}
		}},
		{"proxy protocol", []string{annotations.ProxyProtocol, "*"}, nil, func(t *testing.T, st nlbState) {
			if st.tgAttrs[80]["proxy_protocol_v2.enabled"] != "true" || st.tgAttrs[443]["proxy_protocol_v2.enabled"] != "true" {
				t.Errorf("attributes %v", st.tgAttrs)
			}
		}},
		{"health check", []string{annotations.HCProtocol, "HTTP", annotations.HCPort, "10254", annotations.HCPath, "/ready",
			annotations.HCHealthy, "4", annotations.HCUnhealthy, "5", annotations.HCInterval, "30", annotations.HCTimeout, "8",
			annotations.HCSuccessCodes, "200-299"}, nil, func(t *testing.T, st nlbState) {
			tg := st.tgs[80]
			if tg.HealthCheckProtocol != types.ProtocolEnumHttp || aws.ToString(tg.HealthCheckPort) != "10254" ||
				aws.ToString(tg.HealthCheckPath) != "/ready" || aws.ToInt32(tg.HealthyThresholdCount) != 4 ||
				aws.ToInt32(tg.UnhealthyThresholdCount) != 5 || aws.ToInt32(tg.HealthCheckIntervalSeconds) != 30 ||
				aws.ToInt32(tg.HealthCheckTimeoutSeconds) != 8 || tg.Matcher == nil || aws.ToString(tg.Matcher.HttpCode) != "200-299" {
				t.Errorf("health check %+v", tg)
			}
		}},
		{"local traffic policy", nil, func(s *v1.Service) {
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 32100
		}, func(t *testing.T, st nlbState) {
			tg := st.tgs[443]
			if tg.HealthCheckProtocol != types.ProtocolEnumHttp || aws.ToString(tg.HealthCheckPort) != "32100" || aws.ToString(tg.HealthCheckPath) != "/healthz" {
				t.Errorf("health check %+v", tg)
			}
		}},
		{"cross zone and attributes", []string{annotations.CrossZone, "true", annotations.LBAttributes, "access_logs.s3.enabled=false",
			annotations.TGAttributes, "deregistration_delay.timeout_seconds=30"}, nil, func(t *testing.T, st nlbState) {
			if st.attrs["load_balancing.cross_zone.enabled"] != "true" || st.tgAttrs[80]["deregistration_delay.timeout_seconds"] != "30" {
				t.Errorf("attributes %v %v", st.attrs, st.tgAttrs[80])
			}
		}},
		{"additional tags", []string{annotations.AdditionalTags, "team=shop,cost-centre=42"}, nil, func(t *testing.T, st nlbState) {
			if st.tags["team"] != "shop" || st.tags["cost-centre"] != "42" || st.tags[model.ClusterTag(cluster)] != "owned" {
				t.Errorf("tags %v", st.tags)
			}
		}},
		{"dualstack", []string{annotations.IPAddressType, "dualstack"}, nil, func(t *testing.T, st nlbState) {
			if st.lb.IpAddressType != types.IpAddressTypeDualstack {
				t.Errorf("address type %s", st.lb.IpAddressType)
			}
		}},
		{"target node labels", []string{annotations.TargetNodeLabels, "role=edge"}, nil, func(t *testing.T, st nlbState) {
			if len(st.targets[80]) != 1 {
				t.Errorf("targets %v, want the one edge node", st.targets[80])
			}
		}},
		{"ip targets", []string{annotations.NLBTargetType, "ip"}, nil, func(t *testing.T, st nlbState) {
			want := []string{"10.0.11.20:8443", "10.0.12.30:8443"}
			if st.tgs[443].TargetType != types.TargetTypeEnumIp || !slices.Equal(st.targets[443], want) {
				t.Errorf("target type %s targets %v, want %v", st.tgs[443].TargetType, st.targets[443], want)
			}
		}},
		{"nlb-ip shorthand", []string{annotations.Type, "nlb-ip"}, nil, func(t *testing.T, st nlbState) {
			if st.tgs[80].TargetType != types.TargetTypeEnumIp {
				t.Errorf("target type %s", st.tgs[80].TargetType)
			}
		}},
		{"source ranges", nil, func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"198.51.100.0/24"} },
			func(t *testing.T, st nlbState) {
				out, err := e.clients.EC2.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{GroupIds: st.lb.SecurityGroups})
				if err != nil {
					t.Fatal(err)
				}
				var rules []string
				for _, g := range out.SecurityGroups {
					for _, p := range g.IpPermissions {
						for _, r := range p.IpRanges {
							rules = append(rules, aws.ToString(p.IpProtocol)+"/"+itoa(aws.ToInt32(p.FromPort))+" "+aws.ToString(r.CidrIp))
						}
					}
				}
				slices.Sort(rules)
				if want := []string{"tcp/443 198.51.100.0/24", "tcp/80 198.51.100.0/24"}; !slices.Equal(rules, want) {
					t.Errorf("rules of the load balancer's groups %v, want %v", rules, want)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tweaks := []func(*v1.Service){objects.WithAnnotations(tc.ann...)}
			if tc.tweak != nil {
				tweaks = append(tweaks, tc.tweak)
			}
			e.t = t
			svc := newService("ann", tweaks...)
			e.mustEnsure(svc)
			tc.check(t, e.nlb(svc))
			e.fake.ResetCalls()
			e.mustEnsure(svc)
			if m := e.mutating(); len(m) != 0 {
				t.Errorf("a resync made mutating calls: %v", m)
			}
			e.mustDelete(svc)
			if left := e.owned(); len(left) != 0 {
				t.Errorf("left after delete: %v", left)
			}
		})
	}
}

// TestBadAnnotationsMakeNoCall: the error names the annotation and what is
// accepted, and AWS hears nothing about the Service.
func TestBadAnnotationsMakeNoCall(t *testing.T) {
	e := newEnv(t, envOption{})
	for _, kv := range [][2]string{
		{annotations.Type, "alb"},
		{annotations.NLBTargetType, "pod"},
		{annotations.HCInterval, "1"},
		{annotations.Prefix + "interal", "true"},
		{annotations.BackendProtocol, "http"},
	} {
		t.Run(kv[0]+"="+kv[1], func(t *testing.T) {
			e.t = t
			e.fake.ResetCalls()
			svc := newService("bad", objects.WithAnnotations(kv[0], kv[1]))
			err := e.ensure(svc)
			if !annotations.IsInvalid(err) || !strings.Contains(err.Error(), kv[0]) {
				t.Fatalf("error %v: want an annotation error naming %s", err, kv[0])
			}
			if !strings.Contains(err.Error(), "accepted") && !errors.Is(err, annotations.ErrUnsupported) {
				t.Errorf("error %q does not say what is accepted", err)
			}
			if calls := e.fake.Calls(); len(calls) != 0 {
				t.Errorf("%d AWS calls for a Service with a bad annotation", len(calls))
			}
		})
	}
}

// TestMissingPermissionNamesAction: an IAM denial reaches the user as the
// action to grant.
func TestMissingPermissionNamesAction(t *testing.T) {
	e := newEnv(t, envOption{})
	e.fake.Deny("elasticloadbalancing:CreateLoadBalancer")
	err := e.ensure(newService("denied"))
	var pe *awsapi.PermissionError
	if !errors.As(err, &pe) || pe.Action != "elasticloadbalancing:CreateLoadBalancer" ||
		!strings.Contains(err.Error(), "elasticloadbalancing:CreateLoadBalancer") {
		t.Fatalf("error %v: want a PermissionError naming elasticloadbalancing:CreateLoadBalancer", err)
	}
}
