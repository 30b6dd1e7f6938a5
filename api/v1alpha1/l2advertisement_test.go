package v1alpha1_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func TestL2AdvertisementSelects(t *testing.T) {
	blue := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "blue", Labels: map[string]string{"tier": "edge"}}}
	green := &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "green"}}
	edge := metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}}
	bad := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}}
	for _, tt := range []struct {
		name          string
		spec          v1alpha1.L2AdvertisementSpec
		blue, green   bool
		edgeNode      bool
		plainNode     bool
		wantPoolError bool
		wantNodeError bool
	}{
		{name: "empty selects everything", blue: true, green: true, edgeNode: true, plainNode: true},
		{name: "by name", spec: v1alpha1.L2AdvertisementSpec{IPPools: []string{"green"}}, green: true, edgeNode: true, plainNode: true},
		{name: "by label", spec: v1alpha1.L2AdvertisementSpec{IPPoolSelectors: []metav1.LabelSelector{edge}}, blue: true, edgeNode: true, plainNode: true},
		{name: "name or label", spec: v1alpha1.L2AdvertisementSpec{IPPools: []string{"green"}, IPPoolSelectors: []metav1.LabelSelector{edge}},
			blue: true, green: true, edgeNode: true, plainNode: true},
		{name: "unknown name selects nothing", spec: v1alpha1.L2AdvertisementSpec{IPPools: []string{"red"}}, edgeNode: true, plainNode: true},
		{name: "empty selector matches every pool", spec: v1alpha1.L2AdvertisementSpec{IPPoolSelectors: []metav1.LabelSelector{{}}},
			blue: true, green: true, edgeNode: true, plainNode: true},
		{name: "node selector", spec: v1alpha1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{edge}}, blue: true, green: true, edgeNode: true},
		{name: "invalid selectors", spec: v1alpha1.L2AdvertisementSpec{IPPoolSelectors: []metav1.LabelSelector{bad}, NodeSelectors: []metav1.LabelSelector{bad}},
			wantPoolError: true, wantNodeError: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				pool *v1alpha1.IPPool
				want bool
			}{{blue, tt.blue}, {green, tt.green}} {
				got, err := tt.spec.SelectsPool(c.pool)
				if (err != nil) != tt.wantPoolError || got != c.want {
					t.Errorf("SelectsPool(%s) = %v, %v; want %v, error %v", c.pool.Name, got, err, c.want, tt.wantPoolError)
				}
			}
			for _, c := range []struct {
				labels map[string]string
				want   bool
			}{{map[string]string{"tier": "edge"}, tt.edgeNode}, {nil, tt.plainNode}} {
				got, err := tt.spec.SelectsNode(c.labels)
				if (err != nil) != tt.wantNodeError || got != c.want {
					t.Errorf("SelectsNode(%v) = %v, %v; want %v, error %v", c.labels, got, err, c.want, tt.wantNodeError)
				}
			}
		})
	}
	spec := v1alpha1.L2AdvertisementSpec{NodeSelectors: []metav1.LabelSelector{edge, bad}}
	_, err := spec.SelectsNode(nil)
	if err == nil || !strings.HasPrefix(err.Error(), "spec.nodeSelectors[1] is not a valid label selector: ") {
		t.Errorf("error %v; want one naming spec.nodeSelectors[1]", err)
	}
}
