package aws_test

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/cloud-provider/api"

	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
)

// TestDeleteFailureIsNotARetry: when one delete fails for real (here IAM refuses
// DeleteLoadBalancer) and the others wait for it (its target group is still in use, its
// security group still held by its interfaces), the error is no api.RetryError: the service
// controller then retries with backoff and logs it as an error, where a RetryError is retried
// on a fixed delay and logged at V(2) only. The failure is in the log at the default verbosity
// and in the Event's text, with what waits for it; once it is granted, the next attempt deletes
// everything.
func TestDeleteFailureIsNotARetry(t *testing.T) {
	e := newEnv(t, envOption{})
	svc := newService("web")
	if err := e.ensure(svc); err != nil {
		t.Fatal(err)
	}
	e.fake.Deny("elasticloadbalancing:DeleteLoadBalancer")
	var log logSink
	err := e.cloud.EnsureLoadBalancerDeleted(log.ctx(), cluster, svc)
	if err == nil {
		t.Fatal("EnsureLoadBalancerDeleted succeeded; want the refused DeleteLoadBalancer")
	}
	if retry := (*api.RetryError)(nil); errors.As(err, &retry) {
		t.Errorf("error %q is an api.RetryError (retry after %s): the refusal would be retried as a wait", err, retry.RetryAfter())
	}
	var pe *awsapi.PermissionError
	if !errors.As(err, &pe) || pe.Action != "elasticloadbalancing:DeleteLoadBalancer" {
		t.Errorf("error %q: want a PermissionError for elasticloadbalancing:DeleteLoadBalancer", err)
	}
	event := "Error syncing load balancer: " + err.Error() // controller/service's Event text
	for _, w := range []string{"missing IAM permission elasticloadbalancing:DeleteLoadBalancer", "is still in use (ResourceInUse); deleting it later"} {
		if !strings.Contains(event, w) {
			t.Errorf("Event %q does not say %q", event, w)
		}
	}
	if got := log.String(); !strings.Contains(got, "AccessDenied") {
		t.Errorf("the log at the default verbosity does not hold the AWS failure:\n%s", got)
	}

	e.fake.Allow("elasticloadbalancing:DeleteLoadBalancer")
	if err := e.cloud.EnsureLoadBalancerDeleted(log.ctx(), cluster, svc); err != nil {
		t.Fatalf("granted: %v", err)
	}
}
