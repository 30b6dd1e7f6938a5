package v1alpha1

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The well-known communities of RFC 1997 and RFC 3765, by the names the CRDs accept.
var wellKnownCommunities = map[string]uint32{
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
	"no-peer":             0xFFFFFF04,
}

// ErrCommunity is wrapped by every error of ParseCommunity, ParseLargeCommunity and
// ParseCommunityPattern.
var ErrCommunity = errors.New("invalid BGP community")

// Community is a BGP community (RFC 1997): the high 16 bits are usually an ASN.
type Community uint32

// String is the ASN:VALUE form, as ParseCommunity reads it (well-known communities too).
func (c Community) String() string {
	return strconv.FormatUint(uint64(c>>16), 10) + ":" + strconv.FormatUint(uint64(c&0xFFFF), 10)
}

// LargeCommunity is a BGP large community (RFC 8092).
//
// +kubebuilder:object:generate=false
type LargeCommunity struct{ Global, Local1, Local2 uint32 }

// String is the GLOBAL:LOCAL1:LOCAL2 form.
func (c LargeCommunity) String() string {
	return fmt.Sprintf("%d:%d:%d", c.Global, c.Local1, c.Local2)
}

// ParseCommunity reads a community as the CRDs accept it: ASN:VALUE with both halves 0 to
// 65535 in decimal without leading zeros, or a well-known name (no-export, no-advertise,
// no-export-subconfed, no-peer). It refuses what the CRD refuses, so that objects stored
// before a rule existed and Service annotations get the same check.
func ParseCommunity(s string) (Community, error) {
	if v, ok := wellKnownCommunities[s]; ok {
		return Community(v), nil
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("%w %q: want ASN:VALUE with both halves 0 to 65535 (65000:100), or no-export, no-advertise, no-export-subconfed or no-peer", ErrCommunity, s)
	}
	a, errA := parseDecimal(hi, 0xFFFF)
	b, errB := parseDecimal(lo, 0xFFFF)
	if errA != nil || errB != nil {
		return 0, fmt.Errorf("%w %q: each half must be 0 to 65535 in decimal without leading zeros (65000:100)", ErrCommunity, s)
	}
	return Community(a<<16 | b), nil
}

// ParseLargeCommunity reads GLOBAL:LOCAL1:LOCAL2, each part 0 to 4294967295 in decimal
// without leading zeros.
func ParseLargeCommunity(s string) (LargeCommunity, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return LargeCommunity{}, fmt.Errorf("%w %q: a large community has three parts, GLOBAL:LOCAL1:LOCAL2 (65000:1:2)", ErrCommunity, s)
	}
	var v [3]uint32
	for i, p := range parts {
		n, err := parseDecimal(p, 0xFFFFFFFF)
		if err != nil {
			return LargeCommunity{}, fmt.Errorf("%w %q: each part must be 0 to 4294967295 in decimal without leading zeros (65000:1:2)", ErrCommunity, s)
		}
		v[i] = n
	}
	return LargeCommunity{v[0], v[1], v[2]}, nil
}

// parseDecimal reads 0 to max in decimal, without sign or leading zeros.
func parseDecimal(s string, max uint32) (uint32, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > uint64(max) {
		return 0, strconv.ErrRange
	}
	return uint32(n), nil
}

// CommunityPattern is an entry of BGPAdvertisementSpec.ServiceCommunities: one community, or
// every community whose high half is ASN (ASN:*).
//
// +kubebuilder:object:generate=false
type CommunityPattern struct {
	Community Community
	// AnyValue: the pattern is ASN:*, and Community's low half is 0.
	AnyValue bool
}

// Matches says whether c is allowed by the pattern.
func (p CommunityPattern) Matches(c Community) bool {
	if p.AnyValue {
		return c>>16 == p.Community>>16
	}
	return c == p.Community
}

// String is the pattern as ParseCommunityPattern reads it: ASN:* or the community's ASN:VALUE.
func (p CommunityPattern) String() string {
	if p.AnyValue {
		return strconv.FormatUint(uint64(p.Community>>16), 10) + ":*"
	}
	return p.Community.String()
}

// ParseCommunityPattern reads a community or ASN:*.
func ParseCommunityPattern(s string) (CommunityPattern, error) {
	if hi, ok := strings.CutSuffix(s, ":*"); ok {
		a, err := parseDecimal(hi, 0xFFFF)
		if err != nil {
			return CommunityPattern{}, fmt.Errorf("%w pattern %q: want ASN:* with ASN 0 to 65535 (65000:*), or a community", ErrCommunity, s)
		}
		return CommunityPattern{Community: Community(a << 16), AnyValue: true}, nil
	}
	c, err := ParseCommunity(s)
	if err != nil {
		return CommunityPattern{}, err
	}
	return CommunityPattern{Community: c}, nil
}

// SelectsPool says whether the advertisement selects pool, as L2AdvertisementSpec.SelectsPool.
func (s *BGPAdvertisementSpec) SelectsPool(pool string, poolLabels map[string]string) (bool, error) {
	if len(s.IPPools) == 0 && len(s.IPPoolSelectors) == 0 {
		return true, nil
	}
	if slices.Contains(s.IPPools, pool) {
		return true, nil
	}
	return anySelectorMatches("spec.ipPoolSelectors", s.IPPoolSelectors, poolLabels)
}

// SelectsNode says whether a node with these labels advertises for the advertisement.
func (s *BGPAdvertisementSpec) SelectsNode(nodeLabels map[string]string) (bool, error) {
	if len(s.NodeSelectors) == 0 {
		return true, nil
	}
	return anySelectorMatches("spec.nodeSelectors", s.NodeSelectors, nodeLabels)
}

// SelectsPeer says whether the advertisement goes to the BGPPeer named peer.
func (s *BGPAdvertisementSpec) SelectsPeer(peer string) bool {
	return len(s.Peers) == 0 || slices.Contains(s.Peers, peer)
}

// SelectsNode says whether a node with these labels peers with the router.
func (s *BGPPeerSpec) SelectsNode(nodeLabels map[string]string) (bool, error) {
	if len(s.NodeSelectors) == 0 {
		return true, nil
	}
	return anySelectorMatches("spec.nodeSelectors", s.NodeSelectors, nodeLabels)
}
