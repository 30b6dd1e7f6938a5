package service

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Test fixtures built from functional tweaks: newService("web") is a plain
// LoadBalancer Service with no class, and each tweak changes one thing.

const otherClass = "other.example/lb"

type serviceTweak func(*v1.Service)

func newService(name string, tweaks ...serviceTweak) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: v1.ServiceSpec{
			Type:     v1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports: []v1.ServicePort{{
				Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080),
			}},
		},
	}
	for _, tweak := range tweaks {
		tweak(svc)
	}
	return svc
}

func inNamespace(ns string) serviceTweak {
	return func(s *v1.Service) { s.Namespace = ns }
}

func withClass(class string) serviceTweak {
	return func(s *v1.Service) { s.Spec.LoadBalancerClass = &class }
}

func withType(t v1.ServiceType) serviceTweak {
	return func(s *v1.Service) {
		s.Spec.Type = t
		if t != v1.ServiceTypeLoadBalancer {
			s.Spec.LoadBalancerClass = nil
		}
	}
}

func withFinalizer(f string) serviceTweak {
	return func(s *v1.Service) { s.Finalizers = append(s.Finalizers, f) }
}

// withFinalizerBy adds the cleanup finalizer and the managedFields entry the
// API server would record for the manager that added it.
func withFinalizerBy(manager string) serviceTweak {
	return func(s *v1.Service) {
		s.Finalizers = append(s.Finalizers, cleanupFinalizer)
		s.ManagedFields = append(s.ManagedFields, metav1.ManagedFieldsEntry{
			Manager:    manager,
			Operation:  metav1.ManagedFieldsOperationUpdate,
			APIVersion: "v1",
			FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(
				`{"f:metadata":{"f:finalizers":{".":{},"v:\"service.kubernetes.io/load-balancer-cleanup\"":{}}}}`),
		})
	}
}

func beingDeleted() serviceTweak {
	return func(s *v1.Service) {
		now := metav1.NewTime(time.Unix(1700000000, 0))
		s.DeletionTimestamp = &now
	}
}

func withIngressIP(ip string, mode *v1.LoadBalancerIPMode) serviceTweak {
	return func(s *v1.Service) {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip, IPMode: mode})
	}
}

func withAnnotation(k, v string) serviceTweak {
	return func(s *v1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

type nodeTweak func(*v1.Node)

// newNode is a Ready node.
func newNode(name string, tweaks ...nodeTweak) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.NodeSpec{ProviderID: "fake://" + name},
		Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{
			Type: v1.NodeReady, Status: v1.ConditionTrue,
		}}},
	}
	for _, tweak := range tweaks {
		tweak(n)
	}
	return n
}

func withReady(status v1.ConditionStatus) nodeTweak {
	return func(n *v1.Node) {
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == v1.NodeReady {
				n.Status.Conditions[i].Status = status
			}
		}
	}
}

func withoutConditions() nodeTweak {
	return func(n *v1.Node) { n.Status.Conditions = nil }
}

func withNodeLabel(k, v string) nodeTweak {
	return func(n *v1.Node) {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[k] = v
	}
}

func withTaint(key string) nodeTweak {
	return func(n *v1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, v1.Taint{Key: key, Effect: v1.TaintEffectNoSchedule})
	}
}

func withProviderID(id string) nodeTweak {
	return func(n *v1.Node) { n.Spec.ProviderID = id }
}

func nodeDeleting() nodeTweak {
	return func(n *v1.Node) {
		now := metav1.NewTime(time.Unix(1700000000, 0))
		n.DeletionTimestamp = &now
		n.Finalizers = []string{"test.frontdesk.dev/hold"}
	}
}

func ptrTo[T any](v T) *T { return &v }
