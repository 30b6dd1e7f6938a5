package baremetal

import (
	"errors"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// staticIndex is an allocationIndex over a fixed set of IPAllocations.
type staticIndex []*v1alpha1.IPAllocation

func (s staticIndex) byService(ns, name string) []*v1alpha1.IPAllocation {
	var out []*v1alpha1.IPAllocation
	for _, a := range s {
		for _, r := range a.Spec.Services {
			if r.Namespace == ns && r.Name == name {
				out = append(out, a)
			}
		}
	}
	return out
}

// reported is the IPAllocation of addr held by default/web, with the speakers' report.
func reported(addr string, cond *metav1.Condition, announcers ...v1alpha1.Announcer) *v1alpha1.IPAllocation {
	a := &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: "alloc-" + addr},
		Spec: v1alpha1.IPAllocationSpec{Address: addr, Pool: "p",
			Services: []v1alpha1.ServiceRef{{Namespace: "default", Name: "web", UID: "uid-web"}}},
		Status: v1alpha1.IPAllocationStatus{Announcers: announcers},
	}
	if cond != nil {
		cond.Type = v1alpha1.IPAllocationConditionAnnounced
		a.Status.Conditions = []metav1.Condition{*cond}
	}
	return a
}

func announcing() *metav1.Condition {
	return &metav1.Condition{Status: metav1.ConditionTrue, Reason: v1alpha1.IPAllocationReasonAnnouncing}
}

func TestLoadBalancerReadiness(t *testing.T) {
	since := metav1.NewTime(time.Unix(1700000000, 0))
	l2 := v1alpha1.Announcer{Node: "node-a", Mode: v1alpha1.AnnouncementModeL2, Interface: "eth0", Since: since}
	bgp := func(n string) v1alpha1.Announcer {
		return v1alpha1.Announcer{Node: n, Mode: v1alpha1.AnnouncementModeBGP, Since: since}
	}
	withIngress := func(ips ...string) *v1.Service {
		s := objects.Service("default", "web", objects.LoadBalancer)
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, v1.LoadBalancerIngress{IP: ip})
		}
		return s
	}
	for _, tc := range []struct {
		name   string
		allocs staticIndex
		svc    *v1.Service
		err    error
		want   [3]string // status, reason, message
	}{
		{"announced over L2", staticIndex{reported("192.0.2.10", announcing(), l2)}, withIngress("192.0.2.10"), nil,
			[3]string{"True", ReasonAnnounced, "192.0.2.10: announced by node-a (eth0) over L2"}},
		{"dual-stack over BGP", staticIndex{reported("192.0.2.10", announcing(), bgp("a"), bgp("b")), reported("2001:db8::10", announcing(), bgp("a"))},
			withIngress("192.0.2.10", "2001:db8::10"), nil,
			[3]string{"True", ReasonAnnounced, "192.0.2.10: announced over BGP by 2 nodes: a, b; 2001:db8::10: announced over BGP by 1 node: a"}},
		{"the speakers' reason passed on, the first address not announced decides",
			staticIndex{reported("192.0.2.10", announcing(), l2), reported("2001:db8::10", &metav1.Condition{Status: metav1.ConditionFalse,
				Reason: v1alpha1.IPAllocationReasonNoSubnet, Message: "no interface of node-a holds 2001:db8::10"})},
			withIngress("192.0.2.10", "2001:db8::10"), nil,
			[3]string{"False", v1alpha1.IPAllocationReasonNoSubnet, "192.0.2.10: announced by node-a (eth0) over L2; 2001:db8::10: no interface of node-a holds 2001:db8::10"}},
		{"no report yet", staticIndex{reported("192.0.2.10", nil)}, withIngress("192.0.2.10"), nil,
			[3]string{"Unknown", ReasonAwaitingSpeakers, "192.0.2.10: no speaker has reported on it yet; check that the speakers run (kubectl get ipallocation alloc-192.0.2.10)"}},
		{"allocation not in the cache yet", nil, withIngress("192.0.2.10"), nil,
			[3]string{"Unknown", ReasonAwaitingSpeakers, "192.0.2.10: its IPAllocation is not in the controller's cache yet"}},
		{"no pool: the error, nothing else", nil, withIngress(), &noPoolError{},
			[3]string{"False", "NoPool", (&noPoolError{}).Error()}},
		{"refused change, address kept and announced", staticIndex{reported("192.0.2.10", announcing(), l2)}, withIngress("192.0.2.10"),
			&AnnotationError{Name: AnnotationLoadBalancerIPs, Value: "x", Accepted: "addresses"},
			[3]string{"True", "InvalidRequest", "the last change was not applied (" + (&AnnotationError{Name: AnnotationLoadBalancerIPs, Value: "x", Accepted: "addresses"}).Error() +
				"); the Service keeps its addresses: 192.0.2.10: announced by node-a (eth0) over L2"}},
		{"an API error", nil, withIngress(), fmt.Errorf("creating IPAllocation: %w", errors.New("etcdserver: request timed out")),
			[3]string{"False", "SyncFailed", "creating IPAllocation: etcdserver: request timed out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &balancer{index: tc.allocs}
			st, reason, msg := b.LoadBalancerReadiness(tc.svc, tc.err)
			if got := [3]string{string(st), reason, msg}; got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// A speaker's report on an address queues the Services holding it, old and new holders alike;
// a resync that changes nothing queues none.
func TestAllocationChangedQueuesHolders(t *testing.T) {
	var got []string
	b := &balancer{}
	b.allocationChanged(nil, reported("192.0.2.10", nil)) // no function yet: nothing, no panic
	b.SetReadinessChanged(func(ns, name string) { got = append(got, ns+"/"+name) })
	a := reported("192.0.2.10", nil)
	b.allocationChanged(a, a.DeepCopy())
	if len(got) != 0 {
		t.Fatalf("an unchanged allocation queued %v", got)
	}
	moved := a.DeepCopy()
	moved.Status.Conditions = []metav1.Condition{{Type: v1alpha1.IPAllocationConditionAnnounced, Status: metav1.ConditionTrue}}
	moved.Spec.Services = append(moved.Spec.Services, v1alpha1.ServiceRef{Namespace: "default", Name: "api", UID: "uid-api"})
	b.allocationChanged(a, moved)
	if want := []string{"default/web", "default/web", "default/api"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("queued %v, want %v", got, want)
	}
}
