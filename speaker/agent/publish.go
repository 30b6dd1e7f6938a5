package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/announce"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
)

// Event reasons.
const (
	// ReasonAnnouncingNode: the address is now announced from the node named in the message.
	ReasonAnnouncingNode = "AnnouncingNode"
	// ReasonNoSubnet (warning): the elected node cannot announce the address (no interface has a
	// subnet holding it).
	ReasonNoSubnet = "NoSubnet"
)

// maxConflicts bounds the re-read-and-retry of one status write; the loop retries later anyway.
const maxConflicts = 5

// publish writes this node's part of every IPAllocation status that the plan changes, and emits
// Events. It compares with the informer's copy first, so that nothing is written while nothing
// changes: API load grows with changes, not with addresses or time.
func (a *agent) publish(ctx context.Context, plan announce.Plan, statuses map[netip.Addr]l2.VIPStatus, alive map[string]bool) error {
	now := metav1.Now()
	var errs []error
	inPlan := make(map[netip.Addr]bool, len(plan.Decisions))
	events := make(map[netip.Addr]string, len(a.events))
	for _, d := range plan.Decisions {
		inPlan[d.Addr] = true
		v := a.viewOf(d, statuses[d.Addr], now, alive)
		a.emitEvents(d, v, statuses[d.Addr], events, a.published(d.Addr))
		if err := a.writeStatus(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	a.events = events
	// An address may leave the plan (its Service is gone) while our entry stays in its status.
	allocs, err := a.allocs.List(labels.Everything())
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, al := range allocs {
		addr, err := netip.ParseAddr(al.Spec.Address)
		if err != nil || inPlan[addr.Unmap()] || !hasOwnEntry(al.Status, a.cfg.NodeName) {
			continue
		}
		v := view{Self: a.cfg.NodeName, Now: now, Alive: alive,
			Decision: announce.Decision{Addr: addr.Unmap(), Pool: al.Spec.Pool, Reason: announce.NoPool}}
		if err := a.writeStatus(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *agent) viewOf(d announce.Decision, st l2.VIPStatus, now metav1.Time, alive map[string]bool) view {
	v := view{Self: a.cfg.NodeName, Now: now, Decision: d, Alive: alive}
	if d.Announce() && a.withheld[d.Addr] {
		v.NotForwarded = true
		return v
	}
	if d.Announce() {
		v.Interfaces = st.Interfaces
		v.NoSubnet = !st.Announced() && isNoSubnet(st)
		if !st.Announced() && !v.NoSubnet && st.Err != nil {
			v.Unavailable = st.Err
		}
	}
	return v
}

// published reports whether the stored status already names this node as an announcer of addr
// (before this run's write): after a restart, the Event was sent by the previous process.
func (a *agent) published(addr netip.Addr) bool {
	al, err := a.allocs.Get(v1alpha1.IPAllocationName(addr))
	return err == nil && hasOwnEntry(al.Status, a.cfg.NodeName)
}

func hasOwnEntry(st v1alpha1.IPAllocationStatus, self string) bool {
	for _, an := range st.Announcers {
		if an.Node == self && an.Mode == v1alpha1.AnnouncementModeL2 {
			return true
		}
	}
	return false
}

// writeStatus writes the status nextStatus gives, if it differs from the stored one. On a
// conflict it re-reads the object and recomputes, so another node's concurrent entry is kept.
func (a *agent) writeStatus(ctx context.Context, v view) error {
	name := v1alpha1.IPAllocationName(v.Decision.Addr)
	cur, err := a.allocs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil // not allocated (NoPool), or released: nothing to report on
	}
	if err != nil {
		return err
	}
	for range maxConflicts {
		next, changed := nextStatus(cur.Status, v)
		if !changed {
			return nil
		}
		obj := cur.DeepCopy()
		obj.Status = next
		_, err := a.cfg.API.IPAllocations().UpdateStatus(ctx, obj, metav1.UpdateOptions{FieldManager: Component})
		switch {
		case err == nil:
			statusWrites.WithLabelValues("ok").Inc()
			a.log.V(2).Info("IPAllocation status written", "ipallocation", name, "announcers", len(next.Announcers))
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			statusWrites.WithLabelValues("error").Inc()
			return fmt.Errorf("writing the status of IPAllocation %s: %w", name, err)
		}
		statusWrites.WithLabelValues("conflict").Inc()
		cur, err = a.cfg.API.IPAllocations().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("re-reading IPAllocation %s after a conflict: %w", name, err)
		}
	}
	return fmt.Errorf("writing the status of IPAllocation %s: still conflicting after %d attempts", name, maxConflicts)
}

// emitEvents sends an Event to each Service of the address when this node starts announcing it
// (the announcing node changed to this one) or, as a warning, when it won the address but cannot
// announce it for want of a subnet. Only the node concerned emits, once per change: events
// records what was said for each address this run. published says the stored status already
// named this node: on the first run of a restarted speaker that Event was already sent.
func (a *agent) emitEvents(d announce.Decision, v view, st l2.VIPStatus, events map[netip.Addr]string, published bool) {
	var key, evType, reason, msg string
	switch {
	case v.announcing():
		ifaces := strings.Join(v.Interfaces, ", ")
		key, evType, reason = "on "+ifaces, corev1.EventTypeNormal, ReasonAnnouncingNode
		msg = fmt.Sprintf("%s is announced from %s over L2 (%s)", d.Addr, a.cfg.NodeName, ifaces)
	case v.NoSubnet:
		key, evType, reason = "nosubnet", corev1.EventTypeWarning, ReasonNoSubnet
		msg = fmt.Sprintf("node %s was elected to announce %s but %v", a.cfg.NodeName, d.Addr, st.Err)
	default:
		return
	}
	prev, known := a.events[d.Addr]
	events[d.Addr] = key
	if prev == key || (!known && published && v.announcing()) {
		return
	}
	for _, s := range d.Services {
		svc, err := a.services.Services(s.Namespace).Get(s.Name)
		if err != nil {
			continue // deleted meanwhile
		}
		a.recorder.Event(svc, evType, reason, msg)
	}
}
