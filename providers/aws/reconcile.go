package aws

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	"k8s.io/cloud-provider/api"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// ErrNotOwned is returned when a resource with our deterministic name exists
// but is not tagged for the Service: frontdesk never adopts or changes it.
var ErrNotOwned = errors.New("exists but is not tagged as this Service's; frontdesk leaves it alone (rename or delete it)")

// reconcile is one convergence of one Service's load balancer. Describe
// results live as long as it does.
type reconcile struct {
	c       *Cloud
	cluster string
	vpc     string
	lb      *model.LoadBalancer
	status  v1.LoadBalancerStatus // the Service's, naming the load balancer it had
	logger  logr.Logger
	mutated bool // some call changed AWS
}

func (r *reconcile) run(ctx context.Context) (string, error) {
	sg, err := r.ensureSecurityGroup(ctx)
	if err != nil {
		return "", err
	}
	backend, err := r.ensureBackend(ctx)
	if err != nil {
		return "", err
	}
	groups := []string{sg, backend}
	slices.Sort(groups)
	var dns string
	if r.lb.Type == annotations.CLB {
		dns, err = r.ensureClassic(ctx, groups)
	} else {
		dns, err = r.ensureNetwork(ctx, groups)
	}
	if err != nil {
		return "", err
	}
	return dns, r.removeReplaced(ctx, sg)
}

// removeReplaced deletes the load balancer the Service's status still names
// when the model names another one (a change of type, scheme or Elastic
// IPs): traffic has moved once the new one exists, and the status moves with
// this call's result. Its target groups and security group go with it.
func (r *reconcile) removeReplaced(ctx context.Context, keepSG string) error {
	var stale []owned
	for _, in := range r.status.Ingress {
		ref, ok := refFromHostname(in.Hostname)
		if !ok || ref.name == r.lb.Name {
			continue
		}
		items, sgs, err := r.c.ofLoadBalancer(ctx, r.cluster, r.lb.Owner.UID, ref)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			continue
		}
		stale = append(stale, items...)
		owned, err := r.c.securityGroupsOf(ctx, r.cluster, r.lb.Owner.UID)
		if err != nil {
			return err
		}
		for _, g := range owned {
			if g.ID != keepSG && slices.Contains(sgs, g.ID) {
				stale = append(stale, g)
			}
		}
	}
	if len(stale) == 0 {
		return nil
	}
	for _, it := range stale {
		r.logger.V(2).Info("Deleting the replaced load balancer's resources", "kind", it.Kind, "name", it.Name)
	}
	return r.c.deleteOwned(ctx, stale)
}

type ruleKey struct {
	proto string
	port  int32
	cidr  netip.Prefix
}

// ensureSecurityGroup converges the load balancer's security group and
// returns its ID.
func (r *reconcile) ensureSecurityGroup(ctx context.Context) (string, error) {
	want := r.lb.SecurityGroup
	out, err := r.c.api.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{r.vpc}},
		{Name: aws.String("group-name"), Values: []string{want.Name}},
	}})
	if err != nil {
		return "", fmt.Errorf("describing security group %s: %w", want.Name, err)
	}
	var id string
	rules := map[ruleKey]bool{}
	if len(out.SecurityGroups) == 0 {
		res, err := r.c.api.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(want.Name), Description: aws.String(want.Description), VpcId: aws.String(r.vpc),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: ec2TagList(want.Tags)}},
		})
		if errorCode(err) == "InvalidGroup.Duplicate" {
			// Created by an earlier run, not yet visible to Describe.
			return "", api.NewRetryError("security group "+want.Name+" was just created and AWS does not list it yet", retryDeleting)
		}
		if err != nil {
			return "", fmt.Errorf("creating security group %s: %w", want.Name, err)
		}
		r.mutated = true
		id = aws.ToString(res.GroupId)
	} else {
		g := out.SecurityGroups[0]
		id = aws.ToString(g.GroupId)
		have := ec2Tags(g.Tags)
		if !model.OwnedBy(have, r.cluster, r.lb.Owner.UID) {
			return "", fmt.Errorf("security group %s (%s) %w", want.Name, id, ErrNotOwned)
		}
		var add []ec2types.Tag
		for _, k := range sortedKeys(want.Tags) {
			if v, ok := have[k]; !ok || v != want.Tags[k] {
				add = append(add, ec2types.Tag{Key: aws.String(k), Value: aws.String(want.Tags[k])})
			}
		}
		if len(add) > 0 {
			r.mutated = true
			if _, err := r.c.api.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: add}); err != nil {
				return "", fmt.Errorf("tagging security group %s: %w", want.Name, err)
			}
		}
		for _, p := range g.IpPermissions {
			for _, rg := range p.IpRanges {
				if pf, err := netip.ParsePrefix(aws.ToString(rg.CidrIp)); err == nil {
					rules[ruleKey{aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), pf}] = true
				}
			}
			for _, rg := range p.Ipv6Ranges {
				if pf, err := netip.ParsePrefix(aws.ToString(rg.CidrIpv6)); err == nil {
					rules[ruleKey{aws.ToString(p.IpProtocol), aws.ToInt32(p.FromPort), pf}] = true
				}
			}
		}
	}
	wantSet := map[ruleKey]bool{}
	var add []ec2types.IpPermission
	for _, rule := range want.Rules {
		k := ruleKey{rule.Protocol, rule.Port, rule.CIDR}
		wantSet[k] = true
		if !rules[k] {
			add = append(add, permission(k))
		}
	}
	var del []ec2types.IpPermission
	for k := range rules {
		if !wantSet[k] {
			del = append(del, permission(k))
		}
	}
	if len(add) > 0 {
		r.mutated = true
		_, err := r.c.api.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: add})
		if err != nil && errorCode(err) != "InvalidPermission.Duplicate" {
			return "", fmt.Errorf("adding rules to security group %s: %w", want.Name, err)
		}
	}
	if len(del) > 0 {
		r.mutated = true
		_, err := r.c.api.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: del})
		if err != nil && errorCode(err) != "InvalidPermission.NotFound" {
			return "", fmt.Errorf("removing rules from security group %s: %w", want.Name, err)
		}
	}
	return id, nil
}

func permission(k ruleKey) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String(k.proto), FromPort: aws.Int32(k.port), ToPort: aws.Int32(k.port)}
	if k.cidr.Addr().Is4() {
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(k.cidr.String())}}
	} else {
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(k.cidr.String())}}
	}
	return p
}

func ec2TagList(tags map[string]string) []ec2types.Tag {
	var out []ec2types.Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
