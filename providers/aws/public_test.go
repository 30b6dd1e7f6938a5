package aws_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go"
	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// account is the fake's account ID (fakeaws.WithAccount's default).
const account = "123456789012"

// logSink collects what the provider logs.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) ctx() context.Context {
	return klog.NewContext(context.Background(), funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{}))
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestAWSErrorsStayOutOfEvents: the error EnsureLoadBalancer returns is what
// the service controller writes into the Service's Warning Event. AWS's
// messages carry the account ID, ARNs and the controller's identity; the
// Event says what failed and AWS's code, and the log has the full error.
func TestAWSErrorsStayOutOfEvents(t *testing.T) {
	foreignCert := "arn:aws:acm:eu-west-1:" + account + ":certificate/0e1f"
	for _, tc := range []struct {
		name   string
		inject func(*fakeaws.Server)
		want   []string // in the Event text
		full   string   // in the log only
	}{
		{"IAM denial", func(f *fakeaws.Server) { f.Deny("elasticloadbalancing:CreateLoadBalancer") },
			[]string{"creating load balancer k8s-shop-", "missing IAM permission elasticloadbalancing:CreateLoadBalancer"},
			"arn:aws:iam::" + account + ":user/fakeaws"},
		{"validation error quoting an ARN", func(f *fakeaws.Server) {
			f.OnCall(func(c fakeaws.Call) error {
				if c.Action != "CreateListener" {
					return nil
				}
				return &fakeaws.APIError{Code: "CertificateNotFound", Status: http.StatusBadRequest,
					Message: fmt.Sprintf("Certificate '%s' not found", foreignCert)}
			})
		}, []string{"creating listener on port 80", "AWS Elastic Load Balancing v2 CreateListener failed: CertificateNotFound"},
			"Certificate '" + foreignCert + "' not found"},
		{"security group error", func(f *fakeaws.Server) {
			f.Fail("ec2:CreateSecurityGroup", 1, "InvalidVpcID.NotFound", http.StatusBadRequest)
		},
			[]string{"creating security group k8s-shop-", "AWS EC2 CreateSecurityGroup failed: InvalidVpcID.NotFound"},
			"injected by fakeaws.Fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOption{})
			tc.inject(e.fake)
			var log logSink
			_, err := e.cloud.EnsureLoadBalancer(log.ctx(), cluster, newService("web"), e.nodes)
			if err == nil {
				t.Fatal("EnsureLoadBalancer succeeded; want the injected failure")
			}
			event := "Error syncing load balancer: " + err.Error() // controller/service's Event text
			for _, leak := range []string{account, "arn:", "RequestID", "fa4e0000-"} {
				if strings.Contains(event, leak) {
					t.Errorf("Event %q shows %q", event, leak)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(event, w) {
					t.Errorf("Event %q does not say %q", event, w)
				}
			}
			if !strings.Contains(log.String(), tc.full) {
				t.Errorf("the log does not hold the full error (%q):\n%s", tc.full, log.String())
			}
			var api smithy.APIError
			if !errors.As(err, &api) {
				t.Errorf("error %v: the AWS error is no longer reachable with errors.As", err)
			}
		})
	}
}

// TestPermissionErrorStillReachable: callers that act on the kind of error
// (the service controller on a RetryError, tests on a PermissionError) still
// see it through the public error.
func TestPermissionErrorStillReachable(t *testing.T) {
	e := newEnv(t, envOption{})
	e.fake.Deny("ec2:DescribeSubnets")
	err := e.ensure(newService("denied"))
	var pe *awsapi.PermissionError
	if !errors.As(err, &pe) || pe.Action != "ec2:DescribeSubnets" || annotations.IsInvalid(err) {
		t.Fatalf("error %v: want a PermissionError for ec2:DescribeSubnets", err)
	}
}
