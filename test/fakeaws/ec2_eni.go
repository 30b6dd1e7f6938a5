package fakeaws

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// eni is a network interface as DescribeNetworkInterfaces shows it. The fake
// derives them: one per live instance and one per load balancer subnet. A
// cloud controller reads the latter to learn an NLB's private addresses
// (for health-check ingress rules) by their "ELB net/<name>/<id>"
// description.
type eni struct {
	id, subnetID, vpcID, zone, desc, requester, kind, instanceID, publicIP, allocID string
	ip                                                                              netip.Addr
	groups                                                                          []string
}

func (s *Server) enis() []eni {
	var out []eni
	for _, i := range sortedValues(s.ec2.instances) {
		if i.state == "terminated" {
			continue
		}
		out = append(out, eni{id: "eni-" + strings.TrimPrefix(i.id, "i-"), subnetID: i.subnetID, vpcID: i.vpcID, zone: i.zone,
			kind: "interface", instanceID: i.id, ip: i.privateIP, groups: i.groups})
	}
	for _, lb := range sortedValues(s.elbv2.lbs) {
		// The description is "ELB " plus the ARN's resource path after
		// "loadbalancer/", e.g. "ELB net/web/0123456789abcdef".
		_, path, _ := strings.Cut(lb.arn, ":loadbalancer/")
		kind := "interface"
		if lb.typ == "network" {
			kind = "network_load_balancer"
		}
		for _, sn := range lb.subnets {
			e := eni{id: sn.eniID, subnetID: sn.id, vpcID: lb.vpcID, zone: sn.zone, desc: "ELB " + path,
				requester: "amazon-elb", kind: kind, ip: sn.eniIP, groups: lb.groups, allocID: sn.allocID}
			if ip := s.ec2.eips[sn.allocID]; ip != nil {
				e.publicIP = ip.publicIP.String()
			}
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (s *Server) ec2DescribeNetworkInterfaces(p params) ([]*node, error) {
	all := s.enis()
	byID := map[string]bool{}
	for _, e := range all {
		byID[e.id] = true
	}
	ids := p.list("NetworkInterfaceId")
	if err := requireIDs(ids, func(id string) bool { return byID[id] }, "InvalidNetworkInterfaceID.NotFound", "network interface ID"); err != nil {
		return nil, err
	}
	want := idSet(ids)
	var out []*node
	for _, e := range all {
		if len(want) > 0 && !want[e.id] {
			continue
		}
		ok, err := matchFilters(p.structs("Filter"), func(name string) ([]string, bool) {
			switch name {
			case "network-interface-id":
				return []string{e.id}, true
			case "description":
				return []string{e.desc}, true
			case "vpc-id":
				return []string{e.vpcID}, true
			case "subnet-id":
				return []string{e.subnetID}, true
			case "availability-zone":
				return []string{e.zone}, true
			case "requester-id":
				return []string{e.requester}, true
			case "requester-managed":
				return []string{strconv.FormatBool(e.requester != "")}, true
			case "interface-type":
				return []string{e.kind}, true
			case "status":
				return []string{"in-use"}, true
			case "private-ip-address", "addresses.private-ip-address":
				return []string{e.ip.String()}, true
			case "attachment.instance-id":
				return []string{e.instanceID}, true
			case "group-id":
				return e.groups, true
			}
			return tagFilter(nil, name)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, s.eniNode(e))
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
	return []*node{wrap("networkInterfaceSet", "item", out), opt("nextToken", next)}, nil
}

func (s *Server) eniNode(e eni) *node {
	var groups []*node
	for _, g := range e.groups {
		name := ""
		if sg := s.ec2.groups[g]; sg != nil {
			name = sg.name
		}
		groups = append(groups, el("", leaf("groupId", g), leaf("groupName", name)))
	}
	var assoc *node
	if e.publicIP != "" {
		assoc = el("association", leaf("publicIp", e.publicIP), leaf("allocationId", e.allocID), leaf("ipOwnerId", s.cfg.account))
	}
	n := el("",
		leaf("networkInterfaceId", e.id),
		leaf("subnetId", e.subnetID),
		leaf("vpcId", e.vpcID),
		leaf("availabilityZone", e.zone),
		leaf("description", e.desc),
		leaf("ownerId", s.cfg.account),
		opt("requesterId", e.requester),
		boolLeaf("requesterManaged", e.requester != ""),
		leaf("status", "in-use"),
		leaf("interfaceType", e.kind),
		leaf("privateIpAddress", e.ip.String()),
		leaf("privateDnsName", s.privateDNS(e.ip)),
		wrap("groupSet", "item", groups),
		assoc,
		wrap("privateIpAddressesSet", "item", []*node{el("",
			leaf("privateIpAddress", e.ip.String()), boolLeaf("primary", true), assocCopy(assoc))}),
		el("tagSet"),
	)
	if e.instanceID != "" {
		n.kids = append(n.kids, el("attachment", leaf("instanceId", e.instanceID), intLeaf("deviceIndex", 0),
			leaf("status", "attached"), boolLeaf("deleteOnTermination", true)))
	}
	return n
}

func assocCopy(a *node) *node {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}
