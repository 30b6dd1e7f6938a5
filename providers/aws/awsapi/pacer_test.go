package awsapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"

	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/providers/aws/config"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

func newClients(t *testing.T, f *fakeaws.Server, limits awsapi.Limits) *awsapi.Clients {
	t.Helper()
	cfg := &config.Config{Region: "eu-west-1", Endpoints: map[string]string{config.ServiceELBv2: f.URL(), config.ServiceEC2: f.URL(), config.ServiceELB: f.URL()}}
	cfg.Default()
	c, err := awsapi.New(context.Background(), cfg, awsapi.Options{Credentials: awsapi.StaticCredentials(),
		BaseBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestThrottlingIsRetriedCountedAndShared(t *testing.T) {
	awsapi.RegisterMetrics()
	f := fakeaws.Start(t, fakeaws.WithRegion("eu-west-1"))
	c := newClients(t, f, awsapi.Limits{})
	f.Throttle("DescribeLoadBalancers", 2)
	start := time.Now()
	if _, err := c.ELBv2.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{}); err != nil {
		t.Fatalf("a call throttled twice did not succeed on retry: %v", err)
	}
	// Two throttles: pauses of 20 ms then 40 ms before the next attempts.
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("retried after %v, want the shared pause (≥ 60 ms)", took)
	}
	if n := len(f.Calls()); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	want := `
		# HELP frontdesk_aws_api_throttles_total [ALPHA] AWS API requests that AWS throttled, by service and operation.
		# TYPE frontdesk_aws_api_throttles_total counter
		frontdesk_aws_api_throttles_total{operation="DescribeLoadBalancers",service="Elastic Load Balancing v2"} 2
	`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, stringsReader(want), "frontdesk_aws_api_throttles_total"); err != nil {
		t.Error(err)
	}
}

func TestRateLimitPacesCalls(t *testing.T) {
	f := fakeaws.Start(t, fakeaws.WithRegion("eu-west-1"))
	c := newClients(t, f, awsapi.Limits{"Elastic Load Balancing v2": {QPS: 50, Burst: 5},
		"Elastic Load Balancing v2/RegisterTargets": {QPS: 1, Burst: 1}})
	start := time.Now()
	for range 15 {
		if _, err := c.ELBv2.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{}); err != nil {
			t.Fatal(err)
		}
	}
	// 5 at once, then 10 at 50/s: at least 200 ms.
	if took := time.Since(start); took < 180*time.Millisecond {
		t.Errorf("15 calls took %v; the 50 QPS, burst 5 limit allows no less than 200 ms", took)
	}
}

func TestPermissionError(t *testing.T) {
	f := fakeaws.Start(t, fakeaws.WithRegion("eu-west-1"))
	c := newClients(t, f, nil)
	f.Deny("elasticloadbalancing:DescribeLoadBalancers")
	_, err := c.ELBv2.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{})
	var pe *awsapi.PermissionError
	if !errors.As(err, &pe) || pe.Action != "elasticloadbalancing:DescribeLoadBalancers" {
		t.Fatalf("error %v, want a PermissionError for elasticloadbalancing:DescribeLoadBalancers", err)
	}
}

func TestMutating(t *testing.T) {
	for op, want := range map[string]bool{"DescribeTags": false, "CreateLoadBalancer": true, "RegisterTargets": true, "GetConsoleOutput": false} {
		if awsapi.Mutating(op) != want {
			t.Errorf("Mutating(%s) = %v", op, !want)
		}
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
