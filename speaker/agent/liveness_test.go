package agent

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2"
)

// TestNodeInternalIPNeedsNoGet: the chart grants the speaker list and watch on Nodes, not get
// (the lab's speakers, refused a get, never started), so the speaker's own Node is listed.
func TestNodeInternalIPNeedsNoGet(t *testing.T) {
	node := func(name, ip string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}}
	}
	kube := fake.NewClientset(node("node-a", "192.0.2.1"), node("node-b", "192.0.2.2"))
	kube.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("nodes"), "node-b", errors.New("the chart grants no get"))
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got, err := nodeInternalIP(ctx, kube, "node-b", klog.Background())
	if err != nil || got != netip.MustParseAddr("192.0.2.2") {
		t.Fatalf("nodeInternalIP = %v, %v; want 192.0.2.2", got, err)
	}
}
