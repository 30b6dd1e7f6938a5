package objects_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

func TestServiceDefaultIsBare(t *testing.T) {
	want := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	if diff := cmp.Diff(want, objects.Service("ns", "web")); diff != "" {
		t.Errorf("Service (-want +got):\n%s", diff)
	}
}

func TestServiceTweaks(t *testing.T) {
	port := corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}
	got := objects.Service("ns", "web",
		objects.LoadBalancer,
		objects.WithNamespace("other"),
		objects.WithUID("uid-web"),
		objects.WithAnnotations("a", "1", "b", "2"),
		objects.WithSelector(map[string]string{"app": "web"}),
		objects.WithPorts(port),
		objects.WithClass("example.com/lb"),
		objects.LocalTraffic,
		objects.WithIPFamilies(corev1.IPv4Protocol, corev1.IPv6Protocol),
		objects.WithIPFamilyPolicy(corev1.IPFamilyPolicyRequireDualStack),
		objects.WithIngressIPs("192.0.2.1", "2001:db8::1"),
		objects.WithIngress(corev1.LoadBalancerIngress{Hostname: "lb.example"}),
	)
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "web", UID: "uid-web",
			Annotations: map[string]string{"a": "1", "b": "2"}},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{port},
			LoadBalancerClass:     ptr.To("example.com/lb"),
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicyRequireDualStack),
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "192.0.2.1"}, {IP: "2001:db8::1"}, {Hostname: "lb.example"},
		}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Service (-want +got):\n%s", diff)
	}

	// Later tweaks win; WithType sets only the type.
	if got := objects.Service("ns", "web", objects.LoadBalancer, objects.WithType(corev1.ServiceTypeNodePort),
		objects.WithExternalTrafficPolicy(corev1.ServiceExternalTrafficPolicyCluster)); got.Spec.Type != corev1.ServiceTypeNodePort ||
		got.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
		t.Errorf("spec = %+v, want NodePort with Cluster policy", got.Spec)
	}
}

func TestWithAnnotationsAloneMakesAnEmptyMap(t *testing.T) {
	s := objects.Service("ns", "web", objects.WithAnnotations())
	if s.Annotations == nil || len(s.Annotations) != 0 {
		t.Errorf("annotations = %#v, want an empty, non-nil map", s.Annotations)
	}
}

func TestWithAnnotationsOddPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("WithAnnotations(\"a\") did not panic")
		}
	}()
	odd := strings.Fields("a") // a length staticcheck cannot see
	objects.WithAnnotations(odd...)
}

// Two objects built from the same arguments share no storage.
func TestTweaksCopyTheirArguments(t *testing.T) {
	ports := []corev1.ServicePort{{Port: 80}}
	sel := map[string]string{"app": "web"}
	// The same two tweaks for both: each application copies, not only the tweak's making.
	withPorts, withSel := objects.WithPorts(ports...), objects.WithSelector(sel)
	a := objects.Service("ns", "a", withPorts, withSel)
	b := objects.Service("ns", "b", withPorts, withSel)
	a.Spec.Ports[0].Port = 443
	a.Spec.Selector["app"] = "db"
	if b.Spec.Ports[0].Port != 80 || b.Spec.Selector["app"] != "web" || ports[0].Port != 80 || sel["app"] != "web" {
		t.Errorf("editing one Service changed another or the arguments: %+v %+v", b.Spec, ports)
	}
	class := objects.WithClass("example.com/lb")
	c, d := objects.Service("ns", "c", class), objects.Service("ns", "d", class)
	*c.Spec.LoadBalancerClass = "example.com/other"
	if *d.Spec.LoadBalancerClass != "example.com/lb" {
		t.Errorf("one WithClass applied twice shares its value")
	}
	addrs := []string{"10.0.0.1"}
	e := objects.Endpoint(objects.Addresses(addrs...))
	e.Addresses[0] = "10.0.0.2"
	if addrs[0] != "10.0.0.1" {
		t.Errorf("editing an endpoint changed the argument")
	}
	// Endpoints, ports and conditions hold pointers: one tweak applied to two slices shares none.
	eps := objects.WithEndpoints(objects.Endpoint(objects.Addresses("10.0.0.1"), objects.EndpointReady))
	eports := objects.WithEndpointPorts(objects.EndpointPort("http", corev1.ProtocolTCP, 80))
	s1 := objects.EndpointSlice("ns", "s1", "web", eps, eports)
	s2 := objects.EndpointSlice("ns", "s2", "web", eps, eports)
	*s1.Ports[0].Port = 443
	*s1.Endpoints[0].Conditions.Ready = false
	if *s2.Ports[0].Port != 80 || !*s2.Endpoints[0].Conditions.Ready {
		t.Errorf("editing one slice changed another built with the same tweaks: %+v", s2)
	}
	cond := objects.WithConditions(discoveryv1.EndpointConditions{Ready: ptr.To(true)})
	e1, e2 := objects.Endpoint(cond), objects.Endpoint(cond)
	*e1.Conditions.Ready = false
	if !*e2.Conditions.Ready {
		t.Errorf("one WithConditions applied twice shares its pointers")
	}
}

func TestNodeDefaultIsReady(t *testing.T) {
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
		}},
	}
	if diff := cmp.Diff(want, objects.Node("n1")); diff != "" {
		t.Errorf("Node (-want +got):\n%s", diff)
	}
}

func TestNodeTweaks(t *testing.T) {
	at := metav1.Unix(1700000000, 0)
	got := objects.Node("n1",
		objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse),
		objects.NotReady,
		objects.WithLabel("rack", "a"),
		objects.WithTaint("example.com/dedicated"),
		objects.Unschedulable,
		objects.WithProviderID("fake://n1"),
		objects.WithDeletionTimestamp(at),
	)
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"rack": "a"}, DeletionTimestamp: &at},
		Spec: corev1.NodeSpec{
			ProviderID:    "fake://n1",
			Unschedulable: true,
			Taints:        []corev1.Taint{{Key: "example.com/dedicated", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionFalse},
			{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Node (-want +got):\n%s", diff)
	}
	if got := objects.Node("n1", objects.NoConditions); got.Status.Conditions != nil {
		t.Errorf("NoConditions left %v", got.Status.Conditions)
	}
	// NoConditions then WithCondition builds conditions in the order given.
	got = objects.Node("n1", objects.NoConditions,
		objects.WithCondition(corev1.NodeMemoryPressure, corev1.ConditionFalse),
		objects.WithCondition(corev1.NodeReady, corev1.ConditionTrue))
	if diff := cmp.Diff([]corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
	}, got.Status.Conditions); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
}

func TestEndpointSlice(t *testing.T) {
	want := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if diff := cmp.Diff(want, objects.EndpointSlice("ns", "web-1", "web")); diff != "" {
		t.Errorf("EndpointSlice (-want +got):\n%s", diff)
	}
	if got := objects.EndpointSlice("ns", "orphan", ""); got.Labels != nil {
		t.Errorf("a slice of no Service has labels %v", got.Labels)
	}

	got := objects.EndpointSlice("ns", "web-1", "web",
		objects.WithAddressType(discoveryv1.AddressTypeIPv6),
		objects.WithEndpointPorts(objects.EndpointPort("http", corev1.ProtocolTCP, 8080)),
		objects.WithEndpoints(
			objects.Endpoint(objects.Addresses("fd00::1"), objects.OnNode("n1"), objects.ForZones("a", "b"), objects.EndpointReady),
			objects.Endpoint(),
		),
	)
	want.AddressType = discoveryv1.AddressTypeIPv6
	want.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(8080))}}
	want.Endpoints = []discoveryv1.Endpoint{
		{
			Addresses:  []string{"fd00::1"},
			NodeName:   ptr.To("n1"),
			Hints:      &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "a"}, {Name: "b"}}},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
		},
		{},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EndpointSlice (-want +got):\n%s", diff)
	}
}

func TestEndpointConditions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		tweak func(*discoveryv1.Endpoint)
		want  discoveryv1.EndpointConditions
	}{
		{"none", func(*discoveryv1.Endpoint) {}, discoveryv1.EndpointConditions{}},
		{"ready", objects.EndpointReady, discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}},
		{"not ready", objects.EndpointNotReady, discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)}},
		{"terminating", objects.EndpointTerminating, discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}},
		{"gone", objects.EndpointGone, discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}},
		{"ready only", objects.WithConditions(discoveryv1.EndpointConditions{Ready: ptr.To(false)}), discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, objects.Endpoint(tt.tweak).Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}
