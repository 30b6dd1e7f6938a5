package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// Finding a Service's resources by name costs a few calls; listing every
// load balancer to read its tags costs one DescribeTags per 20 of them. So
// the reconcile and delete paths look resources up by their deterministic
// names (and the name in the Service's status), and only the sweep, or a
// delete whose annotations no longer parse, reads the whole inventory.

// lbRef names a load balancer and its API.
type lbRef struct {
	name    string
	classic bool
}

// refFromHostname reads the load-balancer name from a DNS name in a
// Service's status: NLBs are <name>-<hash>.elb.<region>.amazonaws.com,
// classic ones <name>-<number>.<region>.elb.amazonaws.com; internal ones
// start with "internal-".
func refFromHostname(host string) (lbRef, bool) {
	labels := strings.Split(host, ".")
	if len(labels) < 4 || !strings.HasSuffix(host, ".amazonaws.com") {
		return lbRef{}, false
	}
	first := strings.TrimPrefix(labels[0], "internal-")
	i := strings.LastIndex(first, "-")
	if i <= 0 {
		return lbRef{}, false
	}
	return lbRef{name: first[:i], classic: labels[1] != "elb"}, true
}

// ofLoadBalancer returns the load balancer named by ref and the target
// groups attached to it, if they are tagged as the Service's; sgs are the
// security groups the load balancer uses.
func (c *Cloud) ofLoadBalancer(ctx context.Context, cluster, uid string, ref lbRef) (items []owned, sgs []string, err error) {
	if ref.classic {
		out, err := c.api.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{ref.name}})
		if code := errorCode(err); notFound(code) {
			return nil, nil, nil
		} else if err != nil {
			return nil, nil, err
		}
		if len(out.LoadBalancerDescriptions) == 0 {
			return nil, nil, nil
		}
		tags, err := c.elbTags(ctx, []string{ref.name})
		if err != nil {
			return nil, nil, err
		}
		t := tags[ref.name]
		if !model.OwnedBy(t, cluster, uid) {
			return nil, nil, nil
		}
		lb := out.LoadBalancerDescriptions[0]
		return []owned{{Kind: model.ResourceLoadBalancer, Type: "clb", ID: ref.name, Name: ref.name, Owner: model.OwnerOf(t)}}, lb.SecurityGroups, nil
	}
	out, err := c.api.ELBv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{ref.name}})
	if code := errorCode(err); notFound(code) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if len(out.LoadBalancers) == 0 {
		return nil, nil, nil
	}
	lb := out.LoadBalancers[0]
	arn := aws.ToString(lb.LoadBalancerArn)
	tgs, err := c.api.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(arn)})
	if err != nil {
		return nil, nil, err
	}
	arns := []string{arn}
	for _, tg := range tgs.TargetGroups {
		arns = append(arns, aws.ToString(tg.TargetGroupArn))
	}
	tags, err := c.elbv2Tags(ctx, arns)
	if err != nil {
		return nil, nil, err
	}
	if !model.OwnedBy(tags[arn], cluster, uid) {
		return nil, nil, nil
	}
	items = append(items, owned{Kind: model.ResourceLoadBalancer, Type: "nlb", ID: arn, Name: ref.name, Owner: model.OwnerOf(tags[arn])})
	for _, tg := range tgs.TargetGroups {
		tarn := aws.ToString(tg.TargetGroupArn)
		if model.OwnedBy(tags[tarn], cluster, uid) {
			items = append(items, owned{Kind: model.ResourceTargetGroup, ID: tarn, Name: aws.ToString(tg.TargetGroupName), Owner: model.OwnerOf(tags[tarn])})
		}
	}
	return items, lb.SecurityGroups, nil
}

// targetGroupByName returns the named target group if it is the Service's.
func (c *Cloud) targetGroupByName(ctx context.Context, cluster, uid, name string) (*owned, error) {
	out, err := c.api.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if notFound(errorCode(err)) {
		return nil, nil
	}
	if err != nil || len(out.TargetGroups) == 0 {
		return nil, err
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	tags, err := c.elbv2Tags(ctx, []string{arn})
	if err != nil {
		return nil, err
	}
	if !model.OwnedBy(tags[arn], cluster, uid) {
		return nil, nil
	}
	return &owned{Kind: model.ResourceTargetGroup, ID: arn, Name: name, Owner: model.OwnerOf(tags[arn]),
		InUse: len(out.TargetGroups[0].LoadBalancerArns) > 0}, nil
}

// securityGroupsOf returns the Service's security groups: EC2 filters by tag
// on the server side, so one call finds them all.
func (c *Cloud) securityGroupsOf(ctx context.Context, cluster, uid string) ([]owned, error) {
	out, err := c.api.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + model.ClusterTag(cluster)), Values: []string{model.TagOwned}},
		{Name: aws.String("tag:" + model.TagServiceUID), Values: []string{uid}},
	}})
	if err != nil {
		return nil, err
	}
	var items []owned
	for _, g := range out.SecurityGroups {
		t := ec2Tags(g.Tags)
		if model.OwnedBy(t, cluster, uid) {
			items = append(items, owned{Kind: model.ResourceSecurityGroup, ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName), Owner: model.OwnerOf(t)})
		}
	}
	return items, nil
}

// resourcesOf finds everything the Service may own: the load balancers its
// annotations and its status name, their target groups, target groups made
// by a run stopped before attaching them, and its security groups. When the
// annotations do not parse, the names are unknown and the inventory is read.
func (c *Cloud) resourcesOf(ctx context.Context, cluster string, svc *v1.Service) ([]owned, error) {
	uid := string(svc.UID)
	spec, err := annotations.Parse(svc.Annotations)
	if err != nil {
		return c.inventory(ctx, cluster, uid)
	}
	var refs []lbRef
	refs = append(refs, lbRef{name: model.LoadBalancerName(cluster, svc, spec), classic: spec.Type == annotations.CLB})
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if r, ok := refFromHostname(in.Hostname); ok && !slices.Contains(refs, r) {
			refs = append(refs, r)
		}
	}
	var items []owned
	for _, r := range refs {
		found, _, err := c.ofLoadBalancer(ctx, cluster, uid, r)
		if err != nil {
			return nil, err
		}
		items = append(items, found...)
	}
	if spec.Type != annotations.CLB {
		names, err := c.targetGroupNames(ctx, cluster, svc, spec)
		if err != nil {
			return c.inventory(ctx, cluster, uid)
		}
		for _, n := range names {
			if slices.ContainsFunc(items, func(o owned) bool { return o.Name == n }) {
				continue
			}
			tg, err := c.targetGroupByName(ctx, cluster, uid, n)
			if err != nil {
				return nil, err
			}
			if tg != nil {
				items = append(items, *tg)
			}
		}
	}
	sgs, err := c.securityGroupsOf(ctx, cluster, uid)
	if err != nil {
		return nil, err
	}
	return append(items, sgs...), nil
}

func (c *Cloud) targetGroupNames(ctx context.Context, cluster string, svc *v1.Service, spec *annotations.Spec) ([]string, error) {
	subnets, err := c.vpcSubnets(ctx)
	if err != nil {
		return nil, err
	}
	lb, err := model.Build(model.Input{Cluster: cluster, Service: svc, Spec: spec, Subnets: subnets, Config: c.cfg})
	if err != nil {
		return nil, fmt.Errorf("modelling the load balancer: %w", err)
	}
	var names []string
	for _, l := range lb.Listeners {
		names = append(names, l.TargetGroup.Name)
	}
	return names, nil
}
