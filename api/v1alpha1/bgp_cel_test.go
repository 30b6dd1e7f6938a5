package v1alpha1_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

func ptr[T any](v T) *T { return &v }

func bgpPeer(tweaks ...func(*v1alpha1.BGPPeerSpec)) *v1alpha1.BGPPeer {
	p := &v1alpha1.BGPPeer{
		TypeMeta:   metaType("BGPPeer"),
		ObjectMeta: metav1.ObjectMeta{Name: "tor1"},
		Spec:       v1alpha1.BGPPeerSpec{Address: "192.0.2.1", PeerASN: 64512, LocalASN: 64513},
	}
	for _, f := range tweaks {
		f(&p.Spec)
	}
	return p
}

// bgpPeerCases are shared with the integration test; they are within the OpenAPI limits
// unless they say so, so only the CEL rules decide.
var bgpPeerCases = []struct {
	name string
	obj  *v1alpha1.BGPPeer
	want []string
}{
	{name: "minimal", obj: bgpPeer()},
	{name: "everything", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
		s.Address, s.SourceAddress = "2001:db8::1", "2001:db8::10"
		s.PeerASN, s.LocalASN, s.Port = 4200000000, 4200000000, 1179
		s.HoldTimeSeconds, s.KeepaliveTimeSeconds = ptr[int32](9), ptr[int32](3)
		s.PasswordSecret = &v1alpha1.SecretKeyRef{Name: "bgp", Key: "password"}
		s.TTLSecurityHops = ptr[int32](1)
		s.BFD = &v1alpha1.BFDSettings{ReceiveIntervalMilliseconds: 100, TransmitIntervalMilliseconds: 100, DetectMultiplier: 3}
		s.GracefulRestart = &v1alpha1.GracefulRestartSettings{RestartTimeSeconds: 60}
	})},
	{name: "hold time 0 and any keepalive", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
		s.HoldTimeSeconds, s.KeepaliveTimeSeconds = ptr[int32](0), ptr[int32](30)
	})},
	{name: "address not an IP", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.Address = "tor1.example" }),
		want: []string{`spec.address: Invalid value: "tor1.example": spec.address must be an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1 (no zone, no prefix length)`}},
	{name: "address with prefix length", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.Address = "192.0.2.1/32" }),
		want: []string{`spec.address: Invalid value: "192.0.2.1/32": spec.address must be an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1 (no zone, no prefix length)`}},
	{name: "source address not an IP", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.SourceAddress = "eth0" }),
		want: []string{`spec.sourceAddress: Invalid value: "eth0": spec.sourceAddress must be an IPv4 or IPv6 address such as 192.0.2.10`}},
	{name: "source address of the other family", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.SourceAddress = "2001:db8::10" }),
		want: []string{`spec.sourceAddress: Invalid value: spec.sourceAddress must be of the family of spec.address (both IPv4 or both IPv6)`}},
	{name: "AS_TRANS", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.PeerASN, s.LocalASN = 23456, 23456 }),
		want: []string{
			`spec.peerASN: Invalid value: 23456: spec.peerASN 23456 is AS_TRANS (RFC 6793), not a real ASN; give the peer's 4-byte ASN`,
			`spec.localASN: Invalid value: 23456: spec.localASN 23456 is AS_TRANS (RFC 6793), not a real ASN; give a 4-byte ASN`}},
	{name: "hold time 2", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.HoldTimeSeconds = ptr[int32](2) }),
		want: []string{`spec.holdTimeSeconds: Invalid value: 2: spec.holdTimeSeconds must be 0 or 3 to 65535 (RFC 4271)`}},
	{name: "keepalive not below hold time", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
		s.HoldTimeSeconds, s.KeepaliveTimeSeconds = ptr[int32](9), ptr[int32](9)
	}), want: []string{`spec.keepaliveTimeSeconds: Invalid value: spec.keepaliveTimeSeconds must be less than spec.holdTimeSeconds (default 90); RFC 4271 suggests a third of it`}},
	{name: "keepalive not below the default hold time", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) { s.KeepaliveTimeSeconds = ptr[int32](90) }),
		want: []string{`spec.keepaliveTimeSeconds: Invalid value: spec.keepaliveTimeSeconds must be less than spec.holdTimeSeconds (default 90); RFC 4271 suggests a third of it`}},
	{name: "multihop and TTL security", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
		s.EBGPMultiHop, s.TTLSecurityHops = ptr[int32](2), ptr[int32](1)
	}), want: []string{`spec.ttlSecurityHops: Invalid value: spec.ebgpMultiHop and spec.ttlSecurityHops exclude each other: multihop sends with a high TTL, TTL security (RFC 5082) requires the peer's packets to arrive with TTL 255 - hops; set one of them`}},
	{name: "secret name not a subdomain", obj: bgpPeer(func(s *v1alpha1.BGPPeerSpec) {
		s.PasswordSecret = &v1alpha1.SecretKeyRef{Name: "BGP_secret", Key: "password"}
	}), want: []string{`spec.passwordSecret.name: Invalid value: "BGP_secret": spec.passwordSecret.name must be the name of a Secret: a DNS subdomain such as bgp-password`}},
}

func TestBGPPeerCEL(t *testing.T) {
	v := newCELValidator(t, "BGPPeer")
	for _, tt := range bgpPeerCases {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, v.validate(t, tt.obj, nil), sortStringsUnit); d != "" {
				t.Errorf("CEL errors (-want +got):\n%s", d)
			}
		})
	}
}

func bgpAdvertisement(tweaks ...func(*v1alpha1.BGPAdvertisementSpec)) *v1alpha1.BGPAdvertisement {
	a := &v1alpha1.BGPAdvertisement{TypeMeta: metaType("BGPAdvertisement"), ObjectMeta: metav1.ObjectMeta{Name: "adv"}}
	for _, f := range tweaks {
		f(&a.Spec)
	}
	return a
}

const (
	badCommunity      = `: each entry of spec.communities must be a community ASN:VALUE with both halves 0 to 65535 in decimal without leading zeros (65000:100), or no-export, no-advertise, no-export-subconfed or no-peer`
	badLargeCommunity = `: each entry of spec.largeCommunities must be a large community GLOBAL:LOCAL1:LOCAL2, each part 0 to 4294967295 in decimal without leading zeros (65000:1:2)`
	shortV4           = `spec.aggregationLength must be 8 to 32: no IPPool entry is larger than a /8, so a shorter route (0 is a default route) would advertise addresses no pool holds; use the prefix length of the pools advertised, or 32`
	shortV6           = `spec.aggregationLengthV6 must be 32 to 128: no IPPool entry is larger than a /32, so a shorter route (0 is a default route) would advertise addresses no pool holds; use the prefix length of the pools advertised, or 128`
	badPattern        = `: each entry of spec.serviceCommunities must be a community ASN:VALUE (65000:100), ASN:* (65000:*), or no-export, no-advertise, no-export-subconfed or no-peer`
)

var bgpAdvertisementCases = []struct {
	name string
	obj  *v1alpha1.BGPAdvertisement
	want []string
}{
	{name: "empty: every pool to every peer", obj: bgpAdvertisement()},
	{name: "everything", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.IPPools, s.Peers = []string{"blue"}, []string{"tor1", "tor2"}
		s.Communities = []string{"65000:100", "0:0", "65535:65535", "no-export", "no-advertise", "no-export-subconfed", "no-peer"}
		s.LargeCommunities = []string{"4294967295:0:1", "65000:1:2"}
		s.LocalPreference = ptr[int64](4294967295)
		s.AggregationLength, s.AggregationLengthV6 = ptr[int32](24), ptr[int32](64)
		s.ServiceCommunities = []string{"65000:*", "65001:7", "no-export"}
	})},
	{name: "bad communities", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.Communities = []string{"65000:100", "65536:1", "1:065", "65000", "NO-EXPORT", "65000:*"}
	}), want: []string{
		`spec.communities[1]: Invalid value: "65536:1"` + badCommunity,
		`spec.communities[2]: Invalid value: "1:065"` + badCommunity,
		`spec.communities[3]: Invalid value: "65000"` + badCommunity,
		`spec.communities[4]: Invalid value: "NO-EXPORT"` + badCommunity,
		`spec.communities[5]: Invalid value: "65000:*"` + badCommunity}},
	{name: "bad large communities", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.LargeCommunities = []string{"1:2:3", "4294967296:0:0", "1:2", "1:2:3:4", "01:2:3"}
	}), want: []string{
		`spec.largeCommunities[1]: Invalid value: "4294967296:0:0"` + badLargeCommunity,
		`spec.largeCommunities[2]: Invalid value: "1:2"` + badLargeCommunity,
		`spec.largeCommunities[3]: Invalid value: "1:2:3:4"` + badLargeCommunity,
		`spec.largeCommunities[4]: Invalid value: "01:2:3"` + badLargeCommunity}},
	{name: "bad service community patterns", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.ServiceCommunities = []string{"*:1", "65000:**", "65000:1"}
	}), want: []string{
		`spec.serviceCommunities[0]: Invalid value: "*:1"` + badPattern,
		`spec.serviceCommunities[1]: Invalid value: "65000:**"` + badPattern}},
	// Issue 17: no route shorter than the largest pool entry; 0 would be a default route.
	{name: "shortest aggregation", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.AggregationLength, s.AggregationLengthV6 = ptr[int32](8), ptr[int32](32)
	})},
	{name: "aggregation to a default route", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.AggregationLength, s.AggregationLengthV6 = ptr[int32](0), ptr[int32](0)
	}), want: []string{
		`spec.aggregationLength: Invalid value: 0: ` + shortV4,
		`spec.aggregationLengthV6: Invalid value: 0: ` + shortV6}},
	{name: "aggregation shorter than any pool", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) {
		s.AggregationLength, s.AggregationLengthV6 = ptr[int32](7), ptr[int32](31)
	}), want: []string{
		`spec.aggregationLength: Invalid value: 7: ` + shortV4,
		`spec.aggregationLengthV6: Invalid value: 31: ` + shortV6}},
	{name: "peer name not a subdomain", obj: bgpAdvertisement(func(s *v1alpha1.BGPAdvertisementSpec) { s.Peers = []string{"Tor_1"} }),
		want: []string{`spec.peers[0]: Invalid value: "Tor_1": each entry of spec.peers must be the name of a BGPPeer: a DNS subdomain such as tor1`}},
}

func TestBGPAdvertisementCEL(t *testing.T) {
	v := newCELValidator(t, "BGPAdvertisement")
	for _, tt := range bgpAdvertisementCases {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, v.validate(t, tt.obj, nil), sortStringsUnit); d != "" {
				t.Errorf("CEL errors (-want +got):\n%s", d)
			}
		})
	}
}

// TestCommunityParsersMatchCEL checks that ParseCommunity, ParseLargeCommunity and
// ParseCommunityPattern accept exactly what the CRD accepts, on random strings near the edges.
func TestCommunityParsersMatchCEL(t *testing.T) {
	v := newCELValidator(t, "BGPAdvertisement")
	rng := rand.New(rand.NewPCG(6, 6))
	parts := []string{"0", "00", "1", "01", "65535", "65536", "4294967295", "4294967296", "99999999999", "*", "", "-1", "no-export", "x"}
	for range 400 {
		n := 1 + rng.IntN(3)
		s := parts[rng.IntN(len(parts))]
		for range n - 1 {
			s += ":" + parts[rng.IntN(len(parts))]
		}
		if len(s) > 19 {
			continue // over the communities' maxLength: OpenAPI, not CEL, refuses it
		}
		check := func(field string, celOK bool, err error) {
			if celOK != (err == nil) {
				t.Errorf("%s %q: CRD accepts %v, Go parser error %v", field, s, celOK, err)
			}
		}
		_, err := v1alpha1.ParseCommunity(s)
		check("communities", len(v.validate(t, bgpAdvertisement(func(a *v1alpha1.BGPAdvertisementSpec) { a.Communities = []string{s} }), nil)) == 0, err)
		_, err = v1alpha1.ParseLargeCommunity(s)
		check("largeCommunities", len(v.validate(t, bgpAdvertisement(func(a *v1alpha1.BGPAdvertisementSpec) { a.LargeCommunities = []string{s} }), nil)) == 0, err)
		_, err = v1alpha1.ParseCommunityPattern(s)
		check("serviceCommunities", len(v.validate(t, bgpAdvertisement(func(a *v1alpha1.BGPAdvertisementSpec) { a.ServiceCommunities = []string{s} }), nil)) == 0, err)
	}
}

func TestCommunityValues(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"65000:100", "65000:100"}, {"no-export", "65535:65281"}, {"no-peer", "65535:65284"}, {"0:0", "0:0"},
	} {
		c, err := v1alpha1.ParseCommunity(tt.in)
		if err != nil || c.String() != tt.want {
			t.Errorf("ParseCommunity(%q) = %v, %v; want %s", tt.in, c, err, tt.want)
		}
	}
	lc, err := v1alpha1.ParseLargeCommunity("4294967295:1:2")
	if d := cmp.Diff(v1alpha1.LargeCommunity{Global: 4294967295, Local1: 1, Local2: 2}, lc); d != "" || err != nil {
		t.Errorf("ParseLargeCommunity: %v (-want +got):\n%s", err, d)
	}
	p, err := v1alpha1.ParseCommunityPattern("65000:*")
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range map[string]bool{"65000:0": true, "65000:65535": true, "65001:0": false, "no-export": false} {
		cv, _ := v1alpha1.ParseCommunity(c)
		if p.Matches(cv) != want {
			t.Errorf("65000:* matches %s = %v, want %v", c, !want, want)
		}
	}
	if _, err := v1alpha1.ParseCommunity("65000"); err == nil || !errors.Is(err, v1alpha1.ErrCommunity) {
		t.Errorf("ParseCommunity(65000) = %v; want ErrCommunity", err)
	}
}

// sortStringsUnit compares error lists in any order.
var sortStringsUnit = cmp.Transformer("sortUnit", func(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
})
