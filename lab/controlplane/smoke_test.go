//go:build integration

package controlplane_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestSmokeHelloService runs the Services guide's step-by-step example against
// a real control plane: the API server must allocate a ClusterIP and a
// NodePort for hello-svc once it is a LoadBalancer, and the controllers must
// turn hello-deploy into a ReplicaSet with three Pods.
func TestSmokeHelloService(t *testing.T) {
	c := controlplane.Start(t, controlplane.WithControllerManager())
	ctx := t.Context()

	var svc *corev1.Service
	decodeExample(t, "hello-svc.yaml", &svc)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Fatalf("examples/hello-svc.yaml has type %q; the guide's manifest is type ClusterIP", svc.Spec.Type)
	}
	// Step 4 of the guide: the same Service as a LoadBalancer.
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc, err := c.Client.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create Service hello-svc: %v", err)
	}
	checkServiceAllocations(t, svc, c.ServiceCIDRs[0])

	var deploy *appsv1.Deployment
	decodeExample(t, "hello-deploy.yaml", &deploy)
	if _, err := c.Client.AppsV1().Deployments(metav1.NamespaceDefault).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment hello-deploy: %v", err)
	}
	rs := waitForReplicaSet(ctx, t, c, "hello-deploy")
	waitForPods(ctx, t, c, rs, 3)

	// The endpointslice controller publishes a slice for every Service with a
	// selector, empty here because no Pod has an IP without a kubelet.
	err = pollUntil(ctx, func(ctx context.Context) (bool, error) {
		slices, err := c.Client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{
			LabelSelector: discoveryv1.LabelServiceName + "=hello-svc",
		})
		return err == nil && len(slices.Items) > 0, err
	})
	if err != nil {
		t.Fatalf("no EndpointSlice for hello-svc: %v", err)
	}
}

// checkServiceAllocations checks what the API server itself allocates for a
// LoadBalancer Service, before any load-balancer controller has seen it.
func checkServiceAllocations(t *testing.T, svc *corev1.Service, serviceCIDR netip.Prefix) {
	t.Helper()
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		t.Errorf("hello-svc ClusterIP %q: %v", svc.Spec.ClusterIP, err)
	} else if !serviceCIDR.Contains(ip) {
		t.Errorf("hello-svc ClusterIP %s is outside the service range %s", ip, serviceCIDR)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("hello-svc has %d ports, want 1", len(svc.Spec.Ports))
	}
	p := svc.Spec.Ports[0]
	if p.Port != 80 || p.TargetPort != intstr.FromInt32(5678) || p.Protocol != corev1.ProtocolTCP {
		t.Errorf("hello-svc port = %d -> %s/%s, want 80 -> 5678/TCP", p.Port, p.TargetPort.String(), p.Protocol)
	}
	if p.NodePort < controlplane.NodePortMin || p.NodePort > controlplane.NodePortMax {
		t.Errorf("hello-svc NodePort = %d, want one in %d-%d", p.NodePort, controlplane.NodePortMin, controlplane.NodePortMax)
	}
	t.Logf("hello-svc: ClusterIP %s, NodePort %d", svc.Spec.ClusterIP, p.NodePort)
}

// waitForReplicaSet waits for the ReplicaSet the deployment controller creates
// for deployment, and returns it.
func waitForReplicaSet(ctx context.Context, t *testing.T, c *controlplane.Cluster, deployment string) *appsv1.ReplicaSet {
	t.Helper()
	var found *appsv1.ReplicaSet
	err := pollUntil(ctx, func(ctx context.Context) (bool, error) {
		list, err := c.Client.AppsV1().ReplicaSets(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range list.Items {
			if owner := metav1.GetControllerOf(&list.Items[i]); owner != nil && owner.Kind == "Deployment" && owner.Name == deployment {
				found = &list.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no ReplicaSet owned by Deployment %s: %v", deployment, err)
	}
	if found.Spec.Replicas == nil || *found.Spec.Replicas != 3 {
		t.Errorf("ReplicaSet %s wants %v replicas, want 3", found.Name, found.Spec.Replicas)
	}
	return found
}

// waitForPods waits until rs owns want Pods carrying the template's labels.
// They stay Pending: there is no node to run them.
func waitForPods(ctx context.Context, t *testing.T, c *controlplane.Cluster, rs *appsv1.ReplicaSet, want int) {
	t.Helper()
	var got int
	err := pollUntil(ctx, func(ctx context.Context) (bool, error) {
		pods, err := c.Client.CoreV1().Pods(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err
		}
		got = 0
		for i := range pods.Items {
			if owner := metav1.GetControllerOf(&pods.Items[i]); owner != nil && owner.UID == rs.UID {
				got++
			}
		}
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("ReplicaSet %s owns %d Pods, want %d: %v", rs.Name, got, want, err)
	}
}

// decodeExample decodes examples/<name> into *into, which must point to a
// pointer of the manifest's kind.
func decodeExample[T runtime.Object](t *testing.T, name string, into *T) {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read example: %v", err)
	}
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("%s holds a %s, want a %s", path, gvk.Kind, fmt.Sprintf("%T", *into))
	}
	*into = typed
}

// pollUntil polls cond until it is true, returns an error or a minute passes.
// A minute is far beyond what the controllers need on an idle machine; the
// margin is for a machine that is also compiling.
func pollUntil(ctx context.Context, cond wait.ConditionWithContextFunc) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, cond)
}
