package v1alpha1

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// SelectsPool says whether the advertisement selects pool: it is named in IPPools or its labels
// match one of IPPoolSelectors, or both lists are empty. The schema does not check selector
// operators and values, so an invalid selector is an error naming it; the selectors before it
// have been tried.
func (s *L2AdvertisementSpec) SelectsPool(pool *IPPool) (bool, error) {
	if len(s.IPPools) == 0 && len(s.IPPoolSelectors) == 0 {
		return true, nil
	}
	if slices.Contains(s.IPPools, pool.Name) {
		return true, nil
	}
	return anySelectorMatches("spec.ipPoolSelectors", s.IPPoolSelectors, pool.Labels)
}

// SelectsNode says whether a node with labels nodeLabels may announce for the advertisement:
// NodeSelectors is empty or one of them matches.
func (s *L2AdvertisementSpec) SelectsNode(nodeLabels map[string]string) (bool, error) {
	if len(s.NodeSelectors) == 0 {
		return true, nil
	}
	return anySelectorMatches("spec.nodeSelectors", s.NodeSelectors, nodeLabels)
}

// anySelectorMatches says whether one of sels matches set. An empty selector ({}) matches
// every set, as everywhere in Kubernetes.
func anySelectorMatches(field string, sels []metav1.LabelSelector, set map[string]string) (bool, error) {
	for i := range sels {
		sel, err := metav1.LabelSelectorAsSelector(&sels[i])
		if err != nil {
			return false, fmt.Errorf("%s[%d] is not a valid label selector: %w", field, i, err)
		}
		if sel.Matches(labels.Set(set)) {
			return true, nil
		}
	}
	return false, nil
}
