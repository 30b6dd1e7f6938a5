package l2mode

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// view is what this node knows about one address when it writes the IPAllocation status.
type view struct {
	Self     string
	Now      metav1.Time
	Decision announce.Decision
	// Interfaces this node announces the address on now (from l2.VIPStatus); empty when it does
	// not announce it, including when it won but cannot (NoSubnet).
	Interfaces []string
	// NoSubnet: this node won the address but no interface has a subnet holding it.
	NoSubnet bool
	// Unavailable: this node won the address but cannot announce it because its interfaces are
	// missing or down (nil otherwise); the error names them.
	Unavailable error
	// NotForwarded: this node won the address but the node proxy does not forward it yet.
	NotForwarded bool
	// Alive is the liveness of every speaker as this node sees it.
	Alive map[string]bool
}

func (v view) announcing() bool { return v.Decision.Announce() && len(v.Interfaces) > 0 }

// nextStatus is the status this node writes for one address, from the stored one. The rules keep
// writers few and writes rare:
//   - this node adds its own L2 entry while it announces, and removes it when it stops;
//   - the winner also removes the L2 entries of nodes it sees dead (they cannot remove their own);
//   - the Announced condition is set True only by the winner, naming every announcer; when the
//     announcers become empty it is set False by the winner (NoSubnet), or, when no node can
//     announce, by the first live speaker in name order (so one node writes, not all of them); a
//     loser that leaves the list empty while another node won leaves the condition to the winner.
//
// It returns the new status and whether it differs from old (semantically).
func nextStatus(old v1alpha1.IPAllocationStatus, v view) (v1alpha1.IPAllocationStatus, bool) {
	st := *old.DeepCopy()
	winner := v.Decision.Announce()
	own := loop.EntryIndex(st, v.Self, v1alpha1.AnnouncementModeL2)
	if v.announcing() {
		iface := strings.Join(v.Interfaces, ",")
		if own < 0 {
			st.Announcers = append(st.Announcers, v1alpha1.Announcer{
				Node: v.Self, Mode: v1alpha1.AnnouncementModeL2, Interface: iface, Since: v.Now,
			})
		} else {
			st.Announcers[own].Interface = iface
		}
	} else if own >= 0 {
		st.Announcers = slices.Delete(st.Announcers, own, own+1)
	}
	if winner {
		st.Announcers = slices.DeleteFunc(st.Announcers, func(a v1alpha1.Announcer) bool {
			return a.Mode == v1alpha1.AnnouncementModeL2 && a.Node != v.Self && !v.Alive[a.Node]
		})
	}
	loop.SortAnnouncers(st.Announcers)
	if len(st.Announcers) == 0 {
		st.Announcers = nil
	}

	if cond, write := announcedCondition(st, v); write {
		meta.SetStatusCondition(&st.Conditions, cond)
	}
	return st, !equality.Semantic.DeepEqual(old, st)
}

// announcedCondition is the Announced condition this node sets, if it is the one to set it.
func announcedCondition(st v1alpha1.IPAllocationStatus, v view) (metav1.Condition, bool) {
	c := metav1.Condition{Type: v1alpha1.IPAllocationConditionAnnounced, LastTransitionTime: v.Now}
	d := v.Decision
	switch {
	case len(st.Announcers) > 0:
		if !v.announcing() {
			return c, false
		}
		c.Status, c.Reason = metav1.ConditionTrue, v1alpha1.IPAllocationReasonAnnouncing
		c.Message = loop.AnnouncersMessage(d.Addr.String(), st.Announcers)
	case d.Announce() && v.NoSubnet:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.IPAllocationReasonNoSubnet
		c.Message = fmt.Sprintf("node %s won %s but no interface of it has a subnet holding the address, "+
			"and the L2Advertisement names no interface", v.Self, d.Addr)
	case d.Announce() && v.NotForwarded:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.IPAllocationReasonNotForwarded
		c.Message = fmt.Sprintf("node %s won %s and announces it once its node proxy forwards it", v.Self, d.Addr)
	case d.Announce() && v.Unavailable != nil:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.IPAllocationReasonInterfaceUnavailable
		c.Message = fmt.Sprintf("node %s won %s but cannot announce it: %v", v.Self, d.Addr, v.Unavailable)
	case d.Winner != "" || !loop.FirstAlive(v.Self, v.Alive):
		return c, false
	case d.Reason == announce.NotAdvertised:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.IPAllocationReasonNotAdvertised
		c.Message = d.Message()
	case d.Reason == announce.NoPool || d.Reason == announce.NoQuorum:
		// Not ours to report: no pool means the allocation is unknown here, no quorum means this
		// node cannot tell who announces.
		return c, false
	default:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.IPAllocationReasonNoEligibleNode
		c.Message = fmt.Sprintf("no node may announce %s now: none is selected, ready and running a live speaker "+
			"(and, for externalTrafficPolicy Local, holds a ready endpoint)", d.Addr)
	}
	return c, true
}

// isNoSubnet reports whether a VIP status says no interface has a subnet holding the VIP.
func isNoSubnet(s l2.VIPStatus) bool {
	var e *l2.ErrNoSubnet
	return errors.As(s.Err, &e)
}
