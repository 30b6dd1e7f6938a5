package aws

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	"k8s.io/cloud-provider/api"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/providers/aws/awsapi"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// owned is one resource of this cluster found by its tags.
type owned struct {
	Kind  string // model.Resource*: load-balancer, target-group, security-group
	Type  string // for load balancers: nlb or clb
	ID    string // ARN (ELBv2), name (CLB), group ID (security group)
	Name  string
	Owner model.Owner
	// InUse: a target group attached to a load balancer, a security group
	// that a load balancer of ours uses.
	InUse bool
}

// inventory lists every resource tagged as owned by the cluster (and, when
// uid is set, by that Service). It is the only way to find what a process
// killed half-way left behind, so deletion and the sweep both start here.
// It asks the Tagging API for the cluster's resources (inventory_tags.go);
// without the tag:GetResources permission it lists the account's.
func (c *Cloud) inventory(ctx context.Context, cluster, uid string) ([]owned, error) {
	items, err := c.inventoryByTag(ctx, cluster, uid)
	// Only the Tagging API's refusal: another refused call (a Describe)
	// would be refused again by the account's listing.
	var pe *awsapi.PermissionError
	if !errors.As(err, &pe) || pe.Action != taggingAction {
		return items, err
	}
	klog.FromContext(ctx).Info("Listing every load balancer and target group of the account: grant "+pe.Action+
		" so that only the cluster's are listed", "err", err.Error())
	return c.inventoryAll(ctx, cluster, uid)
}

// found is what a listing found: the load balancers and target groups it
// described, and the tags of each by ARN (ELBv2) or name (classic). The
// Tagging API (inventoryByTag) and the account's listing (inventoryAll)
// fill it; ownedOf reads it the same way for both.
type found struct {
	nlbs []elbv2types.LoadBalancer
	tgs  []elbv2types.TargetGroup
	clbs []elbtypes.LoadBalancerDescription
	tags map[string]map[string]string
}

// inventoryAll finds the cluster's resources by listing every load
// balancer and target group of the account and reading their tags, 20 at a
// time: O(account) calls.
func (c *Cloud) inventoryAll(ctx context.Context, cluster, uid string) ([]owned, error) {
	f := found{tags: map[string]map[string]string{}}

	// ELBv2 load balancers and target groups.
	p := elbv2.NewDescribeLoadBalancersPaginator(c.api.ELBv2, &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(400)})
	var arns []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, lb := range page.LoadBalancers {
			arns = append(arns, aws.ToString(lb.LoadBalancerArn))
		}
		f.nlbs = append(f.nlbs, page.LoadBalancers...)
	}
	tags, err := c.elbv2Tags(ctx, arns)
	if err != nil {
		return nil, err
	}
	maps.Copy(f.tags, tags)
	tp := elbv2.NewDescribeTargetGroupsPaginator(c.api.ELBv2, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(400)})
	arns = nil
	for tp.HasMorePages() {
		page, err := tp.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, tg := range page.TargetGroups {
			arns = append(arns, aws.ToString(tg.TargetGroupArn))
		}
		f.tgs = append(f.tgs, page.TargetGroups...)
	}
	if tags, err = c.elbv2Tags(ctx, arns); err != nil {
		return nil, err
	}
	maps.Copy(f.tags, tags)

	// Classic load balancers.
	cp := elb.NewDescribeLoadBalancersPaginator(c.api.ELB, &elb.DescribeLoadBalancersInput{PageSize: aws.Int32(400)})
	var names []string
	for cp.HasMorePages() {
		page, err := cp.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, lb := range page.LoadBalancerDescriptions {
			names = append(names, aws.ToString(lb.LoadBalancerName))
		}
		f.clbs = append(f.clbs, page.LoadBalancerDescriptions...)
	}
	if tags, err = c.elbTags(ctx, names); err != nil {
		return nil, err
	}
	maps.Copy(f.tags, tags)
	return c.ownedOf(ctx, cluster, uid, f)
}

// ownedOf keeps, in the order found, the load balancers and target groups
// whose tags say they belong to the cluster (and, with uid, to that
// Service), with their owner filled in from the tags, and adds the owned
// security groups, marked in use when a load balancer found uses them.
func (c *Cloud) ownedOf(ctx context.Context, cluster, uid string, f found) ([]owned, error) {
	var out []owned
	add := func(id string, o owned) {
		if t := f.tags[id]; model.OwnedBy(t, cluster, uid) {
			o.Owner = model.OwnerOf(t)
			out = append(out, o)
		}
	}
	usedSGs := map[string]bool{}
	for _, lb := range f.nlbs {
		arn := aws.ToString(lb.LoadBalancerArn)
		add(arn, owned{Kind: model.ResourceLoadBalancer, Type: "nlb", ID: arn, Name: aws.ToString(lb.LoadBalancerName)})
		for _, sg := range lb.SecurityGroups {
			usedSGs[sg] = true
		}
	}
	for _, tg := range f.tgs {
		arn := aws.ToString(tg.TargetGroupArn)
		add(arn, owned{Kind: model.ResourceTargetGroup, ID: arn, Name: aws.ToString(tg.TargetGroupName), InUse: len(tg.LoadBalancerArns) > 0})
	}
	for _, lb := range f.clbs {
		n := aws.ToString(lb.LoadBalancerName)
		add(n, owned{Kind: model.ResourceLoadBalancer, Type: "clb", ID: n, Name: n})
		for _, sg := range lb.SecurityGroups {
			usedSGs[sg] = true
		}
	}
	sgs, err := c.ownedSecurityGroups(ctx, cluster, uid, usedSGs)
	if err != nil {
		return nil, err
	}
	return append(out, sgs...), nil
}

// ownedSecurityGroups lists the cluster's (or the Service's) security
// groups: EC2 filters by tag on the server side. used are the groups some
// load balancer uses.
func (c *Cloud) ownedSecurityGroups(ctx context.Context, cluster, uid string, used map[string]bool) ([]owned, error) {
	var out []owned
	filters := []ec2types.Filter{{Name: aws.String("tag:" + model.ClusterTag(cluster)), Values: []string{model.TagOwned}}}
	if uid != "" {
		filters = append(filters, ec2types.Filter{Name: aws.String("tag:" + model.TagServiceUID), Values: []string{uid}})
	}
	sp := ec2.NewDescribeSecurityGroupsPaginator(c.api.EC2, &ec2.DescribeSecurityGroupsInput{Filters: filters})
	for sp.HasMorePages() {
		page, err := sp.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range page.SecurityGroups {
			t := ec2Tags(g.Tags)
			if !model.OwnedBy(t, cluster, uid) {
				continue
			}
			id := aws.ToString(g.GroupId)
			out = append(out, owned{Kind: model.ResourceSecurityGroup, ID: id, Name: aws.ToString(g.GroupName),
				Owner: model.OwnerOf(t), InUse: used[id]})
		}
	}
	return out, nil
}

// elbTags reads the tags of classic load balancers, by name.
func (c *Cloud) elbTags(ctx context.Context, names []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for chunk := range slices.Chunk(names, 20) {
		res, err := c.api.ELB.DescribeTags(ctx, &elb.DescribeTagsInput{LoadBalancerNames: chunk})
		if err != nil {
			return nil, err
		}
		for _, d := range res.TagDescriptions {
			t := map[string]string{}
			for _, tag := range d.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			out[aws.ToString(d.LoadBalancerName)] = t
		}
	}
	return out, nil
}

func (c *Cloud) elbv2Tags(ctx context.Context, arns []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for chunk := range slices.Chunk(arns, 20) {
		res, err := c.api.ELBv2.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: chunk})
		if err != nil {
			return nil, err
		}
		for _, d := range res.TagDescriptions {
			t := map[string]string{}
			for _, tag := range d.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			out[aws.ToString(d.ResourceArn)] = t
		}
	}
	return out, nil
}

func ec2Tags(tags []ec2types.Tag) map[string]string {
	t := map[string]string{}
	for _, tag := range tags {
		t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return t
}

// retryDeleting is how long to wait when AWS still holds a resource that a
// just-deleted one used (an NLB's network interfaces outlive it for a while).
const retryDeleting = 15 * time.Second

// deleteOwned deletes resources in dependency order: load balancers, then
// target groups, then security groups. Every item was found by its ownership
// tags, so nothing else can be deleted here. A dependency still in place
// turns into a RetryError: the caller comes back later. A real failure
// beside such waits makes the whole error an ordinary one (withoutRetries).
func (c *Cloud) deleteOwned(ctx context.Context, items []owned) error {
	order := map[string]int{model.ResourceLoadBalancer: 0, model.ResourceTargetGroup: 1, model.ResourceSecurityGroup: 2}
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b owned) int { return order[a.Kind] - order[b.Kind] })
	var errs []error
	failed := false
	for _, it := range items {
		var err error
		switch {
		case it.Kind == model.ResourceLoadBalancer && it.Type == "clb":
			_, err = c.api.ELB.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerName: aws.String(it.ID)})
		case it.Kind == model.ResourceLoadBalancer:
			_, err = c.api.ELBv2.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(it.ID)})
		case it.Kind == model.ResourceTargetGroup:
			_, err = c.api.ELBv2.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(it.ID)})
		case it.Kind == model.ResourceSecurityGroup:
			_, err = c.api.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(it.ID)})
		}
		switch code := errorCode(err); {
		case err == nil, notFound(code):
		case code == "ResourceInUse" || code == "DependencyViolation":
			errs = append(errs, api.NewRetryError(fmt.Sprintf("%s %s is still in use (%s); deleting it later", it.Kind, it.Name, code), retryDeleting))
		default:
			failed = true
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", it.Kind, it.Name, err))
		}
	}
	if failed {
		errs = withoutRetries(errs)
	}
	return errors.Join(errs...)
}

// withoutRetries turns the RetryErrors among errs into ordinary errors of the same
// text. Joined with a real failure (a refused permission, a protected load
// balancer), a RetryError would make the whole error one (errors.As finds it
// in a join): the service controller would retry on its fixed delay forever
// and log at V(2) only, and public would log it as a wait, so the failure
// would reach no log an operator reads. As an ordinary error it is logged as
// one and retried with backoff, and the waiting resources, named in its text,
// are retried with it.
func withoutRetries(errs []error) []error {
	out := make([]error, len(errs))
	for i, err := range errs {
		out[i] = err
		var retry *api.RetryError
		if errors.As(err, &retry) {
			out[i] = errors.New(err.Error())
		}
	}
	return out
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func notFound(code string) bool {
	switch code {
	case "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "InvalidGroup.NotFound",
		"AccessPointNotFound", "LoadBalancerNotFoundException":
		return true
	}
	return false
}
