package fakeaws

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"
	"time"
)

// meta is what every modelled resource carries: when it was born (request
// sequence and time, for eventual consistency) and whether a test seeded it
// rather than the client creating it.
type meta struct {
	born   int
	bornAt time.Time
	seeded bool
}

// seededMeta is always visible.
var seededMeta = meta{born: -1 << 30, seeded: true}

func (s *Server) newMeta() meta { return meta{born: s.seq, bornAt: s.cfg.now()} }

type vpc struct {
	meta
	id        string
	cidr      netip.Prefix
	isDefault bool
}

type subnet struct {
	meta
	id, vpcID, zone string
	cidr            netip.Prefix
	nextHost        netip.Addr
}

type instance struct {
	meta
	id, subnetID, vpcID, zone string
	typ, state                string
	privateIP                 netip.Addr
	groups                    []string
	launched                  time.Time
}

type eip struct {
	meta
	allocID  string
	publicIP netip.Addr
	assocLB  string // ARN of the ELBv2 load balancer using it, if any
	assocENI string // that load balancer's network interface
	assocID  string
}

type ec2State struct {
	vpcs      map[string]*vpc
	subnets   map[string]*subnet
	instances map[string]*instance
	groups    map[string]*secGroup
	eips      map[string]*eip
	// tags holds the tags of every EC2 resource by ID: EC2 tags are one
	// namespace across resource types (CreateTags takes any mix of IDs).
	tags map[string]map[string]string
}

func (e *ec2State) init() {
	e.vpcs = map[string]*vpc{}
	e.subnets = map[string]*subnet{}
	e.instances = map[string]*instance{}
	e.groups = map[string]*secGroup{}
	e.eips = map[string]*eip{}
	e.tags = map[string]map[string]string{}
}

func ec2Handlers() map[string]handler {
	return map[string]handler{
		"DescribeInstances":             (*Server).ec2DescribeInstances,
		"DescribeSubnets":               (*Server).ec2DescribeSubnets,
		"DescribeVpcs":                  (*Server).ec2DescribeVpcs,
		"DescribeAvailabilityZones":     (*Server).ec2DescribeAvailabilityZones,
		"DescribeAddresses":             (*Server).ec2DescribeAddresses,
		"DescribeNetworkInterfaces":     (*Server).ec2DescribeNetworkInterfaces,
		"CreateTags":                    (*Server).ec2CreateTags,
		"DeleteTags":                    (*Server).ec2DeleteTags,
		"DescribeTags":                  (*Server).ec2DescribeTags,
		"CreateSecurityGroup":           (*Server).ec2CreateSecurityGroup,
		"DeleteSecurityGroup":           (*Server).ec2DeleteSecurityGroup,
		"DescribeSecurityGroups":        (*Server).ec2DescribeSecurityGroups,
		"AuthorizeSecurityGroupIngress": (*Server).ec2AuthorizeIngress,
		"RevokeSecurityGroupIngress":    (*Server).ec2RevokeIngress,
	}
}

// AddVPC seeds a VPC (with its "default" security group) and returns its ID.
func (s *Server) AddVPC(cidr netip.Prefix, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addVPCLocked(cidr, tags)
}

func (s *Server) addVPCLocked(cidr netip.Prefix, tags map[string]string) string {
	v := &vpc{meta: seededMeta, id: s.newID("vpc"), cidr: cidr.Masked()}
	v.isDefault = len(s.ec2.vpcs) == 0
	s.ec2.vpcs[v.id] = v
	s.ec2.tags[v.id] = copyTags(tags)
	g := newSecGroup(s.newID("sg"), "default", "default VPC security group", v.id)
	g.meta = seededMeta
	// The default group admits traffic from its own members, as on AWS.
	g.ingress = []rule{{proto: "-1", from: -1, to: -1, group: g.id}}
	s.ec2.groups[g.id] = g
	s.ec2.tags[g.id] = map[string]string{}
	return v.id
}

// AddSubnet seeds a subnet in zone (a full name such as "us-east-1a") and
// returns its ID. It joins the VPC whose CIDR contains cidr; when none does,
// a VPC with cidr's enclosing /16 is created for it.
func (s *Server) AddSubnet(zone string, cidr netip.Prefix, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	cidr = cidr.Masked()
	vpcID := ""
	for _, v := range sortedValues(s.ec2.vpcs) {
		if v.cidr.Contains(cidr.Addr()) && v.cidr.Bits() <= cidr.Bits() {
			vpcID = v.id
			break
		}
	}
	if vpcID == "" {
		bits := min(16, cidr.Bits())
		vpcID = s.addVPCLocked(netip.PrefixFrom(cidr.Addr(), bits), nil)
	}
	sn := &subnet{meta: seededMeta, id: s.newID("subnet"), vpcID: vpcID, zone: zone, cidr: cidr}
	// AWS reserves the first four addresses of every subnet.
	sn.nextHost = cidr.Addr().Next().Next().Next().Next()
	s.ec2.subnets[sn.id] = sn
	s.ec2.tags[sn.id] = copyTags(tags)
	return sn.id
}

// Instance describes an instance to seed with AddInstance.
type Instance struct {
	ID               string     // generated when empty
	SubnetID         string     // required; zone and VPC follow from it
	Type             string     // default "m5.large"
	PrivateIP        netip.Addr // default: the subnet's next free address
	State            string     // default "running"; also pending, stopping, stopped, shutting-down, terminated
	Tags             map[string]string
	SecurityGroupIDs []string // default: the VPC's default group
}

// AddInstance seeds an instance and returns its ID. It panics when the
// subnet is unknown: that is a bug in the test, not a case to model.
func (s *Server) AddInstance(in Instance) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.ec2.subnets[in.SubnetID]
	if sn == nil {
		panic(fmt.Sprintf("fakeaws.AddInstance: unknown subnet %q", in.SubnetID))
	}
	i := &instance{meta: seededMeta, id: in.ID, subnetID: sn.id, vpcID: sn.vpcID, zone: sn.zone,
		typ: in.Type, state: in.State, privateIP: in.PrivateIP, groups: in.SecurityGroupIDs,
		launched: s.cfg.now().UTC().Truncate(time.Second)}
	if i.id == "" {
		i.id = s.newID("i")
	}
	if i.typ == "" {
		i.typ = "m5.large"
	}
	if i.state == "" {
		i.state = "running"
	}
	if !i.privateIP.IsValid() {
		i.privateIP = sn.nextHost
		sn.nextHost = sn.nextHost.Next()
	}
	if len(i.groups) == 0 {
		for _, g := range sortedValues(s.ec2.groups) {
			if g.vpcID == sn.vpcID && g.name == "default" {
				i.groups = []string{g.id}
			}
		}
	}
	s.ec2.instances[i.id] = i
	s.ec2.tags[i.id] = copyTags(in.Tags)
	return i.id
}

// SetInstanceState moves an instance to state (e.g. "stopped",
// "terminated"), as the EC2 console would behind the controller's back.
func (s *Server) SetInstanceState(id, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.ec2.instances[id]; i != nil {
		i.state = state
	}
}

// RemoveInstance deletes an instance outright, as AWS does about an hour
// after termination.
func (s *Server) RemoveInstance(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ec2.instances, id)
	delete(s.ec2.tags, id)
}

// AddEIP seeds an Elastic IP allocation and returns its allocation ID.
func (s *Server) AddEIP(publicIP netip.Addr, tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &eip{meta: seededMeta, allocID: s.newID("eipalloc"), publicIP: publicIP}
	s.ec2.eips[e.allocID] = e
	s.ec2.tags[e.allocID] = copyTags(tags)
	return e.allocID
}

func sortedValues[V any](m map[string]V) []V {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]V, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// filterFunc returns the values of a resource's attribute named by an EC2
// filter, and false when the resource type has no such filter.
type filterFunc func(name string) ([]string, bool)

// tagFilter answers the tag:<key> and tag-key filters every EC2 resource
// supports.
func tagFilter(tags map[string]string, name string) ([]string, bool) {
	if k, ok := strings.CutPrefix(name, "tag:"); ok {
		if v, ok := tags[k]; ok {
			return []string{v}, true
		}
		return nil, true
	}
	if name == "tag-key" {
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		return keys, true
	}
	return nil, false
}

// matchFilters applies EC2 filter semantics: every filter must match, a
// filter matches when any of its values matches any attribute value, and
// values may use the * and ? wildcards.
func matchFilters(filters []params, get filterFunc) (bool, error) {
	for _, f := range filters {
		name := f.str("Name")
		attrs, ok := get(name)
		if !ok {
			return false, ec2Invalid("InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		hit := false
		for _, want := range f.list("Value") {
			for _, a := range attrs {
				if m, _ := path.Match(want, a); m {
					hit = true
				}
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}

// resourceKind names an EC2 ID's resource type, as DescribeTags reports
// it, with the error code AWS gives for a missing one.
func resourceKind(id string) (kind, notFound string) {
	switch {
	case strings.HasPrefix(id, "i-"):
		return "instance", "InvalidInstanceID.NotFound"
	case strings.HasPrefix(id, "subnet-"):
		return "subnet", "InvalidSubnetID.NotFound"
	case strings.HasPrefix(id, "vpc-"):
		return "vpc", "InvalidVpcID.NotFound"
	case strings.HasPrefix(id, "sg-"):
		return "security-group", "InvalidGroup.NotFound"
	case strings.HasPrefix(id, "eipalloc-"):
		return "elastic-ip", "InvalidAllocationID.NotFound"
	}
	return "", "InvalidID"
}

func (s *Server) ec2CreateTags(p params) ([]*node, error) {
	ids := p.list("ResourceId")
	tags := p.structs("Tag")
	if len(ids) == 0 || len(tags) == 0 {
		return nil, ec2Invalid("MissingParameter", "CreateTags needs ResourceId.N and Tag.N.Key")
	}
	for _, id := range ids {
		kind, nf := resourceKind(id)
		if _, ok := s.ec2.tags[id]; !ok {
			if kind == "" {
				return nil, ec2Invalid(nf, "The ID '%s' is not valid", id)
			}
			return nil, ec2Invalid(nf, "The %s ID '%s' does not exist", kind, id)
		}
	}
	for _, id := range ids {
		next := copyTags(s.ec2.tags[id])
		for _, t := range tags {
			next[t.str("Key")] = t.str("Value")
		}
		if len(next) > s.cfg.limits.TagsPerResource {
			return nil, ec2Invalid("TagLimitExceeded", "resource %s would have %d tags; the limit is %d", id, len(next), s.cfg.limits.TagsPerResource)
		}
	}
	for _, id := range ids {
		for _, t := range tags {
			s.ec2.tags[id][t.str("Key")] = t.str("Value")
		}
	}
	return []*node{boolLeaf("return", true)}, nil
}

// ec2DeleteTags removes keys; a Tag.N.Value, when given, must match for the
// tag to go, as on AWS.
func (s *Server) ec2DeleteTags(p params) ([]*node, error) {
	ids := p.list("ResourceId")
	if len(ids) == 0 {
		return nil, ec2Invalid("MissingParameter", "DeleteTags needs ResourceId.N")
	}
	for _, id := range ids {
		tags, ok := s.ec2.tags[id]
		if !ok {
			kind, nf := resourceKind(id)
			return nil, ec2Invalid(nf, "The %s ID '%s' does not exist", kind, id)
		}
		for _, t := range p.structs("Tag") {
			if t.has("Value") && tags[t.str("Key")] != t.str("Value") {
				continue
			}
			delete(tags, t.str("Key"))
		}
	}
	return []*node{boolLeaf("return", true)}, nil
}

func (s *Server) ec2DescribeTags(p params) ([]*node, error) {
	type row struct{ id, kind, key, value string }
	var rows []row
	for id, tags := range s.ec2.tags {
		if !s.ec2Visible(id) {
			continue
		}
		kind, _ := resourceKind(id)
		for k, v := range tags {
			r := row{id, kind, k, v}
			ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
				switch name {
				case "resource-id":
					return []string{r.id}, true
				case "resource-type":
					return []string{r.kind}, true
				case "key":
					return []string{r.key}, true
				case "value":
					return []string{r.value}, true
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				rows = append(rows, r)
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].id != rows[j].id {
			return rows[i].id < rows[j].id
		}
		return rows[i].key < rows[j].key
	})
	size, err := p.integer("MaxResults", 0)
	if err != nil {
		return nil, err
	}
	rows, next, err := page(rows, p.str("NextToken"), size)
	if err != nil {
		return nil, err
	}
	var items []*node
	for _, r := range rows {
		items = append(items, el("", leaf("resourceId", r.id), leaf("resourceType", r.kind),
			leaf("key", r.key), leaf("value", r.value)))
	}
	return []*node{wrap("tagSet", "item", items), opt("nextToken", next)}, nil
}

// ec2Visible applies the eventual-consistency window to any EC2 ID.
func (s *Server) ec2Visible(id string) bool {
	var m meta
	switch {
	case s.ec2.instances[id] != nil:
		m = s.ec2.instances[id].meta
	case s.ec2.groups[id] != nil:
		m = s.ec2.groups[id].meta
	default:
		return true // seeded-only kinds
	}
	return s.visible(m.born, m.bornAt)
}

func ec2TagSet(tags map[string]string) *node {
	return wrap("tagSet", "item", tagNodes(tags, "key", "value"))
}
