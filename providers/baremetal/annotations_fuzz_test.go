package baremetal

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// FuzzReadWishes feeds any annotation values (frontdesk's and MetalLB's spellings) and
// spec.loadBalancerIP to readWishes, the parser of what a tenant writes on a Service, and
// checks: no panic; an error is an *AnnotationError with a message; what is accepted obeys the
// rules the rest of the provider relies on (at most one address per family, none unusable, a
// pool name and a sharing key of the allowed shapes); and the accepted wishes, written back as
// annotations, read back the same.
func FuzzReadWishes(f *testing.F) {
	for _, s := range [][5]string{
		{"198.51.100.7", "", "blue", "dns", ""},
		{"198.51.100.7, 2001:db8::7", "198.51.100.7", "", "", ""},
		{"", "", "", "key with spaces", ""},
		{"::ffff:198.51.100.7", "", "", "", "198.51.100.7"},
		{"127.0.0.1", "", "", "", ""},
		{"", "fe80::1%eth0", "Blue", "", ""},
		{"198.51.100.7,198.51.100.8", "", "", "", "2001:db8::1"},
		{"", "", "a..b", "-k-", "198.51.100.9"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, ips, lbIP, pool, key, metallbIPs string) {
		ann := []string{AnnotationLoadBalancerIPs, ips, AnnotationIPPool, pool, AnnotationAllowSharedIP, key}
		if metallbIPs != "" {
			ann = append(ann, "metallb.io/loadBalancerIPs", metallbIPs)
		}
		svc := newService("fuzz", objects.WithAnnotations(ann...))
		svc.Spec.LoadBalancerIP = lbIP
		w, err := readWishes(svc)
		if err != nil {
			var ae *AnnotationError
			if !errors.As(err, &ae) || ae.Name == "" || err.Error() == "" {
				t.Fatalf("error %v (%T) is not an *AnnotationError naming the field", err, err)
			}
			return
		}
		var fams [2]int
		for _, a := range w.addrs {
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
				t.Errorf("accepted the unusable address %v", a)
			}
			if a.Is4() {
				fams[0]++
			} else {
				fams[1]++
			}
		}
		if fams[0] > 1 || fams[1] > 1 {
			t.Errorf("accepted %v: more than one address of a family", w.addrs)
		}
		if w.pool != "" && !poolNameRE.MatchString(w.pool) {
			t.Errorf("accepted the pool name %q", w.pool)
		}
		if w.sharingKey != "" && !sharingKeyRE.MatchString(w.sharingKey) {
			t.Errorf("accepted the sharing key %q", w.sharingKey)
		}
		// Round trip: the wishes written back in canonical form read back the same.
		text := make([]string, len(w.addrs))
		for i, a := range w.addrs {
			text[i] = a.String()
		}
		again, err := readWishes(newService("again", objects.WithAnnotations(AnnotationLoadBalancerIPs, strings.Join(text, ","),
			AnnotationIPPool, w.pool, AnnotationAllowSharedIP, w.sharingKey)))
		if err != nil || !slices.Equal(again.addrs, w.addrs) || again.pool != w.pool || again.sharingKey != w.sharingKey {
			t.Errorf("wishes %+v written back read as %+v, %v", w, again, err)
		}
	})
}
