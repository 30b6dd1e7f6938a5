package loop

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func TestPeersFrom(t *testing.T) {
	node := func(name string, addrs ...corev1.NodeAddress) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}}
	}
	internal := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a} }
	nodes := []*corev1.Node{
		node("n1", corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.1"}, internal("10.0.0.1"), internal("10.0.0.9")),
		node("n2", internal("not-an-ip"), internal("fd00::2")),
		node("n3", internal("::ffff:10.0.0.3")),
		node("n4", corev1.NodeAddress{Type: corev1.NodeHostName, Address: "n4"}),
		node("n5", internal("fe80::1%eth0")),
	}
	want := map[string]netip.AddrPort{
		"n1": netip.MustParseAddrPort("10.0.0.1:7473"),
		"n2": netip.MustParseAddrPort("[fd00::2]:7473"),
		"n3": netip.MustParseAddrPort("10.0.0.3:7473"),
	}
	if diff := cmp.Diff(want, peersFrom(nodes, 7473), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
}

// TestFirstInternalIP: the heartbeat socket binds where peers send (peersFrom): the first
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
			got, ok := FirstInternalIP(tt.n)
			if want, _ := netip.ParseAddr(tt.want); got != want || ok != (tt.want != "") {
				t.Errorf("FirstInternalIP = %v, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestPoolsFrom(t *testing.T) {
	alloc := func(addr, pool string) *v1alpha1.IPAllocation {
		return &v1alpha1.IPAllocation{Spec: v1alpha1.IPAllocationSpec{Address: addr, Pool: pool}}
	}
	got := poolsFrom([]*v1alpha1.IPAllocation{alloc("198.51.100.7", "a"), alloc("2001:db8::7", "b"), alloc("junk", "c")})
	want := map[netip.Addr]string{netip.MustParseAddr("198.51.100.7"): "a", netip.MustParseAddr("2001:db8::7"): "b"}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
}

// TestFirstAlive: only a live speaker first by name among the live ones is first.
func TestFirstAlive(t *testing.T) {
	alive := map[string]bool{"node-1": true, "node-2": true, "node-3": false}
	for _, tt := range []struct {
		self  string
		alive map[string]bool
		want  bool
	}{
		{"node-1", alive, true},
		{"node-2", alive, false},
		{"node-2", map[string]bool{"node-1": false, "node-2": true}, true},
		{"node-1", map[string]bool{"node-1": false}, false},
		{"node-1", nil, false},
	} {
		if got := FirstAlive(tt.self, tt.alive); got != tt.want {
			t.Errorf("FirstAlive(%s, %v) = %v, want %v", tt.self, tt.alive, got, tt.want)
		}
	}
}
