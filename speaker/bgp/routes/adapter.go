package routes

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// RuleFromAdvertisement parses a BGPAdvertisement. The API server has checked the fields of
// objects created since the CRD's rules exist; this checks again for older objects, and an
// error names the field, so the caller can skip the advertisement and say why.
func RuleFromAdvertisement(a *v1alpha1.BGPAdvertisement) (Rule, error) {
	r := Rule{Name: a.Name, Pools: a.Spec.IPPools, Peers: a.Spec.Peers, AggregationLength: -1, AggregationLengthV6: -1}
	var err error
	if r.PoolSelectors, err = selectors("spec.ipPoolSelectors", a.Spec.IPPoolSelectors); err != nil {
		return Rule{}, err
	}
	if r.NodeSelectors, err = selectors("spec.nodeSelectors", a.Spec.NodeSelectors); err != nil {
		return Rule{}, err
	}
	for i, s := range a.Spec.Communities {
		c, err := v1alpha1.ParseCommunity(s)
		if err != nil {
			return Rule{}, fmt.Errorf("spec.communities[%d]: %w", i, err)
		}
		r.Communities = append(r.Communities, c)
	}
	for i, s := range a.Spec.LargeCommunities {
		c, err := v1alpha1.ParseLargeCommunity(s)
		if err != nil {
			return Rule{}, fmt.Errorf("spec.largeCommunities[%d]: %w", i, err)
		}
		r.LargeCommunities = append(r.LargeCommunities, c)
	}
	for i, s := range a.Spec.ServiceCommunities {
		p, err := v1alpha1.ParseCommunityPattern(s)
		if err != nil {
			return Rule{}, fmt.Errorf("spec.serviceCommunities[%d]: %w", i, err)
		}
		r.ServiceCommunities = append(r.ServiceCommunities, p)
	}
	if lp := a.Spec.LocalPreference; lp != nil {
		if *lp < 0 || *lp > 0xFFFFFFFF {
			return Rule{}, fmt.Errorf("spec.localPreference %d is out of range; want 0 to 4294967295", *lp)
		}
		v := uint32(*lp)
		r.LocalPref = &v
	}
	// The CRD's floor (8 and 32, a pool entry's largest size) is checked again for objects stored
	// before it: 0 would advertise a default route.
	if l := a.Spec.AggregationLength; l != nil {
		if *l < v1alpha1.MinPrefixLengthIPv4 || *l > 32 {
			return Rule{}, fmt.Errorf("spec.aggregationLength %d is out of range; want %d to 32", *l, v1alpha1.MinPrefixLengthIPv4)
		}
		r.AggregationLength = int(*l)
	}
	if l := a.Spec.AggregationLengthV6; l != nil {
		if *l < v1alpha1.MinPrefixLengthIPv6 || *l > 128 {
			return Rule{}, fmt.Errorf("spec.aggregationLengthV6 %d is out of range; want %d to 128", *l, v1alpha1.MinPrefixLengthIPv6)
		}
		r.AggregationLengthV6 = int(*l)
	}
	return r, nil
}

// PeerFromBGPPeer reads the node selection of a BGPPeer.
func PeerFromBGPPeer(p *v1alpha1.BGPPeer) (Peer, error) {
	sels, err := selectors("spec.nodeSelectors", p.Spec.NodeSelectors)
	if err != nil {
		return Peer{}, err
	}
	return Peer{Name: p.Name, NodeSelectors: sels}, nil
}

func selectors(field string, in []metav1.LabelSelector) ([]labels.Selector, error) {
	out := make([]labels.Selector, 0, len(in))
	for i := range in {
		s, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			return nil, fmt.Errorf("%s[%d] is not a valid label selector: %w", field, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}
