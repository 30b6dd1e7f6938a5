package model

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
)

// Subnet role tags, shared with cloud-provider-aws and aws-load-balancer-controller.
const (
	TagRoleELB         = "kubernetes.io/role/elb"
	TagRoleInternalELB = "kubernetes.io/role/internal-elb"
)

// pickSubnets returns the subnets named by the annotation, in its order, or
// one discovered subnet per zone: tagged with the role for the scheme, not
// tagged for another cluster, preferring those tagged for this one, then the
// lowest ID (a stable choice: a resync must not move the load balancer).
func pickSubnets(in Input) ([]SubnetMapping, error) {
	spec := in.Spec
	var ids []string
	if len(spec.Subnets) > 0 {
		for _, want := range spec.Subnets {
			i := slices.IndexFunc(in.Subnets, func(s Subnet) bool { return s.ID == want || s.Tags["Name"] == want })
			if i < 0 {
				return nil, &annotations.Error{Name: annotations.Subnets, Value: want, Accepted: "IDs or Name tags of subnets in the cluster's VPC: " + known(in.Subnets)}
			}
			ids = append(ids, in.Subnets[i].ID)
		}
	} else {
		role := TagRoleELB
		if spec.Internal {
			role = TagRoleInternalELB
		}
		best := map[string]Subnet{}
		for _, s := range in.Subnets {
			if v, ok := s.Tags[role]; !ok || (v != "" && v != "1") {
				continue
			}
			if otherCluster(s.Tags, in.Cluster) {
				continue
			}
			cur, ok := best[s.Zone]
			if !ok || better(s, cur, in.Cluster) {
				best[s.Zone] = s
			}
		}
		for _, s := range best {
			ids = append(ids, s.ID)
		}
		slices.Sort(ids)
	}
	if len(ids) == 0 {
		return nil, ErrNoSubnets
	}
	if n := len(spec.EIPAllocations); n > 0 && n != len(ids) {
		return nil, &annotations.Error{Name: annotations.EIPAllocations, Value: strings.Join(spec.EIPAllocations, ","),
			Accepted: "one allocation per subnet of the load balancer (" + strings.Join(ids, ", ") + ")"}
	}
	out := make([]SubnetMapping, len(ids))
	for i, id := range ids {
		out[i].SubnetID = id
		if len(spec.EIPAllocations) > 0 {
			out[i].AllocationID = spec.EIPAllocations[i]
		}
	}
	return out, nil
}

func otherCluster(tags map[string]string, cluster string) bool {
	mine := false
	other := false
	for k := range tags {
		if c, ok := strings.CutPrefix(k, TagClusterPrefix); ok {
			if c == cluster {
				mine = true
			} else {
				other = true
			}
		}
	}
	return other && !mine
}

func better(a, b Subnet, cluster string) bool {
	_, am := a.Tags[ClusterTag(cluster)]
	_, bm := b.Tags[ClusterTag(cluster)]
	if am != bm {
		return am
	}
	return a.ID < b.ID
}

func known(subnets []Subnet) string {
	var names []string
	for _, s := range subnets {
		n := s.ID
		if s.Tags["Name"] != "" {
			n += " (" + s.Tags["Name"] + ")"
		}
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none found"
	}
	return strings.Join(names, ", ")
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }

func mustSelector(s string) labels.Selector {
	sel, err := labels.Parse(s)
	if err != nil {
		return labels.Nothing() // annotations.Parse has checked it
	}
	return sel
}
