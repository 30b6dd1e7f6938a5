package l2mode

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// Event reasons.
const (
	// ReasonAnnouncingNode: the address is now announced from the node named in the message.
	ReasonAnnouncingNode = "AnnouncingNode"
	// ReasonNoSubnet (warning): the elected node cannot announce the address (no interface has a
	// subnet holding it).
	ReasonNoSubnet = "NoSubnet"
)

// publish is this run's part of the status of every address of the plan, and its Events. An
// address that left the plan (its Service is gone) gets the part that removes this node's entry.
func (p *Protocol) publish(s *loop.Snapshot, plan announce.Plan, statuses map[netip.Addr]l2.VIPStatus, ev loop.Recorder) loop.Report {
	rep := loop.Report{Parts: make(map[netip.Addr]loop.Part, len(plan.Decisions))}
	events := make(map[netip.Addr]string, len(p.events))
	for _, d := range plan.Decisions {
		v := p.viewOf(d, statuses[d.Addr], s.Now, s.Alive)
		p.emitEvents(d, v, statuses[d.Addr], events, published(s, d.Addr, p.cfg.NodeName), ev)
		rep.Parts[d.Addr] = p.part(v)
	}
	p.events = events
	rep.Default = func(addr netip.Addr) loop.Part {
		return p.part(view{Self: p.cfg.NodeName, Now: s.Now, Alive: s.Alive,
			Decision: announce.Decision{Addr: addr, Reason: announce.NoPool}})
	}
	return rep
}

// part is nextStatus for one view.
func (p *Protocol) part(v view) loop.Part {
	return func(st v1alpha1.IPAllocationStatus) v1alpha1.IPAllocationStatus {
		next, _ := nextStatus(st, v)
		return next
	}
}

func (p *Protocol) viewOf(d announce.Decision, st l2.VIPStatus, now metav1.Time, alive map[string]bool) view {
	v := view{Self: p.cfg.NodeName, Now: now, Decision: d, Alive: alive}
	if d.Announce() && p.withheld[d.Addr] {
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
func published(s *loop.Snapshot, addr netip.Addr, self string) bool {
	al, ok := s.Allocation(addr)
	return ok && loop.EntryIndex(al.Status, self, v1alpha1.AnnouncementModeL2) >= 0
}

// emitEvents sends an Event to each Service of the address when this node starts announcing it
// (the announcing node changed to this one) or, as a warning, when it won the address but cannot
// announce it for want of a subnet. Only the node concerned emits, once per change: events
// records what was said for each address this run. published says the stored status already
// named this node: on the first run of a restarted speaker that Event was already sent.
func (p *Protocol) emitEvents(d announce.Decision, v view, st l2.VIPStatus, events map[netip.Addr]string, published bool, ev loop.Recorder) {
	var key, evType, reason, msg string
	switch {
	case v.announcing():
		ifaces := strings.Join(v.Interfaces, ", ")
		key, evType, reason = "on "+ifaces, corev1.EventTypeNormal, ReasonAnnouncingNode
		msg = fmt.Sprintf("%s is announced from %s over L2 (%s)", d.Addr, p.cfg.NodeName, ifaces)
	case v.NoSubnet:
		key, evType, reason = "nosubnet", corev1.EventTypeWarning, ReasonNoSubnet
		msg = fmt.Sprintf("node %s was elected to announce %s but %v", p.cfg.NodeName, d.Addr, st.Err)
	default:
		return
	}
	prev, known := p.events[d.Addr]
	events[d.Addr] = key
	if prev == key || (!known && published && v.announcing()) {
		return
	}
	ev.Event(d.Services, evType, reason, msg)
}
