package fakeaws

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type classicListener struct {
	protocol, instProtocol, cert string
	port, instPort               int
	policies                     []string
}

type classicHealth struct {
	target                           string
	interval, timeout, unhealthy, ok int
}

type classicAttrs struct {
	crossZone, draining, accessLog bool
	drainTimeout, idle             int
}

type classicPolicy struct {
	name, typ string
	attrs     [][2]string
}

type classicLB struct {
	meta
	name, dns, scheme, vpcID string
	subnets, zones, groups   []string
	listeners                []classicListener
	health                   classicHealth
	instances                []string
	attrs                    classicAttrs
	policies                 map[string]*classicPolicy
	backend                  map[int][]string // instance port -> policy names
	tags                     map[string]string
}

type elbState struct {
	lbs map[string]*classicLB // by name
}

func (e *elbState) init() { e.lbs = map[string]*classicLB{} }

func elbHandlers() map[string]handler {
	return map[string]handler{
		"CreateLoadBalancer":                      (*Server).elbCreate,
		"DeleteLoadBalancer":                      (*Server).elbDelete,
		"DescribeLoadBalancers":                   (*Server).elbDescribe,
		"CreateLoadBalancerListeners":             (*Server).elbCreateListeners,
		"DeleteLoadBalancerListeners":             (*Server).elbDeleteListeners,
		"ConfigureHealthCheck":                    (*Server).elbConfigureHealthCheck,
		"RegisterInstancesWithLoadBalancer":       (*Server).elbRegister,
		"DeregisterInstancesFromLoadBalancer":     (*Server).elbDeregister,
		"DescribeInstanceHealth":                  (*Server).elbInstanceHealth,
		"DescribeLoadBalancerAttributes":          (*Server).elbDescribeAttributes,
		"ModifyLoadBalancerAttributes":            (*Server).elbModifyAttributes,
		"ApplySecurityGroupsToLoadBalancer":       (*Server).elbApplySecurityGroups,
		"AddTags":                                 (*Server).elbAddTags,
		"RemoveTags":                              (*Server).elbRemoveTags,
		"DescribeTags":                            (*Server).elbDescribeTags,
		"CreateLoadBalancerPolicy":                (*Server).elbCreatePolicy,
		"DeleteLoadBalancerPolicy":                (*Server).elbDeletePolicy,
		"DescribeLoadBalancerPolicies":            (*Server).elbDescribePolicies,
		"SetLoadBalancerPoliciesForBackendServer": (*Server).elbSetBackendPolicies,
		"SetLoadBalancerPoliciesOfListener":       (*Server).elbSetListenerPolicies,
	}
}

func parseClassicListeners(p params) ([]classicListener, error) {
	var out []classicListener
	for _, m := range p.structs("Listeners.member") {
		l := classicListener{protocol: strings.ToUpper(m.str("Protocol")), instProtocol: strings.ToUpper(m.str("InstanceProtocol")), cert: m.str("SSLCertificateId")}
		var err error
		if l.port, err = m.integer("LoadBalancerPort", 0); err != nil {
			return nil, err
		}
		if l.instPort, err = m.integer("InstancePort", 0); err != nil {
			return nil, err
		}
		if l.instProtocol == "" {
			l.instProtocol = l.protocol
		}
		for _, proto := range []string{l.protocol, l.instProtocol} {
			if !slices.Contains([]string{"HTTP", "HTTPS", "TCP", "SSL"}, proto) {
				return nil, validation("Listener protocol '%s' is not valid; accepted: HTTP, HTTPS, TCP, SSL", proto)
			}
		}
		if l.port < 1 || l.port > 65535 || l.instPort < 1 || l.instPort > 65535 {
			return nil, validation("Listener ports %d->%d are out of range; accepted: 1 to 65535", l.port, l.instPort)
		}
		if (l.protocol == "HTTPS" || l.protocol == "SSL") && !strings.HasPrefix(l.cert, "arn:") {
			return nil, v2Err("CertificateNotFound", "Certificate '%s' not found; %s listeners need an SSLCertificateId ARN", l.cert, l.protocol)
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *Server) elbCreate(p params) ([]*node, error) {
	name := p.str("LoadBalancerName")
	if err := validName("load balancer", name); err != nil {
		return nil, err
	}
	listeners, err := parseClassicListeners(p)
	if err != nil {
		return nil, err
	}
	if len(listeners) == 0 {
		return nil, validation("Listeners is required")
	}
	lb := &classicLB{name: name, scheme: orDefault(p.str("Scheme"), "internet-facing"),
		subnets: p.list("Subnets.member"), groups: p.list("SecurityGroups.member"), listeners: listeners,
		attrs:    classicAttrs{drainTimeout: 300, idle: 60},
		policies: map[string]*classicPolicy{}, backend: map[int][]string{}}
	if lb.tags, err = v2Tags(p); err != nil {
		return nil, err
	}
	if len(lb.subnets) == 0 {
		return nil, validation("Subnets is required: the fake models VPC load balancers only")
	}
	for _, id := range lb.subnets {
		sn := s.ec2.subnets[id]
		if sn == nil {
			return nil, v2Err("SubnetNotFound", "The specified subnet does not exist: '%s'", id)
		}
		if lb.vpcID != "" && sn.vpcID != lb.vpcID {
			return nil, v2Err("InvalidConfigurationRequest", "Subnets must be in the same VPC: '%s' is in '%s'", id, sn.vpcID)
		}
		if slices.Contains(lb.zones, sn.zone) {
			return nil, v2Err("InvalidConfigurationRequest", "Only one subnet per Availability Zone may be specified (%s)", sn.zone)
		}
		lb.vpcID = sn.vpcID
		lb.zones = append(lb.zones, sn.zone)
	}
	if err := s.checkGroups(lb.groups, lb.vpcID); err != nil {
		return nil, err
	}
	if len(lb.groups) == 0 {
		// Without groups, AWS attaches the VPC's default group.
		for _, g := range sortedValues(s.ec2.groups) {
			if g.vpcID == lb.vpcID && g.name == "default" {
				lb.groups = []string{g.id}
			}
		}
	}
	if old := s.elb.lbs[name]; old != nil {
		if old.scheme == lb.scheme && slices.Equal(old.subnets, lb.subnets) && fmt.Sprint(old.listeners) == fmt.Sprint(lb.listeners) {
			return []*node{leaf("DNSName", old.dns)}, nil
		}
		return nil, v2Err("DuplicateLoadBalancerName", "Load balancer name '%s' already exists with different settings", name)
	}
	if len(s.elb.lbs) >= s.cfg.limits.ClassicLoadBalancers {
		return nil, v2Err("TooManyLoadBalancers", "Exceeded quota of account: %d load balancers", s.cfg.limits.ClassicLoadBalancers)
	}
	if len(lb.tags) > s.cfg.limits.TagsPerResource {
		return nil, v2Err("TooManyTags", "%d tags exceed the limit of %d", len(lb.tags), s.cfg.limits.TagsPerResource)
	}
	s.ids++
	lb.dns = fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", name, 1000000000+s.ids, s.cfg.region)
	if lb.scheme == "internal" {
		lb.dns = "internal-" + lb.dns
	}
	lb.health = classicHealth{target: "TCP:" + strconv.Itoa(listeners[0].instPort), interval: 30, timeout: 5, unhealthy: 2, ok: 10}
	lb.meta = s.newMeta()
	s.elb.lbs[name] = lb
	return []*node{leaf("DNSName", lb.dns)}, nil
}

func (s *Server) checkGroups(groups []string, vpcID string) error {
	for _, g := range groups {
		if sg := s.ec2.groups[g]; sg == nil || sg.vpcID != vpcID {
			return v2Err("InvalidSecurityGroup", "Security group '%s' does not exist in VPC '%s'", g, vpcID)
		}
	}
	return nil
}

func (s *Server) lookupClassic(name string, describe bool) (*classicLB, error) {
	lb := s.elb.lbs[name]
	if lb == nil || (describe && !s.visible(lb.born, lb.bornAt)) {
		return nil, v2Err("LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", name)
	}
	return lb, nil
}

// elbDelete succeeds for an unknown name, as AWS documents.
func (s *Server) elbDelete(p params) ([]*node, error) {
	delete(s.elb.lbs, p.str("LoadBalancerName"))
	return nil, nil
}

func (s *Server) elbDescribe(p params) ([]*node, error) {
	names := p.list("LoadBalancerNames.member")
	var out []*classicLB
	if len(names) > 0 {
		for _, n := range names {
			lb, err := s.lookupClassic(n, true)
			if err != nil {
				return nil, err
			}
			out = append(out, lb)
		}
	} else {
		for _, lb := range sortedValues(s.elb.lbs) {
			if s.visible(lb.born, lb.bornAt) {
				out = append(out, lb)
			}
		}
	}
	size, err := pageSize(p, 400)
	if err != nil {
		return nil, err
	}
	out, next, err := page(out, p.str("Marker"), size)
	if err != nil {
		return nil, err
	}
	var items []*node
	for _, lb := range out {
		items = append(items, s.classicNode(lb))
	}
	return []*node{wrap("LoadBalancerDescriptions", "member", items), opt("NextMarker", next)}, nil
}

func (s *Server) classicNode(lb *classicLB) *node {
	var listeners, backends, instances []*node
	for _, l := range lb.listeners {
		listeners = append(listeners, el("",
			el("Listener", leaf("Protocol", l.protocol), intLeaf("LoadBalancerPort", l.port),
				leaf("InstanceProtocol", l.instProtocol), intLeaf("InstancePort", l.instPort), opt("SSLCertificateId", l.cert)),
			strs("PolicyNames", "member", l.policies)))
	}
	ports := make([]int, 0, len(lb.backend))
	for port := range lb.backend {
		ports = append(ports, port)
	}
	sort.Ints(ports)
	for _, port := range ports {
		backends = append(backends, el("", intLeaf("InstancePort", port), strs("PolicyNames", "member", lb.backend[port])))
	}
	for _, id := range lb.instances {
		instances = append(instances, el("", leaf("InstanceId", id)))
	}
	var policyNames []string
	for n := range lb.policies {
		policyNames = append(policyNames, n)
	}
	sort.Strings(policyNames)
	sgName := ""
	if len(lb.groups) > 0 && s.ec2.groups[lb.groups[0]] != nil {
		sgName = s.ec2.groups[lb.groups[0]].name
	}
	return el("",
		leaf("LoadBalancerName", lb.name),
		leaf("DNSName", lb.dns),
		leaf("CanonicalHostedZoneName", lb.dns),
		leaf("CanonicalHostedZoneNameID", "Z35SXDOTRQ7X7K"),
		wrap("ListenerDescriptions", "member", listeners),
		el("Policies", el("AppCookieStickinessPolicies"), el("LBCookieStickinessPolicies"), strs("OtherPolicies", "member", policyNames)),
		wrap("BackendServerDescriptions", "member", backends),
		strs("AvailabilityZones", "member", lb.zones),
		strs("Subnets", "member", lb.subnets),
		leaf("VPCId", lb.vpcID),
		wrap("Instances", "member", instances),
		s.classicHealthNode(lb.health),
		el("SourceSecurityGroup", leaf("OwnerAlias", s.cfg.account), leaf("GroupName", sgName)),
		strs("SecurityGroups", "member", lb.groups),
		leaf("CreatedTime", lb.bornAt.UTC().Format(time.RFC3339)),
		leaf("Scheme", lb.scheme),
	)
}

func (s *Server) classicHealthNode(h classicHealth) *node {
	return el("HealthCheck", leaf("Target", h.target), intLeaf("Interval", h.interval), intLeaf("Timeout", h.timeout),
		intLeaf("UnhealthyThreshold", h.unhealthy), intLeaf("HealthyThreshold", h.ok))
}

func (s *Server) elbCreateListeners(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	add, err := parseClassicListeners(p)
	if err != nil {
		return nil, err
	}
	for _, l := range add {
		for _, o := range lb.listeners {
			if o.port == l.port && (o.protocol != l.protocol || o.instPort != l.instPort || o.instProtocol != l.instProtocol || o.cert != l.cert) {
				return nil, v2Err("DuplicateListener", "A listener already exists for %s with LoadBalancerPort %d, but with a different InstancePort, Protocol, or SSLCertificateId", lb.name, l.port)
			}
		}
	}
	for _, l := range add {
		if !slices.ContainsFunc(lb.listeners, func(o classicListener) bool { return o.port == l.port }) {
			lb.listeners = append(lb.listeners, l)
		}
	}
	return nil, nil
}

func (s *Server) elbDeleteListeners(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	ports := p.list("LoadBalancerPorts.member")
	lb.listeners = slices.DeleteFunc(lb.listeners, func(l classicListener) bool {
		return slices.Contains(ports, strconv.Itoa(l.port))
	})
	return nil, nil
}

func (s *Server) elbConfigureHealthCheck(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	h := classicHealth{target: p.str("HealthCheck.Target")}
	proto, rest, _ := strings.Cut(h.target, ":")
	portStr, path, hasPath := strings.Cut(rest, "/")
	port, perr := strconv.Atoi(portStr)
	switch {
	case !slices.Contains([]string{"TCP", "SSL", "HTTP", "HTTPS"}, proto) || perr != nil || port < 1 || port > 65535:
		return nil, validation("HealthCheck.Target '%s' is not valid; accepted: TCP:port, SSL:port, HTTP:port/path, HTTPS:port/path", h.target)
	case (proto == "HTTP" || proto == "HTTPS") && !hasPath:
		return nil, validation("HealthCheck.Target '%s' needs a path for %s", h.target, proto)
	case (proto == "TCP" || proto == "SSL") && (hasPath || path != ""):
		return nil, validation("HealthCheck.Target '%s' cannot have a path for %s", h.target, proto)
	}
	for _, f := range []struct {
		key    string
		dst    *int
		lo, hi int
	}{{"HealthCheck.Interval", &h.interval, 5, 300}, {"HealthCheck.Timeout", &h.timeout, 2, 60},
		{"HealthCheck.UnhealthyThreshold", &h.unhealthy, 2, 10}, {"HealthCheck.HealthyThreshold", &h.ok, 2, 10}} {
		v, err := p.integer(f.key, 0)
		if err != nil {
			return nil, err
		}
		if v < f.lo || v > f.hi {
			return nil, validation("%s %d is out of range; accepted: %d to %d", f.key, v, f.lo, f.hi)
		}
		*f.dst = v
	}
	if h.timeout >= h.interval {
		return nil, validation("HealthCheck.Timeout %d must be smaller than HealthCheck.Interval %d", h.timeout, h.interval)
	}
	lb.health = h
	return []*node{s.classicHealthNode(h)}, nil
}

func (s *Server) elbInstances(p params) []string {
	var out []string
	for _, m := range p.structs("Instances.member") {
		out = append(out, m.str("InstanceId"))
	}
	return out
}

func instanceList(ids []string) *node {
	var out []*node
	for _, id := range ids {
		out = append(out, el("", leaf("InstanceId", id)))
	}
	return wrap("Instances", "member", out)
}

func (s *Server) elbRegister(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	ids := s.elbInstances(p)
	for _, id := range ids {
		if i := s.ec2.instances[id]; i == nil || i.vpcID != lb.vpcID || i.state == "terminated" {
			return nil, v2Err("InvalidInstance", "The requested instance(s) are not valid: %s", id)
		}
	}
	for _, id := range ids {
		if !slices.Contains(lb.instances, id) {
			lb.instances = append(lb.instances, id)
		}
	}
	return []*node{instanceList(lb.instances)}, nil
}

func (s *Server) elbDeregister(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), false)
	if err != nil {
		return nil, err
	}
	ids := s.elbInstances(p)
	for _, id := range ids {
		if !slices.Contains(lb.instances, id) {
			return nil, v2Err("InvalidInstance", "The requested instance(s) are not registered: %s", id)
		}
	}
	lb.instances = slices.DeleteFunc(lb.instances, func(id string) bool { return slices.Contains(ids, id) })
	return []*node{instanceList(lb.instances)}, nil
}

// elbInstanceHealth reports InService for running registered instances and
// OutOfService otherwise.
func (s *Server) elbInstanceHealth(p params) ([]*node, error) {
	lb, err := s.lookupClassic(p.str("LoadBalancerName"), true)
	if err != nil {
		return nil, err
	}
	ids := s.elbInstances(p)
	if len(ids) == 0 {
		ids = lb.instances
	}
	var out []*node
	for _, id := range ids {
		state, code, desc := "InService", "N/A", "N/A"
		switch i := s.ec2.instances[id]; {
		case !slices.Contains(lb.instances, id):
			return nil, v2Err("InvalidInstance", "The requested instance(s) are not registered: %s", id)
		case i == nil:
			state, code, desc = "OutOfService", "Instance", "Instance is in terminated state."
		case i.state != "running":
			state, code, desc = "OutOfService", "Instance", "Instance is in "+i.state+" state."
		}
		out = append(out, el("", leaf("InstanceId", id), leaf("State", state), leaf("ReasonCode", code), leaf("Description", desc)))
	}
	return []*node{wrap("InstanceStates", "member", out)}, nil
}
