package v1alpha1_test

import (
	"errors"
	"testing"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// FuzzCommunityParsers feeds any text to the three community parsers (what a BGPAdvertisement
// stored before the CRD's rules, or a Service's frontdesk.dev/bgp-communities annotation, may
// hold) and checks: no panic; every error wraps ErrCommunity; an accepted value prints in a
// form that parses back to it; a pattern matches the community it was read from; and, for
// text within the fields' maxLength, the CRD's CEL rules accept exactly what the parsers accept.
func FuzzCommunityParsers(f *testing.F) {
	for _, s := range []string{"65000:100", "0:0", "65535:65535", "no-export", "no-peer", "65536:1", "01:2",
		"4294967295:0:1", "1:2:3:4", "65000:*", "*:1", "65000:**", ":", "", "1:-1", "１:2"} {
		f.Add(s)
	}
	v := newCELValidator(f, "BGPAdvertisement")
	f.Fuzz(func(t *testing.T, s string) {
		c, errC := v1alpha1.ParseCommunity(s)
		if errC == nil {
			if back, err := v1alpha1.ParseCommunity(c.String()); err != nil || back != c {
				t.Errorf("community %q prints as %q, which parses to %v, %v", s, c.String(), back, err)
			}
		}
		lc, errL := v1alpha1.ParseLargeCommunity(s)
		if errL == nil {
			if back, err := v1alpha1.ParseLargeCommunity(lc.String()); err != nil || back != lc {
				t.Errorf("large community %q prints as %q, which parses to %v, %v", s, lc.String(), back, err)
			}
		}
		p, errP := v1alpha1.ParseCommunityPattern(s)
		switch {
		case errP == nil && !p.AnyValue && (errC != nil || p.Community != c):
			t.Errorf("pattern %q is community %v, but ParseCommunity gives %v, %v", s, p.Community, c, errC)
		case errP == nil && !p.Matches(p.Community):
			t.Errorf("pattern %q does not match its own community %v", s, p.Community)
		case errC == nil && errP != nil:
			t.Errorf("community %q is not a pattern: %v", s, errP)
		}
		if errP == nil {
			if back, err := v1alpha1.ParseCommunityPattern(p.String()); err != nil || back != p {
				t.Errorf("pattern %q prints as %q, which parses to %v, %v", s, p.String(), back, err)
			}
		}
		for _, err := range []error{errC, errL, errP} {
			if err != nil && !errors.Is(err, v1alpha1.ErrCommunity) {
				t.Errorf("%q: error %v does not wrap ErrCommunity", s, err)
			}
		}
		if s == "" || len(s) > 19 {
			return // refused by OpenAPI (items' maxLength) before CEL runs
		}
		cel := func(tweak func(*v1alpha1.BGPAdvertisementSpec)) bool {
			return len(v.validate(t, bgpAdvertisement(tweak), nil)) == 0
		}
		if ok := cel(func(a *v1alpha1.BGPAdvertisementSpec) { a.Communities = []string{s} }); ok != (errC == nil) {
			t.Errorf("communities %q: CRD accepts %v, ParseCommunity error %v", s, ok, errC)
		}
		if ok := cel(func(a *v1alpha1.BGPAdvertisementSpec) { a.LargeCommunities = []string{s} }); ok != (errL == nil) {
			t.Errorf("largeCommunities %q: CRD accepts %v, ParseLargeCommunity error %v", s, ok, errL)
		}
		if ok := cel(func(a *v1alpha1.BGPAdvertisementSpec) { a.ServiceCommunities = []string{s} }); ok != (errP == nil) {
			t.Errorf("serviceCommunities %q: CRD accepts %v, ParseCommunityPattern error %v", s, ok, errP)
		}
	})
}
