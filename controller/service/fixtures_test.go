package service

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// Test fixtures built from functional tweaks: newService("web") is a plain
// LoadBalancer Service with no class, and each tweak changes one thing. The
// tweaks shared with other packages come from testkit/objects.

const otherClass = "other.example/lb"

type serviceTweak = func(*v1.Service)

// newService is a LoadBalancer Service default/name with UID "uid-<name>",
// selector app=<name> and one TCP port, http 80 → 8080.
func newService(name string, tweaks ...serviceTweak) *v1.Service {
	return objects.Service("default", name, append([]serviceTweak{
		objects.LoadBalancer,
		objects.WithUID(types.UID("uid-" + name)),
		objects.WithSelector(map[string]string{"app": name}),
		objects.WithPorts(v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}),
	}, tweaks...)...)
}

// withType sets the type and, as the API server does, clears the class of a
// Service that is no LoadBalancer.
func withType(t v1.ServiceType) serviceTweak {
	return func(s *v1.Service) {
		objects.WithType(t)(s)
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
	return objects.WithIngress(v1.LoadBalancerIngress{IP: ip, IPMode: mode})
}

type nodeTweak = func(*v1.Node)

// newNode is a Ready node with provider ID "fake://<name>".
func newNode(name string, tweaks ...nodeTweak) *v1.Node {
	return objects.Node(name, append([]nodeTweak{objects.WithProviderID("fake://" + name)}, tweaks...)...)
}

// nodeDeleting marks the node deleted, with a finalizer holding it.
func nodeDeleting() nodeTweak {
	return func(n *v1.Node) {
		objects.WithDeletionTimestamp(metav1.NewTime(time.Unix(1700000000, 0)))(n)
		n.Finalizers = []string{"test.frontdesk.dev/hold"}
	}
}

func ptrTo[T any](v T) *T { return &v }
