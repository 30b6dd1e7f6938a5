package inspect

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

var since = metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))

// The cluster the tests inspect: web (dual-stack, announced over L2 and BGP), api (an address
// nobody announces), pending (no address yet), a ClusterIP Service, and web in another namespace
// sharing web's IPv4 address.
func fixtureServices() []*v1.Service {
	ready := func(st metav1.ConditionStatus, reason, msg string) func(*v1.Service) {
		return func(s *v1.Service) {
			s.Status.Conditions = []metav1.Condition{{Type: conditionReady, Status: st, Reason: reason, Message: msg, LastTransitionTime: since}}
		}
	}
	local := func(s *v1.Service) { s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal }
	return []*v1.Service{
		objects.Service("default", "web", objects.LoadBalancer, local,
			objects.WithIngress(v1.LoadBalancerIngress{IP: "192.0.2.10"}, v1.LoadBalancerIngress{IP: "2001:db8::10"}),
			ready(metav1.ConditionTrue, "Announced", "192.0.2.10: announced by node-a (eth0) over L2; 2001:db8::10: announced over BGP by 2 nodes: node-a, node-b")),
		objects.Service("default", "api", objects.LoadBalancer,
			objects.WithIngress(v1.LoadBalancerIngress{IP: "192.0.2.11"}),
			ready(metav1.ConditionFalse, "NotAdvertised", "192.0.2.11: no L2Advertisement or BGPAdvertisement selects pool lan")),
		objects.Service("default", "pending", objects.LoadBalancer, ready(metav1.ConditionFalse, "NoPool", `pool "gold" does not exist`)),
		objects.Service("default", "internal"),
		objects.Service("shop", "web", objects.LoadBalancer, objects.WithIngress(v1.LoadBalancerIngress{IP: "192.0.2.10"}),
			ready(metav1.ConditionTrue, "Announced", "192.0.2.10: announced by node-a (eth0) over L2")),
	}
}

func fixtureAllocations() []*v1alpha1.IPAllocation {
	alloc := func(addr, pool string, cond metav1.Condition, holders []v1alpha1.ServiceRef, as ...v1alpha1.Announcer) *v1alpha1.IPAllocation {
		cond.Type, cond.LastTransitionTime = v1alpha1.IPAllocationConditionAnnounced, since
		return &v1alpha1.IPAllocation{
			ObjectMeta: metav1.ObjectMeta{Name: "a-" + addr},
			Spec:       v1alpha1.IPAllocationSpec{Address: addr, Pool: pool, Services: holders},
			Status:     v1alpha1.IPAllocationStatus{Announcers: as, Conditions: []metav1.Condition{cond}},
		}
	}
	on := metav1.Condition{Status: metav1.ConditionTrue, Reason: "Announcing"}
	ref := func(ns, name string) v1alpha1.ServiceRef {
		return v1alpha1.ServiceRef{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)}
	}
	return []*v1alpha1.IPAllocation{
		alloc("192.0.2.10", "lan", on, []v1alpha1.ServiceRef{ref("default", "web"), ref("shop", "web")},
			v1alpha1.Announcer{Node: "node-a", Mode: v1alpha1.AnnouncementModeL2, Interface: "eth0", Since: since}),
		alloc("2001:db8::10", "lan6", on, []v1alpha1.ServiceRef{ref("default", "web")},
			v1alpha1.Announcer{Node: "node-a", Mode: v1alpha1.AnnouncementModeBGP, Since: since},
			v1alpha1.Announcer{Node: "node-b", Mode: v1alpha1.AnnouncementModeBGP, Since: since}),
		alloc("192.0.2.11", "lan", metav1.Condition{Status: metav1.ConditionFalse, Reason: "NotAdvertised"},
			[]v1alpha1.ServiceRef{ref("default", "api")}),
	}
}

func fixturePools() []*v1alpha1.IPPool {
	pool := func(name string, st v1alpha1.IPPoolStatus) *v1alpha1.IPPool {
		return &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: st}
	}
	valid := metav1.Condition{Type: v1alpha1.IPPoolConditionValid, Status: metav1.ConditionTrue, Reason: "Valid", LastTransitionTime: since}
	full := metav1.Condition{Type: v1alpha1.IPPoolConditionExhausted, Status: metav1.ConditionTrue, Reason: "Exhausted", LastTransitionTime: since}
	return []*v1alpha1.IPPool{
		pool("lan", v1alpha1.IPPoolStatus{CapacityIPv4: "16", AssignedIPv4: 2, Conditions: []metav1.Condition{valid}}),
		pool("lan6", v1alpha1.IPPoolStatus{CapacityIPv6: "18446744073709551616", AssignedIPv6: 1, Conditions: []metav1.Condition{valid}}),
		pool("tiny", v1alpha1.IPPoolStatus{CapacityIPv4: "1", AssignedIPv4: 1, Conditions: []metav1.Condition{valid, full}}),
	}
}
