package aws

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/cloud-provider/api"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// The nodes must admit traffic from the load balancers. One rule per load
// balancer in the nodes' security group would hit AWS's 60 rules per group
// at the 60th Service, so, like aws-load-balancer-controller, every load
// balancer also carries one shared "backend" security group of the cluster,
// and each node's security group admits that group once: on the NodePort
// range (TCP and UDP) and on any health-check port outside it. These rules
// and the backend group are the cluster's, not a Service's: they carry no
// Service UID, and neither a delete nor the sweep removes them.

// backendTTL bounds how long a deleted backend group or a revoked node rule
// goes unnoticed.
const backendTTL = 10 * time.Minute

// NodePort range of the API server's default --service-node-port-range.
const nodePortMin, nodePortMax = 30000, 32767

// ResourceBackendSecurityGroup tags the shared backend group.
const ResourceBackendSecurityGroup = "backend-security-group"

type backendState struct {
	mu       sync.Mutex
	since    time.Time         // what follows is forgotten every backendTTL, to repair drift
	group    string            // the backend group's ID once known
	nodeSG   map[string]string // instance ID → the security group that admits the backend group
	admitted map[string]bool   // "<node group>/<proto>/<from>-<to>" rules known to exist
}

type portRange struct {
	proto    string
	from, to int32
}

func (p portRange) key(group string) string {
	return fmt.Sprintf("%s/%s/%d-%d", group, p.proto, p.from, p.to)
}

// backendPorts are the node ports the load balancer needs: the NodePort
// range and health-check ports outside it.
func backendPorts(lb *model.LoadBalancer) []portRange {
	out := []portRange{{"tcp", nodePortMin, nodePortMax}, {"udp", nodePortMin, nodePortMax}}
	add := func(hc model.HealthCheck) {
		p, err := strconv.Atoi(hc.Port)
		if err != nil || (p >= nodePortMin && p <= nodePortMax) {
			return
		}
		r := portRange{"tcp", int32(p), int32(p)}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if lb.Classic != nil {
		add(lb.Classic.HealthCheck)
	}
	for _, l := range lb.Listeners {
		if l.TargetGroup != nil && l.TargetGroup.TargetType == string(annotations.TargetInstance) {
			add(l.TargetGroup.HealthCheck)
		}
	}
	return out
}

// ensureBackend returns the backend group, creating it if needed, and makes
// the target nodes' groups admit it. What it has checked is remembered, so
// a resync of an unchanged Service makes no call here.
func (r *reconcile) ensureBackend(ctx context.Context) (string, error) {
	b := &r.c.backend
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.since) > backendTTL {
		b.group = ""
	}
	if b.group == "" {
		id, err := r.findOrCreateBackendGroup(ctx)
		if err != nil {
			return "", err
		}
		b.group, b.since = id, time.Now()
		b.nodeSG, b.admitted = map[string]string{}, map[string]bool{}
	}
	var unknown []string
	for _, id := range targetInstances(r.lb) {
		if _, ok := b.nodeSG[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		out, err := r.c.api.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: unknown})
		if err != nil {
			return "", fmt.Errorf("describing target instances: %w", err)
		}
		for _, res := range out.Reservations {
			for _, in := range res.Instances {
				// The first group: the one a node template lists for the
				// node itself (cloud-provider-aws falls back to it too).
				if len(in.SecurityGroups) > 0 {
					b.nodeSG[aws.ToString(in.InstanceId)] = aws.ToString(in.SecurityGroups[0].GroupId)
				}
			}
		}
	}
	groups := map[string]bool{}
	for _, id := range targetInstances(r.lb) {
		if g := b.nodeSG[id]; g != "" {
			groups[g] = true
		}
	}
	ports := backendPorts(r.lb)
	for _, g := range sortedSet(groups) {
		var missing []portRange
		for _, p := range ports {
			if !b.admitted[p.key(g)] {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			continue
		}
		out, err := r.c.api.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{g}})
		if err != nil {
			return "", fmt.Errorf("describing node security group %s: %w", g, err)
		}
		have := map[portRange]bool{}
		for _, sg := range out.SecurityGroups {
			for _, perm := range sg.IpPermissions {
				for _, pair := range perm.UserIdGroupPairs {
					if aws.ToString(pair.GroupId) == b.group {
						have[portRange{aws.ToString(perm.IpProtocol), aws.ToInt32(perm.FromPort), aws.ToInt32(perm.ToPort)}] = true
					}
				}
			}
		}
		var add []ec2types.IpPermission
		for _, p := range missing {
			if !have[p] {
				add = append(add, ec2types.IpPermission{IpProtocol: aws.String(p.proto), FromPort: aws.Int32(p.from), ToPort: aws.Int32(p.to),
					UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(b.group),
						Description: aws.String("frontdesk: load balancers of cluster " + r.cluster)}}})
			}
		}
		if len(add) > 0 {
			r.mutated = true
			_, err := r.c.api.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(g), IpPermissions: add})
			if err != nil && errorCode(err) != "InvalidPermission.Duplicate" {
				return "", fmt.Errorf("admitting the load balancers in node security group %s: %w", g, err)
			}
		}
		for _, p := range missing {
			b.admitted[p.key(g)] = true
		}
	}
	return b.group, nil
}

func (r *reconcile) findOrCreateBackendGroup(ctx context.Context) (string, error) {
	name := "k8s-traffic-" + r.cluster
	out, err := r.c.api.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{r.vpc}},
		{Name: aws.String("group-name"), Values: []string{name}},
	}})
	if err != nil {
		return "", fmt.Errorf("describing the backend security group %s: %w", name, err)
	}
	if len(out.SecurityGroups) > 0 {
		g := out.SecurityGroups[0]
		if ec2Tags(g.Tags)[model.ClusterTag(r.cluster)] != model.TagOwned {
			return "", fmt.Errorf("security group %s (%s) %w", name, aws.ToString(g.GroupId), ErrNotOwned)
		}
		return aws.ToString(g.GroupId), nil
	}
	tags := map[string]string{model.ClusterTag(r.cluster): model.TagOwned, model.TagResource: ResourceBackendSecurityGroup}
	res, err := r.c.api.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String(name), VpcId: aws.String(r.vpc),
		Description:       aws.String("frontdesk: every load balancer of cluster " + r.cluster + "; node security groups admit it"),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup, Tags: ec2TagList(tags)}},
	})
	if errorCode(err) == "InvalidGroup.Duplicate" {
		return "", api.NewRetryError("security group "+name+" was just created and AWS does not list it yet", retryDeleting)
	}
	if err != nil {
		return "", fmt.Errorf("creating the backend security group %s: %w", name, err)
	}
	r.mutated = true
	return aws.ToString(res.GroupId), nil
}

func targetInstances(lb *model.LoadBalancer) []string {
	if lb.Classic != nil {
		return lb.Classic.Instances
	}
	var out []string
	for _, l := range lb.Listeners {
		if l.TargetGroup.TargetType != string(annotations.TargetInstance) {
			continue
		}
		for _, t := range l.TargetGroup.Targets {
			if !slices.Contains(out, t.ID) {
				out = append(out, t.ID)
			}
		}
	}
	slices.Sort(out)
	return out
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
