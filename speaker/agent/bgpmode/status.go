package bgpmode

import (
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
)

// nextBGPStatus is the IPAllocation status after this node's BGP part changes: its BGP entry is
// present exactly when it advertises the address. Every BGP node writes only its own entry (over
// BGP every eligible node advertises; there is no winner to clean up after others). The
// Announced condition is set True, naming every announcer, by a node that adds its entry, and
// False (NoEligibleNode) by a node whose removal leaves no announcer at all. The layer-2 part
// leaves BGP entries alone (it touches mode L2 only).
func nextBGPStatus(old v1alpha1.IPAllocationStatus, self string, advertising bool, addr string, why string, now metav1.Time) (v1alpha1.IPAllocationStatus, bool) {
	st := *old.DeepCopy()
	own := loop.EntryIndex(st, self, v1alpha1.AnnouncementModeBGP)
	switch {
	case advertising && own < 0:
		st.Announcers = append(st.Announcers, v1alpha1.Announcer{Node: self, Mode: v1alpha1.AnnouncementModeBGP, Since: now})
		loop.SortAnnouncers(st.Announcers)
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: v1alpha1.IPAllocationConditionAnnounced, Status: metav1.ConditionTrue, LastTransitionTime: now,
			Reason: v1alpha1.IPAllocationReasonAnnouncing, Message: loop.AnnouncersMessage(addr, st.Announcers),
		})
	case !advertising && own >= 0:
		st.Announcers = slices.Delete(st.Announcers, own, own+1)
		if len(st.Announcers) == 0 {
			st.Announcers = nil
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{
				Type: v1alpha1.IPAllocationConditionAnnounced, Status: metav1.ConditionFalse, LastTransitionTime: now,
				Reason:  v1alpha1.IPAllocationReasonNoEligibleNode,
				Message: fmt.Sprintf("no node announces %s now; the last one, %s, stopped advertising it over BGP: %s", addr, self, why),
			})
		} else {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{
				Type: v1alpha1.IPAllocationConditionAnnounced, Status: metav1.ConditionTrue, LastTransitionTime: now,
				Reason: v1alpha1.IPAllocationReasonAnnouncing, Message: loop.AnnouncersMessage(addr, st.Announcers),
			})
		}
	}
	return st, !equality.Semantic.DeepEqual(old, st)
}

// sessionEntry is this node's entry of a BGPPeer's status.sessions.
func sessionEntry(node string, s bgp.SessionState, configErr string) v1alpha1.BGPSession {
	e := v1alpha1.BGPSession{Node: node, State: v1alpha1.BGPSessionState(s.State), RoutesAdvertised: int32(min(s.RoutesAdvertised, 1<<31-1)),
		Message: s.Message, BFD: s.BFD}
	if e.State == "" {
		e.State = v1alpha1.BGPSessionIdle
	}
	if !s.Since.IsZero() {
		t := metav1.NewTime(s.Since.Truncate(1e9))
		e.Since = &t
	}
	if configErr != "" {
		e.State, e.Message = v1alpha1.BGPSessionIdle, configErr
	}
	if len(e.Message) > 1024 {
		e.Message = e.Message[:1024]
	}
	return e
}

// sessionApply is the server-side apply body that makes entry this node's only entry of the
// peer's status.sessions (nil entry: none, which removes the entry this field manager owned).
func sessionApply(peer string, entry *v1alpha1.BGPSession) ([]byte, error) {
	// An empty list, not an absent one: the apply then owns no entry, and the API server
	// removes the one this manager applied before. (An empty status object is stored as null,
	// which the schema refuses.)
	sessions := []v1alpha1.BGPSession{}
	if entry != nil {
		sessions = append(sessions, *entry)
	}
	status := map[string]any{"sessions": sessions}
	return json.Marshal(map[string]any{
		"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": "BGPPeer",
		"metadata": map[string]any{"name": peer},
		"status":   status,
	})
}
