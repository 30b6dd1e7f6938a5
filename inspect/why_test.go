package inspect

import (
	"bytes"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	fdfake "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/fake"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// TestWhy stages each failure the steps look for, one at a time, and checks that the first
// failing step is the one named.
func TestWhy(t *testing.T) {
	sel := objects.WithSelector(map[string]string{"app": "web"})
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{"app": "web"}}}
	slice := func(ready bool) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
		}
	}
	cond := func(st metav1.ConditionStatus, reason string) func(*v1.Service) {
		return func(s *v1.Service) {
			s.Status.Conditions = []metav1.Condition{{Type: conditionReady, Status: st, Reason: reason, Message: "the controller's message"}}
		}
	}
	ingress := objects.WithIngress(v1.LoadBalancerIngress{IP: "192.0.2.10"})
	announced := &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: "192.0.2.10"},
		Spec:   v1alpha1.IPAllocationSpec{Address: "192.0.2.10", Pool: "lan"},
		Status: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{{Node: "node-a", Mode: v1alpha1.AnnouncementModeL2, Since: since}}}}
	for _, tc := range []struct {
		name       string
		objs       []runtime.Object
		step, want string
	}{
		{"not a LoadBalancer", []runtime.Object{objects.Service("default", "web", sel)}, "type", "of type ClusterIP"},
		{"no selector", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer)}, "selector", "no selector"},
		{"no Pod matches", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel)}, "selector", "no Pod in default matches the selector app=web"},
		{"no ready endpoint", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel), pod, slice(false)}, "endpoints", "1 Pod(s) match"},
		{"another class", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel, objects.WithClass("example.com/lb")), pod, slice(true)},
			"class", "example.com/lb"},
		{"no condition", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel), pod, slice(true)}, "controller", "has not reported"},
		{"no pool", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel, cond(metav1.ConditionFalse, "NoPool")), pod, slice(true)}, "pool", "the controller's message"},
		{"not advertised", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel, ingress, cond(metav1.ConditionFalse, "NotAdvertised")), pod, slice(true)},
			"advertisement", "the controller's message"},
		{"no eligible node", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel, ingress, cond(metav1.ConditionFalse, "NoEligibleNode")), pod, slice(true)},
			"eligibility", "the controller's message"},
		{"speakers silent", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel, ingress, cond(metav1.ConditionUnknown, "AwaitingSpeakers")), pod, slice(true)},
			"announcement", "the controller's message"},
		{"node proxy", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel, ingress, cond(metav1.ConditionFalse, "NotForwarded")), pod, slice(true)},
			"node-proxy", "the controller's message"},
		{"all pass", []runtime.Object{objects.Service("default", "web", objects.LoadBalancer, sel, ingress, cond(metav1.ConditionTrue, "Announced")), pod, slice(true)},
			"", "client → 192.0.2.10 → node-a (L2) → the node proxy → one of 1 ready endpoint(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Why(t.Context(), kubefake.NewClientset(tc.objs...), fdfake.NewSimpleClientset(announced).FrontdeskV1alpha1(), "default", "web")
			if err != nil {
				t.Fatal(err)
			}
			if f.Step != tc.step || !strings.Contains(f.Detail+f.Path, tc.want) {
				t.Errorf("got %+v, want step %q saying %q", f, tc.step, tc.want)
			}
			if f.Step != "" && f.Fix == "" {
				t.Errorf("step %s names nothing to do", f.Step)
			}
			var out bytes.Buffer
			if err := PrintWhy(&out, OutputTable, f); err != nil || out.Len() == 0 {
				t.Errorf("printed %q, %v", out.String(), err)
			}
		})
	}
	if _, err := Why(t.Context(), kubefake.NewClientset(), fdfake.NewSimpleClientset().FrontdeskV1alpha1(), "default", "nope"); err == nil ||
		!strings.Contains(err.Error(), "no Service nope") {
		t.Errorf("a missing Service: %v", err)
	}
}
