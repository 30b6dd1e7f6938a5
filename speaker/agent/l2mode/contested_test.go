package l2mode

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func TestContested(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.0.200"), netip.MustParseAddr("198.18.0.201")
	statuses := map[netip.Addr]v1alpha1.IPAllocationStatus{}
	status := func(addr netip.Addr) (v1alpha1.IPAllocationStatus, bool) {
		st, ok := statuses[addr]
		return st, ok
	}
	l2 := func(nodes ...string) v1alpha1.IPAllocationStatus {
		var st v1alpha1.IPAllocationStatus
		for _, n := range nodes {
			st.Announcers = append(st.Announcers, v1alpha1.Announcer{Node: n, Mode: v1alpha1.AnnouncementModeL2})
		}
		return st
	}
	seen := map[netip.Addr]string{}
	steps := []struct {
		name      string
		statuses  map[netip.Addr]v1alpha1.IPAllocationStatus
		announced []netip.Addr
		want      []netip.Addr
	}{
		{"only this node announces", map[netip.Addr]v1alpha1.IPAllocationStatus{a: l2("node1"), b: l2("node1")}, []netip.Addr{a, b}, nil},
		{"node2 took a over while node1 was frozen", map[netip.Addr]v1alpha1.IPAllocationStatus{a: l2("node1", "node2"), b: l2("node1")}, []netip.Addr{a, b}, []netip.Addr{a}},
		{"the same status again: once is enough", map[netip.Addr]v1alpha1.IPAllocationStatus{a: l2("node1", "node2"), b: l2("node1")}, []netip.Addr{a, b}, nil},
		{"node3 too", map[netip.Addr]v1alpha1.IPAllocationStatus{a: l2("node1", "node2", "node3")}, []netip.Addr{a}, []netip.Addr{a}},
		{"the others removed their entries", map[netip.Addr]v1alpha1.IPAllocationStatus{a: l2("node1")}, []netip.Addr{a}, nil},
		{"node2 again later", map[netip.Addr]v1alpha1.IPAllocationStatus{a: l2("node1", "node2")}, []netip.Addr{a}, []netip.Addr{a}},
		{"an address this node does not announce is not its to repeat", map[netip.Addr]v1alpha1.IPAllocationStatus{b: l2("node2")}, []netip.Addr{a}, nil},
		{"BGP entries of others do not count", map[netip.Addr]v1alpha1.IPAllocationStatus{
			b: {Announcers: []v1alpha1.Announcer{{Node: "node2", Mode: v1alpha1.AnnouncementModeBGP}}}}, []netip.Addr{b}, nil},
	}
	for _, s := range steps {
		statuses = s.statuses
		if got := contested("node1", s.announced, status, seen); !slices.Equal(got, s.want) {
			t.Errorf("%s: contested = %v, want %v", s.name, got, s.want)
		}
	}
	if _, ok := seen[b]; ok && !slices.Contains(steps[len(steps)-1].announced, b) {
		t.Error("seen keeps an address this node no longer announces")
	}
}
