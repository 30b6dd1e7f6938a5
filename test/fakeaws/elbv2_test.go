package fakeaws_test

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func createNLB(t *testing.T, c clients, w world, name string) types.LoadBalancer {
	t.Helper()
	out, err := c.elbv2.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{
		Name: aws.String(name), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternetFacing,
		SubnetMappings: []types.SubnetMapping{{SubnetId: aws.String(w.subnetA), AllocationId: aws.String(w.eip)}, {SubnetId: aws.String(w.subnetB)}},
		Tags:           []types.Tag{{Key: aws.String("frontdesk.dev/service"), Value: aws.String("default/" + name)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.LoadBalancers[0]
}

func createTG(t *testing.T, c clients, w world, name string, proto types.ProtocolEnum, port int32) string {
	t.Helper()
	out, err := c.elbv2.CreateTargetGroup(context.Background(), &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: proto, Port: aws.Int32(port), VpcId: aws.String(w.vpc),
		TargetType: types.TargetTypeEnumInstance, HealthCheckIntervalSeconds: aws.Int32(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}

func TestLoadBalancerLifecycle(t *testing.T) {
	clk := newClock()
	srv := fakeaws.Start(t, fakeaws.WithClock(clk.Now), fakeaws.WithProvisioningDelay(2*time.Minute))
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()

	lb := createNLB(t, c, w, "web")
	arn := aws.ToString(lb.LoadBalancerArn)
	var zones []string
	for _, az := range lb.AvailabilityZones {
		z := aws.ToString(az.ZoneName) + " " + aws.ToString(az.SubnetId)
		for _, a := range az.LoadBalancerAddresses {
			z += " " + aws.ToString(a.IpAddress) + " " + aws.ToString(a.AllocationId)
		}
		zones = append(zones, z)
	}
	want := []string{"us-east-1a " + w.subnetA + " 203.0.113.10 " + w.eip, "us-east-1b " + w.subnetB}
	if d := cmp.Diff(want, zones); d != "" {
		t.Errorf("zones (-want +got)\n%s", d)
	}
	if !strings.HasPrefix(arn, "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/web/") ||
		!strings.HasSuffix(aws.ToString(lb.DNSName), ".elb.us-east-1.amazonaws.com") {
		t.Errorf("ARN %q or DNS name %q has the wrong shape", arn, aws.ToString(lb.DNSName))
	}

	state := func() types.LoadBalancerStateEnum {
		out, err := c.elbv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"web"}})
		if err != nil {
			t.Fatal(err)
		}
		return out.LoadBalancers[0].State.Code
	}
	if got := state(); got != types.LoadBalancerStateEnumProvisioning {
		t.Errorf("state right after create = %s, want provisioning", got)
	}
	clk.Advance(2 * time.Minute)
	if got := state(); got != types.LoadBalancerStateEnumActive {
		t.Errorf("state after the delay = %s, want active", got)
	}

	// The EIP now shows the NLB's association.
	addrs, err := c.ec2.DescribeAddresses(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(addrs.Addresses[0].NetworkInterfaceOwnerId); got != "amazon-elb" {
		t.Errorf("EIP owner = %q, want amazon-elb", got)
	}

	// Identical settings are idempotent; different ones collide.
	if again := createNLB(t, c, w, "web"); aws.ToString(again.LoadBalancerArn) != arn {
		t.Errorf("idempotent create returned %s, want %s", aws.ToString(again.LoadBalancerArn), arn)
	}
	_, err = c.elbv2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web"),
		Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal, Subnets: []string{w.subnetA}})
	var dup *types.DuplicateLoadBalancerNameException
	if !errors.As(err, &dup) {
		t.Errorf("create with other settings: got %v, want DuplicateLoadBalancerNameException", err)
	}

	attrs, err := c.elbv2.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
		Attributes: []types.LoadBalancerAttribute{{Key: aws.String("load_balancing.cross_zone.enabled"), Value: aws.String("true")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrValue(attrs.Attributes, "load_balancing.cross_zone.enabled"); got != "true" {
		t.Errorf("cross zone = %q, want true", got)
	}
	_, err = c.elbv2.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
		Attributes: []types.LoadBalancerAttribute{{Key: aws.String("no.such.key"), Value: aws.String("1")}}})
	if d := cmp.Diff("ValidationError", errCode(err)); d != "" {
		t.Errorf("unknown attribute (-want +got)\n%s", d)
	}

	// An NLB created without security groups can never get any.
	_, err = c.elbv2.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: aws.String(arn), SecurityGroups: []string{defaultGroup(t, c, w)}})
	if d := cmp.Diff("InvalidConfigurationRequest", errCode(err)); d != "" {
		t.Errorf("SetSecurityGroups on an NLB without groups (-want +got)\n%s", d)
	}

	if _, err := c.elbv2.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	// Deleting again succeeds, as AWS documents.
	if _, err := c.elbv2.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)}); err != nil {
		t.Errorf("second delete: %v", err)
	}
	_, err = c.elbv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{arn}})
	var nf *types.LoadBalancerNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("describe deleted: got %v, want LoadBalancerNotFoundException", err)
	}
	if created := srv.Created(); len(created) != 0 {
		t.Errorf("leaked: %+v", created)
	}
}

func attrValue(attrs []types.LoadBalancerAttribute, key string) string {
	for _, a := range attrs {
		if aws.ToString(a.Key) == key {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

func TestCreateLoadBalancerValidation(t *testing.T) {
	srv := fakeaws.Start(t, fakeaws.WithLimits(fakeaws.Limits{LoadBalancers: 1}))
	w := seed(srv)
	c := newClients(t, srv)
	createNLB(t, c, w, "first")

	tests := []struct {
		name    string
		in      elbv2.CreateLoadBalancerInput
		wantErr string
	}{
		{"name too long", elbv2.CreateLoadBalancerInput{Name: aws.String(strings.Repeat("a", 33)), Subnets: []string{w.subnetA}}, "ValidationError"},
		{"bad characters", elbv2.CreateLoadBalancerInput{Name: aws.String("web_lb"), Subnets: []string{w.subnetA}}, "ValidationError"},
		{"leading hyphen", elbv2.CreateLoadBalancerInput{Name: aws.String("-web"), Subnets: []string{w.subnetA}}, "ValidationError"},
		{"internal- prefix", elbv2.CreateLoadBalancerInput{Name: aws.String("internal-web"), Subnets: []string{w.subnetA}}, "ValidationError"},
		{"missing subnet", elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{"subnet-0000000000000000f"}}, "SubnetNotFound"},
		{"eip on internal", elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal,
			SubnetMappings: []types.SubnetMapping{{SubnetId: aws.String(w.subnetB), AllocationId: aws.String(w.eip)}}}, "InvalidConfigurationRequest"},
		{"eip in use", elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Type: types.LoadBalancerTypeEnumNetwork,
			SubnetMappings: []types.SubnetMapping{{SubnetId: aws.String(w.subnetB), AllocationId: aws.String(w.eip)}}}, "InvalidConfigurationRequest"},
		{"unknown eip", elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Type: types.LoadBalancerTypeEnumNetwork,
			SubnetMappings: []types.SubnetMapping{{SubnetId: aws.String(w.subnetB), AllocationId: aws.String("eipalloc-0000000000000000f")}}}, "AllocationIdNotFound"},
		{"unknown security group", elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Type: types.LoadBalancerTypeEnumNetwork,
			Subnets: []string{w.subnetA}, SecurityGroups: []string{"sg-0000000000000000f"}}, "InvalidSecurityGroup"},
		{"over the quota", elbv2.CreateLoadBalancerInput{Name: aws.String("second"), Type: types.LoadBalancerTypeEnumNetwork, Subnets: []string{w.subnetA}}, "TooManyLoadBalancers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.elbv2.CreateLoadBalancer(context.Background(), &tt.in)
			if d := cmp.Diff(tt.wantErr, errCode(err)); d != "" {
				t.Errorf("error code (-want +got)\n%s", d)
			}
		})
	}
}

func TestDescribeLoadBalancersPaginates(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	var want []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		out, err := c.elbv2.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{Name: aws.String(n),
			Type: types.LoadBalancerTypeEnumNetwork, Scheme: types.LoadBalancerSchemeEnumInternal, Subnets: []string{w.subnetA}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, aws.ToString(out.LoadBalancers[0].LoadBalancerName))
	}
	var got []string
	pages := 0
	p := elbv2.NewDescribeLoadBalancersPaginator(c.elbv2, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, lb := range out.LoadBalancers {
			got = append(got, aws.ToString(lb.LoadBalancerName))
		}
	}
	sort.Strings(got)
	if d := cmp.Diff(want, got); d != "" || pages != 3 {
		t.Errorf("%d pages, want 3; names (-want +got)\n%s", pages, d)
	}
}

func TestSetSubnets(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	subnetC := srv.AddSubnet("us-east-1c", netip.MustParsePrefix("10.0.3.0/24"), nil)
	elsewhere := srv.AddSubnet("us-east-1c", netip.MustParsePrefix("172.16.0.0/24"), nil)
	c := newClients(t, srv)
	ctx := context.Background()
	arn := createNLB(t, c, w, "web").LoadBalancerArn

	tests := []struct {
		name      string
		mappings  []types.SubnetMapping
		wantErr   string
		wantZones []string
	}{
		{name: "add a zone", mappings: []types.SubnetMapping{{SubnetId: aws.String(w.subnetA), AllocationId: aws.String(w.eip)},
			{SubnetId: aws.String(w.subnetB)}, {SubnetId: aws.String(subnetC)}},
			wantZones: []string{"us-east-1a 203.0.113.10", "us-east-1b", "us-east-1c"}},
		{name: "other vpc", mappings: []types.SubnetMapping{{SubnetId: aws.String(elsewhere)}}, wantErr: "InvalidConfigurationRequest"},
		{name: "two subnets in one zone", mappings: []types.SubnetMapping{{SubnetId: aws.String(subnetC)}, {SubnetId: aws.String(subnetC)}},
			wantErr: "InvalidConfigurationRequest"},
		{name: "drop a zone and the eip", mappings: []types.SubnetMapping{{SubnetId: aws.String(w.subnetB)}},
			wantZones: []string{"us-east-1b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.elbv2.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: arn, SubnetMappings: tt.mappings})
			if d := cmp.Diff(tt.wantErr, errCode(err)); d != "" {
				t.Fatalf("error code (-want +got)\n%s", d)
			}
			if err != nil {
				return
			}
			var got []string
			for _, az := range out.AvailabilityZones {
				z := aws.ToString(az.ZoneName)
				for _, a := range az.LoadBalancerAddresses {
					z += " " + aws.ToString(a.IpAddress)
				}
				got = append(got, z)
			}
			if d := cmp.Diff(tt.wantZones, got); d != "" {
				t.Errorf("zones (-want +got)\n%s", d)
			}
		})
	}
	// The Elastic IP the load balancer left is free again.
	addrs, err := c.ec2.DescribeAddresses(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := addrs.Addresses[0]; a.AssociationId != nil {
		t.Errorf("EIP still associated: %s", aws.ToString(a.AssociationId))
	}
}
