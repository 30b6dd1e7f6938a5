package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"

	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// taggingAction is the IAM action inventoryByTag needs beyond the Describe
// calls; without it, inventory falls back to listing the account.
const taggingAction = "tag:GetResources"

// inventoryByTag finds the cluster's (or the Service's) load balancers and
// target groups with the Tagging API's GetResources, which filters by the
// ownership tags on AWS's side, then describes only those, 20 at a time,
// for the security groups a load balancer uses and whether a target group
// is attached: O(cluster) calls where inventoryAll makes O(account) (issue
// 17). The Tagging API's index lags behind: a resource it does not list yet
// is found by the next pass, and one it still lists after its deletion is
// skipped when Describe no longer finds it.
func (c *Cloud) inventoryByTag(ctx context.Context, cluster, uid string) ([]owned, error) {
	filters := []taggingtypes.TagFilter{{Key: aws.String(model.ClusterTag(cluster)), Values: []string{model.TagOwned}}}
	if uid != "" {
		filters = append(filters, taggingtypes.TagFilter{Key: aws.String(model.TagServiceUID), Values: []string{uid}})
	}
	f := found{tags: map[string]map[string]string{}}
	var lbARNs, tgARNs, classic []string
	p := tagging.NewGetResourcesPaginator(c.api.Tagging, &tagging.GetResourcesInput{
		TagFilters:          filters,
		ResourceTypeFilters: []string{"elasticloadbalancing:loadbalancer", "elasticloadbalancing:targetgroup"},
		ResourcesPerPage:    aws.Int32(100),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the cluster's load balancers by tag: %w", err)
		}
		for _, m := range page.ResourceTagMappingList {
			arn := aws.ToString(m.ResourceARN)
			t := map[string]string{}
			for _, tag := range m.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			switch kind, name := elbResource(arn); kind {
			case "nlb":
				lbARNs, f.tags[arn] = append(lbARNs, arn), t
			case "clb":
				classic, f.tags[name] = append(classic, name), t
			case "tg":
				tgARNs, f.tags[arn] = append(tgARNs, arn), t
			}
		}
	}

	var err error
	f.nlbs, err = describeEach(ctx, lbARNs, func(ctx context.Context, arns []string) ([]elbv2types.LoadBalancer, error) {
		res, err := c.api.ELBv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: arns})
		if err != nil {
			return nil, err
		}
		return res.LoadBalancers, nil
	})
	if err != nil {
		return nil, err
	}
	f.tgs, err = describeEach(ctx, tgARNs, func(ctx context.Context, arns []string) ([]elbv2types.TargetGroup, error) {
		res, err := c.api.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: arns})
		if err != nil {
			return nil, err
		}
		return res.TargetGroups, nil
	})
	if err != nil {
		return nil, err
	}
	f.clbs, err = describeEach(ctx, classic, func(ctx context.Context, names []string) ([]elbtypes.LoadBalancerDescription, error) {
		res, err := c.api.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: names})
		if err != nil {
			return nil, err
		}
		return res.LoadBalancerDescriptions, nil
	})
	if err != nil {
		return nil, err
	}
	return c.ownedOf(ctx, cluster, uid, f)
}

// elbResource reads an Elastic Load Balancing ARN: "nlb" for a network load
// balancer (arn:…:loadbalancer/net/<name>/<id>), "clb" and its name for a
// classic one (arn:…:loadbalancer/<name>), "tg" for a target group; ""
// for anything else (frontdesk makes no other kind).
func elbResource(arn string) (kind, name string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return "", ""
	}
	path := strings.Split(parts[5], "/")
	switch {
	case path[0] == "loadbalancer" && len(path) == 4 && path[1] == "net":
		return "nlb", path[2]
	case path[0] == "loadbalancer" && len(path) == 2:
		return "clb", path[1]
	case path[0] == "targetgroup" && len(path) == 3:
		return "tg", path[1]
	}
	return "", ""
}

// describeEach describes ids 20 at a time (the Describe calls' limit). One
// unknown ID fails a whole Describe with a not-found error, so such a chunk
// is described one by one, and what is gone is left out.
func describeEach[T any](ctx context.Context, ids []string, describe func(context.Context, []string) ([]T, error)) ([]T, error) {
	var out []T
	for chunk := range slices.Chunk(ids, 20) {
		got, err := describe(ctx, chunk)
		if err == nil {
			out = append(out, got...)
			continue
		}
		if !notFound(errorCode(err)) {
			return nil, err
		}
		for _, id := range chunk {
			got, err := describe(ctx, []string{id})
			switch {
			case notFound(errorCode(err)):
			case err != nil:
				return nil, err
			default:
				out = append(out, got...)
			}
		}
	}
	return out, nil
}
