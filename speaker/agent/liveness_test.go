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

// TestFirstInternalIP: the heartbeat socket binds where peers send (loop's peersFrom): the first
// InternalIP that parses, IPv4-mapped unmapped, zoned addresses skipped.
func TestFirstInternalIP(t *testing.T) {
	node := func(addrs ...corev1.NodeAddress) *corev1.Node {
		return &corev1.Node{Status: corev1.NodeStatus{Addresses: addrs}}
	}
	internal := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a} }
	for _, tt := range []struct {
		name string
		n    *corev1.Node
		want string // "" for none
	}{
		{"none", node(), ""},
		{"external only", node(corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"}), ""},
		{"first internal", node(corev1.NodeAddress{Type: corev1.NodeHostName, Address: "n1"}, internal("198.18.0.1"), internal("fd00::1")), "198.18.0.1"},
		{"unparsable and zoned skipped", node(internal("n1"), internal("fe80::1%eth0"), internal("fd00::1")), "fd00::1"},
		{"mapped", node(internal("::ffff:198.18.0.2")), "198.18.0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := firstInternalIP(tt.n)
			if want, _ := netip.ParseAddr(tt.want); got != want || ok != (tt.want != "") {
				t.Errorf("firstInternalIP = %v, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

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
