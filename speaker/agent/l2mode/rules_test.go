package l2mode

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func TestRuleFrom(t *testing.T) {
	zone := labels.Set{"zone": "a"}
	other := labels.Set{"zone": "b"}
	tests := []struct {
		name string
		spec v1alpha1.L2AdvertisementSpec
		// matches[i] says whether NodeSelectors[i] (or PoolSelectors when pool is set) matches zone.
		wantNodes []bool
		wantPools []bool
		wantErrs  []string
	}{
		{name: "empty spec", spec: v1alpha1.L2AdvertisementSpec{}},
		{
			name: "selectors converted",
			spec: v1alpha1.L2AdvertisementSpec{
				IPPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"zone": "a"}}},
				NodeSelectors: []metav1.LabelSelector{{}, {MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "zone", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}}}}},
			},
			wantPools: []bool{true},
			wantNodes: []bool{true, true},
		},
		{
			name: "invalid selector matches nothing",
			spec: v1alpha1.L2AdvertisementSpec{
				NodeSelectors: []metav1.LabelSelector{
					{MatchLabels: map[string]string{"zone": "a"}},
					{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: "Near", Values: []string{"a"}}}},
				},
				IPPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"bad key!": "x"}}},
			},
			wantPools: []bool{false},
			wantNodes: []bool{true, false},
			wantErrs:  []string{"spec.ipPoolSelectors[0]", "spec.nodeSelectors[1]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ad := &v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "ad"}, Spec: tt.spec}
			ad.Spec.IPPools = []string{"p1"}
			ad.Spec.Interfaces = []string{"eth0"}
			r, errs := ruleFrom(ad)
			if r.Name != "ad" || !cmp.Equal(r.Pools, []string{"p1"}) || !cmp.Equal(r.Interfaces, []string{"eth0"}) {
				t.Errorf("fields not copied: %+v", r)
			}
			var gotErrs []string
			for _, err := range errs {
				var se *SelectorError
				if !errors.As(err, &se) {
					t.Fatalf("error %v is not a *SelectorError", err)
				}
				gotErrs = append(gotErrs, se.Field)
			}
			if diff := cmp.Diff(tt.wantErrs, gotErrs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			match := func(sels []labels.Selector) []bool {
				var out []bool
				for _, s := range sels {
					ok := s != nil && s.Matches(zone)
					if s != nil && len(tt.wantErrs) == 0 && s.Matches(other) && !s.Empty() {
						t.Errorf("selector %s matches zone=b", s)
					}
					out = append(out, ok)
				}
				return out
			}
			if diff := cmp.Diff(tt.wantNodes, match(r.NodeSelectors)); diff != "" {
				t.Errorf("node selectors matching zone=a (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPools, match(r.PoolSelectors)); diff != "" {
				t.Errorf("pool selectors matching zone=a (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComeBack(t *testing.T) {
	for _, tt := range []struct {
		name        string
		before, now map[string]bool
		want        []string
	}{
		{"nothing known before", nil, map[string]bool{"a": true}, nil},
		{"dead peer returns", map[string]bool{"a": true, "b": false}, map[string]bool{"a": true, "b": true}, []string{"b"}},
		{"new peer is not a return", map[string]bool{"a": true}, map[string]bool{"a": true, "c": true}, nil},
		{"peer dies", map[string]bool{"a": true, "b": true}, map[string]bool{"a": true, "b": false}, nil},
		{"two return, sorted", map[string]bool{"c": false, "b": false}, map[string]bool{"c": true, "b": true}, []string{"b", "c"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, comeBack(tt.before, tt.now)); diff != "" {
				t.Errorf("comeBack (-want +got):\n%s", diff)
			}
		})
	}
}
