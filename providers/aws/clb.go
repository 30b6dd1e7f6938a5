package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"

	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// proxyPolicy is the backend policy that turns proxy protocol (v1, all a
// classic load balancer speaks) on.
const proxyPolicy = "k8s-proxyprotocol-enabled"

// ensureClassic converges a classic load balancer.
func (r *reconcile) ensureClassic(ctx context.Context, groups []string) (string, error) {
	want, cl := r.lb, r.lb.Classic
	var cur *types.LoadBalancerDescription
	out, err := r.c.api.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{want.Name}})
	switch {
	case errorCode(err) == "LoadBalancerNotFound" || errorCode(err) == "AccessPointNotFound":
	case err != nil:
		return "", fmt.Errorf("describing classic load balancer %s: %w", want.Name, err)
	case len(out.LoadBalancerDescriptions) > 0:
		cur = &out.LoadBalancerDescriptions[0]
	}
	wantListeners := classicListeners(want.Listeners)
	var subnets []string
	for _, m := range want.SubnetMappings {
		subnets = append(subnets, m.SubnetID)
	}
	name := aws.String(want.Name)
	var dns string
	if cur == nil {
		in := &elb.CreateLoadBalancerInput{LoadBalancerName: name, Listeners: wantListeners, Subnets: subnets,
			SecurityGroups: groups, Tags: classicTags(want.Tags)}
		if want.Scheme == "internal" {
			in.Scheme = aws.String("internal")
		}
		res, err := r.c.api.ELB.CreateLoadBalancer(ctx, in)
		if err != nil {
			return "", fmt.Errorf("creating classic load balancer %s: %w", want.Name, err)
		}
		r.mutated = true
		dns = aws.ToString(res.DNSName)
		cur = &types.LoadBalancerDescription{} // nothing configured yet
	} else {
		dns = aws.ToString(cur.DNSName)
		tags, err := r.c.elbTags(ctx, []string{want.Name})
		if err != nil {
			return "", fmt.Errorf("describing tags of %s: %w", want.Name, err)
		}
		t := tags[want.Name]
		if !model.OwnedBy(t, r.cluster, want.Owner.UID) {
			return "", fmt.Errorf("classic load balancer %s %w", want.Name, ErrNotOwned)
		}
		var add []types.Tag
		for _, k := range sortedKeys(want.Tags) {
			if v, ok := t[k]; !ok || v != want.Tags[k] {
				add = append(add, types.Tag{Key: aws.String(k), Value: aws.String(want.Tags[k])})
			}
		}
		if len(add) > 0 {
			r.mutated = true
			if _, err := r.c.api.ELB.AddTags(ctx, &elb.AddTagsInput{LoadBalancerNames: []string{want.Name}, Tags: add}); err != nil {
				return "", fmt.Errorf("tagging %s: %w", want.Name, err)
			}
		}
		if err := r.classicListenersDiff(ctx, cur, wantListeners); err != nil {
			return "", err
		}
		if have := slices.Sorted(slices.Values(cur.SecurityGroups)); !slices.Equal(have, groups) {
			r.mutated = true
			if _, err := r.c.api.ELB.ApplySecurityGroupsToLoadBalancer(ctx, &elb.ApplySecurityGroupsToLoadBalancerInput{LoadBalancerName: name, SecurityGroups: groups}); err != nil {
				return "", fmt.Errorf("setting the security groups of %s: %w", want.Name, err)
			}
		}
	}
	if err := r.classicHealthCheck(ctx, cur); err != nil {
		return "", err
	}
	if err := r.classicAttributes(ctx); err != nil {
		return "", err
	}
	if err := r.classicProxyProtocol(ctx, cur); err != nil {
		return "", err
	}
	return dns, r.classicInstances(ctx, cur, cl.Instances)
}

func classicListeners(ls []model.Listener) []types.Listener {
	out := make([]types.Listener, 0, len(ls))
	for _, l := range ls {
		x := types.Listener{LoadBalancerPort: l.Port, Protocol: aws.String(l.Protocol), InstancePort: aws.Int32(l.InstancePort),
			InstanceProtocol: aws.String(l.InstanceProtocol)}
		if len(l.Certificates) > 0 {
			x.SSLCertificateId = aws.String(l.Certificates[0])
		}
		out = append(out, x)
	}
	return out
}

func listenerKey(l types.Listener) string {
	return fmt.Sprintf("%d/%s/%d/%s/%s", l.LoadBalancerPort, strings.ToUpper(aws.ToString(l.Protocol)), aws.ToInt32(l.InstancePort),
		strings.ToUpper(aws.ToString(l.InstanceProtocol)), aws.ToString(l.SSLCertificateId))
}

// classicListenersDiff replaces listeners that differ: a classic listener
// cannot be modified, only deleted and created.
func (r *reconcile) classicListenersDiff(ctx context.Context, cur *types.LoadBalancerDescription, want []types.Listener) error {
	have := map[string]int32{}
	for _, d := range cur.ListenerDescriptions {
		if d.Listener != nil {
			have[listenerKey(*d.Listener)] = d.Listener.LoadBalancerPort
		}
	}
	wantKeys := map[string]bool{}
	var add []types.Listener
	for _, l := range want {
		wantKeys[listenerKey(l)] = true
		if _, ok := have[listenerKey(l)]; !ok {
			add = append(add, l)
		}
	}
	var del []int32
	for k, port := range have {
		if !wantKeys[k] {
			del = append(del, port)
		}
	}
	// A changed listener keeps its port, and its old version is not wanted: it
	// is in del, and deleted before the new one is created.
	name := aws.String(r.lb.Name)
	if len(del) > 0 {
		r.mutated = true
		if _, err := r.c.api.ELB.DeleteLoadBalancerListeners(ctx, &elb.DeleteLoadBalancerListenersInput{LoadBalancerName: name, LoadBalancerPorts: del}); err != nil {
			return fmt.Errorf("deleting listeners %v of %s: %w", del, r.lb.Name, err)
		}
	}
	if len(add) > 0 {
		r.mutated = true
		if _, err := r.c.api.ELB.CreateLoadBalancerListeners(ctx, &elb.CreateLoadBalancerListenersInput{LoadBalancerName: name, Listeners: add}); err != nil {
			return fmt.Errorf("creating listeners of %s: %w", r.lb.Name, err)
		}
	}
	return nil
}

func (r *reconcile) classicHealthCheck(ctx context.Context, cur *types.LoadBalancerDescription) error {
	hc := r.lb.Classic.HealthCheck
	target := hc.Protocol + ":" + hc.Port
	if hc.Protocol != "TCP" {
		target += hc.Path
	}
	want := &types.HealthCheck{Target: aws.String(target), Interval: aws.Int32(hc.Interval), Timeout: aws.Int32(hc.Timeout),
		HealthyThreshold: aws.Int32(hc.Healthy), UnhealthyThreshold: aws.Int32(hc.Unhealthy)}
	if h := cur.HealthCheck; h != nil && aws.ToString(h.Target) == target && aws.ToInt32(h.Interval) == hc.Interval &&
		aws.ToInt32(h.Timeout) == hc.Timeout && aws.ToInt32(h.HealthyThreshold) == hc.Healthy && aws.ToInt32(h.UnhealthyThreshold) == hc.Unhealthy {
		return nil
	}
	r.mutated = true
	if _, err := r.c.api.ELB.ConfigureHealthCheck(ctx, &elb.ConfigureHealthCheckInput{LoadBalancerName: aws.String(r.lb.Name), HealthCheck: want}); err != nil {
		return fmt.Errorf("configuring the health check of %s: %w", r.lb.Name, err)
	}
	return nil
}

func (r *reconcile) classicAttributes(ctx context.Context) error {
	cl := r.lb.Classic
	out, err := r.c.api.ELB.DescribeLoadBalancerAttributes(ctx, &elb.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(r.lb.Name)})
	if err != nil {
		return fmt.Errorf("describing attributes of %s: %w", r.lb.Name, err)
	}
	want := &types.LoadBalancerAttributes{
		CrossZoneLoadBalancing: &types.CrossZoneLoadBalancing{Enabled: cl.CrossZone},
		ConnectionSettings:     &types.ConnectionSettings{IdleTimeout: aws.Int32(cl.IdleTimeout)},
		ConnectionDraining:     &types.ConnectionDraining{Enabled: cl.Draining, Timeout: aws.Int32(cl.DrainingTimeout)},
	}
	if a := out.LoadBalancerAttributes; a != nil && a.CrossZoneLoadBalancing != nil && a.CrossZoneLoadBalancing.Enabled == cl.CrossZone &&
		a.ConnectionSettings != nil && aws.ToInt32(a.ConnectionSettings.IdleTimeout) == cl.IdleTimeout &&
		a.ConnectionDraining != nil && a.ConnectionDraining.Enabled == cl.Draining &&
		(!cl.Draining || aws.ToInt32(a.ConnectionDraining.Timeout) == cl.DrainingTimeout) {
		return nil
	}
	r.mutated = true
	if _, err := r.c.api.ELB.ModifyLoadBalancerAttributes(ctx, &elb.ModifyLoadBalancerAttributesInput{LoadBalancerName: aws.String(r.lb.Name), LoadBalancerAttributes: want}); err != nil {
		return fmt.Errorf("setting attributes of %s: %w", r.lb.Name, err)
	}
	return nil
}

func (r *reconcile) classicProxyProtocol(ctx context.Context, cur *types.LoadBalancerDescription) error {
	have := map[int32]bool{}
	for _, b := range cur.BackendServerDescriptions {
		if slices.Contains(b.PolicyNames, proxyPolicy) {
			have[aws.ToInt32(b.InstancePort)] = true
		}
	}
	want := map[int32]bool{}
	for _, p := range r.lb.Classic.ProxyProtocolPorts {
		want[p] = true
	}
	name := aws.String(r.lb.Name)
	created := false
	for _, l := range r.lb.Listeners {
		port := l.InstancePort
		if have[port] == want[port] {
			continue
		}
		r.mutated = true
		policies := []string{}
		if want[port] {
			if !created {
				_, err := r.c.api.ELB.CreateLoadBalancerPolicy(ctx, &elb.CreateLoadBalancerPolicyInput{LoadBalancerName: name,
					PolicyName: aws.String(proxyPolicy), PolicyTypeName: aws.String("ProxyProtocolPolicyType"),
					PolicyAttributes: []types.PolicyAttribute{{AttributeName: aws.String("ProxyProtocol"), AttributeValue: aws.String("true")}}})
				if err != nil && errorCode(err) != "DuplicatePolicyName" {
					return fmt.Errorf("creating the proxy-protocol policy of %s: %w", r.lb.Name, err)
				}
				created = true
			}
			policies = []string{proxyPolicy}
		}
		if _, err := r.c.api.ELB.SetLoadBalancerPoliciesForBackendServer(ctx, &elb.SetLoadBalancerPoliciesForBackendServerInput{
			LoadBalancerName: name, InstancePort: aws.Int32(port), PolicyNames: policies}); err != nil {
			return fmt.Errorf("setting proxy protocol on port %d of %s: %w", port, r.lb.Name, err)
		}
	}
	return nil
}

func (r *reconcile) classicInstances(ctx context.Context, cur *types.LoadBalancerDescription, want []string) error {
	have := map[string]bool{}
	for _, i := range cur.Instances {
		have[aws.ToString(i.InstanceId)] = true
	}
	var add, del []types.Instance
	for _, id := range want {
		if !have[id] {
			add = append(add, types.Instance{InstanceId: aws.String(id)})
		}
	}
	for id := range have {
		if !slices.Contains(want, id) {
			del = append(del, types.Instance{InstanceId: aws.String(id)})
		}
	}
	name := aws.String(r.lb.Name)
	if len(add) > 0 {
		r.mutated = true
		if _, err := r.c.api.ELB.RegisterInstancesWithLoadBalancer(ctx, &elb.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: name, Instances: add}); err != nil {
			return fmt.Errorf("registering %d instances with %s: %w", len(add), r.lb.Name, err)
		}
	}
	if len(del) > 0 {
		r.mutated = true
		if _, err := r.c.api.ELB.DeregisterInstancesFromLoadBalancer(ctx, &elb.DeregisterInstancesFromLoadBalancerInput{LoadBalancerName: name, Instances: del}); err != nil {
			return fmt.Errorf("deregistering %d instances from %s: %w", len(del), r.lb.Name, err)
		}
	}
	return nil
}

func classicTags(tags map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func (c *Cloud) classicDNSName(ctx context.Context, name string) (string, error) {
	out, err := c.api.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if err != nil {
		return "", err
	}
	if len(out.LoadBalancerDescriptions) == 0 {
		return "", fmt.Errorf("classic load balancer %s vanished", name)
	}
	return aws.ToString(out.LoadBalancerDescriptions[0].DNSName), nil
}
