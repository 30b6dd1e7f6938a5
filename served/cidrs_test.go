package served

import (
	"net/netip"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// TestUnmapPrefix: an IPv4-mapped CIDR allows the IPv4 addresses it maps, which are what
// ClaimsOf compares (unmapped); it used to become an invalid prefix, which allows nothing.
func TestUnmapPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7/24":         "198.51.100.0/24",
		"::ffff:198.51.100.0/120": "198.51.100.0/24",
		"::ffff:0.0.0.0/96":       "0.0.0.0/0",
		"fd00::1/64":              "fd00::/64",
		"::/0":                    "::/0",
		// Wider than the mapped range: an IPv6 prefix, kept as such.
		"::ffff:0:0/80": "::/80",
	} {
		if got := UnmapPrefix(netip.MustParsePrefix(in)); got != netip.MustParsePrefix(want) {
			t.Errorf("UnmapPrefix(%s) = %s, want %s", in, got, want)
		}
	}
	// ParseCIDRs gives that form itself: the flags' values need nothing more.
	allowed, err := ParseCIDRs([]string{" ::ffff:198.51.100.0/120 ", ""})
	if err != nil {
		t.Fatal(err)
	}
	svc := svcWith("a", "web", "10.96.0.1", ext("198.51.100.1"))
	c := NewClaims()
	c.Set(svc)
	if r := c.CheckAddrs(types.NamespacedName{Namespace: "a", Name: "web"}, allowed); len(r) != 0 {
		t.Errorf("externalIP inside an allowed IPv4-mapped CIDR refused: %v", r)
	}
}
