package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/google/go-cmp/cmp"
)

func TestNLBLifecycle(t *testing.T) {
	e := newEnv(t, envOption{})
	svc := newService("web")
	e.mustEnsure(svc)
	host := svc.Status.LoadBalancer.Ingress[0].Hostname
	if !strings.HasPrefix(host, "k8s-shop-web-") || !strings.HasSuffix(host, ".elb."+region+".amazonaws.com") {
		t.Errorf("hostname %q: want the NLB's DNS name", host)
	}
	if got, want := e.kinds(), "listener=2 load-balancer=1 security-group=1 target-group=2"; got != want {
		t.Errorf("owned resources: %s, want %s", got, want)
	}
	for _, r := range e.owned() {
		if r.Tags["frontdesk.dev/service-uid"] != string(svc.UID) && r.Kind != "listener" {
			t.Errorf("%s %s lacks the Service's UID tag: %v", r.Kind, r.ID, r.Tags)
		}
	}
	ctx := context.Background()
	tgs, err := e.clients.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tgs.TargetGroups {
		th, err := e.clients.ELBv2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			t.Fatal(err)
		}
		if len(th.TargetHealthDescriptions) != 3 {
			t.Errorf("target group %s has %d targets, want the 3 nodes", aws.ToString(tg.TargetGroupName), len(th.TargetHealthDescriptions))
		}
	}

	t.Run("unchanged resync makes no mutating call", func(t *testing.T) {
		e.fake.ResetCalls()
		e.mustEnsure(svc)
		if m := e.mutating(); len(m) != 0 {
			t.Errorf("mutating calls on an unchanged resync: %v", m)
		}
	})
	t.Run("node removed: only a deregistration", func(t *testing.T) {
		e.fake.ResetCalls()
		e.nodes = e.nodes[:2]
		e.mustEnsure(svc)
		if d := cmp.Diff([]string{"elbv2:DeregisterTargets", "elbv2:DeregisterTargets"}, e.mutating()); d != "" {
			t.Errorf("mutating calls (-want +got):\n%s", d)
		}
	})
	t.Run("port removed: its listener and target group go", func(t *testing.T) {
		svc.Spec.Ports = svc.Spec.Ports[:1]
		e.mustEnsure(svc)
		if got, want := e.kinds(), "listener=1 load-balancer=1 security-group=1 target-group=1"; got != want {
			t.Errorf("owned resources: %s, want %s", got, want)
		}
	})
	t.Run("delete leaves nothing", func(t *testing.T) {
		e.mustDelete(svc)
		if got := e.owned(); len(got) != 0 {
			t.Errorf("left behind: %v", got)
		}
		e.fake.ResetCalls()
		e.mustDelete(svc) // idempotent
		if m := e.mutating(); len(m) != 0 {
			t.Errorf("a second delete made mutating calls: %v", m)
		}
	})
}

func TestGetLoadBalancer(t *testing.T) {
	e := newEnv(t, envOption{})
	svc := newService("get")
	if _, exists, err := e.cloud.GetLoadBalancer(context.Background(), cluster, svc); err != nil || exists {
		t.Fatalf("before create: exists %v, %v", exists, err)
	}
	e.mustEnsure(svc)
	st, exists, err := e.cloud.GetLoadBalancer(context.Background(), cluster, svc)
	if err != nil || !exists || st.Ingress[0].Hostname != svc.Status.LoadBalancer.Ingress[0].Hostname {
		t.Errorf("after create: %+v, %v, %v", st, exists, err)
	}
	if n := e.cloud.GetLoadBalancerName(context.Background(), cluster, svc); !strings.HasPrefix(svc.Status.LoadBalancer.Ingress[0].Hostname, n+"-") {
		t.Errorf("GetLoadBalancerName %q does not match %s", n, svc.Status.LoadBalancer.Ingress[0].Hostname)
	}
}
