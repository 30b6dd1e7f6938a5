package fakeaws_test

import (
	"context"
	"errors"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func classicTCP(port, nodePort int32) []types.Listener {
	return []types.Listener{{Protocol: aws.String("TCP"), LoadBalancerPort: port,
		InstanceProtocol: aws.String("TCP"), InstancePort: aws.Int32(nodePort)}}
}

func TestClassicLoadBalancerLifecycle(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()
	name := aws.String("a1b2c3d4e5f6")

	created, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{LoadBalancerName: name,
		Listeners: classicTCP(80, 30080), Subnets: []string{w.subnetA, w.subnetB},
		Tags: []types.Tag{{Key: aws.String("kubernetes.io/service-name"), Value: aws.String("default/web")}}})
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"add a listener", func() error {
			_, err := c.elb.CreateLoadBalancerListeners(ctx, &elb.CreateLoadBalancerListenersInput{LoadBalancerName: name, Listeners: classicTCP(443, 30443)})
			return err
		}, ""},
		{"conflicting listener", func() error {
			_, err := c.elb.CreateLoadBalancerListeners(ctx, &elb.CreateLoadBalancerListenersInput{LoadBalancerName: name, Listeners: classicTCP(443, 30444)})
			return err
		}, "DuplicateListener"},
		{"health check", func() error {
			_, err := c.elb.ConfigureHealthCheck(ctx, &elb.ConfigureHealthCheckInput{LoadBalancerName: name, HealthCheck: &types.HealthCheck{
				Target: aws.String("HTTP:10256/healthz"), Interval: aws.Int32(10), Timeout: aws.Int32(5), HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(6)}})
			return err
		}, ""},
		{"bad health check target", func() error {
			_, err := c.elb.ConfigureHealthCheck(ctx, &elb.ConfigureHealthCheckInput{LoadBalancerName: name, HealthCheck: &types.HealthCheck{
				Target: aws.String("HTTP:10256"), Interval: aws.Int32(10), Timeout: aws.Int32(5), HealthyThreshold: aws.Int32(2), UnhealthyThreshold: aws.Int32(6)}})
			return err
		}, "ValidationError"},
		{"register", func() error {
			_, err := c.elb.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: name,
				Instances: []types.Instance{{InstanceId: aws.String(w.nodeA)}, {InstanceId: aws.String(w.nodeB)}}})
			return err
		}, ""},
		{"register unknown", func() error {
			_, err := c.elb.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: name,
				Instances: []types.Instance{{InstanceId: aws.String("i-0000000000000000f")}}})
			return err
		}, "InvalidInstance"},
		{"deregister", func() error {
			_, err := c.elb.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{LoadBalancerName: name,
				Instances: []types.Instance{{InstanceId: aws.String(w.nodeB)}}})
			return err
		}, ""},
		{"proxy protocol policy", func() error {
			_, err := c.elb.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{LoadBalancerName: name,
				PolicyName: aws.String("k8s-proxyprotocol-enabled"), PolicyTypeName: aws.String("ProxyProtocolPolicyType"),
				PolicyAttributes: []types.PolicyAttribute{{AttributeName: aws.String("ProxyProtocol"), AttributeValue: aws.String("true")}}})
			return err
		}, ""},
		{"policy on backend", func() error {
			_, err := c.elb.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{LoadBalancerName: name,
				InstancePort: aws.Int32(30080), PolicyNames: []string{"k8s-proxyprotocol-enabled"}})
			return err
		}, ""},
		{"unknown policy", func() error {
			_, err := c.elb.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{LoadBalancerName: name,
				InstancePort: aws.Int32(30443), PolicyNames: []string{"nope"}})
			return err
		}, "PolicyNotFound"},
		{"attributes", func() error {
			_, err := c.elb.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerName: name,
				LoadBalancerAttributes: &types.LoadBalancerAttributes{CrossZoneLoadBalancing: &types.CrossZoneLoadBalancing{Enabled: true},
					ConnectionDraining: &types.ConnectionDraining{Enabled: true, Timeout: aws.Int32(60)}}})
			return err
		}, ""},
		{"security groups", func() error {
			_, err := c.elb.ApplySecurityGroupsToLoadBalancer(ctx, &elb.ApplySecurityGroupsToLoadBalancerInput{LoadBalancerName: name,
				SecurityGroups: []string{"sg-0000000000000000f"}})
			return err
		}, "InvalidSecurityGroup"},
		{"tags", func() error {
			_, err := c.elb.AddTags(ctx, &elb.AddTagsInput{LoadBalancerNames: []string{*name},
				Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("frontdesk")}}})
			return err
		}, ""},
	}
	for _, s := range steps {
		var nf *types.AccessPointNotFoundException
		err := s.call()
		if errors.As(err, &nf) {
			t.Fatalf("%s: load balancer vanished: %v", s.name, err)
		}
		if d := cmp.Diff(s.wantErr, errCode(err)); d != "" {
			t.Fatalf("%s: error code (-want +got)\n%s", s.name, d)
		}
	}

	out, err := c.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{*name}})
	if err != nil {
		t.Fatal(err)
	}
	d := out.LoadBalancerDescriptions[0]
	type view struct {
		DNS, HealthTarget, VPC string
		Listeners, Instances   []string
		Backend                []string
		Zones                  []string
	}
	got := view{DNS: aws.ToString(d.DNSName), HealthTarget: aws.ToString(d.HealthCheck.Target), VPC: aws.ToString(d.VPCId), Zones: d.AvailabilityZones}
	for _, l := range d.ListenerDescriptions {
		got.Listeners = append(got.Listeners, aws.ToString(l.Listener.Protocol)+" "+itoa(l.Listener.LoadBalancerPort)+"->"+itoa(aws.ToInt32(l.Listener.InstancePort)))
	}
	for _, i := range d.Instances {
		got.Instances = append(got.Instances, aws.ToString(i.InstanceId))
	}
	for _, b := range d.BackendServerDescriptions {
		got.Backend = append(got.Backend, itoa(aws.ToInt32(b.InstancePort))+" "+b.PolicyNames[0])
	}
	sort.Strings(got.Listeners)
	want := view{DNS: aws.ToString(created.DNSName), HealthTarget: "HTTP:10256/healthz", VPC: w.vpc,
		Listeners: []string{"TCP 443->30443", "TCP 80->30080"}, Instances: []string{w.nodeA},
		Backend: []string{"30080 k8s-proxyprotocol-enabled"}, Zones: []string{"us-east-1a", "us-east-1b"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("description (-want +got)\n%s", diff)
	}

	attrs, err := c.elb.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: name})
	if err != nil {
		t.Fatal(err)
	}
	a := attrs.LoadBalancerAttributes
	if diff := cmp.Diff([]any{true, true, int32(60), int32(60)}, []any{a.CrossZoneLoadBalancing.Enabled, a.ConnectionDraining.Enabled,
		aws.ToInt32(a.ConnectionDraining.Timeout), aws.ToInt32(a.ConnectionSettings.IdleTimeout)}); diff != "" {
		t.Errorf("attributes (-want +got)\n%s", diff)
	}

	tags, err := c.elb.DescribeTags(ctx, &elb.DescribeTagsInput{LoadBalancerNames: []string{*name}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tags.TagDescriptions[0].Tags); n != 2 {
		t.Errorf("%d tags, want 2", n)
	}

	if _, err := c.elb.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerName: name}); err != nil {
		t.Fatal(err)
	}
	_, err = c.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{*name}})
	var nf *types.AccessPointNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("describe deleted: got %v, want AccessPointNotFoundException", err)
	}
	if created := srv.Created(); len(created) != 0 {
		t.Errorf("leaked: %+v", created)
	}
}

func TestClassicPaginationAndPolicies(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{LoadBalancerName: aws.String(n),
			Listeners: classicTCP(80, 30080), Subnets: []string{w.subnetA}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pages := 0
	p := elb.NewDescribeLoadBalancersPaginator(c.elb, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range out.LoadBalancerDescriptions {
			names = append(names, aws.ToString(d.LoadBalancerName))
		}
	}
	if d := cmp.Diff([]string{"a", "b", "c"}, names); d != "" || pages != 2 {
		t.Errorf("%d pages, want 2; names (-want +got)\n%s", pages, d)
	}

	_, err := c.elb.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{LoadBalancerName: aws.String("a"),
		PolicyName: aws.String("pp"), PolicyTypeName: aws.String("ProxyProtocolPolicyType"),
		PolicyAttributes: []types.PolicyAttribute{{AttributeName: aws.String("ProxyProtocol"), AttributeValue: aws.String("true")}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.elb.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{LoadBalancerName: aws.String("a"),
		PolicyName: aws.String("pp"), PolicyTypeName: aws.String("ProxyProtocolPolicyType")})
	if d := cmp.Diff("DuplicatePolicyName", errCode(err)); d != "" {
		t.Errorf("duplicate policy (-want +got)\n%s", d)
	}
	out, err := c.elb.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	pd := out.PolicyDescriptions[0]
	got := []string{aws.ToString(pd.PolicyName), aws.ToString(pd.PolicyTypeName),
		aws.ToString(pd.PolicyAttributeDescriptions[0].AttributeName) + "=" + aws.ToString(pd.PolicyAttributeDescriptions[0].AttributeValue)}
	if d := cmp.Diff([]string{"pp", "ProxyProtocolPolicyType", "ProxyProtocol=true"}, got); d != "" {
		t.Errorf("policy (-want +got)\n%s", d)
	}
	// Clearing the back-end policies (an empty list) then deleting works;
	// deleting while in use does not.
	if _, err := c.elb.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{
		LoadBalancerName: aws.String("a"), InstancePort: aws.Int32(30080), PolicyNames: []string{"pp"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.elb.DeleteLoadBalancerPolicy(ctx, &elb.DeleteLoadBalancerPolicyInput{LoadBalancerName: aws.String("a"), PolicyName: aws.String("pp")})
	if d := cmp.Diff("InvalidConfigurationRequest", errCode(err)); d != "" {
		t.Errorf("delete in use (-want +got)\n%s", d)
	}
	if _, err := c.elb.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{
		LoadBalancerName: aws.String("a"), InstancePort: aws.Int32(30080), PolicyNames: []string{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.elb.DeleteLoadBalancerPolicy(ctx, &elb.DeleteLoadBalancerPolicyInput{LoadBalancerName: aws.String("a"), PolicyName: aws.String("pp")}); err != nil {
		t.Errorf("delete after clearing: %v", err)
	}
}
