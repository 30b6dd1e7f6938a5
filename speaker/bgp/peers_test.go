package bgp

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	api "github.com/osrg/gobgp/v4/api"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

func TestAPIPeer(t *testing.T) {
	got := apiPeer(PeerConfig{
		Name: "tor1", Address: netip.MustParseAddr("2001:db8::1"), ASN: 64512, LocalASN: 64513, Port: 1179,
		SourceAddress: netip.MustParseAddr("2001:db8::10"), HoldTime: 9 * time.Second, Keepalive: 3 * time.Second,
		Password: "pw", TTLSecurityHops: 1, GracefulRestart: 90 * time.Second, MaxPrefixes: 5000,
		BFD: &BFDConfig{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 200 * time.Millisecond, DetectMultiplier: 3},
	})
	want := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "2001:db8::1", PeerAsn: 64512, LocalAsn: 64513, AuthPassword: "pw", Description: "tor1"},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 5, IdleHoldTimeAfterReset: 5, HoldTime: 9, KeepaliveInterval: 3}},
		Transport: &api.Transport{RemotePort: 1179, LocalAddress: "2001:db8::10"},
		AfiSafis: []*api.AfiSafi{{
			Config:            &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true},
			PrefixLimits:      &api.PrefixLimit{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, MaxPrefixes: 5000},
			MpGracefulRestart: &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}},
		}},
		TtlSecurity:     &api.TtlSecurity{Enabled: true, TtlMin: 254},
		Bfd:             &api.BfdPeerConfig{Enabled: true, DesiredMinimumTxInterval: 200000, RequiredMinimumReceive: 300000, DetectionMultiplier: 3},
		GracefulRestart: &api.GracefulRestart{Enabled: true, RestartTime: 90},
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// A peer without MaxPrefixes still gets a limit: the speaker imports nothing, so a peer has
// no business sending more than a few routes (issue 17).
func TestAPIPeerDefaultPrefixLimit(t *testing.T) {
	got := apiPeer(PeerConfig{Name: "r", Address: netip.MustParseAddr("192.0.2.1"), ASN: 1, LocalASN: 2}).GetAfiSafis()[0].GetPrefixLimits()
	want := &api.PrefixLimit{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, MaxPrefixes: DefaultMaxPrefixes}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("prefix limit (-want +got):\n%s", d)
	}
}

// A new MaxPrefixRestart alone keeps the session (it is the speaker's timer, not GoBGP's); any
// other change makes a new one. The peer's own value wins over the speaker's default.
func TestMaxPrefixRestartPerPeer(t *testing.T) {
	a := PeerConfig{Name: "r", Address: netip.MustParseAddr("192.0.2.1"), ASN: 1, LocalASN: 2, MaxPrefixes: 10}
	b := a
	b.MaxPrefixRestart = time.Minute
	if !sameSession(a, b) {
		t.Error("a new MaxPrefixRestart alone makes a new session")
	}
	c := b
	c.MaxPrefixes = 11
	if sameSession(b, c) {
		t.Error("a new MaxPrefixes keeps the session (GoBGP's prefix limit is set when the peer is added)")
	}
	if got := a.maxPrefixRestart(DefaultMaxPrefixRestart); got != DefaultMaxPrefixRestart {
		t.Errorf("unset: %v; want the speaker's %v", got, DefaultMaxPrefixRestart)
	}
	if got := b.maxPrefixRestart(DefaultMaxPrefixRestart); got != time.Minute {
		t.Errorf("set: %v; want the peer's 1m0s", got)
	}
}

func TestPeerValidate(t *testing.T) {
	ok := PeerConfig{Name: "r", Address: netip.MustParseAddr("192.0.2.1"), ASN: 1, LocalASN: 2}
	for _, tt := range []struct {
		name   string
		tweak  func(*PeerConfig)
		listen bool
		want   string
	}{
		{"valid", func(*PeerConfig) {}, false, ""},
		{"no name", func(p *PeerConfig) { p.Name = "" }, false, "bgp: invalid peer: the name is empty"},
		{"no ASN", func(p *PeerConfig) { p.ASN = 0 }, false, "bgp: invalid peer r: ASN 0, local ASN 2; both must be 1 to 4294967295"},
		{"source of the other family", func(p *PeerConfig) { p.SourceAddress = netip.MustParseAddr("::1") }, false,
			"bgp: invalid peer r: source address ::1 is not of the family of 192.0.2.1"},
		{"multihop and GTSM", func(p *PeerConfig) { p.EBGPMultiHop, p.TTLSecurityHops = 2, 1 }, false,
			"bgp: invalid peer r: eBGP multihop and TTL security exclude each other; set one"},
		{"passive without listening", func(p *PeerConfig) { p.Passive = true }, false,
			"bgp: invalid peer r: passive, but the speaker does not listen (Config.Listen)"},
		{"passive, listening", func(p *PeerConfig) { p.Passive = true }, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.tweak(&p)
			err := p.validate(tt.listen)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrPeer) {
				t.Errorf("error %v\nwant %s (and ErrPeer)", err, tt.want)
			}
		})
	}
}

// TestPolicyGroups checks that routes with equal attributes share one statement and that
// attributes become the statement's actions.
func TestPolicyGroups(t *testing.T) {
	lp := uint32(200)
	c := v1alpha1.Community(65000<<16 | 1)
	a := routes.Route{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Communities: []v1alpha1.Community{c}, LocalPref: &lp}
	b := routes.Route{Prefix: netip.MustParsePrefix("198.51.100.8/32"), Communities: []v1alpha1.Community{c}, LocalPref: &lp}
	v6 := routes.Route{Prefix: netip.MustParsePrefix("2001:db8::7/128"), Communities: []v1alpha1.Community{c}, LocalPref: &lp}
	plain := routes.Route{Prefix: netip.MustParsePrefix("198.51.100.9/32")}
	if attrKey(a) != attrKey(b) || attrKey(a) == attrKey(v6) || attrKey(a) == attrKey(plain) {
		t.Errorf("keys: a %q b %q v6 %q plain %q", attrKey(a), attrKey(b), attrKey(v6), attrKey(plain))
	}
	want := &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT,
		Community: &api.CommunityAction{Type: api.CommunityAction_TYPE_ADD, Communities: []string{"65000:1"}},
		LocalPref: &api.LocalPrefAction{Value: 200}}
	if d := cmp.Diff(want, actions(a), protocmp.Transform()); d != "" {
		t.Errorf("actions (-want +got):\n%s", d)
	}
}
