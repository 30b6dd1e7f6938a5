package aws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// ensureNetwork converges an NLB: load balancer, attributes, target groups
// (health checks, attributes, targets), then listeners. A resync that finds
// everything as desired makes only Describe calls.
func (r *reconcile) ensureNetwork(ctx context.Context, groups []string) (string, error) {
	want := r.lb
	var cur *types.LoadBalancer
	out, err := r.c.api.ELBv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{want.Name}})
	switch {
	case errorCode(err) == "LoadBalancerNotFound":
	case err != nil:
		return "", fmt.Errorf("describing load balancer %s: %w", want.Name, err)
	case len(out.LoadBalancers) > 0:
		cur = &out.LoadBalancers[0]
	}
	created := cur == nil
	if created {
		res, err := r.c.api.ELBv2.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:           aws.String(want.Name),
			Type:           types.LoadBalancerTypeEnumNetwork,
			Scheme:         types.LoadBalancerSchemeEnum(want.Scheme),
			IpAddressType:  types.IpAddressType(want.IPAddressType),
			SubnetMappings: subnetMappings(want.SubnetMappings),
			SecurityGroups: groups,
			Tags:           elbv2Tags(want.Tags),
		})
		if err != nil {
			return "", fmt.Errorf("creating load balancer %s: %w", want.Name, err)
		}
		r.mutated = true
		cur = &res.LoadBalancers[0]
	}
	arn := aws.ToString(cur.LoadBalancerArn)

	attached := map[string]types.TargetGroup{}
	var tags map[string]map[string]string
	var listeners []types.Listener
	if !created {
		tgs, err := r.c.api.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(arn)})
		if err != nil {
			return "", fmt.Errorf("describing target groups of %s: %w", want.Name, err)
		}
		for _, tg := range tgs.TargetGroups {
			attached[aws.ToString(tg.TargetGroupName)] = tg
		}
		// One DescribeTags for the load balancer and its target groups.
		arns := []string{arn}
		for _, tg := range tgs.TargetGroups {
			arns = append(arns, aws.ToString(tg.TargetGroupArn))
		}
		tags, err = r.c.elbv2Tags(ctx, arns)
		if err != nil {
			return "", err
		}
		if !model.OwnedBy(tags[arn], r.cluster, want.Owner.UID) {
			return "", fmt.Errorf("load balancer %s %w", want.Name, ErrNotOwned)
		}
		if err := r.addMissingTags(ctx, "load balancer "+want.Name, arn, tags[arn], want.Tags); err != nil {
			return "", err
		}
		if err := r.ensureSubnets(ctx, cur); err != nil {
			return "", err
		}
		if have := slices.Sorted(slices.Values(cur.SecurityGroups)); !slices.Equal(have, groups) {
			r.mutated = true
			if _, err := r.c.api.ELBv2.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: aws.String(arn), SecurityGroups: groups}); err != nil {
				return "", fmt.Errorf("setting the security groups of %s: %w", want.Name, err)
			}
		}
		ls, err := r.c.api.ELBv2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(arn)})
		if err != nil {
			return "", fmt.Errorf("describing listeners of %s: %w", want.Name, err)
		}
		listeners = ls.Listeners
		for name, tg := range attached {
			if !model.OwnedBy(tags[aws.ToString(tg.TargetGroupArn)], r.cluster, want.Owner.UID) {
				return "", fmt.Errorf("target group %s %w", name, ErrNotOwned)
			}
		}
	}
	if err := r.ensureLBAttributes(ctx, arn); err != nil {
		return "", err
	}
	for _, l := range want.Listeners {
		var have *types.TargetGroup
		if tg, ok := attached[l.TargetGroup.Name]; ok {
			have = &tg
		}
		tgARN, err := r.ensureTargetGroup(ctx, l.TargetGroup, have)
		if err != nil {
			return "", err
		}
		if have != nil {
			if err := r.addMissingTags(ctx, "target group "+l.TargetGroup.Name, tgARN, tags[tgARN], l.TargetGroup.Tags); err != nil {
				return "", err
			}
		}
		if err := r.ensureListener(ctx, arn, l, tgARN, listeners); err != nil {
			return "", err
		}
	}
	for _, ls := range listeners {
		if !slices.ContainsFunc(want.Listeners, func(l model.Listener) bool { return l.Port == aws.ToInt32(ls.Port) }) {
			r.mutated = true
			if _, err := r.c.api.ELBv2.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: ls.ListenerArn}); err != nil && !notFound(errorCode(err)) {
				return "", fmt.Errorf("deleting listener on port %d: %w", aws.ToInt32(ls.Port), err)
			}
		}
	}
	// Target groups the listeners no longer use (a new target type or
	// NodePort gave a new one); their tags were checked above.
	var detached []owned
	for name, tg := range attached {
		if !slices.ContainsFunc(want.Listeners, func(l model.Listener) bool { return l.TargetGroup.Name == name }) {
			detached = append(detached, owned{Kind: model.ResourceTargetGroup, ID: aws.ToString(tg.TargetGroupArn), Name: name})
		}
	}
	if len(detached) > 0 {
		r.mutated = true
		if err := r.c.deleteOwned(ctx, detached); err != nil {
			return "", err
		}
	}
	return aws.ToString(cur.DNSName), nil
}

// addMissingTags tags arn; what names it in errors (not the ARN, which
// carries the account ID into the Service's Events).
func (r *reconcile) addMissingTags(ctx context.Context, what, arn string, have, want map[string]string) error {
	var add []types.Tag
	for _, k := range sortedKeys(want) {
		if v, ok := have[k]; !ok || v != want[k] {
			add = append(add, types.Tag{Key: aws.String(k), Value: aws.String(want[k])})
		}
	}
	if len(add) == 0 {
		return nil
	}
	r.mutated = true
	if _, err := r.c.api.ELBv2.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: add}); err != nil {
		return fmt.Errorf("tagging %s: %w", what, err)
	}
	return nil
}

func (r *reconcile) ensureSubnets(ctx context.Context, cur *types.LoadBalancer) error {
	var have, want []string
	for _, az := range cur.AvailabilityZones {
		have = append(have, aws.ToString(az.SubnetId))
	}
	for _, m := range r.lb.SubnetMappings {
		want = append(want, m.SubnetID)
	}
	slices.Sort(have)
	slices.Sort(want)
	if slices.Equal(have, want) {
		return nil
	}
	r.mutated = true
	_, err := r.c.api.ELBv2.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: cur.LoadBalancerArn, SubnetMappings: subnetMappings(r.lb.SubnetMappings)})
	if err != nil {
		return fmt.Errorf("setting the subnets of %s: %w", r.lb.Name, err)
	}
	return nil
}

func (r *reconcile) ensureLBAttributes(ctx context.Context, arn string) error {
	out, err := r.c.api.ELBv2.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("describing attributes of %s: %w", r.lb.Name, err)
	}
	diff := attributeDiff(out.Attributes, r.lb.Attributes)
	if len(diff) == 0 {
		return nil
	}
	r.mutated = true
	if _, err := r.c.api.ELBv2.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn), Attributes: diff}); err != nil {
		return fmt.Errorf("setting attributes of %s: %w", r.lb.Name, err)
	}
	return nil
}

func attributeDiff(have []types.LoadBalancerAttribute, want map[string]string) []types.LoadBalancerAttribute {
	cur := map[string]string{}
	for _, a := range have {
		cur[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	var out []types.LoadBalancerAttribute
	for _, k := range sortedKeys(want) {
		if v, ok := cur[k]; !ok || v != want[k] {
			out = append(out, types.LoadBalancerAttribute{Key: aws.String(k), Value: aws.String(want[k])})
		}
	}
	return out
}

// ensureTargetGroup converges one target group; have is the attached group
// of that name, if any. It returns the group's ARN.
func (r *reconcile) ensureTargetGroup(ctx context.Context, want *model.TargetGroup, have *types.TargetGroup) (string, error) {
	if have == nil {
		// Not attached: maybe created by a run that was stopped before its listener.
		out, err := r.c.api.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{want.Name}})
		switch {
		case errorCode(err) == "TargetGroupNotFound":
		case err != nil:
			return "", fmt.Errorf("describing target group %s: %w", want.Name, err)
		case len(out.TargetGroups) > 0:
			tags, err := r.c.elbv2Tags(ctx, []string{aws.ToString(out.TargetGroups[0].TargetGroupArn)})
			if err != nil {
				return "", err
			}
			if !model.OwnedBy(tags[aws.ToString(out.TargetGroups[0].TargetGroupArn)], r.cluster, r.lb.Owner.UID) {
				return "", fmt.Errorf("target group %s %w", want.Name, ErrNotOwned)
			}
			have = &out.TargetGroups[0]
		}
	}
	created := have == nil
	if created {
		in := &elbv2.CreateTargetGroupInput{
			Name: aws.String(want.Name), Protocol: types.ProtocolEnum(want.Protocol), Port: aws.Int32(want.Port),
			TargetType: types.TargetTypeEnum(want.TargetType), IpAddressType: types.TargetGroupIpAddressTypeEnum(want.IPAddressType),
			VpcId: aws.String(r.vpc), Tags: elbv2Tags(want.Tags),
		}
		hc := want.HealthCheck
		in.HealthCheckProtocol, in.HealthCheckPort = types.ProtocolEnum(hc.Protocol), aws.String(hc.Port)
		in.HealthCheckIntervalSeconds, in.HealthCheckTimeoutSeconds = aws.Int32(hc.Interval), aws.Int32(hc.Timeout)
		in.HealthyThresholdCount, in.UnhealthyThresholdCount = aws.Int32(hc.Healthy), aws.Int32(hc.Unhealthy)
		in.HealthCheckEnabled = aws.Bool(true)
		if hc.Protocol != "TCP" {
			in.HealthCheckPath, in.Matcher = aws.String(hc.Path), &types.Matcher{HttpCode: aws.String(hc.SuccessCodes)}
		}
		out, err := r.c.api.ELBv2.CreateTargetGroup(ctx, in)
		if err != nil {
			return "", fmt.Errorf("creating target group %s: %w", want.Name, err)
		}
		r.mutated = true
		have = &out.TargetGroups[0]
	} else if mod := healthCheckDiff(have, want.HealthCheck); mod != nil {
		r.mutated = true
		if _, err := r.c.api.ELBv2.ModifyTargetGroup(ctx, mod); err != nil {
			return "", fmt.Errorf("updating the health check of %s: %w", want.Name, err)
		}
	}
	arn := aws.ToString(have.TargetGroupArn)
	attrs, err := r.c.api.ELBv2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("describing attributes of %s: %w", want.Name, err)
	}
	if diff := tgAttributeDiff(attrs.Attributes, want.Attributes); len(diff) > 0 {
		r.mutated = true
		if _, err := r.c.api.ELBv2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: diff}); err != nil {
			return "", fmt.Errorf("setting attributes of %s: %w", want.Name, err)
		}
	}
	return arn, r.ensureTargets(ctx, arn, want, created)
}

func healthCheckDiff(have *types.TargetGroup, hc model.HealthCheck) *elbv2.ModifyTargetGroupInput {
	same := string(have.HealthCheckProtocol) == hc.Protocol && aws.ToString(have.HealthCheckPort) == hc.Port &&
		aws.ToInt32(have.HealthCheckIntervalSeconds) == hc.Interval && aws.ToInt32(have.HealthCheckTimeoutSeconds) == hc.Timeout &&
		aws.ToInt32(have.HealthyThresholdCount) == hc.Healthy && aws.ToInt32(have.UnhealthyThresholdCount) == hc.Unhealthy
	if same && hc.Protocol != "TCP" {
		code := ""
		if have.Matcher != nil {
			code = aws.ToString(have.Matcher.HttpCode)
		}
		same = aws.ToString(have.HealthCheckPath) == hc.Path && code == hc.SuccessCodes
	}
	if same {
		return nil
	}
	in := &elbv2.ModifyTargetGroupInput{
		TargetGroupArn: have.TargetGroupArn, HealthCheckProtocol: types.ProtocolEnum(hc.Protocol), HealthCheckPort: aws.String(hc.Port),
		HealthCheckIntervalSeconds: aws.Int32(hc.Interval), HealthCheckTimeoutSeconds: aws.Int32(hc.Timeout),
		HealthyThresholdCount: aws.Int32(hc.Healthy), UnhealthyThresholdCount: aws.Int32(hc.Unhealthy),
	}
	if hc.Protocol != "TCP" {
		in.HealthCheckPath, in.Matcher = aws.String(hc.Path), &types.Matcher{HttpCode: aws.String(hc.SuccessCodes)}
	}
	return in
}

func tgAttributeDiff(have []types.TargetGroupAttribute, want map[string]string) []types.TargetGroupAttribute {
	cur := map[string]string{}
	for _, a := range have {
		cur[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	var out []types.TargetGroupAttribute
	for _, k := range sortedKeys(want) {
		if v, ok := cur[k]; !ok || v != want[k] {
			out = append(out, types.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(want[k])})
		}
	}
	return out
}

// ensureTargets registers missing targets and deregisters extra ones. A
// target already draining counts as gone.
func (r *reconcile) ensureTargets(ctx context.Context, arn string, want *model.TargetGroup, created bool) error {
	have := map[model.Target]bool{}
	if !created {
		out, err := r.c.api.ELBv2.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			return fmt.Errorf("describing targets of %s: %w", want.Name, err)
		}
		for _, d := range out.TargetHealthDescriptions {
			if d.TargetHealth != nil && d.TargetHealth.State == types.TargetHealthStateEnumDraining {
				continue
			}
			have[model.Target{ID: aws.ToString(d.Target.Id), Port: aws.ToInt32(d.Target.Port)}] = true
		}
	}
	var add, del []types.TargetDescription
	wantSet := map[model.Target]bool{}
	for _, t := range want.Targets {
		wantSet[t] = true
		if !have[t] {
			add = append(add, types.TargetDescription{Id: aws.String(t.ID), Port: aws.Int32(t.Port)})
		}
	}
	for t := range have {
		if !wantSet[t] {
			del = append(del, types.TargetDescription{Id: aws.String(t.ID), Port: aws.Int32(t.Port)})
		}
	}
	// RegisterTargets takes at most 1000 targets per call (the per-group quota too).
	for chunk := range slices.Chunk(add, 1000) {
		r.mutated = true
		if _, err := r.c.api.ELBv2.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: chunk}); err != nil {
			return fmt.Errorf("registering %d targets in %s: %w", len(chunk), want.Name, err)
		}
	}
	for chunk := range slices.Chunk(del, 1000) {
		r.mutated = true
		if _, err := r.c.api.ELBv2.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: chunk}); err != nil && !notFound(errorCode(err)) {
			return fmt.Errorf("deregistering %d targets from %s: %w", len(chunk), want.Name, err)
		}
	}
	return nil
}

func (r *reconcile) ensureListener(ctx context.Context, lbARN string, want model.Listener, tgARN string, have []types.Listener) error {
	action := []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tgARN)}}
	var certs []types.Certificate
	for _, c := range want.Certificates {
		certs = append(certs, types.Certificate{CertificateArn: aws.String(c)})
	}
	var policy *string
	if want.Protocol == "TLS" {
		policy = aws.String(want.SSLPolicy)
	}
	i := slices.IndexFunc(have, func(l types.Listener) bool { return aws.ToInt32(l.Port) == want.Port })
	if i < 0 {
		r.mutated = true
		_, err := r.c.api.ELBv2.CreateListener(ctx, &elbv2.CreateListenerInput{
			LoadBalancerArn: aws.String(lbARN), Port: aws.Int32(want.Port), Protocol: types.ProtocolEnum(want.Protocol),
			Certificates: certs, SslPolicy: policy, DefaultActions: action, Tags: elbv2Tags(r.lb.Tags),
		})
		if err != nil && errorCode(err) != "DuplicateListener" {
			return fmt.Errorf("creating listener on port %d: %w", want.Port, err)
		}
		return nil
	}
	cur := have[i]
	if listenerMatches(cur, want, tgARN) {
		return nil
	}
	r.mutated = true
	_, err := r.c.api.ELBv2.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn: cur.ListenerArn, Port: aws.Int32(want.Port), Protocol: types.ProtocolEnum(want.Protocol),
		Certificates: certs, SslPolicy: policy, DefaultActions: action,
	})
	if err != nil {
		return fmt.Errorf("updating listener on port %d: %w", want.Port, err)
	}
	return nil
}

func listenerMatches(cur types.Listener, want model.Listener, tgARN string) bool {
	if string(cur.Protocol) != want.Protocol || len(cur.DefaultActions) != 1 ||
		aws.ToString(cur.DefaultActions[0].TargetGroupArn) != tgARN && !forwardsOnlyTo(cur.DefaultActions[0], tgARN) {
		return false
	}
	var certs []string
	for _, c := range cur.Certificates {
		certs = append(certs, aws.ToString(c.CertificateArn))
	}
	if !slices.Equal(certs, want.Certificates) {
		return false
	}
	return want.Protocol != "TLS" || aws.ToString(cur.SslPolicy) == want.SSLPolicy
}

func forwardsOnlyTo(a types.Action, tgARN string) bool {
	return a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) == 1 &&
		aws.ToString(a.ForwardConfig.TargetGroups[0].TargetGroupArn) == tgARN
}

func subnetMappings(in []model.SubnetMapping) []types.SubnetMapping {
	out := make([]types.SubnetMapping, len(in))
	for i, m := range in {
		out[i].SubnetId = aws.String(m.SubnetID)
		if m.AllocationID != "" {
			out[i].AllocationId = aws.String(m.AllocationID)
		}
	}
	return out
}

func elbv2Tags(tags map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range sortedKeys(tags) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

// dnsName returns the DNS name of an owned load balancer.
func (c *Cloud) dnsName(ctx context.Context, it owned) (string, error) {
	if it.Type == "clb" {
		return c.classicDNSName(ctx, it.ID)
	}
	out, err := c.api.ELBv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{it.ID}})
	if err != nil {
		return "", err
	}
	if len(out.LoadBalancers) == 0 {
		return "", fmt.Errorf("load balancer %s vanished", it.Name)
	}
	return aws.ToString(out.LoadBalancers[0].DNSName), nil
}
