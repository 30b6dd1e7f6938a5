package l2mode

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

type recordingAnnouncer struct {
	sets []map[netip.Addr]announce.Announcement
}

func (r *recordingAnnouncer) SetVIPs(v map[netip.Addr]announce.Announcement) (map[netip.Addr]l2.VIPStatus, error) {
	r.sets = append(r.sets, v)
	return nil, nil
}
func (r *recordingAnnouncer) Reannounce(...netip.Addr) error { return nil }

// Close withdraws every address and reports the removal of this node's L2 entries only.
func TestClose(t *testing.T) {
	ann := &recordingAnnouncer{}
	p := &Protocol{cfg: Config{NodeName: "node-2", Announcer: ann},
		prev: announce.Plan{VIPs: map[netip.Addr]announce.Announcement{vip: {}}}}
	rep, err := p.Close(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ann.sets) != 1 || len(ann.sets[0]) != 0 {
		t.Errorf("SetVIPs calls %v, want one with no address", ann.sets)
	}
	part, ok := rep.Parts[vip]
	if !ok || !rep.Sure || rep.Default == nil {
		t.Fatalf("report %+v: want a Sure part for %v and a Default", rep, vip)
	}
	bgpEntry := v1alpha1.Announcer{Node: "node-2", Mode: v1alpha1.AnnouncementModeBGP, Since: then}
	st := v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{
		l2Entry("node-1", "eth0", then), bgpEntry, l2Entry("node-2", "eth0", then)}}
	want := []v1alpha1.Announcer{l2Entry("node-1", "eth0", then), bgpEntry}
	if d := cmp.Diff(want, part(st).Announcers); d != "" {
		t.Errorf("announcers after Close's part (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, rep.Default(vip)(st).Announcers); d != "" {
		t.Errorf("announcers after Close's Default (-want +got):\n%s", d)
	}
}
