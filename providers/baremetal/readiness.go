package baremetal

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/controller/service"
)

var _ service.Readiness = (*balancer)(nil)

// The reasons of the Service's LoadBalancerReady condition on bare metal, besides the
// IPAllocation reasons it passes on (NotAdvertised, NoEligibleNode, NoSubnet,
// InterfaceUnavailable, NotForwarded: the speakers' verdict on the address).
const (
	// ReasonAnnounced: every address of the Service is announced (the message says by whom).
	ReasonAnnounced = "Announced"
	// ReasonAwaitingSpeakers (status Unknown): an address is allocated but no speaker has
	// reported on it yet; for a new Service, seconds.
	ReasonAwaitingSpeakers = "AwaitingSpeakers"
)

// SetReadinessChanged implements service.Readiness: the speakers' reports on an address (its
// IPAllocation's status) queue the Services holding it.
func (b *balancer) SetReadinessChanged(changed func(namespace, name string)) {
	b.readinessChanged.Store(&changed)
}

// allocationChanged is the IPAllocation informer's handler: it queues the Services of an
// allocation whose holders or speakers' reports changed.
func (b *balancer) allocationChanged(old, cur *v1alpha1.IPAllocation) {
	f := b.readinessChanged.Load()
	if f == nil {
		return
	}
	if old != nil && cur != nil && reflect.DeepEqual(old.Spec.Services, cur.Spec.Services) &&
		reflect.DeepEqual(old.Status, cur.Status) {
		return
	}
	for _, a := range []*v1alpha1.IPAllocation{old, cur} {
		if a == nil {
			continue
		}
		for _, r := range a.Spec.Services {
			(*f)(r.Namespace, r.Name)
		}
	}
}

// LoadBalancerReadiness implements service.Readiness: a Service is ready when each of its
// addresses is announced, as the speakers report in the address's IPAllocation. The message
// names who announces, or passes on why nobody does.
func (b *balancer) LoadBalancerReadiness(svc *v1.Service, ensureErr error) (metav1.ConditionStatus, string, string) {
	var addrs []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			addrs = append(addrs, a.Unmap())
		}
	}
	if ensureErr != nil {
		reason := classify(ensureErr).reason
		if len(addrs) == 0 {
			return metav1.ConditionFalse, reason, ensureErr.Error()
		}
		st, _, msg := b.announced(svc, addrs)
		return st, reason, fmt.Sprintf("the last change was not applied (%v); the Service keeps its addresses: %s", ensureErr, msg)
	}
	if len(addrs) == 0 {
		return metav1.ConditionFalse, service.ReasonSyncFailed, "no address in status.loadBalancer"
	}
	return b.announced(svc, addrs)
}

// announced sums up the speakers' reports on addrs: True when every address is announced, False
// with the reason of the first the speakers say nobody announces, else Unknown while some
// address has no report yet.
func (b *balancer) announced(svc *v1.Service, addrs []netip.Addr) (metav1.ConditionStatus, string, string) {
	byAddr := map[netip.Addr]*v1alpha1.IPAllocation{}
	if b.index != nil {
		for _, a := range b.index.byService(svc.Namespace, svc.Name) {
			if addr, err := netip.ParseAddr(a.Spec.Address); err == nil {
				byAddr[addr] = a
			}
		}
	}
	// An address no speaker has reported on yet makes the condition Unknown (a new Service's
	// first seconds), one the speakers say nobody announces makes it False, which wins.
	status, reason := metav1.ConditionTrue, ReasonAnnounced
	var msgs []string
	notReady := func(st metav1.ConditionStatus, r, msg string) {
		if status == metav1.ConditionTrue || (status == metav1.ConditionUnknown && st == metav1.ConditionFalse) {
			status, reason = st, r
		}
		msgs = append(msgs, msg)
	}
	for _, addr := range addrs {
		a := byAddr[addr]
		if a == nil {
			notReady(metav1.ConditionUnknown, ReasonAwaitingSpeakers, fmt.Sprintf("%s: its IPAllocation is not in the controller's cache yet", addr))
			continue
		}
		c := meta.FindStatusCondition(a.Status.Conditions, v1alpha1.IPAllocationConditionAnnounced)
		switch {
		case c == nil:
			notReady(metav1.ConditionUnknown, ReasonAwaitingSpeakers, fmt.Sprintf("%s: no speaker has reported on it yet; check that the speakers run (kubectl get ipallocation %s)",
				addr, a.Name))
		case c.Status != metav1.ConditionTrue || len(a.Status.Announcers) == 0:
			notReady(metav1.ConditionFalse, c.Reason, fmt.Sprintf("%s: %s", addr, c.Message))
		default:
			msgs = append(msgs, fmt.Sprintf("%s: %s", addr, announcers(a.Status.Announcers)))
		}
	}
	return status, reason, strings.Join(msgs, "; ")
}

// announcers says who announces an address: "announced by node-a over L2 (eth0)", or "announced
// over BGP by 3 nodes: a, b, c".
func announcers(as []v1alpha1.Announcer) string {
	var l2, bgp []string
	for _, a := range as {
		switch a.Mode {
		case v1alpha1.AnnouncementModeL2:
			s := a.Node
			if a.Interface != "" {
				s += " (" + a.Interface + ")"
			}
			l2 = append(l2, s)
		case v1alpha1.AnnouncementModeBGP:
			bgp = append(bgp, a.Node)
		}
	}
	var parts []string
	if len(l2) > 0 {
		parts = append(parts, "announced by "+strings.Join(l2, ", ")+" over L2")
	}
	if len(bgp) > 0 {
		names := bgp
		if len(names) > 5 {
			names = append(names[:5:5], "…")
		}
		parts = append(parts, fmt.Sprintf("announced over BGP by %d node%s: %s", len(bgp), plural(len(bgp)), strings.Join(names, ", ")))
	}
	return strings.Join(parts, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
