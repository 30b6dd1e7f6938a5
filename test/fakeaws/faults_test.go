package fakeaws_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// attempts counts the recorded calls of one action and their error codes.
func attempts(srv *fakeaws.Server, action string) []string {
	var out []string
	for _, c := range srv.Calls() {
		if c.Action != action {
			continue
		}
		code := ""
		var ae *fakeaws.APIError
		if errors.As(c.Err, &ae) {
			code = ae.Code
		} else if c.Err != nil {
			code = c.Err.Error()
		}
		out = append(out, code)
	}
	return out
}

func TestThrottleIsRetriedBySDK(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		call      func(c clients) error
		action    string
		wantErr   string
		wantCalls []string
	}{
		{name: "elbv2 retried to success", n: 2, action: "DescribeLoadBalancers",
			call: func(c clients) error {
				_, err := c.elbv2.DescribeLoadBalancers(context.Background(), nil)
				return err
			},
			wantCalls: []string{"Throttling", "Throttling", ""}},
		{name: "elbv2 exhausts the three attempts", n: 5, action: "DescribeLoadBalancers",
			call: func(c clients) error {
				_, err := c.elbv2.DescribeLoadBalancers(context.Background(), nil)
				return err
			},
			wantErr: "Throttling", wantCalls: []string{"Throttling", "Throttling", "Throttling"}},
		{name: "ec2 request limit", n: 1, action: "DescribeInstances",
			call: func(c clients) error {
				_, err := c.ec2.DescribeInstances(context.Background(), nil)
				return err
			},
			wantCalls: []string{"RequestLimitExceeded", ""}},
		{name: "classic elb", n: 1, action: "DescribeLoadBalancers",
			call: func(c clients) error {
				_, err := c.elb.DescribeLoadBalancers(context.Background(), nil)
				return err
			},
			wantCalls: []string{"Throttling", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeaws.Start(t)
			c := newClients(t, srv)
			srv.Throttle(tt.action, tt.n)
			if d := cmp.Diff(tt.wantErr, errCode(tt.call(c))); d != "" {
				t.Errorf("error (-want +got)\n%s", d)
			}
			if d := cmp.Diff(tt.wantCalls, attempts(srv, tt.action)); d != "" {
				t.Errorf("attempts (-want +got)\n%s", d)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	clk := newClock()
	srv := fakeaws.Start(t, fakeaws.WithClock(clk.Now), fakeaws.WithRateLimit(fakeaws.ELBv2, 4, 2))
	c := newClients(t, srv)
	// No retries: the bucket, not the retryer, is under test.
	noRetry := func(o *elbv2.Options) { o.Retryer = aws.NopRetryer{} }
	describe := func() string {
		_, err := c.elbv2.DescribeLoadBalancers(context.Background(), nil, noRetry)
		return errCode(err)
	}
	var got []string
	for range 5 {
		got = append(got, describe())
	}
	clk.Advance(time.Second) // refills two tokens
	for range 3 {
		got = append(got, describe())
	}
	want := []string{"", "", "", "", "Throttling", "", "", "Throttling"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// EC2 has no bucket configured.
	if _, err := c.ec2.DescribeVpcs(context.Background(), nil); err != nil {
		t.Errorf("ec2 throttled by the elbv2 bucket: %v", err)
	}
}

func TestFailDenyAndUnknownAction(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()

	srv.Fail("elbv2:CreateTargetGroup", 1, "InternalFailure", http.StatusInternalServerError)
	srv.Deny("ec2:AuthorizeSecurityGroupIngress")
	srv.Deny("elasticloadbalancing:CreateLoadBalancer")

	tests := []struct {
		name    string
		call    func() error
		wantErr string
	}{
		{"injected 500 is retried by the SDK", func() error {
			_, err := c.elbv2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("tg"),
				Protocol: types.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(w.vpc)})
			return err
		}, ""},
		{"denied ec2", func() error {
			_, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-1")})
			return err
		}, "UnauthorizedOperation"},
		{"denied elbv2 by iam prefix", func() error {
			_, err := c.elbv2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("x"), Subnets: []string{w.subnetA}})
			return err
		}, "AccessDenied"},
		{"denied classic by iam prefix", func() error {
			_, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{LoadBalancerName: aws.String("x"), Listeners: classicTCP(80, 30080)})
			return err
		}, "AccessDenied"},
		{"unmodelled action", func() error {
			_, err := c.ec2.DescribeImages(ctx, nil)
			return err
		}, "InvalidAction"},
		{"unmodelled elbv2 action", func() error {
			_, err := c.elbv2.DescribeRules(ctx, &elbv2.DescribeRulesInput{})
			return err
		}, "InvalidAction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.wantErr, errCode(tt.call())); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	if d := cmp.Diff([]string{"InternalFailure", ""}, attempts(srv, "CreateTargetGroup")); d != "" {
		t.Errorf("CreateTargetGroup attempts (-want +got)\n%s", d)
	}
	srv.Allow("elasticloadbalancing:CreateLoadBalancer")
	_, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{LoadBalancerName: aws.String("x"), Listeners: classicTCP(80, 30080)})
	if errCode(err) == "AccessDenied" {
		t.Errorf("still denied after Allow: %v", err)
	}
}

// TestDroppedResponseLeavesTheChange models the ambiguous outcome: the
// create happened, the client saw a transport error, and the SDK's retry of
// the identical create is answered idempotently.
func TestDroppedResponseLeavesTheChange(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	srv.OnCall(func(call fakeaws.Call) error {
		if call.Action == "CreateLoadBalancer" && len(attempts(srv, "CreateLoadBalancer")) == 1 {
			return fakeaws.ErrDropResponse
		}
		return nil
	})
	lb := createNLB(t, c, w, "web")
	var lbs []string
	for _, r := range srv.Created() {
		lbs = append(lbs, r.Kind+" "+r.ID)
	}
	if d := cmp.Diff([]string{"load-balancer " + aws.ToString(lb.LoadBalancerArn)}, lbs); d != "" {
		t.Errorf("created (-want +got)\n%s", d)
	}
	if got := len(attempts(srv, "CreateLoadBalancer")); got != 2 {
		t.Errorf("%d CreateLoadBalancer attempts, want 2 (dropped, then retried)", got)
	}
}

func TestFailAtKillsAChosenCall(t *testing.T) {
	srv := fakeaws.Start(t)
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()
	noRetry := func(o *ec2.Options) { o.Retryer = aws.NopRetryer{} }
	srv.FailAt(1, fakeaws.ErrDropConnection)
	srv.FailAt(2, &fakeaws.APIError{Code: "InvalidSubnetID.NotFound", Message: "gone", Status: http.StatusBadRequest})
	var got []string
	for range 3 {
		_, err := c.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{w.subnetA}}, noRetry)
		var ae interface{ ErrorCode() string }
		switch {
		case err == nil:
			got = append(got, "ok")
		case errors.As(err, &ae):
			got = append(got, ae.ErrorCode())
		default:
			got = append(got, "transport error")
		}
	}
	if d := cmp.Diff([]string{"ok", "transport error", "InvalidSubnetID.NotFound"}, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	var mutating []bool
	for _, call := range srv.Calls() {
		mutating = append(mutating, call.Mutating)
	}
	if d := cmp.Diff([]bool{false, false, false}, mutating); d != "" {
		t.Errorf("mutating flags (-want +got)\n%s", d)
	}
	srv.ResetCalls()
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls after ResetCalls", n)
	}
}

func TestEventualConsistency(t *testing.T) {
	clk := newClock()
	srv := fakeaws.Start(t, fakeaws.WithClock(clk.Now), fakeaws.WithEventualConsistency(2, time.Second))
	w := seed(srv)
	c := newClients(t, srv)
	ctx := context.Background()
	lb := createNLB(t, c, w, "web")
	describe := func() string {
		_, err := c.elbv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(lb.LoadBalancerArn)}},
			func(o *elbv2.Options) { o.Retryer = aws.NopRetryer{} })
		return errCode(err)
	}
	// Two calls pass: still hidden (the duration has not passed either).
	got := []string{describe(), describe(), describe()}
	clk.Advance(time.Second)
	got = append(got, describe())
	want := []string{"LoadBalancerNotFound", "LoadBalancerNotFound", "LoadBalancerNotFound", ""}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	// Seeded resources are never hidden.
	if _, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{w.nodeA}}); err != nil {
		t.Errorf("seeded instance hidden: %v", err)
	}
}

// TestEndpointFromEnvironment checks the documented way a provider picks
// the fake up without code: the AWS_ENDPOINT_URL_* variables read by the
// SDK's shared config loader.
func TestEndpointFromEnvironment(t *testing.T) {
	srv := fakeaws.Start(t)
	seed(srv)
	t.Setenv("AWS_ENDPOINT_URL_EC2", srv.URL())
	t.Setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", srv.URL())
	t.Setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING", srv.URL())
	t.Setenv("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", srv.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ec2.NewFromConfig(cfg).DescribeVpcs(ctx, nil); err != nil {
		t.Errorf("ec2: %v", err)
	}
	if _, err := elbv2.NewFromConfig(cfg).DescribeLoadBalancers(ctx, nil); err != nil {
		t.Errorf("elbv2: %v", err)
	}
	if _, err := elb.NewFromConfig(cfg).DescribeLoadBalancers(ctx, nil); err != nil {
		t.Errorf("elb: %v", err)
	}
	if _, err := tagging.NewFromConfig(cfg).GetResources(ctx, &tagging.GetResourcesInput{}); err != nil {
		t.Errorf("tagging: %v", err)
	}
	var got []string
	for _, call := range srv.Calls() {
		got = append(got, string(call.Service)+":"+call.Action)
	}
	if d := cmp.Diff([]string{"ec2:DescribeVpcs", "elbv2:DescribeLoadBalancers", "elb:DescribeLoadBalancers", "tagging:GetResources"}, got); d != "" {
		t.Errorf("routing (-want +got)\n%s", d)
	}
}

func TestAWSRateLimitsBurst(t *testing.T) {
	clk := newClock()
	srv := fakeaws.Start(t, fakeaws.WithClock(clk.Now), fakeaws.AWSRateLimits())
	c := newClients(t, srv)
	noRetry := func(o *elbv2.Options) { o.Retryer = aws.NopRetryer{} }
	ok := 0
	for range 41 {
		if _, err := c.elbv2.DescribeLoadBalancers(context.Background(), nil, noRetry); err == nil {
			ok++
		} else if errCode(err) != "Throttling" {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if ok != 40 {
		t.Errorf("%d of 41 calls at one instant passed, want the burst of 40", ok)
	}
	clk.Advance(100 * time.Millisecond) // one token at 10/s
	if _, err := c.elbv2.DescribeLoadBalancers(context.Background(), nil, noRetry); err != nil {
		t.Errorf("after a refill: %v", err)
	}
}

func TestUnsignedRequestIsRejected(t *testing.T) {
	srv := fakeaws.Start(t)
	resp, err := http.PostForm(srv.URL(), map[string][]string{"Action": {"DescribeLoadBalancers"}, "Version": {"2015-12-01"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status %d, want 403", resp.StatusCode)
	}
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls recorded for a request that was never routed", n)
	}
}
