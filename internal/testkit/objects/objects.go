// Package objects builds the Kubernetes objects that tests feed to the code under test: Services,
// Nodes and EndpointSlices, each from a neutral base changed by functional tweaks, in the style of
// Kubernetes' own test builders. Only tests import it.
//
// Defaults are deliberately thin (the callers across the tree disagree on almost everything): a
// Service is a bare name in a namespace, a Node is Ready and nothing more, an EndpointSlice is an
// IPv4 slice of one Service with no endpoints, an Endpoint has no address, node or conditions.
// Whatever a package's fixtures add on top belongs in a package-local wrapper made of tweaks, so
// that the difference reads at the call site.
//
// Tweaks copy the slices, maps and values they are given, each time they apply: two objects built
// with one tweak share no storage, and a test that edits one does not edit the other.
package objects

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Service returns a Service namespace/name with an empty spec (no type, ports or selector) and
// no status, changed by tweaks in order.
func Service(namespace, name string, tweaks ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	for _, t := range tweaks {
		t(s)
	}
	return s
}

// LoadBalancer makes the Service of type LoadBalancer.
func LoadBalancer(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }

// WithType sets the Service's type and nothing else.
func WithType(t corev1.ServiceType) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Type = t }
}

// WithNamespace moves the Service to namespace ns.
func WithNamespace(ns string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Namespace = ns }
}

// WithUID sets the Service's UID.
func WithUID(uid types.UID) func(*corev1.Service) {
	return func(s *corev1.Service) { s.UID = uid }
}

// WithAnnotations sets the annotations given as key, value pairs, creating the map if the Service
// has none: WithAnnotations() alone leaves an empty, non-nil map. An odd count panics.
func WithAnnotations(kv ...string) func(*corev1.Service) {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("objects.WithAnnotations: odd number of arguments %q", kv))
	}
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
	}
}

// WithSelector replaces the Service's selector by a copy of sel.
func WithSelector(sel map[string]string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Selector = maps.Clone(sel) }
}

// WithPorts replaces the Service's ports by a copy of ports.
func WithPorts(ports ...corev1.ServicePort) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Ports = nil
		for _, p := range ports {
			s.Spec.Ports = append(s.Spec.Ports, *p.DeepCopy())
		}
	}
}

// WithClass sets spec.loadBalancerClass.
func WithClass(class string) func(*corev1.Service) {
	return func(s *corev1.Service) { c := class; s.Spec.LoadBalancerClass = &c }
}

// WithExternalTrafficPolicy sets spec.externalTrafficPolicy.
func WithExternalTrafficPolicy(p corev1.ServiceExternalTrafficPolicy) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = p }
}

// LocalTraffic sets spec.externalTrafficPolicy to Local (and touches no health-check node port).
func LocalTraffic(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

// WithIPFamilies replaces spec.ipFamilies by a copy of fams; the policy is left as it is.
func WithIPFamilies(fams ...corev1.IPFamily) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.IPFamilies = slices.Clone(fams) }
}

// WithIPFamilyPolicy sets spec.ipFamilyPolicy.
func WithIPFamilyPolicy(p corev1.IPFamilyPolicy) func(*corev1.Service) {
	return func(s *corev1.Service) { c := p; s.Spec.IPFamilyPolicy = &c }
}

// WithIngressIPs appends one status.loadBalancer.ingress entry with only IP set per address.
func WithIngressIPs(ips ...string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

// WithIngress appends the given status.loadBalancer.ingress entries as they are.
func WithIngress(ings ...corev1.LoadBalancerIngress) func(*corev1.Service) {
	return func(s *corev1.Service) {
		for _, ing := range ings {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, *ing.DeepCopy())
		}
	}
}

// Node returns a Node named name whose only condition is Ready=True, changed by tweaks in order.
// It has no labels, taints, provider ID or addresses.
func Node(name string, tweaks ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, t := range tweaks {
		t(n)
	}
	return n
}

// WithCondition sets the status of the node's condition of type typ in place, or appends the
// condition (with only type and status) when the node has none of that type.
func WithCondition(typ corev1.NodeConditionType, st corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) {
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == typ {
				n.Status.Conditions[i].Status = st
				return
			}
		}
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: typ, Status: st})
	}
}

// NotReady sets the node's Ready condition to False.
func NotReady(n *corev1.Node) { WithCondition(corev1.NodeReady, corev1.ConditionFalse)(n) }

// NoConditions removes every condition (conditions nil), as on a node no kubelet has reported for.
func NoConditions(n *corev1.Node) { n.Status.Conditions = nil }

// WithLabel sets label k to v, creating the map if the node has none.
func WithLabel(k, v string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[k] = v
	}
}

// WithTaint appends a NoSchedule taint with this key and no value.
func WithTaint(key string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
}

// Unschedulable cordons the node (spec.unschedulable).
func Unschedulable(n *corev1.Node) { n.Spec.Unschedulable = true }

// WithProviderID sets spec.providerID.
func WithProviderID(id string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.ProviderID = id }
}

// WithDeletionTimestamp marks the node as being deleted at t.
func WithDeletionTimestamp(t metav1.Time) func(*corev1.Node) {
	return func(n *corev1.Node) { c := t; n.DeletionTimestamp = &c }
}

// EndpointSlice returns an IPv4 EndpointSlice namespace/name with no ports or endpoints, labelled
// as a slice of the Service named service (no label at all when service is ""), changed by tweaks
// in order.
func EndpointSlice(namespace, name, service string, tweaks ...func(*discoveryv1.EndpointSlice)) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if service != "" {
		es.Labels = map[string]string{discoveryv1.LabelServiceName: service}
	}
	for _, t := range tweaks {
		t(es)
	}
	return es
}

// WithAddressType sets the slice's address type.
func WithAddressType(at discoveryv1.AddressType) func(*discoveryv1.EndpointSlice) {
	return func(es *discoveryv1.EndpointSlice) { es.AddressType = at }
}

// WithEndpoints appends endpoints to the slice.
func WithEndpoints(eps ...discoveryv1.Endpoint) func(*discoveryv1.EndpointSlice) {
	return func(es *discoveryv1.EndpointSlice) {
		for _, e := range eps {
			es.Endpoints = append(es.Endpoints, *e.DeepCopy())
		}
	}
}

// WithEndpointPorts appends ports to the slice.
func WithEndpointPorts(ports ...discoveryv1.EndpointPort) func(*discoveryv1.EndpointSlice) {
	return func(es *discoveryv1.EndpointSlice) {
		for _, p := range ports {
			es.Ports = append(es.Ports, *p.DeepCopy())
		}
	}
}

// EndpointPort is a named slice port; protocol and port are always set.
func EndpointPort(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port}
}

// Endpoint returns an endpoint with no addresses, no node and nil conditions (which readers
// take as ready), changed by tweaks in order.
func Endpoint(tweaks ...func(*discoveryv1.Endpoint)) discoveryv1.Endpoint {
	var e discoveryv1.Endpoint
	for _, t := range tweaks {
		t(&e)
	}
	return e
}

// Addresses replaces the endpoint's addresses by a copy of addrs.
func Addresses(addrs ...string) func(*discoveryv1.Endpoint) {
	return func(e *discoveryv1.Endpoint) { e.Addresses = slices.Clone(addrs) }
}

// OnNode sets the endpoint's nodeName.
func OnNode(name string) func(*discoveryv1.Endpoint) {
	return func(e *discoveryv1.Endpoint) { c := name; e.NodeName = &c }
}

// ForZones sets topology hints naming these zones.
func ForZones(zones ...string) func(*discoveryv1.Endpoint) {
	return func(e *discoveryv1.Endpoint) {
		e.Hints = &discoveryv1.EndpointHints{}
		for _, z := range zones {
			e.Hints.ForZones = append(e.Hints.ForZones, discoveryv1.ForZone{Name: z})
		}
	}
}

// Conditions sets all three endpoint conditions.
func Conditions(ready, serving, terminating bool) func(*discoveryv1.Endpoint) {
	return func(e *discoveryv1.Endpoint) {
		r, s, t := ready, serving, terminating
		e.Conditions = discoveryv1.EndpointConditions{Ready: &r, Serving: &s, Terminating: &t}
	}
}

// WithConditions replaces the endpoint's conditions by c as given, nil fields included.
func WithConditions(c discoveryv1.EndpointConditions) func(*discoveryv1.Endpoint) {
	return func(e *discoveryv1.Endpoint) { e.Conditions = *c.DeepCopy() }
}

// EndpointReady: a running Pod that passes its readiness probe (ready, serving, not terminating).
func EndpointReady(e *discoveryv1.Endpoint) { Conditions(true, true, false)(e) }

// EndpointNotReady: a running Pod that fails it (not ready, not serving, not terminating).
func EndpointNotReady(e *discoveryv1.Endpoint) { Conditions(false, false, false)(e) }

// EndpointTerminating: a Pod being deleted that still serves, as during a graceful rollout (not
// ready, serving, terminating).
func EndpointTerminating(e *discoveryv1.Endpoint) { Conditions(false, true, true)(e) }

// EndpointGone: a Pod being deleted that no longer serves (not ready, not serving, terminating).
func EndpointGone(e *discoveryv1.Endpoint) { Conditions(false, false, true)(e) }
