package routes

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// FuzzParseAsked feeds any frontdesk.dev/bgp-communities annotation to parseAsked and checks:
// no panic; every non-blank comma-separated field lands in exactly one of ok or bad, in order;
// each accepted entry is the text it was read from and parses to its community; each refused one
// names the Service and says why.
func FuzzParseAsked(f *testing.F) {
	for _, s := range []string{"65000:7,no-export", " 65000:7 , ,65536:1", "", ",,,", "no-export,NO-EXPORT", "1:2:3", "65000:*"} {
		f.Add(s)
	}
	svc := types.NamespacedName{Namespace: "default", Name: "web"}
	f.Fuzz(func(t *testing.T, v string) {
		a := parseAsked(svc, v)
		if len(a.ok) != len(a.text) {
			t.Fatalf("%d communities but %d texts", len(a.ok), len(a.text))
		}
		var fields []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				fields = append(fields, s)
			}
		}
		if len(a.ok)+len(a.bad) != len(fields) {
			t.Fatalf("%q: %d fields, %d accepted and %d refused", v, len(fields), len(a.ok), len(a.bad))
		}
		ok, bad := 0, 0
		for _, s := range fields {
			c, err := v1alpha1.ParseCommunity(s)
			if err == nil {
				if a.text[ok] != s || a.ok[ok] != c {
					t.Errorf("field %q: accepted as %q, %v", s, a.text[ok], a.ok[ok])
				}
				ok++
				continue
			}
			r := a.bad[bad]
			if r.Community != s || r.Service != svc || r.Why == "" {
				t.Errorf("field %q: refused as %+v", s, r)
			}
			bad++
		}
	})
}

// FuzzRuleFromAdvertisement feeds BGPAdvertisements with any communities, patterns, selector
// labels and lengths, as an object stored before the CRD's rules may hold them, and checks: no
// panic; an error names the field; an accepted rule carries every community and pattern of the
// spec, each (community, large community, service-community pattern) printing back to a value
// that parses to it, and lengths within the family's bits.
func FuzzRuleFromAdvertisement(f *testing.F) {
	f.Add("65000:1", "65000:1:2", "65000:*", "rack", "a", int32(24), int32(64), int64(100))
	f.Add("no-export", "1:2", "*:1", "bad key!", "", int32(-1), int32(129), int64(-5))
	f.Add("0:0", "0:0:0", "0:*", "k", "v", int32(32), int32(128), int64(0))
	f.Add("65535:65535", "4294967295:0:1", "no-export", "k", "v", int32(8), int32(32), int64(4294967295))
	f.Add("65536:0", "4294967296:0:0", "65000:**", "", "v", int32(0), int32(0), int64(4294967296))
	f.Fuzz(func(t *testing.T, comm, large, pattern, labelKey, labelValue string, agg, agg6 int32, lp int64) {
		a := &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv"}, Spec: v1alpha1.BGPAdvertisementSpec{
			Communities: []string{comm}, LargeCommunities: []string{large}, ServiceCommunities: []string{pattern},
			IPPoolSelectors:   []metav1.LabelSelector{{MatchLabels: map[string]string{labelKey: labelValue}}},
			AggregationLength: &agg, AggregationLengthV6: &agg6, LocalPreference: &lp,
		}}
		r, err := RuleFromAdvertisement(a)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "spec.") {
				t.Errorf("error %q names no field", err)
			}
			return
		}
		if len(r.Communities) != 1 || len(r.LargeCommunities) != 1 || len(r.ServiceCommunities) != 1 || len(r.PoolSelectors) != 1 {
			t.Fatalf("rule %+v lost part of the spec", r)
		}
		if c, err := v1alpha1.ParseCommunity(r.Communities[0].String()); err != nil || c != r.Communities[0] {
			t.Errorf("community %q read as %v, which does not print back", comm, r.Communities[0])
		}
		if c, err := v1alpha1.ParseLargeCommunity(r.LargeCommunities[0].String()); err != nil || c != r.LargeCommunities[0] {
			t.Errorf("large community %q read as %v, which does not print back", large, r.LargeCommunities[0])
		}
		if p, err := v1alpha1.ParseCommunityPattern(r.ServiceCommunities[0].String()); err != nil || p != r.ServiceCommunities[0] {
			t.Errorf("service community pattern %q read as %+v, which prints as %q and parses to %+v, %v",
				pattern, r.ServiceCommunities[0], r.ServiceCommunities[0].String(), p, err)
		}
		if r.AggregationLength < v1alpha1.MinPrefixLengthIPv4 || r.AggregationLength > 32 ||
			r.AggregationLengthV6 < v1alpha1.MinPrefixLengthIPv6 || r.AggregationLengthV6 > 128 {
			t.Errorf("lengths %d, %d out of range", r.AggregationLength, r.AggregationLengthV6)
		}
		if r.LocalPref == nil || int64(*r.LocalPref) != lp {
			t.Errorf("local preference %d read as %v", lp, r.LocalPref)
		}
	})
}

// FuzzPeerFromBGPPeer feeds node selectors with any keys, values and operators and checks: no
// panic; an error names spec.nodeSelectors; an accepted selector matches the labels it asks for
// when it is a plain equality.
func FuzzPeerFromBGPPeer(f *testing.F) {
	f.Add("rack", "a", "In")
	f.Add("bad key!", "", "Exists")
	f.Add("k", "v", "Bogus")
	f.Fuzz(func(t *testing.T, key, value, op string) {
		p := &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor1"}, Spec: v1alpha1.BGPPeerSpec{
			NodeSelectors: []metav1.LabelSelector{
				{MatchLabels: map[string]string{key: value}},
				{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: metav1.LabelSelectorOperator(op), Values: []string{value}}}},
			}}}
		peer, err := PeerFromBGPPeer(p)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "spec.nodeSelectors") {
				t.Errorf("error %q names no field", err)
			}
			return
		}
		if peer.Name != "tor1" || len(peer.NodeSelectors) != 2 {
			t.Fatalf("peer %+v", peer)
		}
		if !peer.NodeSelectors[0].Matches(labels.Set{key: value}) {
			t.Errorf("selector %v does not match %s=%s", peer.NodeSelectors[0], key, value)
		}
	})
}
