package agent

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
