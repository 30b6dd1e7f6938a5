package l2mode

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

var (
	vip   = netip.MustParseAddr("198.51.100.7")
	then  = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now   = metav1.NewTime(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	alive = map[string]bool{"node-1": true, "node-2": true, "node-3": false}
)

func l2Entry(node, iface string, since metav1.Time) v1alpha1.Announcer {
	return v1alpha1.Announcer{Node: node, Mode: v1alpha1.AnnouncementModeL2, Interface: iface, Since: since}
}

func cond(status metav1.ConditionStatus, reason, msg string, at metav1.Time) []metav1.Condition {
	return []metav1.Condition{{Type: v1alpha1.IPAllocationConditionAnnounced, Status: status, Reason: reason, Message: msg, LastTransitionTime: at}}
}

func TestNextStatus(t *testing.T) {
	won := announce.Decision{Addr: vip, Winner: "node-2", Reason: announce.Announcing}
	lost := announce.Decision{Addr: vip, Winner: "node-1", Reason: announce.NotElected}
	trueOn2 := cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0)", now)
	tests := []struct {
		name        string
		old         v1alpha1.IPAllocationStatus
		v           view
		want        v1alpha1.IPAllocationStatus
		wantChanged bool
	}{
		{
			name:        "winner adds itself and sets Announced",
			v:           view{Self: "node-2", Decision: won, Interfaces: []string{"eth0"}},
			want:        v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", now)}, Conditions: trueOn2},
			wantChanged: true,
		},
		{
			name: "winner already published: no write",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", then)}, Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0)", then)},
			v:    view{Self: "node-2", Decision: won, Interfaces: []string{"eth0"}},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", then)}, Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0)", then)},
		},
		{
			name: "interfaces change keeps since, updates message, not transition time",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", then)}, Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0)", then)},
			v:    view{Self: "node-2", Decision: won, Interfaces: []string{"eth0", "eth1"}},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0,eth1", then)},
				Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0,eth1)", then)},
			wantChanged: true,
		},
		{
			name: "takeover: winner removes the dead node's entry",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-3", "eth0", then)}, Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-3 (L2, eth0)", then)},
			v:    view{Self: "node-2", Decision: won, Interfaces: []string{"eth0"}, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", now)},
				Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0)", then)},
			wantChanged: true,
		},
		{
			name: "handover: a live previous announcer's entry is left to it",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-1", "eth0", then)}},
			v:    view{Self: "node-2", Decision: won, Interfaces: []string{"eth0"}, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-1", "eth0", then), l2Entry("node-2", "eth0", now)},
				Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-1 (L2, eth0), node-2 (L2, eth0)", now)},
			wantChanged: true,
		},
		{
			name: "BGP entries of dead nodes are not the L2 winner's",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{{Node: "node-3", Mode: v1alpha1.AnnouncementModeBGP, Since: then}}},
			v:    view{Self: "node-2", Decision: won, Interfaces: []string{"eth0"}, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", now), {Node: "node-3", Mode: v1alpha1.AnnouncementModeBGP, Since: then}},
				Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0), node-3 (BGP)", now)},
			wantChanged: true,
		},
		{
			name: "loser removes its entry and leaves the condition to the winner",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", then)}, Conditions: trueOn2},
			v:    view{Self: "node-2", Decision: lost, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Conditions: trueOn2}, wantChanged: true,
		},
		{
			name: "loser with nothing to remove writes nothing",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-1", "eth0", then)}, Conditions: trueOn2},
			v:    view{Self: "node-2", Decision: lost, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-1", "eth0", then)}, Conditions: trueOn2},
		},
		{
			name: "winner without a subnet reports NoSubnet",
			v:    view{Self: "node-2", Decision: won, NoSubnet: true, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Conditions: cond(metav1.ConditionFalse, "NoSubnet",
				"node node-2 won 198.51.100.7 but no interface of it has a subnet holding the address, and the L2Advertisement names no interface", now)},
			wantChanged: true,
		},
		{
			name: "winner whose interface is down reports InterfaceUnavailable",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-2", "eth0", then)}, Conditions: cond(metav1.ConditionTrue, "Announcing", "198.51.100.7 is announced from node-2 (L2, eth0)", then)},
			v:    view{Self: "node-2", Decision: won, Unavailable: errors.New("interface eth0 is down"), Alive: alive},
			want: v1alpha1.IPAllocationStatus{Conditions: cond(metav1.ConditionFalse, "InterfaceUnavailable",
				"node node-2 won 198.51.100.7 but cannot announce it: interface eth0 is down", now)},
			wantChanged: true,
		},
		{
			name: "not advertised: the first live speaker reports it",
			v:    view{Self: "node-1", Decision: announce.Decision{Addr: vip, Pool: "p", Reason: announce.NotAdvertised}, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Conditions: cond(metav1.ConditionFalse, "NotAdvertised",
				`no L2Advertisement advertises pool "p" of 198.51.100.7; it is not announced on layer 2`, now)},
			wantChanged: true,
		},
		{
			name: "not advertised: other speakers stay silent",
			v:    view{Self: "node-2", Decision: announce.Decision{Addr: vip, Pool: "p", Reason: announce.NotAdvertised}, Alive: alive},
		},
		{
			name: "no eligible node, and the last announcer's own entry removed",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-1", "eth0", then)}, Conditions: trueOn2},
			v:    view{Self: "node-1", Decision: announce.Decision{Addr: vip, Reason: announce.NodeNotReady}, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Conditions: cond(metav1.ConditionFalse, "NoEligibleNode",
				"no node may announce 198.51.100.7 now: none is selected, ready and running a live speaker (and, for externalTrafficPolicy Local, holds a ready endpoint)", now)},
			wantChanged: true,
		},
		{
			name: "no quorum: this node removes its entry but cannot tell more",
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2Entry("node-1", "eth0", then)}, Conditions: trueOn2},
			v:    view{Self: "node-1", Decision: announce.Decision{Addr: vip, Reason: announce.NoQuorum}, Alive: alive},
			want: v1alpha1.IPAllocationStatus{Conditions: trueOn2}, wantChanged: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.v.Now = now
			old := *tt.old.DeepCopy()
			got, changed := nextStatus(tt.old, tt.v)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if diff := cmp.Diff(old, tt.old); diff != "" {
				t.Errorf("old status modified (-before +after):\n%s", diff)
			}
			// Applying the result again is a fixed point: a second run writes nothing.
			if again, ch := nextStatus(got, tt.v); ch {
				t.Errorf("not a fixed point: second run changed %s", cmp.Diff(got, again))
			}
		})
	}
}
