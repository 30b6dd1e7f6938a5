package fakeaws

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// instanceStateCodes are EC2's numeric instance states.
var instanceStateCodes = map[string]int{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

// privateDNS follows EC2's hostname scheme: us-east-1 uses ec2.internal,
// every other region <region>.compute.internal.
func (s *Server) privateDNS(a netip.Addr) string {
	host := "ip-" + strings.ReplaceAll(a.String(), ".", "-")
	if s.cfg.region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + s.cfg.region + ".compute.internal"
}

// requireIDs checks that every requested ID exists (and is visible),
// failing with the first missing one as EC2 does.
func requireIDs(ids []string, exists func(string) bool, code, what string) error {
	for _, id := range ids {
		if !exists(id) {
			return ec2Invalid(code, "The %s '%s' does not exist", what, id)
		}
	}
	return nil
}

func idSet(ids []string) map[string]bool {
	m := map[string]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func (s *Server) ec2DescribeInstances(p params) ([]*node, error) {
	ids := p.list("InstanceId")
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") {
			return nil, ec2Invalid("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
	}
	visible := func(id string) bool {
		i := s.ec2.instances[id]
		return i != nil && s.visible(i.born, i.bornAt)
	}
	if err := requireIDs(ids, visible, "InvalidInstanceID.NotFound", "instance ID"); err != nil {
		return nil, err
	}
	size, err := p.integer("MaxResults", 0)
	if err != nil {
		return nil, err
	}
	if size != 0 && len(ids) > 0 {
		return nil, ec2Invalid("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	if size != 0 && (size < 5 || size > 1000) {
		return nil, ec2Invalid("InvalidParameterValue", "MaxResults %d is out of range; accepted: 5 to 1000", size)
	}
	want := idSet(ids)
	var out []*instance
	for _, i := range sortedValues(s.ec2.instances) {
		if (len(ids) > 0 && !want[i.id]) || !visible(i.id) {
			continue
		}
		ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
			switch name {
			case "instance-id":
				return []string{i.id}, true
			case "instance-state-name":
				return []string{i.state}, true
			case "instance-type":
				return []string{i.typ}, true
			case "availability-zone":
				return []string{i.zone}, true
			case "vpc-id":
				return []string{i.vpcID}, true
			case "subnet-id":
				return []string{i.subnetID}, true
			case "private-ip-address":
				return []string{i.privateIP.String()}, true
			case "private-dns-name":
				return []string{s.privateDNS(i.privateIP)}, true
			}
			return tagFilter(s.ec2.tags[i.id], name)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, i)
		}
	}
	out, next, err := page(out, p.str("NextToken"), size)
	if err != nil {
		return nil, err
	}
	var res []*node
	for _, i := range out {
		res = append(res, el("",
			leaf("reservationId", "r-"+strings.TrimPrefix(i.id, "i-")),
			leaf("ownerId", s.cfg.account),
			el("groupSet"),
			wrap("instancesSet", "item", []*node{s.instanceNode(i)}),
		))
	}
	return []*node{wrap("reservationSet", "item", res), opt("nextToken", next)}, nil
}

func (s *Server) instanceNode(i *instance) *node {
	n := el("",
		leaf("instanceId", i.id),
		leaf("imageId", "ami-0fa4e000000000000"),
		el("instanceState", intLeaf("code", instanceStateCodes[i.state]), leaf("name", i.state)),
		leaf("instanceType", i.typ),
		leaf("launchTime", i.launched.Format(time.RFC3339)),
		el("placement", leaf("availabilityZone", i.zone), leaf("tenancy", "default")),
		leaf("architecture", "x86_64"),
		leaf("rootDeviceType", "ebs"),
		leaf("virtualizationType", "hvm"),
		leaf("hypervisor", "xen"),
		ec2TagSet(s.ec2.tags[i.id]),
	)
	// A terminated instance loses its network identity, as on AWS.
	if i.state == "terminated" {
		n.kids = append(n.kids, leaf("privateDnsName", ""), el("groupSet"))
		return n
	}
	dns := s.privateDNS(i.privateIP)
	var groups []*node
	for _, g := range i.groups {
		name := ""
		if sg := s.ec2.groups[g]; sg != nil {
			name = sg.name
		}
		groups = append(groups, el("", leaf("groupId", g), leaf("groupName", name)))
	}
	eni := "eni-" + strings.TrimPrefix(i.id, "i-")
	n.kids = append(n.kids,
		leaf("privateDnsName", dns),
		leaf("privateIpAddress", i.privateIP.String()),
		leaf("subnetId", i.subnetID),
		leaf("vpcId", i.vpcID),
		wrap("groupSet", "item", groups),
		wrap("networkInterfaceSet", "item", []*node{el("",
			leaf("networkInterfaceId", eni),
			leaf("subnetId", i.subnetID),
			leaf("vpcId", i.vpcID),
			leaf("ownerId", s.cfg.account),
			leaf("status", "in-use"),
			leaf("privateIpAddress", i.privateIP.String()),
			leaf("privateDnsName", dns),
			leaf("interfaceType", "interface"),
			wrap("groupSet", "item", groups),
			wrap("privateIpAddressesSet", "item", []*node{el("",
				leaf("privateIpAddress", i.privateIP.String()),
				leaf("privateDnsName", dns),
				boolLeaf("primary", true),
			)}),
		)}),
	)
	return n
}

func (s *Server) ec2DescribeSubnets(p params) ([]*node, error) {
	ids := p.list("SubnetId")
	if err := requireIDs(ids, func(id string) bool { return s.ec2.subnets[id] != nil },
		"InvalidSubnetID.NotFound", "subnet ID"); err != nil {
		return nil, err
	}
	want := idSet(ids)
	var out []*node
	for _, sn := range sortedValues(s.ec2.subnets) {
		if len(ids) > 0 && !want[sn.id] {
			continue
		}
		ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
			switch name {
			case "subnet-id":
				return []string{sn.id}, true
			case "vpc-id":
				return []string{sn.vpcID}, true
			case "availability-zone":
				return []string{sn.zone}, true
			case "cidr-block", "cidr":
				return []string{sn.cidr.String()}, true
			case "state":
				return []string{"available"}, true
			}
			return tagFilter(s.ec2.tags[sn.id], name)
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		out = append(out, el("",
			leaf("subnetId", sn.id),
			leaf("subnetArn", s.ec2ARN("subnet", sn.id)),
			leaf("state", "available"),
			leaf("vpcId", sn.vpcID),
			leaf("cidrBlock", sn.cidr.String()),
			intLeaf("availableIpAddressCount", (1<<(32-sn.cidr.Bits()))-5),
			leaf("availabilityZone", sn.zone),
			leaf("availabilityZoneId", s.zoneID(sn.zone)),
			boolLeaf("defaultForAz", false),
			boolLeaf("mapPublicIpOnLaunch", false),
			leaf("ownerId", s.cfg.account),
			ec2TagSet(s.ec2.tags[sn.id]),
		))
	}
	size, err := p.integer("MaxResults", 0)
	if err != nil {
		return nil, err
	}
	out, next, err := page(out, p.str("NextToken"), size)
	if err != nil {
		return nil, err
	}
	return []*node{wrap("subnetSet", "item", out), opt("nextToken", next)}, nil
}

func (s *Server) ec2DescribeVpcs(p params) ([]*node, error) {
	ids := p.list("VpcId")
	if err := requireIDs(ids, func(id string) bool { return s.ec2.vpcs[id] != nil },
		"InvalidVpcID.NotFound", "vpc ID"); err != nil {
		return nil, err
	}
	want := idSet(ids)
	var out []*node
	for _, v := range sortedValues(s.ec2.vpcs) {
		if len(ids) > 0 && !want[v.id] {
			continue
		}
		ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
			switch name {
			case "vpc-id":
				return []string{v.id}, true
			case "cidr", "cidr-block-association.cidr-block":
				return []string{v.cidr.String()}, true
			case "is-default":
				return []string{strconv.FormatBool(v.isDefault)}, true
			case "state":
				return []string{"available"}, true
			}
			return tagFilter(s.ec2.tags[v.id], name)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, el("",
				leaf("vpcId", v.id),
				leaf("ownerId", s.cfg.account),
				leaf("state", "available"),
				leaf("cidrBlock", v.cidr.String()),
				leaf("dhcpOptionsId", "dopt-0fa4e000000000000"),
				leaf("instanceTenancy", "default"),
				boolLeaf("isDefault", v.isDefault),
				ec2TagSet(s.ec2.tags[v.id]),
			))
		}
	}
	return []*node{wrap("vpcSet", "item", out)}, nil
}

// zones are the region's a, b and c zones plus any zone a seeded subnet
// names.
func (s *Server) zones() []string {
	set := map[string]bool{}
	for _, z := range []string{"a", "b", "c"} {
		set[s.cfg.region+z] = true
	}
	for _, sn := range s.ec2.subnets {
		set[sn.zone] = true
	}
	out := make([]string, 0, len(set))
	for z := range set {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

// zoneID maps a zone name to an ID in AWS's "use1-az1" shape.
func (s *Server) zoneID(zone string) string {
	short := s.cfg.region
	if parts := strings.Split(s.cfg.region, "-"); len(parts) == 3 {
		short = parts[0] + string(parts[1][0]) + parts[2]
	}
	for n, z := range s.zones() {
		if z == zone {
			return fmt.Sprintf("%s-az%d", short, n+1)
		}
	}
	return short + "-az0"
}

func (s *Server) ec2DescribeAvailabilityZones(p params) ([]*node, error) {
	names := idSet(p.list("ZoneName"))
	var out []*node
	for _, z := range s.zones() {
		if len(names) > 0 && !names[z] {
			continue
		}
		ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
			switch name {
			case "zone-name":
				return []string{z}, true
			case "zone-id":
				return []string{s.zoneID(z)}, true
			case "region-name":
				return []string{s.cfg.region}, true
			case "state":
				return []string{"available"}, true
			case "zone-type":
				return []string{"availability-zone"}, true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, el("",
				leaf("zoneName", z), leaf("zoneId", s.zoneID(z)), leaf("zoneState", "available"),
				leaf("regionName", s.cfg.region), leaf("zoneType", "availability-zone"),
				leaf("optInStatus", "opt-in-not-required"), leaf("groupName", s.cfg.region),
				leaf("networkBorderGroup", s.cfg.region),
			))
		}
	}
	return []*node{wrap("availabilityZoneInfo", "item", out)}, nil
}

func (s *Server) ec2DescribeAddresses(p params) ([]*node, error) {
	allocs := p.list("AllocationId")
	if err := requireIDs(allocs, func(id string) bool { return s.ec2.eips[id] != nil },
		"InvalidAllocationID.NotFound", "allocation ID"); err != nil {
		return nil, err
	}
	ips := idSet(p.list("PublicIp"))
	for ip := range ips {
		found := false
		for _, e := range s.ec2.eips {
			found = found || e.publicIP.String() == ip
		}
		if !found {
			return nil, ec2Invalid("InvalidAddress.NotFound", "Address '%s' not found.", ip)
		}
	}
	want := idSet(allocs)
	var out []*node
	for _, e := range sortedValues(s.ec2.eips) {
		if (len(want) > 0 && !want[e.allocID]) || (len(ips) > 0 && !ips[e.publicIP.String()]) {
			continue
		}
		ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
			switch name {
			case "allocation-id":
				return []string{e.allocID}, true
			case "public-ip":
				return []string{e.publicIP.String()}, true
			case "domain":
				return []string{"vpc"}, true
			}
			return tagFilter(s.ec2.tags[e.allocID], name)
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		n := el("", leaf("publicIp", e.publicIP.String()), leaf("allocationId", e.allocID),
			leaf("domain", "vpc"), leaf("networkBorderGroup", s.cfg.region), ec2TagSet(s.ec2.tags[e.allocID]))
		if e.assocLB != "" {
			// An NLB holds its EIPs through ELB-owned network interfaces.
			n.kids = append(n.kids, leaf("associationId", e.assocID),
				leaf("networkInterfaceId", e.assocENI),
				leaf("networkInterfaceOwnerId", "amazon-elb"))
		}
		out = append(out, n)
	}
	return []*node{wrap("addressesSet", "item", out)}, nil
}
