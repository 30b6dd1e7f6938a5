package aws_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// foreignLBs gives the account n network load balancers of someone else's,
// with their target groups, the clutter a shared account holds.
func (e *env) foreignLBs(n int) {
	e.t.Helper()
	ctx := context.Background()
	for i := range n {
		name := fmt.Sprintf("other-team-%d", i)
		if _, err := e.clients.ELBv2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: types.LoadBalancerTypeEnumNetwork,
			Subnets: []string{e.subnets["public-a"]}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("other")}}}); err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.clients.ELBv2.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: types.ProtocolEnumTcp,
			Port: aws.Int32(80), VpcId: aws.String(e.cfg.VPCID)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// listsAccount names the calls that list the account rather than ask for
// known resources.
func listsAccount(calls []fakeaws.Call) []string {
	var out []string
	for _, c := range calls {
		named := func(keys ...string) bool {
			return slices.ContainsFunc(keys, func(k string) bool { return c.Params.Get(k+".member.1") != "" })
		}
		switch {
		case c.Action == "DescribeTags",
			c.Service == fakeaws.ELBv2 && c.Action == "DescribeLoadBalancers" && !named("LoadBalancerArns", "Names"),
			c.Service == fakeaws.ELBv2 && c.Action == "DescribeTargetGroups" && !named("TargetGroupArns", "Names") && c.Params.Get("LoadBalancerArn") == "",
			c.Service == fakeaws.ELB && c.Action == "DescribeLoadBalancers" && !named("LoadBalancerNames"):
			out = append(out, string(c.Service)+":"+c.Action)
		}
	}
	return out
}

// TestSweepListsByTag: the sweep asks the Tagging API for the cluster's
// resources and describes only those: the calls it makes do not grow with
// the account's other load balancers, and it still finds every orphan, NLB
// and classic alike.
func TestSweepListsByTag(t *testing.T) {
	e := newEnv(t, envOption{})
	kept := newService("kept")
	orphan := newService("orphan")
	classic := newService("classic", objects.WithAnnotations(annotations.Type, "clb"))
	for _, s := range []*v1.Service{kept, orphan, classic} {
		e.mustEnsure(s)
	}
	lookup := func(_, name string) (*v1.Service, bool, error) { return kept, name == kept.Name, nil }

	sweep := func() (found []string, calls int) {
		e.fake.ResetCalls()
		swept, err := e.cloud.Sweep(context.Background(), lookup, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range swept {
			found = append(found, s.Owner.Name+" "+s.Kind)
		}
		slices.Sort(found)
		if l := listsAccount(e.fake.Calls()); len(l) > 0 {
			t.Errorf("the sweep listed the account: %v", l)
		}
		if !slices.ContainsFunc(e.fake.Calls(), func(c fakeaws.Call) bool { return c.Action == "GetResources" }) {
			t.Error("the sweep made no GetResources call")
		}
		return found, len(e.fake.Calls())
	}
	want := []string{"classic load-balancer", "classic security-group", "orphan load-balancer", "orphan security-group",
		"orphan target-group", "orphan target-group"}
	found, before := sweep()
	if !slices.Equal(found, want) {
		t.Errorf("the sweep found %q, want %q", found, want)
	}
	e.foreignLBs(30)
	found, after := sweep()
	if !slices.Equal(found, want) || after != before {
		t.Errorf("with 30 foreign load balancers: found %q in %d calls, want %q in %d as before", found, after, want, before)
	}
}

// TestSweepWithoutTaggingPermission: without tag:GetResources the sweep
// falls back to listing the account, and still finds the orphans.
func TestSweepWithoutTaggingPermission(t *testing.T) {
	e := newEnv(t, envOption{})
	orphan := newService("orphan")
	e.mustEnsure(orphan)
	e.fake.Deny("tag:GetResources")
	e.fake.ResetCalls()
	found, err := e.cloud.Sweep(context.Background(), func(string, string) (*v1.Service, bool, error) { return nil, false, nil }, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 4 {
		t.Errorf("found %d resources, want the orphan's load balancer, 2 target groups and security group", len(found))
	}
	if len(listsAccount(e.fake.Calls())) == 0 {
		t.Error("denied tag:GetResources, the sweep found the orphans without listing the account: it cannot have")
	}
}

// TestSweepOtherDenialIsNoFallback: only a refused tag:GetResources makes
// the sweep list the account; another refused call fails the pass as it is,
// naming that action, rather than listing the account to be refused again.
func TestSweepOtherDenialIsNoFallback(t *testing.T) {
	e := newEnv(t, envOption{})
	e.mustEnsure(newService("orphan"))
	e.fake.Deny("ec2:DescribeSecurityGroups")
	e.fake.ResetCalls()
	_, err := e.cloud.Sweep(context.Background(), func(string, string) (*v1.Service, bool, error) { return nil, false, nil }, nil, true)
	var pe *awsapi.PermissionError
	if !errors.As(err, &pe) || pe.Action != "ec2:DescribeSecurityGroups" {
		t.Fatalf("sweep error %v, want the refused ec2:DescribeSecurityGroups", err)
	}
	if l := listsAccount(e.fake.Calls()); len(l) > 0 {
		t.Errorf("denied ec2:DescribeSecurityGroups, the sweep fell back to listing the account: %v", l)
	}
}

// TestSweepSkipsWhatTheTagIndexStillLists: a load balancer deleted between
// GetResources and the Describe that follows (the Tagging API's index lags)
// is left out, not an error that stops the sweep.
func TestSweepSkipsWhatTheTagIndexStillLists(t *testing.T) {
	e := newEnv(t, envOption{})
	gone, orphan := newService("gone"), newService("orphan")
	e.mustEnsure(gone)
	e.mustEnsure(orphan)
	st := e.nlb(gone)
	deleted := false
	e.fake.OnCall(func(c fakeaws.Call) error {
		if deleted || c.Service != fakeaws.ELBv2 || c.Action != "DescribeLoadBalancers" || c.Params.Get("LoadBalancerArns.member.1") == "" {
			return nil
		}
		deleted = true
		_, err := e.clients.ELBv2.DeleteLoadBalancer(context.Background(), &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: st.lb.LoadBalancerArn})
		return err
	})
	found, err := e.cloud.Sweep(context.Background(), func(string, string) (*v1.Service, bool, error) { return nil, false, nil }, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if !deleted {
		t.Fatal("the sweep described no load balancer by ARN")
	}
	var lbs []string
	for _, s := range found {
		if s.Kind == "load-balancer" {
			lbs = append(lbs, s.Owner.Name)
		}
	}
	if !slices.Equal(lbs, []string{"orphan"}) {
		t.Errorf("load balancers found %v, want only the orphan's (gone's was deleted meanwhile)", lbs)
	}
}

// TestDeleteWithBadAnnotationsListsByTag: a Service whose annotations no
// longer parse is deleted by finding its resources by tag, not by listing
// the account.
func TestDeleteWithBadAnnotationsListsByTag(t *testing.T) {
	e := newEnv(t, envOption{})
	e.foreignLBs(3)
	svc := newService("broken")
	e.mustEnsure(svc)
	svc.Annotations[annotations.Type] = "alb"
	e.fake.ResetCalls()
	e.mustDelete(svc)
	if left := e.owned(); len(left) != 0 {
		t.Errorf("left after delete: %v", left)
	}
	if l := listsAccount(e.fake.Calls()); len(l) > 0 {
		t.Errorf("the delete listed the account: %v", l)
	}
}
