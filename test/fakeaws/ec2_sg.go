package fakeaws

import (
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

type secGroup struct {
	meta
	id, name, desc, vpcID string
	ingress               []rule
}

// rule is one flattened ingress permission: AWS counts and de-duplicates
// rules per (protocol, port range, peer), whatever grouping the request
// used, so the fake stores them that way and regroups on output.
type rule struct {
	proto    string // "tcp", "udp", "icmp", "-1" or a protocol number
	from, to int
	cidr     netip.Prefix // or
	group    string       // a referenced security group ID
	desc     string
}

func (r rule) key() string {
	peer := r.group
	if r.cidr.IsValid() {
		peer = r.cidr.String()
	}
	return fmt.Sprintf("%s/%d/%d/%s", r.proto, r.from, r.to, peer)
}

func newSecGroup(id, name, desc, vpcID string) *secGroup {
	return &secGroup{id: id, name: name, desc: desc, vpcID: vpcID}
}

func (s *Server) ec2CreateSecurityGroup(p params) ([]*node, error) {
	name, desc, vpcID := p.str("GroupName"), p.str("GroupDescription"), p.str("VpcId")
	switch {
	case name == "" || desc == "":
		return nil, ec2Invalid("MissingParameter", "CreateSecurityGroup needs GroupName and GroupDescription")
	case len(name) > 255 || strings.HasPrefix(name, "sg-"):
		return nil, ec2Invalid("InvalidParameterValue", "Invalid security group name %q: up to 255 characters, not starting with sg-", name)
	case vpcID == "":
		return nil, ec2Invalid("VPCIdNotSpecified", "No default VPC for this user; pass VpcId")
	case s.ec2.vpcs[vpcID] == nil:
		return nil, ec2Invalid("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	count := 0
	for _, g := range s.ec2.groups {
		if g.vpcID == vpcID && g.name == name {
			return nil, ec2Invalid("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
		}
		if g.vpcID == vpcID {
			count++
		}
	}
	if count >= s.cfg.limits.SecurityGroups {
		return nil, ec2Invalid("SecurityGroupLimitExceeded", "The maximum number of security groups (%d) for VPC '%s' has been reached.", s.cfg.limits.SecurityGroups, vpcID)
	}
	tags := map[string]string{}
	for _, spec := range p.structs("TagSpecification") {
		if rt := spec.str("ResourceType"); rt != "security-group" {
			return nil, ec2Invalid("InvalidParameterValue", "TagSpecification ResourceType %q is not valid here; accepted: security-group", rt)
		}
		for _, t := range spec.structs("Tag") {
			tags[t.str("Key")] = t.str("Value")
		}
	}
	g := newSecGroup(s.newID("sg"), name, desc, vpcID)
	g.meta = s.newMeta()
	s.ec2.groups[g.id] = g
	s.ec2.tags[g.id] = tags
	return []*node{leaf("groupId", g.id), leaf("securityGroupArn", s.ec2ARN("security-group", g.id)), ec2TagSet(tags)}, nil
}

// ec2ARN is the ARN of an EC2 resource of the given kind (security-group, subnet...).
func (s *Server) ec2ARN(kind, id string) string {
	return "arn:aws:ec2:" + s.cfg.region + ":" + s.cfg.account + ":" + kind + "/" + id
}

// lookupGroup resolves GroupId, or GroupName in any VPC.
func (s *Server) lookupGroup(p params) (*secGroup, error) {
	if id := p.str("GroupId"); id != "" {
		if g := s.ec2.groups[id]; g != nil {
			return g, nil
		}
		return nil, ec2Invalid("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	name := p.str("GroupName")
	for _, g := range sortedValues(s.ec2.groups) {
		if g.name == name && name != "" {
			return g, nil
		}
	}
	return nil, ec2Invalid("InvalidGroup.NotFound", "The security group '%s' does not exist", name)
}

func (s *Server) ec2DeleteSecurityGroup(p params) ([]*node, error) {
	g, err := s.lookupGroup(p)
	if err != nil {
		return nil, err
	}
	if g.name == "default" {
		return nil, ec2Invalid("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.id)
	}
	if user := s.groupUser(g.id); user != "" {
		return nil, ec2Invalid("DependencyViolation", "resource %s has a dependent object (%s)", g.id, user)
	}
	delete(s.ec2.groups, g.id)
	delete(s.ec2.tags, g.id)
	return []*node{boolLeaf("return", true), leaf("groupId", g.id)}, nil
}

// groupUser names what still uses a group: another group's rule, an
// instance, or a load balancer's network interfaces. AWS refuses to delete
// a group in use with DependencyViolation.
func (s *Server) groupUser(id string) string {
	for _, o := range sortedValues(s.ec2.groups) {
		for _, r := range o.ingress {
			if r.group == id && o.id != id {
				return "rule in " + o.id
			}
		}
	}
	for _, i := range sortedValues(s.ec2.instances) {
		if i.state != "terminated" && contains(i.groups, id) {
			return "instance " + i.id
		}
	}
	for _, lb := range sortedValues(s.elbv2.lbs) {
		if contains(lb.groups, id) {
			return "load balancer " + lb.name
		}
	}
	for _, lb := range sortedValues(s.elb.lbs) {
		if contains(lb.groups, id) {
			return "load balancer " + lb.name
		}
	}
	return ""
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// parseRules flattens the IpPermissions of an Authorize or Revoke call,
// plus the legacy top-level CidrIp/IpProtocol/FromPort/ToPort form.
func (s *Server) parseRules(p params) ([]rule, error) {
	perms := p.structs("IpPermissions")
	if p.has("IpProtocol") {
		legacy := params{"IpProtocol": {p.str("IpProtocol")}, "FromPort": {p.str("FromPort")}, "ToPort": {p.str("ToPort")}}
		if c := p.str("CidrIp"); c != "" {
			legacy["IpRanges.1.CidrIp"] = []string{c}
		}
		perms = append(perms, legacy)
	}
	var out []rule
	for _, perm := range perms {
		proto := strings.ToLower(perm.str("IpProtocol"))
		switch proto {
		case "6":
			proto = "tcp"
		case "17":
			proto = "udp"
		case "1":
			proto = "icmp"
		case "all":
			proto = "-1"
		}
		if _, err := strconv.Atoi(proto); err != nil && proto != "tcp" && proto != "udp" && proto != "icmp" {
			return nil, ec2Invalid("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", perm.str("IpProtocol"))
		}
		from, err := perm.integer("FromPort", -1)
		if err != nil {
			return nil, err
		}
		to, err := perm.integer("ToPort", -1)
		if err != nil {
			return nil, err
		}
		if proto == "-1" {
			from, to = -1, -1
		} else if (proto == "tcp" || proto == "udp") && (from < 0 || to > 65535 || from > to) {
			return nil, ec2Invalid("InvalidParameterValue", "Invalid port range %d-%d; accepted: 0 <= from <= to <= 65535", from, to)
		}
		base := rule{proto: proto, from: from, to: to}
		for _, r := range perm.structs("IpRanges") {
			c, err := netip.ParsePrefix(r.str("CidrIp"))
			if err != nil || !c.Addr().Is4() {
				return nil, ec2Invalid("InvalidParameterValue", "CIDR block %q is malformed; accepted: an IPv4 CIDR such as 10.0.0.0/8", r.str("CidrIp"))
			}
			x := base
			x.cidr, x.desc = c.Masked(), r.str("Description")
			out = append(out, x)
		}
		for _, r := range perm.structs("Ipv6Ranges") {
			c, err := netip.ParsePrefix(r.str("CidrIpv6"))
			if err != nil || !c.Addr().Is6() {
				return nil, ec2Invalid("InvalidParameterValue", "CIDR block %q is malformed; accepted: an IPv6 CIDR such as ::/0", r.str("CidrIpv6"))
			}
			x := base
			x.cidr, x.desc = c.Masked(), r.str("Description")
			out = append(out, x)
		}
		for _, r := range perm.structs("Groups") {
			ref := r.str("GroupId")
			if s.ec2.groups[ref] == nil {
				return nil, ec2Invalid("InvalidGroup.NotFound", "The security group '%s' does not exist", ref)
			}
			x := base
			x.group, x.desc = ref, r.str("Description")
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil, ec2Invalid("MissingParameter", "no IpPermissions with an IpRanges, Ipv6Ranges or Groups peer")
	}
	return out, nil
}

func (s *Server) ec2AuthorizeIngress(p params) ([]*node, error) {
	g, err := s.lookupGroup(p)
	if err != nil {
		return nil, err
	}
	rules, err := s.parseRules(p)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, r := range g.ingress {
		have[r.key()] = true
	}
	for _, r := range rules {
		if have[r.key()] {
			return nil, ec2Invalid("InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists",
				peerName(r), strings.ToUpper(r.proto), r.from, r.to)
		}
		have[r.key()] = true
	}
	if len(g.ingress)+len(rules) > s.cfg.limits.RulesPerSecurityGrp {
		return nil, ec2Invalid("RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group (%d) has been reached.", s.cfg.limits.RulesPerSecurityGrp)
	}
	g.ingress = append(g.ingress, rules...)
	var set []*node
	for n, r := range rules {
		set = append(set, el("", leaf("securityGroupRuleId", fmt.Sprintf("sgr-%017x", s.seq*100+n)),
			leaf("groupId", g.id), boolLeaf("isEgress", false), leaf("ipProtocol", r.proto),
			intLeaf("fromPort", r.from), intLeaf("toPort", r.to)))
	}
	return []*node{boolLeaf("return", true), wrap("securityGroupRuleSet", "item", set)}, nil
}

func peerName(r rule) string {
	if r.cidr.IsValid() {
		return r.cidr.String()
	}
	return r.group
}

// ec2RevokeIngress removes rules. A rule that does not exist fails the
// whole call with InvalidPermission.NotFound and removes nothing.
func (s *Server) ec2RevokeIngress(p params) ([]*node, error) {
	g, err := s.lookupGroup(p)
	if err != nil {
		return nil, err
	}
	rules, err := s.parseRules(p)
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	have := map[string]bool{}
	for _, r := range g.ingress {
		have[r.key()] = true
	}
	for _, r := range rules {
		if !have[r.key()] {
			return nil, &APIError{Code: "InvalidPermission.NotFound", Status: http.StatusBadRequest,
				Message: fmt.Sprintf("The specified rule does not exist in this security group (peer %s, %s %d-%d).", peerName(r), r.proto, r.from, r.to)}
		}
		drop[r.key()] = true
	}
	kept := g.ingress[:0]
	for _, r := range g.ingress {
		if !drop[r.key()] {
			kept = append(kept, r)
		}
	}
	g.ingress = kept
	return []*node{boolLeaf("return", true)}, nil
}

func (s *Server) ec2DescribeSecurityGroups(p params) ([]*node, error) {
	ids := p.list("GroupId")
	visible := func(id string) bool {
		g := s.ec2.groups[id]
		return g != nil && s.visible(g.born, g.bornAt)
	}
	if err := requireIDs(ids, visible, "InvalidGroup.NotFound", "security group"); err != nil {
		return nil, err
	}
	want, names := idSet(ids), idSet(p.list("GroupName"))
	var out []*node
	for _, g := range sortedValues(s.ec2.groups) {
		if (len(want) > 0 && !want[g.id]) || (len(names) > 0 && !names[g.name]) || !visible(g.id) {
			continue
		}
		ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
			switch name {
			case "group-id":
				return []string{g.id}, true
			case "group-name":
				return []string{g.name}, true
			case "vpc-id":
				return []string{g.vpcID}, true
			case "description":
				return []string{g.desc}, true
			}
			return tagFilter(s.ec2.tags[g.id], name)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s.groupNode(g))
		}
	}
	size, err := p.integer("MaxResults", 0)
	if err != nil {
		return nil, err
	}
	out, next, err := page(out, p.str("NextToken"), size)
	if err != nil {
		return nil, err
	}
	return []*node{wrap("securityGroupInfo", "item", out), opt("nextToken", next)}, nil
}

func (s *Server) groupNode(g *secGroup) *node {
	// Regroup flattened rules into IpPermissions by (protocol, ports), in a
	// stable order.
	type permKey struct {
		proto    string
		from, to int
	}
	byPerm := map[permKey][]rule{}
	var keys []permKey
	for _, r := range g.ingress {
		k := permKey{r.proto, r.from, r.to}
		if _, ok := byPerm[k]; !ok {
			keys = append(keys, k)
		}
		byPerm[k] = append(byPerm[k], r)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		if a.from != b.from {
			return a.from < b.from
		}
		return a.to < b.to
	})
	var perms []*node
	for _, k := range keys {
		var v4, v6, groups []*node
		for _, r := range byPerm[k] {
			switch {
			case r.group != "":
				groups = append(groups, el("", leaf("groupId", r.group), leaf("userId", s.cfg.account), opt("description", r.desc)))
			case r.cidr.Addr().Is4():
				v4 = append(v4, el("", leaf("cidrIp", r.cidr.String()), opt("description", r.desc)))
			default:
				v6 = append(v6, el("", leaf("cidrIpv6", r.cidr.String()), opt("description", r.desc)))
			}
		}
		perm := el("", leaf("ipProtocol", k.proto))
		if k.proto != "-1" {
			perm.kids = append(perm.kids, intLeaf("fromPort", k.from), intLeaf("toPort", k.to))
		}
		perm.kids = append(perm.kids, wrap("groups", "item", groups), wrap("ipRanges", "item", v4),
			wrap("ipv6Ranges", "item", v6), el("prefixListIds"))
		perms = append(perms, perm)
	}
	egress := el("", leaf("ipProtocol", "-1"), el("groups"),
		wrap("ipRanges", "item", []*node{el("", leaf("cidrIp", "0.0.0.0/0"))}), el("ipv6Ranges"), el("prefixListIds"))
	return el("",
		leaf("ownerId", s.cfg.account),
		leaf("groupId", g.id),
		leaf("groupName", g.name),
		leaf("groupDescription", g.desc),
		leaf("vpcId", g.vpcID),
		leaf("securityGroupArn", s.ec2ARN("security-group", g.id)),
		wrap("ipPermissions", "item", perms),
		wrap("ipPermissionsEgress", "item", []*node{egress}),
		ec2TagSet(s.ec2.tags[g.id]),
	)
}
