package fakeaws

import "sort"

// Resource is one live resource, for leak checks after a test.
type Resource struct {
	Service Service
	Kind    string // vpc, subnet, instance, security-group, elastic-ip, load-balancer, target-group, listener, classic-load-balancer
	ID      string // the ID (EC2), ARN (ELBv2) or name (Classic ELB)
	Tags    map[string]string
	Seeded  bool // added by a test helper rather than created through the API
}

// Resources lists every live resource, sorted by service, kind and ID.
// Resources the client created are those with Seeded false; the default
// security group of each VPC counts as seeded.
func (s *Server) Resources() []Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Resource
	add := func(svc Service, kind, id string, m meta, tags map[string]string) {
		out = append(out, Resource{Service: svc, Kind: kind, ID: id, Tags: copyTags(tags), Seeded: m.seeded})
	}
	for id, v := range s.ec2.vpcs {
		add(EC2, "vpc", id, v.meta, s.ec2.tags[id])
	}
	for id, v := range s.ec2.subnets {
		add(EC2, "subnet", id, v.meta, s.ec2.tags[id])
	}
	for id, v := range s.ec2.instances {
		add(EC2, "instance", id, v.meta, s.ec2.tags[id])
	}
	for id, v := range s.ec2.groups {
		add(EC2, "security-group", id, v.meta, s.ec2.tags[id])
	}
	for id, v := range s.ec2.eips {
		add(EC2, "elastic-ip", id, v.meta, s.ec2.tags[id])
	}
	for arn, v := range s.elbv2.lbs {
		add(ELBv2, "load-balancer", arn, v.meta, v.tags)
	}
	for arn, v := range s.elbv2.tgs {
		add(ELBv2, "target-group", arn, v.meta, v.tags)
	}
	for arn, v := range s.elbv2.listeners {
		add(ELBv2, "listener", arn, v.meta, v.tags)
	}
	for name, v := range s.elb.lbs {
		add(ELB, "classic-load-balancer", name, v.meta, v.tags)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.ID < b.ID
	})
	return out
}

// Created lists the resources the client created through the API (not
// seeded), the usual input of a leak check.
func (s *Server) Created() []Resource {
	var out []Resource
	for _, r := range s.Resources() {
		if !r.Seeded {
			out = append(out, r)
		}
	}
	return out
}
