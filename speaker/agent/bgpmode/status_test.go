package bgpmode

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
)

func TestNextBGPStatus(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC))
	earlier := metav1.NewTime(now.Add(-time.Hour))
	l2 := v1alpha1.Announcer{Node: "n2", Mode: v1alpha1.AnnouncementModeL2, Interface: "eth0", Since: earlier}
	bgpN3 := v1alpha1.Announcer{Node: "n3", Mode: v1alpha1.AnnouncementModeBGP, Since: earlier}
	own := v1alpha1.Announcer{Node: "n1", Mode: v1alpha1.AnnouncementModeBGP, Since: now}
	announced := func(msg string) []metav1.Condition {
		return []metav1.Condition{{Type: v1alpha1.IPAllocationConditionAnnounced, Status: metav1.ConditionTrue,
			Reason: v1alpha1.IPAllocationReasonAnnouncing, Message: msg, LastTransitionTime: now}}
	}
	for _, tt := range []struct {
		name        string
		old         v1alpha1.IPAllocationStatus
		advertising bool
		want        v1alpha1.IPAllocationStatus
		changed     bool
	}{
		{name: "first announcer", advertising: true, changed: true,
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{own}, Conditions: announced("198.51.100.7 is announced from n1 (BGP)")}},
		{name: "joins L2 and another BGP node, sorted", advertising: true, changed: true,
			old: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2, bgpN3}},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{own, l2, bgpN3},
				Conditions: announced("198.51.100.7 is announced from n1 (BGP), n2 (L2, eth0), n3 (BGP)")}},
		{name: "already there", advertising: true,
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{own}},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{own}}},
		{name: "leaves, others stay", changed: true,
			old:  v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{own, bgpN3}},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{bgpN3}, Conditions: announced("198.51.100.7 is announced from n3 (BGP)")}},
		{name: "last one leaves", changed: true,
			old: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{own}},
			want: v1alpha1.IPAllocationStatus{Conditions: []metav1.Condition{{Type: v1alpha1.IPAllocationConditionAnnounced,
				Status: metav1.ConditionFalse, Reason: v1alpha1.IPAllocationReasonNoEligibleNode, LastTransitionTime: now,
				Message: "no node announces 198.51.100.7 now; the last one, n1, stopped advertising it over BGP: NoLocalEndpoint"}}}},
		{name: "not advertising, no entry: nothing to write", old: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2}},
			want: v1alpha1.IPAllocationStatus{Announcers: []v1alpha1.Announcer{l2}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := nextBGPStatus(tt.old, "n1", tt.advertising, "198.51.100.7", "NoLocalEndpoint", now)
			if d := cmp.Diff(tt.want, got); d != "" || changed != tt.changed {
				t.Errorf("changed %v, want %v; status (-want +got):\n%s", changed, tt.changed, d)
			}
		})
	}
}

func TestPeerConfigFrom(t *testing.T) {
	hold, ka, hops, maxPfx, restart := int32(9), int32(3), int32(2), int32(5000), int32(600)
	p := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor1"}, Spec: v1alpha1.BGPPeerSpec{
		Address: "192.0.2.1", PeerASN: 4200000000, LocalASN: 64513, Port: 179, SourceAddress: "192.0.2.10",
		HoldTimeSeconds: &hold, KeepaliveTimeSeconds: &ka, EBGPMultiHop: &hops, MaxPrefixes: &maxPfx,
		MaxPrefixRestartSeconds: &restart,
		PasswordSecret:          &v1alpha1.SecretKeyRef{Name: "pw", Key: "password"},
		BFD:                     &v1alpha1.BFDSettings{ReceiveIntervalMilliseconds: 300, TransmitIntervalMilliseconds: 200, DetectMultiplier: 3},
		GracefulRestart:         &v1alpha1.GracefulRestartSettings{RestartTimeSeconds: 120},
	}}
	secrets := func(name string) (*corev1.Secret, error) {
		if name != "pw" {
			return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name) // as the lister says
		}
		return &corev1.Secret{Data: map[string][]byte{"password": []byte("s3cret")}}, nil
	}
	got, err := peerConfigFrom(p, secrets, "frontdesk")
	if err != nil {
		t.Fatal(err)
	}
	want := bgp.PeerConfig{Name: "tor1", Address: mustAddr("192.0.2.1"), ASN: 4200000000, LocalASN: 64513, Port: 179,
		SourceAddress: mustAddr("192.0.2.10"), HoldTime: 9 * time.Second, Keepalive: 3 * time.Second, EBGPMultiHop: 2,
		Password: "s3cret", GracefulRestart: 120 * time.Second, MaxPrefixes: 5000, MaxPrefixRestart: 10 * time.Minute,
		BFD: &bgp.BFDConfig{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 200 * time.Millisecond, DetectMultiplier: 3}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}

	for _, tt := range []struct {
		name string
		ref  v1alpha1.SecretKeyRef
		want string
	}{
		{"no Secret", v1alpha1.SecretKeyRef{Name: "nope"}, "password Secret frontdesk/nope not found among the Secrets labelled frontdesk.dev/bgp-password=true (the speakers read no others)"},
		{"no key", v1alpha1.SecretKeyRef{Name: "pw", Key: "other"}, `password Secret frontdesk/pw has no key "other"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := p.DeepCopy()
			q.Spec.PasswordSecret = &tt.ref
			if _, err := peerConfigFrom(q, secrets, "frontdesk"); err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestSessionApply(t *testing.T) {
	since := time.Date(2026, 11, 26, 16, 0, 0, 500, time.UTC)
	e := sessionEntry("n1", bgp.SessionState{Peer: "tor1", State: bgp.StateActive, Since: since, Message: "connection refused"}, "")
	b, err := sessionApply("tor1", &e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"frontdesk.dev/v1alpha1","kind":"BGPPeer","metadata":{"name":"tor1"},"status":{"sessions":[{"node":"n1","state":"Active","since":"2026-11-26T16:00:00Z","message":"connection refused"}]}}`
	if string(b) != want {
		t.Errorf("apply body\n%s\nwant\n%s", b, want)
	}
	b, _ = sessionApply("tor1", nil)
	if want := `{"apiVersion":"frontdesk.dev/v1alpha1","kind":"BGPPeer","metadata":{"name":"tor1"},"status":{"sessions":[]}}`; string(b) != want {
		t.Errorf("removal body\n%s\nwant\n%s", b, want)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
