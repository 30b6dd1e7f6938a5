package l2mode

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

func TestEmitEvents(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, n := range []string{"a", "b"} {
		if err := idx.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: n}}); err != nil {
			t.Fatal(err)
		}
	}
	addr := netip.MustParseAddr("198.51.100.7")
	won := announce.Decision{Addr: addr, Winner: "node-2", Reason: announce.Announcing,
		Services: []types.NamespacedName{{Namespace: "ns", Name: "a"}, {Namespace: "ns", Name: "b"}, {Namespace: "ns", Name: "gone"}}}
	lost := won
	lost.Winner, lost.Reason = "node-1", announce.NotElected
	eth0 := l2.VIPStatus{Interfaces: []string{"eth0"}}
	noSubnet := l2.VIPStatus{Err: &l2.ErrNoSubnet{VIP: addr}}
	const announced = "Normal AnnouncingNode 198.51.100.7 is announced from node-2 over L2 (eth0)"
	const warned = "Warning NoSubnet node node-2 was elected to announce 198.51.100.7 but cannot be announced from this node: " +
		"no interface has a subnet containing 198.51.100.7 (name the interfaces to announce it on, or pick a VIP from a subnet of this node's interfaces)"

	type step struct {
		d         announce.Decision
		st        l2.VIPStatus
		published bool
		want      []string // Events, one per existing Service
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"takeover, then steady", []step{
			{d: won, st: eth0, want: []string{announced, announced}},
			{d: won, st: eth0, published: true},
		}},
		{"restart with the entry already published: no repeat", []step{
			{d: won, st: eth0, published: true},
		}},
		{"lost and won again", []step{
			{d: won, st: eth0, want: []string{announced, announced}},
			{d: lost},
			{d: won, st: eth0, want: []string{announced, announced}},
		}},
		{"no subnet warns once, then announcing", []step{
			{d: won, st: noSubnet, want: []string{warned, warned}},
			{d: won, st: noSubnet},
			{d: won, st: eth0, want: []string{announced, announced}},
		}},
		{"loser says nothing", []step{{d: lost}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			p := &Protocol{cfg: Config{NodeName: "node-2"}, events: map[netip.Addr]string{}}
			ev := loop.ServiceEvents(rec, corelisters.NewServiceLister(idx))
			for i, s := range tt.steps {
				events := map[netip.Addr]string{}
				p.emitEvents(s.d, p.viewOf(s.d, s.st, metav1.Now(), nil), s.st, events, s.published, ev)
				p.events = events
				var got []string
				for len(rec.Events) > 0 {
					got = append(got, <-rec.Events)
				}
				if diff := cmp.Diff(s.want, got); diff != "" {
					t.Errorf("step %d: events (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestIsNoSubnet(t *testing.T) {
	addr := netip.MustParseAddr("198.51.100.7")
	joined := errors.Join(&l2.ErrInterfaceUnavailable{Interface: "eth1", Reason: l2.InterfaceDown}, &l2.ErrNoSubnet{VIP: addr})
	for _, tt := range []struct {
		err  error
		want bool
	}{{nil, false}, {&l2.ErrNoSubnet{VIP: addr}, true}, {joined, true}, {&l2.ErrInterfaceUnavailable{Interface: "eth1", Reason: l2.InterfaceDown}, false}} {
		if got := isNoSubnet(l2.VIPStatus{Err: tt.err}); got != tt.want {
			t.Errorf("isNoSubnet(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
