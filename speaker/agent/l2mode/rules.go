package l2mode

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// SelectorError says that one label selector of an L2Advertisement does not convert; the rule
// then matches nothing in that place (a nil selector), so a typo never widens an advertisement.
type SelectorError struct {
	Advertisement string
	Field         string // "spec.ipPoolSelectors[1]" or "spec.nodeSelectors[0]"
	Err           error
}

func (e *SelectorError) Error() string {
	return fmt.Sprintf("L2Advertisement %s: %s is not a valid label selector (it matches nothing until fixed): %v",
		e.Advertisement, e.Field, e.Err)
}

func (e *SelectorError) Unwrap() error { return e.Err }

// ruleFrom converts an L2Advertisement to an announce.L2Rule. Invalid selectors become nil
// entries, which match nothing, and are returned as errors for the log.
func ruleFrom(a *v1alpha1.L2Advertisement) (announce.L2Rule, []error) {
	r := announce.L2Rule{
		Name:       a.Name,
		Pools:      a.Spec.IPPools,
		Interfaces: a.Spec.Interfaces,
	}
	var errs []error
	r.PoolSelectors, errs = selectors(a.Name, "spec.ipPoolSelectors", a.Spec.IPPoolSelectors, errs)
	r.NodeSelectors, errs = selectors(a.Name, "spec.nodeSelectors", a.Spec.NodeSelectors, errs)
	return r, errs
}

func selectors(ad, field string, in []metav1.LabelSelector, errs []error) ([]labels.Selector, []error) {
	if len(in) == 0 {
		return nil, errs
	}
	out := make([]labels.Selector, len(in))
	for i := range in {
		s, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			errs = append(errs, &SelectorError{Advertisement: ad, Field: fmt.Sprintf("%s[%d]", field, i), Err: err})
			continue // out[i] stays nil: matches nothing
		}
		out[i] = s
	}
	return out, errs
}
