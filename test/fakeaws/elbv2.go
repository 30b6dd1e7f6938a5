package fakeaws

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

type lbSubnet struct {
	id, zone, allocID, privateIP string
	// The load balancer's network interface in the subnet, with the address
	// AWS picked (or PrivateIPv4Address asked for).
	eniID string
	eniIP netip.Addr
}

type loadBalancer struct {
	meta
	arn, name, typ, scheme, ipType, vpcID, dns string
	subnets                                    []lbSubnet
	groups                                     []string
	createdWithGroups                          bool
	attrs                                      map[string]string
	tags                                       map[string]string
}

type elbv2State struct {
	lbs       map[string]*loadBalancer // by ARN
	tgs       map[string]*targetGroup  // by ARN
	listeners map[string]*listener     // by ARN
}

func (e *elbv2State) init() {
	e.lbs = map[string]*loadBalancer{}
	e.tgs = map[string]*targetGroup{}
	e.listeners = map[string]*listener{}
}

func elbv2Handlers() map[string]handler {
	return map[string]handler{
		"CreateLoadBalancer":             (*Server).v2CreateLoadBalancer,
		"DeleteLoadBalancer":             (*Server).v2DeleteLoadBalancer,
		"DescribeLoadBalancers":          (*Server).v2DescribeLoadBalancers,
		"DescribeLoadBalancerAttributes": (*Server).v2DescribeLBAttributes,
		"ModifyLoadBalancerAttributes":   (*Server).v2ModifyLBAttributes,
		"SetSecurityGroups":              (*Server).v2SetSecurityGroups,
		"SetSubnets":                     (*Server).v2SetSubnets,
		"AddTags":                        (*Server).v2AddTags,
		"RemoveTags":                     (*Server).v2RemoveTags,
		"DescribeTags":                   (*Server).v2DescribeTags,
		"CreateTargetGroup":              (*Server).v2CreateTargetGroup,
		"DeleteTargetGroup":              (*Server).v2DeleteTargetGroup,
		"DescribeTargetGroups":           (*Server).v2DescribeTargetGroups,
		"ModifyTargetGroup":              (*Server).v2ModifyTargetGroup,
		"DescribeTargetGroupAttributes":  (*Server).v2DescribeTGAttributes,
		"ModifyTargetGroupAttributes":    (*Server).v2ModifyTGAttributes,
		"RegisterTargets":                (*Server).v2RegisterTargets,
		"DeregisterTargets":              (*Server).v2DeregisterTargets,
		"DescribeTargetHealth":           (*Server).v2DescribeTargetHealth,
		"CreateListener":                 (*Server).v2CreateListener,
		"DeleteListener":                 (*Server).v2DeleteListener,
		"DescribeListeners":              (*Server).v2DescribeListeners,
		"ModifyListener":                 (*Server).v2ModifyListener,
	}
}

var lbNameRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`)

// validName applies the ELB naming rule shared by load balancers and
// target groups: 1-32 alphanumerics and hyphens, no hyphen at either end.
func validName(kind, name string) error {
	switch {
	case name == "":
		return validation("%s name is required", kind)
	case len(name) > 32:
		return validation("The %s name '%s' cannot be longer than '32' characters", kind, name)
	case !lbNameRE.MatchString(name):
		return validation("The %s name '%s' is invalid: only alphanumeric characters and hyphens, not beginning or ending with a hyphen", kind, name)
	case kind == "load balancer" && strings.HasPrefix(name, "internal-"):
		return validation("The load balancer name '%s' cannot begin with 'internal-'", name)
	}
	return nil
}

func v2Err(code, format string, args ...any) *APIError {
	return apiErr(http.StatusBadRequest, code, format, args...)
}

func v2Tags(p params) (map[string]string, error) {
	tags := map[string]string{}
	for _, t := range p.structs("Tags.member") {
		k := t.str("Key")
		if _, dup := tags[k]; dup {
			return nil, v2Err("DuplicateTagKeys", "Tag key '%s' is duplicated", k)
		}
		tags[k] = t.str("Value")
	}
	return tags, nil
}

// hex16 derives the 16-hex-digit suffix AWS puts in ELBv2 ARNs and DNS
// names from the fake's ID counter.
func (s *Server) hex16() string {
	s.ids++
	return fmt.Sprintf("%016x", 0xfa4e000000000000+uint64(s.ids))
}

func (s *Server) v2CreateLoadBalancer(p params) ([]*node, error) {
	name := p.str("Name")
	if err := validName("load balancer", name); err != nil {
		return nil, err
	}
	typ, scheme, ipType := orDefault(p.str("Type"), "application"), orDefault(p.str("Scheme"), "internet-facing"), orDefault(p.str("IpAddressType"), "ipv4")
	if !slices.Contains([]string{"application", "network"}, typ) {
		return nil, validation("Load balancer type '%s' is not supported; accepted: application, network", typ)
	}
	if !slices.Contains([]string{"internet-facing", "internal"}, scheme) {
		return nil, v2Err("InvalidScheme", "Scheme '%s' is not valid; accepted: internet-facing, internal", scheme)
	}
	if !slices.Contains([]string{"ipv4", "dualstack"}, ipType) {
		return nil, validation("IpAddressType '%s' is not valid; accepted: ipv4, dualstack", ipType)
	}
	tags, err := v2Tags(p)
	if err != nil {
		return nil, err
	}
	if len(tags) > s.cfg.limits.TagsPerResource {
		return nil, v2Err("TooManyTags", "%d tags exceed the limit of %d", len(tags), s.cfg.limits.TagsPerResource)
	}
	self := ""
	for _, lb := range s.elbv2.lbs {
		if lb.name == name {
			self = lb.arn
		}
	}
	subnets, vpcID, err := s.v2Subnets(p, typ, scheme, self)
	if err != nil {
		return nil, err
	}
	groups := p.list("SecurityGroups.member")
	for _, g := range groups {
		if sg := s.ec2.groups[g]; sg == nil || sg.vpcID != vpcID {
			return nil, v2Err("InvalidSecurityGroup", "Security group '%s' does not exist in VPC '%s'", g, vpcID)
		}
	}
	for _, lb := range s.elbv2.lbs {
		if lb.name != name {
			continue
		}
		// CreateLoadBalancer is idempotent for identical settings.
		if lb.typ == typ && lb.scheme == scheme && slices.Equal(subnetIDs(lb.subnets), subnetIDs(subnets)) {
			return []*node{wrap("LoadBalancers", "member", []*node{s.lbNode(lb)})}, nil
		}
		return nil, v2Err("DuplicateLoadBalancerName", "A load balancer with the same name '%s' exists, but with different settings", name)
	}
	if len(s.elbv2.lbs) >= s.cfg.limits.LoadBalancers {
		return nil, v2Err("TooManyLoadBalancers", "The maximum number of load balancers (%d) has been reached", s.cfg.limits.LoadBalancers)
	}
	h := s.hex16()
	short := map[string]string{"application": "app", "network": "net"}[typ]
	lb := &loadBalancer{meta: s.newMeta(), name: name, typ: typ, scheme: scheme, ipType: ipType, vpcID: vpcID,
		arn:    fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/%s/%s/%s", s.cfg.region, s.cfg.account, short, name, h),
		groups: groups, createdWithGroups: len(groups) > 0, tags: tags,
		attrs: lbDefaultAttrs(typ)}
	lb.dns = fmt.Sprintf("%s-%s.elb.%s.amazonaws.com", name, h, s.cfg.region)
	if typ == "application" {
		lb.dns = fmt.Sprintf("%s-%d.%s.elb.amazonaws.com", name, s.ids, s.cfg.region)
	}
	if scheme == "internal" {
		lb.dns = "internal-" + lb.dns
	}
	s.attachSubnets(lb, subnets)
	s.elbv2.lbs[lb.arn] = lb
	return []*node{wrap("LoadBalancers", "member", []*node{s.lbNode(lb)})}, nil
}

// attachSubnets gives lb a network interface in each subnet (kept for a
// subnet it already had) and binds the Elastic IPs, releasing those of
// subnets it leaves.
func (s *Server) attachSubnets(lb *loadBalancer, subnets []lbSubnet) {
	old := map[string]lbSubnet{}
	for _, sn := range lb.subnets {
		old[sn.id] = sn
	}
	for _, e := range s.ec2.eips {
		if e.assocLB == lb.arn {
			e.assocLB, e.assocENI, e.assocID = "", "", ""
		}
	}
	for n := range subnets {
		sn := &subnets[n]
		if prev, ok := old[sn.id]; ok {
			sn.eniID, sn.eniIP = prev.eniID, prev.eniIP
		} else {
			sn.eniID = s.newID("eni")
			if !sn.eniIP.IsValid() {
				ec2sn := s.ec2.subnets[sn.id]
				sn.eniIP, ec2sn.nextHost = ec2sn.nextHost, ec2sn.nextHost.Next()
			}
		}
		if sn.allocID != "" {
			e := s.ec2.eips[sn.allocID]
			e.assocLB, e.assocENI, e.assocID = lb.arn, sn.eniID, "eipassoc-"+strings.TrimPrefix(sn.eniID, "eni-")
		}
	}
	lb.subnets = subnets
}

// v2SetSubnets replaces the subnets of a load balancer under the same rules
// as CreateLoadBalancer; a subnet it keeps keeps its interface and address.
func (s *Server) v2SetSubnets(p params) ([]*node, error) {
	lb, err := s.lookupLB(p.str("LoadBalancerArn"), false)
	if err != nil {
		return nil, err
	}
	subnets, vpcID, err := s.v2Subnets(p, lb.typ, lb.scheme, lb.arn)
	if err != nil {
		return nil, err
	}
	if vpcID != lb.vpcID {
		return nil, v2Err("InvalidConfigurationRequest", "Subnets must be in the load balancer's VPC '%s', not '%s'", lb.vpcID, vpcID)
	}
	if v := p.str("IpAddressType"); v != "" {
		if !slices.Contains([]string{"ipv4", "dualstack"}, v) {
			return nil, validation("IpAddressType '%s' is not valid; accepted: ipv4, dualstack", v)
		}
		lb.ipType = v
	}
	s.attachSubnets(lb, subnets)
	n := s.lbNode(lb)
	var azs *node
	for _, k := range n.kids {
		if k.name == "AvailabilityZones" {
			azs = k
		}
	}
	return []*node{azs, leaf("IpAddressType", lb.ipType)}, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func subnetIDs(subnets []lbSubnet) []string {
	var out []string
	for _, sn := range subnets {
		out = append(out, sn.id)
	}
	sort.Strings(out)
	return out
}

// v2Subnets resolves Subnets or SubnetMappings: every subnet must exist,
// all in one VPC and at most one per zone; Elastic IPs only on an
// internet-facing NLB, each free.
// self is the ARN of a load balancer whose own Elastic IPs may be named
// again (a repeated create, or SetSubnets).
func (s *Server) v2Subnets(p params, typ, scheme, self string) ([]lbSubnet, string, error) {
	plain, mappings := p.list("Subnets.member"), p.structs("SubnetMappings.member")
	if len(plain) > 0 && len(mappings) > 0 {
		return nil, "", validation("Subnets and SubnetMappings cannot be specified together")
	}
	for _, id := range plain {
		mappings = append(mappings, params{"SubnetId": {id}})
	}
	minimum := 1
	if typ == "application" {
		minimum = 2
	}
	if len(mappings) < minimum {
		return nil, "", validation("A %s load balancer needs at least %d subnet(s)", typ, minimum)
	}
	var out []lbSubnet
	vpcID, zones := "", map[string]bool{}
	for _, m := range mappings {
		sn := s.ec2.subnets[m.str("SubnetId")]
		if sn == nil {
			return nil, "", v2Err("SubnetNotFound", "The specified subnet does not exist: '%s'", m.str("SubnetId"))
		}
		if vpcID != "" && sn.vpcID != vpcID {
			return nil, "", v2Err("InvalidConfigurationRequest", "All subnets must belong to the same VPC: '%s' is in '%s', not '%s'", sn.id, sn.vpcID, vpcID)
		}
		vpcID = sn.vpcID
		if zones[sn.zone] {
			return nil, "", v2Err("InvalidConfigurationRequest", "A load balancer cannot be attached to multiple subnets in the same Availability Zone (%s)", sn.zone)
		}
		zones[sn.zone] = true
		ls := lbSubnet{id: sn.id, zone: sn.zone, allocID: m.str("AllocationId"), privateIP: m.str("PrivateIPv4Address")}
		if ls.privateIP != "" {
			a, err := netip.ParseAddr(ls.privateIP)
			if err != nil || !sn.cidr.Contains(a) {
				return nil, "", v2Err("InvalidConfigurationRequest", "PrivateIPv4Address '%s' is not an address in subnet %s (%s)", ls.privateIP, sn.id, sn.cidr)
			}
			ls.eniIP = a
		}
		if ls.allocID != "" {
			if typ != "network" || scheme != "internet-facing" {
				return nil, "", v2Err("InvalidConfigurationRequest", "Elastic IP addresses can only be used with internet-facing Network Load Balancers")
			}
			e := s.ec2.eips[ls.allocID]
			if e == nil {
				return nil, "", v2Err("AllocationIdNotFound", "The specified allocation ID '%s' does not exist", ls.allocID)
			}
			// A repeat of the create that took it is not a conflict.
			if e.assocLB != "" && e.assocLB != self {
				return nil, "", v2Err("InvalidConfigurationRequest", "The allocation ID '%s' is already associated with %s", ls.allocID, e.assocLB)
			}
		}
		out = append(out, ls)
	}
	return out, vpcID, nil
}

func lbDefaultAttrs(typ string) map[string]string {
	a := map[string]string{
		"deletion_protection.enabled": "false",
		"access_logs.s3.enabled":      "false",
		"access_logs.s3.bucket":       "",
		"access_logs.s3.prefix":       "",
		"ipv6.deny_all_igw_traffic":   "false",
	}
	if typ == "network" {
		a["load_balancing.cross_zone.enabled"] = "false"
		a["dns_record.client_routing_policy"] = "any_availability_zone"
	} else {
		a["idle_timeout.timeout_seconds"] = "60"
		a["routing.http2.enabled"] = "true"
	}
	return a
}

// hostedZones are the canonical hosted zone IDs AWS publishes for
// us-east-1; other regions get a stand-in.
var hostedZones = map[string]string{"network": "Z26RNL4JYFTOTI", "application": "Z35SXDOTRQ7X7K"}

func (s *Server) lbState(lb *loadBalancer) string {
	if s.cfg.now().Before(lb.bornAt.Add(s.cfg.provision)) {
		return "provisioning"
	}
	return "active"
}

func (s *Server) lbNode(lb *loadBalancer) *node {
	var azs []*node
	for _, sn := range lb.subnets {
		az := el("", leaf("ZoneName", sn.zone), leaf("SubnetId", sn.id))
		if sn.allocID != "" || sn.privateIP != "" {
			addr := el("", opt("PrivateIPv4Address", sn.privateIP))
			if e := s.ec2.eips[sn.allocID]; e != nil {
				addr.kids = append(addr.kids, leaf("IpAddress", e.publicIP.String()), leaf("AllocationId", sn.allocID))
			}
			az.kids = append(az.kids, wrap("LoadBalancerAddresses", "member", []*node{addr}))
		}
		azs = append(azs, az)
	}
	zone := hostedZones[lb.typ]
	if s.cfg.region != "us-east-1" {
		zone = "ZFAKE" + strings.ToUpper(strings.ReplaceAll(s.cfg.region, "-", ""))
	}
	n := el("",
		leaf("LoadBalancerArn", lb.arn),
		leaf("DNSName", lb.dns),
		leaf("CanonicalHostedZoneId", zone),
		leaf("CreatedTime", lb.bornAt.UTC().Format(time.RFC3339)),
		leaf("LoadBalancerName", lb.name),
		leaf("Scheme", lb.scheme),
		leaf("VpcId", lb.vpcID),
		el("State", leaf("Code", s.lbState(lb))),
		leaf("Type", lb.typ),
		wrap("AvailabilityZones", "member", azs),
		leaf("IpAddressType", lb.ipType),
	)
	if len(lb.groups) > 0 {
		n.kids = append(n.kids, strs("SecurityGroups", "member", lb.groups))
	}
	return n
}

// lookupLB finds a visible load balancer by ARN.
func (s *Server) lookupLB(arn string, describe bool) (*loadBalancer, error) {
	lb := s.elbv2.lbs[arn]
	if lb == nil || (describe && !s.visible(lb.born, lb.bornAt)) {
		return nil, v2Err("LoadBalancerNotFound", "Load balancer '%s' not found", arn)
	}
	return lb, nil
}

// v2DeleteLoadBalancer succeeds for an unknown ARN, as AWS documents; it
// takes the listeners with it and frees the Elastic IPs, but leaves the
// target groups.
func (s *Server) v2DeleteLoadBalancer(p params) ([]*node, error) {
	lb := s.elbv2.lbs[p.str("LoadBalancerArn")]
	if lb == nil {
		return nil, nil
	}
	if lb.attrs["deletion_protection.enabled"] == "true" {
		return nil, v2Err("OperationNotPermitted", "Load balancer '%s' cannot be deleted because deletion protection is enabled", lb.arn)
	}
	for arn, l := range s.elbv2.listeners {
		if l.lbARN == lb.arn {
			delete(s.elbv2.listeners, arn)
		}
	}
	for _, e := range s.ec2.eips {
		if e.assocLB == lb.arn {
			e.assocLB, e.assocENI, e.assocID = "", "", ""
		}
	}
	delete(s.elbv2.lbs, lb.arn)
	return nil, nil
}

func (s *Server) v2DescribeLoadBalancers(p params) ([]*node, error) {
	arns, names := p.list("LoadBalancerArns.member"), p.list("Names.member")
	var out []*loadBalancer
	switch {
	case len(arns) > 0:
		for _, a := range arns {
			lb, err := s.lookupLB(a, true)
			if err != nil {
				return nil, err
			}
			out = append(out, lb)
		}
	case len(names) > 0:
		for _, name := range names {
			var found *loadBalancer
			for _, lb := range s.elbv2.lbs {
				if lb.name == name && s.visible(lb.born, lb.bornAt) {
					found = lb
				}
			}
			if found == nil {
				return nil, v2Err("LoadBalancerNotFound", "Load balancers '[%s]' not found", name)
			}
			out = append(out, found)
		}
	default:
		for _, lb := range sortedValues(s.elbv2.lbs) {
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
		items = append(items, s.lbNode(lb))
	}
	return []*node{wrap("LoadBalancers", "member", items), opt("NextMarker", next)}, nil
}

// pageSize reads PageSize (1..max) for the ELB APIs' Marker pagination.
func pageSize(p params, max int) (int, error) {
	n, err := p.integer("PageSize", 0)
	if err != nil {
		return 0, err
	}
	if p.has("PageSize") && (n < 1 || n > max) {
		return 0, validation("PageSize %d is out of range; accepted: 1 to %d", n, max)
	}
	return n, nil
}

func attrNodes(attrs map[string]string) *node {
	return wrap("Attributes", "member", tagNodes(attrs, "Key", "Value"))
}

// setAttrs validates every key against the known set before changing any.
func setAttrs(attrs map[string]string, p params, kind string) error {
	changes := p.structs("Attributes.member")
	for _, a := range changes {
		if _, ok := attrs[a.str("Key")]; !ok {
			keys := make([]string, 0, len(attrs))
			for k := range attrs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return validation("%s attribute key '%s' is not recognized; accepted: %s", kind, a.str("Key"), strings.Join(keys, ", "))
		}
	}
	for _, a := range changes {
		attrs[a.str("Key")] = a.str("Value")
	}
	return nil
}

func (s *Server) v2DescribeLBAttributes(p params) ([]*node, error) {
	lb, err := s.lookupLB(p.str("LoadBalancerArn"), true)
	if err != nil {
		return nil, err
	}
	return []*node{attrNodes(lb.attrs)}, nil
}

func (s *Server) v2ModifyLBAttributes(p params) ([]*node, error) {
	lb, err := s.lookupLB(p.str("LoadBalancerArn"), false)
	if err != nil {
		return nil, err
	}
	if err := setAttrs(lb.attrs, p, "load balancer"); err != nil {
		return nil, err
	}
	return []*node{attrNodes(lb.attrs)}, nil
}

// v2SetSecurityGroups replaces the groups. An NLB created without security
// groups can never get any, as on AWS.
func (s *Server) v2SetSecurityGroups(p params) ([]*node, error) {
	lb, err := s.lookupLB(p.str("LoadBalancerArn"), false)
	if err != nil {
		return nil, err
	}
	groups := p.list("SecurityGroups.member")
	if lb.typ == "network" && !lb.createdWithGroups && len(groups) > 0 {
		return nil, v2Err("InvalidConfigurationRequest", "You cannot set security groups on a Network Load Balancer which was created without any security groups")
	}
	for _, g := range groups {
		if sg := s.ec2.groups[g]; sg == nil || sg.vpcID != lb.vpcID {
			return nil, v2Err("InvalidSecurityGroup", "Security group '%s' does not exist in VPC '%s'", g, lb.vpcID)
		}
	}
	lb.groups = groups
	enforce := orDefault(p.str("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"), "on")
	return []*node{strs("SecurityGroupIds", "member", groups),
		leaf("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic", enforce)}, nil
}
