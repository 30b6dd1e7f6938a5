package fakeaws

import (
	"slices"
	"strconv"
)

func (s *Server) classicAttrsNode(a classicAttrs) *node {
	return el("LoadBalancerAttributes",
		el("CrossZoneLoadBalancing", boolLeaf("Enabled", a.crossZone)),
		el("AccessLog", boolLeaf("Enabled", a.accessLog)),
		el("ConnectionDraining", boolLeaf("Enabled", a.draining), intLeaf("Timeout", a.drainTimeout)),
		el("ConnectionSettings", intLeaf("IdleTimeout", a.idle)),
	)
}

func (s *Server) elbDescribeAttributes(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), true)
	if err != nil {
		return nil, err
	}
	return []*node{s.classicAttrsNode(lb.attrs)}, nil
}

// elbModifyAttributes applies only the attribute blocks present in the
// request, validating all before changing any.
func (s *Server) elbModifyAttributes(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	a := lb.attrs
	const pre = "LoadBalancerAttributes."
	if v := p.str(pre + "CrossZoneLoadBalancing.Enabled"); v != "" {
		a.crossZone = v == "true"
	}
	if v := p.str(pre + "AccessLog.Enabled"); v != "" {
		if v == "true" && p.str(pre+"AccessLog.S3BucketName") == "" {
			return nil, validation("AccessLog.S3BucketName is required when access logs are enabled")
		}
		a.accessLog = v == "true"
	}
	if v := p.str(pre + "ConnectionDraining.Enabled"); v != "" {
		a.draining = v == "true"
	}
	if p.has(pre + "ConnectionDraining.Timeout") {
		n, err := p.integer(pre+"ConnectionDraining.Timeout", 0)
		if err != nil {
			return nil, err
		}
		if n < 1 || n > 3600 {
			return nil, validation("ConnectionDraining.Timeout %d is out of range; accepted: 1 to 3600", n)
		}
		a.drainTimeout = n
	}
	if p.has(pre + "ConnectionSettings.IdleTimeout") {
		n, err := p.integer(pre+"ConnectionSettings.IdleTimeout", 0)
		if err != nil {
			return nil, err
		}
		if n < 1 || n > 4000 {
			return nil, validation("ConnectionSettings.IdleTimeout %d is out of range; accepted: 1 to 4000", n)
		}
		a.idle = n
	}
	if len(p.structs(pre+"AdditionalAttributes.member")) > 0 {
		return nil, v2Err("LoadBalancerAttributeNotFound", "AdditionalAttributes are not modelled by fakeaws")
	}
	lb.attrs = a
	return []*node{leaf("LoadBalancerName", lb.name), s.classicAttrsNode(a)}, nil
}

func (s *Server) elbApplySecurityGroups(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	groups := p.list("SecurityGroups.member")
	if len(groups) == 0 {
		return nil, validation("SecurityGroups is required")
	}
	if err := s.checkGroups(groups, lb.vpcID); err != nil {
		return nil, err
	}
	lb.groups = groups
	return []*node{strs("SecurityGroups", "member", groups)}, nil
}

func (s *Server) elbAddTags(p params) ([]*node, error) {
	tags, err := v2Tags(p)
	if err != nil {
		return nil, err
	}
	var lbs []*classicLB
	for _, n := range p.list("LoadBalancerNames.member") {
		lb, err := s.lookupClassic(n, false)
		if err != nil {
			return nil, err
		}
		merged := copyTags(lb.tags)
		for k, v := range tags {
			merged[k] = v
		}
		if len(merged) > s.cfg.limits.TagsPerResource {
			return nil, v2Err("TooManyTags", "'%s' would have %d tags; the limit is %d", n, len(merged), s.cfg.limits.TagsPerResource)
		}
		lbs = append(lbs, lb)
	}
	for _, lb := range lbs {
		for k, v := range tags {
			lb.tags[k] = v
		}
	}
	return nil, nil
}

func (s *Server) elbRemoveTags(p params) ([]*node, error) {
	for _, n := range p.list("LoadBalancerNames.member") {
		lb, err := s.lookupClassic(n, false)
		if err != nil {
			return nil, err
		}
		for _, t := range p.structs("Tags.member") {
			delete(lb.tags, t.str("Key"))
		}
	}
	return nil, nil
}

func (s *Server) elbDescribeTags(p params) ([]*node, error) {
	names := p.list("LoadBalancerNames.member")
	if len(names) == 0 || len(names) > 20 {
		return nil, validation("LoadBalancerNames must list 1 to 20 names, got %d", len(names))
	}
	var out []*node
	for _, n := range names {
		lb, err := s.lookupClassic(n, true)
		if err != nil {
			return nil, err
		}
		out = append(out, el("", leaf("LoadBalancerName", n), wrap("Tags", "member", tagNodes(lb.tags, "Key", "Value"))))
	}
	return []*node{wrap("TagDescriptions", "member", out)}, nil
}

// policyTypes are the Classic ELB policy types the fake accepts; the one
// that matters for a cloud controller is ProxyProtocolPolicyType.
var policyTypes = []string{
	"ProxyProtocolPolicyType", "SSLNegotiationPolicyType", "BackendServerAuthenticationPolicyType",
	"PublicKeyPolicyType", "AppCookieStickinessPolicyType", "LBCookieStickinessPolicyType",
}

func (s *Server) elbCreatePolicy(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	pol := &classicPolicy{name: p.str("PolicyName"), typ: p.str("PolicyTypeName")}
	if pol.name == "" {
		return nil, validation("PolicyName is required")
	}
	if !slices.Contains(policyTypes, pol.typ) {
		return nil, v2Err("PolicyTypeNotFound", "Policy type '%s' not found", pol.typ)
	}
	if lb.policies[pol.name] != nil {
		return nil, v2Err("DuplicatePolicyName", "Policy '%s' already exists for load balancer '%s'", pol.name, lb.name)
	}
	for _, a := range p.structs("PolicyAttributes.member") {
		pol.attrs = append(pol.attrs, [2]string{a.str("AttributeName"), a.str("AttributeValue")})
	}
	if pol.typ == "ProxyProtocolPolicyType" && (len(pol.attrs) != 1 || pol.attrs[0][0] != "ProxyProtocol") {
		return nil, v2Err("InvalidConfigurationRequest", "ProxyProtocolPolicyType takes exactly one attribute, ProxyProtocol")
	}
	lb.policies[pol.name] = pol
	return nil, nil
}

func (s *Server) elbDeletePolicy(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	name := p.str("PolicyName")
	for port, names := range lb.backend {
		if slices.Contains(names, name) {
			return nil, v2Err("InvalidConfigurationRequest", "Policy '%s' is in use by the back-end server on port %d", name, port)
		}
	}
	for _, l := range lb.listeners {
		if slices.Contains(l.policies, name) {
			return nil, v2Err("InvalidConfigurationRequest", "Policy '%s' is in use by the listener on port %d", name, l.port)
		}
	}
	delete(lb.policies, name)
	return nil, nil
}

func (s *Server) elbDescribePolicies(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), true)
	if err != nil {
		return nil, err
	}
	names := p.list("PolicyNames.member")
	if len(names) == 0 {
		for _, pol := range sortedValues(lb.policies) {
			names = append(names, pol.name)
		}
	}
	var out []*node
	for _, n := range names {
		pol := lb.policies[n]
		if pol == nil {
			return nil, v2Err("PolicyNotFound", "There is no policy with name %s for load balancer %s", n, lb.name)
		}
		var attrs []*node
		for _, a := range pol.attrs {
			attrs = append(attrs, el("", leaf("AttributeName", a[0]), leaf("AttributeValue", a[1])))
		}
		out = append(out, el("", leaf("PolicyName", pol.name), leaf("PolicyTypeName", pol.typ),
			wrap("PolicyAttributeDescriptions", "member", attrs)))
	}
	return []*node{wrap("PolicyDescriptions", "member", out)}, nil
}

func (s *Server) checkPolicies(lb *classicLB, names []string) error {
	for _, n := range names {
		if lb.policies[n] == nil {
			return v2Err("PolicyNotFound", "There is no policy with name %s for load balancer %s", n, lb.name)
		}
	}
	return nil
}

// elbSetBackendPolicies replaces the policies of one instance port; an
// empty list (sent by the SDK as "PolicyNames=") clears them.
func (s *Server) elbSetBackendPolicies(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	port, err := p.integer("InstancePort", 0)
	if err != nil {
		return nil, err
	}
	names := p.list("PolicyNames.member")
	if err := s.checkPolicies(lb, names); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		delete(lb.backend, port)
	} else {
		lb.backend[port] = names
	}
	return nil, nil
}

func (s *Server) elbSetListenerPolicies(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	port, err := p.integer("LoadBalancerPort", 0)
	if err != nil {
		return nil, err
	}
	names := p.list("PolicyNames.member")
	if err := s.checkPolicies(lb, names); err != nil {
		return nil, err
	}
	for i := range lb.listeners {
		if lb.listeners[i].port == port {
			lb.listeners[i].policies = names
			return nil, nil
		}
	}
	return nil, v2Err("ListenerNotFound", "There is no listener on port %s of load balancer %s", strconv.Itoa(port), lb.name)
}
