package v1alpha1_test

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// IP plan: documentation ranges only. IPv4 198.51.100.0/24 and 203.0.113.0/24, IPv6
// 2001:db8::/32 (RFC 5737, RFC 3849).

// The messages, as the API server writes them.
const (
	accepted = "want a CIDR such as 198.51.100.0/24 or 2001:db8::/64, or an inclusive range FIRST-LAST " +
		"such as 198.51.100.10-198.51.100.20 (one address is 198.51.100.7/32)"
	unmasked = "bits set after the prefix length: write the network address (198.51.100.0/24, not 198.51.100.7/24), or use a range"
	reversed = "reversed range: the first address must not be greater than the last; write "
)

const tooLarge = "holds more addresses than a /8 of IPv4 or a /32 of IPv6, the largest pool entry; no pool needs more, and 0.0.0.0/0 or ::/0 would take every address"

func reserved(what string) string {
	return "overlaps " + what + ", which is never a LoadBalancer address"
}

func badEntry(i int, entry, msg string) string {
	return fmt.Sprintf("spec.addresses[%d]: Invalid value: %q: %s", i, entry, msg)
}

func overlapping(a, b string) string {
	return fmt.Sprintf("spec.addresses: Invalid value: %q overlaps %q; every address may belong to one entry only: merge or split the entries", a, b)
}

// ipPoolCases are shared by the unit test (the API server's CEL code) and the integration
// test (a real API server). want are the CEL errors, "field: message".
var ipPoolCases = []struct {
	name      string
	addresses []string
	want      []string
}{
	{name: "IPv4 CIDR", addresses: []string{"198.51.100.0/24"}},
	{name: "IPv6 CIDR", addresses: []string{"2001:db8::/64"}},
	{name: "IPv4 range", addresses: []string{"198.51.100.10-198.51.100.20"}},
	{name: "IPv6 range", addresses: []string{"2001:db8::10-2001:db8::1f"}},
	{name: "one address", addresses: []string{"198.51.100.7/32", "2001:db8::7/128", "203.0.113.9-203.0.113.9"}},
	{name: "dual stack, adjacent entries", addresses: []string{
		"198.51.100.0/25", "198.51.100.128-198.51.100.200", "198.51.100.201-198.51.100.255",
		"2001:db8::/64", "2001:db8:0:1::-2001:db8:0:1::ff", "2001:db8:0:1::100/120"}},
	{name: "IPv6 range across groups", addresses: []string{"2001:db8::ffff-2001:db8::1:0"}},
	{name: "IPv6 in other textual forms", addresses: []string{
		"2001:DB8::10-2001:db8:0:0::1f", "64:ff9b::198.51.100.1-64:ff9b::198.51.100.9"}},
	{name: "largest entries", addresses: []string{"10.0.0.0/8", "2001:db8::/32", "11.0.0.1-12.0.0.0", "2001:db9::1-2001:dba::"}},

	{name: "bad CIDR", addresses: []string{"198.51.100.0/33"}, want: []string{
		badEntry(0, "198.51.100.0/33", "not a valid CIDR; "+accepted)}},
	{name: "IPv4-mapped CIDR", addresses: []string{"::ffff:198.51.100.0/120"}, want: []string{
		badEntry(0, "::ffff:198.51.100.0/120", "not a valid CIDR; "+accepted)}},
	{name: "unmasked CIDR", addresses: []string{"198.51.100.0/24", "198.51.100.7/24"}, want: []string{
		badEntry(1, "198.51.100.7/24", unmasked)}},
	{name: "unmasked IPv6 CIDR", addresses: []string{"2001:db8::1/64"}, want: []string{
		badEntry(0, "2001:db8::1/64", unmasked)}},
	{name: "reversed IPv4 range", addresses: []string{"198.51.100.20-198.51.100.10"}, want: []string{
		badEntry(0, "198.51.100.20-198.51.100.10", reversed+"198.51.100.10-198.51.100.20")}},
	{name: "reversed IPv6 range", addresses: []string{"2001:db8::1f-2001:db8::10"}, want: []string{
		badEntry(0, "2001:db8::1f-2001:db8::10", reversed+"2001:db8::10-2001:db8::1f")}},
	{name: "reversed IPv6 range, high bits", addresses: []string{"2001:db9::-2001:db8:ffff::"}, want: []string{
		badEntry(0, "2001:db9::-2001:db8:ffff::", reversed+"2001:db8:ffff::-2001:db9::")}},
	{name: "mixed-family range", addresses: []string{"198.51.100.1-2001:db8::1"}, want: []string{
		badEntry(0, "198.51.100.1-2001:db8::1", "a range must not mix IPv4 and IPv6: both ends must be of one family")}},
	{name: "one address without prefix length", addresses: []string{"198.51.100.7"}, want: []string{
		badEntry(0, "198.51.100.7", "neither a CIDR nor a range; "+accepted)}},
	{name: "three-part range", addresses: []string{"198.51.100.1-198.51.100.2-198.51.100.3"}, want: []string{
		badEntry(0, "198.51.100.1-198.51.100.2-198.51.100.3", "not a range of two IP addresses; "+accepted)}},
	{name: "range with spaces", addresses: []string{"198.51.100.1 - 198.51.100.2"}, want: []string{
		badEntry(0, "198.51.100.1 - 198.51.100.2", "not a range of two IP addresses; "+accepted)}},
	{name: "overlapping CIDRs", addresses: []string{"198.51.100.0/24", "198.51.100.128/25"}, want: []string{
		overlapping("198.51.100.0/24", "198.51.100.128/25")}},
	{name: "overlapping IPv6 CIDRs", addresses: []string{"2001:db8::/64", "2001:db8::/48"}, want: []string{
		overlapping("2001:db8::/64", "2001:db8::/48")}},
	{name: "range inside CIDR", addresses: []string{"203.0.113.0/24", "198.51.100.0/24", "198.51.100.250-198.51.100.255"}, want: []string{
		overlapping("198.51.100.0/24", "198.51.100.250-198.51.100.255")}},
	{name: "range covering CIDR", addresses: []string{"2001:db8::ff00-2001:db8::1:0", "2001:db8::ff80/121"}, want: []string{
		overlapping("2001:db8::ff00-2001:db8::1:0", "2001:db8::ff80/121")}},
	{name: "ranges sharing one address", addresses: []string{"198.51.100.10-198.51.100.20", "198.51.100.20-198.51.100.30"}, want: []string{
		overlapping("198.51.100.10-198.51.100.20", "198.51.100.20-198.51.100.30")}},
	{name: "IPv6 ranges overlapping", addresses: []string{"2001:db8::1:0-2001:db8::2:0", "2001:db8::-2001:db8::1:0"}, want: []string{
		overlapping("2001:db8::1:0-2001:db8::2:0", "2001:db8::-2001:db8::1:0")}},

	// Issue 17: too large, or holding addresses that are never a LoadBalancer's.
	{name: "whole IPv4 space", addresses: []string{"0.0.0.0/0"}, want: []string{
		badEntry(0, "0.0.0.0/0", tooLarge), badEntry(0, "0.0.0.0/0", reserved("0.0.0.0/8 (this network (RFC 791))"))}},
	{name: "whole IPv6 space", addresses: []string{"::/0"}, want: []string{
		badEntry(0, "::/0", tooLarge), badEntry(0, "::/0", reserved("::/128 (the unspecified address)"))}},
	{name: "IPv4 shorter than /8", addresses: []string{"198.0.0.0/7"}, want: []string{badEntry(0, "198.0.0.0/7", tooLarge)}},
	{name: "IPv6 shorter than /32", addresses: []string{"2001:db8::/31"}, want: []string{badEntry(0, "2001:db8::/31", tooLarge)}},
	{name: "IPv4 range one address over", addresses: []string{"11.0.0.0-12.0.0.0"}, want: []string{badEntry(0, "11.0.0.0-12.0.0.0", tooLarge)}},
	{name: "IPv6 range one address over", addresses: []string{"2001:db9::-2001:dba::"}, want: []string{badEntry(0, "2001:db9::-2001:dba::", tooLarge)}},
	{name: "loopback", addresses: []string{"198.51.100.0/24", "127.0.0.1/32"}, want: []string{badEntry(1, "127.0.0.1/32", reserved("127.0.0.0/8 (loopback)"))}},
	{name: "link-local range", addresses: []string{"169.253.255.0-169.254.0.1"}, want: []string{badEntry(0, "169.253.255.0-169.254.0.1", reserved("169.254.0.0/16 (link-local)"))}},
	{name: "range around link-local", addresses: []string{"169.253.0.0-169.255.0.0"}, want: []string{badEntry(0, "169.253.0.0-169.255.0.0", reserved("169.254.0.0/16 (link-local)"))}},
	{name: "multicast", addresses: []string{"239.1.0.0/16"}, want: []string{badEntry(0, "239.1.0.0/16", reserved("224.0.0.0/4 (multicast)"))}},
	{name: "broadcast", addresses: []string{"255.255.255.255/32"}, want: []string{badEntry(0, "255.255.255.255/32", reserved("240.0.0.0/4 (reserved, with the broadcast address)"))}},
	{name: "IPv6 loopback", addresses: []string{"::1/128"}, want: []string{badEntry(0, "::1/128", reserved("::1/128 (loopback)"))}},
	{name: "IPv6 unspecified in a range", addresses: []string{"::-::5"}, want: []string{badEntry(0, "::-::5", reserved("::/128 (the unspecified address)"))}},
	{name: "IPv4-mapped space in a range", addresses: []string{"::fffe:ffff:ffff-::1:0:0:0"}, want: []string{badEntry(0, "::fffe:ffff:ffff-::1:0:0:0", reserved("::ffff:0.0.0.0/96 (IPv4-mapped)"))}},
	{name: "IPv6 link-local", addresses: []string{"fe80::/64"}, want: []string{badEntry(0, "fe80::/64", reserved("fe80::/10 (link-local)"))}},
	{name: "IPv6 multicast", addresses: []string{"FF02::1-ff02::2"}, want: []string{badEntry(0, "FF02::1-ff02::2", reserved("ff00::/8 (multicast)"))}},
	{name: "next to reserved ranges", addresses: []string{"1.0.0.0/8", "126.255.255.255/32", "128.0.0.0/32", "169.253.255.255-169.255.0.0", "223.255.255.255/32",
		"::2-::ff", "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "fec0::/32", "feff:ffff::/32"}, want: []string{
		badEntry(3, "169.253.255.255-169.255.0.0", reserved("169.254.0.0/16 (link-local)"))}},

	{name: "overlap with a bad entry", addresses: []string{"198.51.100.0/24", "198.51.100.0/25", "198.51.100.7/33"}, want: []string{
		// Overlaps are looked for once every entry is well formed.
		badEntry(2, "198.51.100.7/33", "not a valid CIDR; "+accepted)}},
}

func TestIPPoolCEL(t *testing.T) {
	v := newCELValidator(t, "IPPool")
	for _, tt := range ipPoolCases {
		t.Run(tt.name, func(t *testing.T) {
			got := v.validate(t, pool(tt.addresses...), nil)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("CEL errors (-want +got):\n%s", d)
			}
			// The Go parser the controller uses must agree.
			_, err := v1alpha1.ParseAddresses(tt.addresses)
			if (err != nil) != (len(tt.want) > 0) {
				t.Errorf("ParseAddresses: %v; CEL: %q", err, got)
			}
		})
	}
}

var celCases = flag.Int("cel-cases", 300, "random pools TestIPPoolCELAgreesWithGo checks")

// TestIPPoolCELAgreesWithGo checks the CEL rules against ParseAddresses (net/netip arithmetic)
// on random pools built to land on boundaries: entries share bits up to random prefix lengths,
// ranges start and end next to CIDR boundaries, some are reversed, mixed or unmasked.
func TestIPPoolCELAgreesWithGo(t *testing.T) {
	v := newCELValidator(t, "IPPool")
	rng := rand.New(rand.NewPCG(1, 2))
	n := *celCases
	if testing.Short() {
		n /= 10
	}
	var nbad, overlaps int
	for i := 0; i < n; i++ {
		addrs := make([]string, 1+rng.IntN(4))
		base := randomBase(rng)
		for j := range addrs {
			addrs[j] = randomEntry(rng, base)
		}
		addrs = dedup(addrs) // duplicates are refused by the list type, before CEL
		switch bad, overlap := checkAgainstGo(t, v, addrs); {
		case bad:
			nbad++
		case overlap:
			overlaps++
		}
	}
	t.Logf("%d pools: %d with a bad entry, %d with overlaps, %d valid", n, nbad, overlaps, n-nbad-overlaps)
	// The agreement means something only if the generator reaches each kind of pool: one that
	// drifted to, say, only bad entries would leave the overlap and valid rules unchecked. With
	// the fixed seed the shares are about 40/35/25 %; a twentieth of each is the floor.
	for kind, got := range map[string]int{"with a bad entry": nbad, "with overlaps": overlaps, "valid": n - nbad - overlaps} {
		if got < max(1, n/20) {
			t.Errorf("only %d of %d random pools %s: the generator no longer covers that case", got, n, kind)
		}
	}
}

// checkAgainstGo validates addrs with the CRD's rules and with ParseAddresses and fails t
// unless both refuse the same entries and, when every entry is good, agree on overlap.
func checkAgainstGo(t *testing.T, v *celValidator, addrs []string) (bad, overlap bool) {
	t.Helper()
	got := v.validate(t, pool(addrs...), nil)
	_, err := v1alpha1.ParseAddresses(addrs)
	wantBad, wantOverlap := classify(err, addrs)
	gotBad, gotOverlap := map[int]bool{}, false
	for _, e := range got {
		var idx int
		if _, err := fmt.Sscanf(e, "spec.addresses[%d]:", &idx); err == nil {
			gotBad[idx] = true
		} else if strings.HasPrefix(e, "spec.addresses: ") {
			gotOverlap = true
		} else {
			t.Errorf("%q: unexpected error %q", addrs, e)
		}
	}
	if len(wantBad) > 0 {
		// CEL looks for overlaps only when every entry is well formed; Go among those that
		// parse. Compare overlap verdicts only when all parse.
		gotOverlap, wantOverlap = false, false
	}
	if !maps.Equal(gotBad, wantBad) || gotOverlap != wantOverlap {
		t.Errorf("%q:\nCEL: %q\nGo:  %v", addrs, got, err)
	}
	return len(wantBad) > 0, wantOverlap
}

// FuzzIPPoolCELAgreesWithGo is TestIPPoolCELAgreesWithGo for any two strings, as one entry and
// as a pool of two.
func FuzzIPPoolCELAgreesWithGo(f *testing.F) {
	for _, s := range [][2]string{
		{"198.51.100.0/24", "198.51.100.7-198.51.100.9"},
		{"2001:db8::/64", "2001:DB8::ffff:1-2001:db8:0:0:1::"},
		{"64:ff9b::198.51.100.1-64:ff9b::198.51.100.9", "::/0"},
		{"::1.2.3.4-::1.2.3.5", "1:2:3:4:5:6:1.2.3.4/128"},
		{"198.51.100.9-198.51.100.7", "a-b"},
	} {
		f.Add(s[0], s[1])
	}
	v := newCELValidator(f, "IPPool")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 91 || len(b) > 91 || a == b || a == "" || b == "" {
			return // refused by the schema before CEL runs
		}
		checkAgainstGo(t, v, []string{a})
		checkAgainstGo(t, v, []string{a, b})
	})
}

// classify returns the indexes of the entries ParseAddresses refused and whether it found an
// overlap.
func classify(err error, addrs []string) (bad map[int]bool, overlap bool) {
	bad = map[int]bool{}
	if err == nil {
		return bad, false
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var inv *v1alpha1.InvalidAddressError
		var ov *v1alpha1.OverlapError
		switch {
		case errors.As(e, &inv):
			bad[slices.Index(addrs, inv.Entry)] = true
		case errors.As(e, &ov):
			overlap = true
		}
	}
	return bad, overlap
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// randomBase is an address of a random family with random bits.
func randomBase(rng *rand.Rand) netip.Addr {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.IntN(256))
		if rng.IntN(3) == 0 {
			b[i] = 0 // runs of zero groups, so that "::" lands in different places
		}
	}
	if rng.IntN(2) == 0 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b)
}

// near returns base with the bits after a random prefix length randomised, then nudged by -1,
// 0 or +1 around a boundary.
func near(rng *rand.Rand, base netip.Addr) netip.Addr {
	bits := base.BitLen()
	p := netip.PrefixFrom(base, bits-rng.IntN(min(bits, 20)+1)).Masked()
	a := p.Addr()
	switch rng.IntN(4) {
	case 0:
		a = v1alpha1.PrefixEntry(p).Last
	case 1:
		a = v1alpha1.PrefixEntry(p).Last.Next()
	case 2:
		a = a.Prev()
	}
	if !a.IsValid() {
		return base
	}
	return a
}

// spell writes a in one of the textual forms isIP accepts: canonical, upper case, with every
// group written out in four digits, or (for IPv6 whose last 32 bits are not all zero) with a
// dotted IPv4 tail.
func spell(rng *rand.Rand, a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	switch rng.IntN(6) {
	case 0:
		return strings.ToUpper(a.String())
	case 1:
		return a.StringExpanded()
	case 2:
		b := a.As16()
		if b[12]|b[13]|b[14]|b[15] == 0 {
			return a.String()
		}
		head := netip.AddrFrom16([16]byte(append(b[:12:12], 1, 1, 1, 1))).String() // ends in :101:101
		return strings.TrimSuffix(head, "101:101") + netip.AddrFrom4([4]byte(b[12:])).String()
	}
	return a.String()
}

func randomEntry(rng *rand.Rand, base netip.Addr) string {
	switch r := rng.IntN(20); {
	case r < 8: // CIDR
		a := near(rng, base)
		p := netip.PrefixFrom(a, a.BitLen()-rng.IntN(min(a.BitLen(), 24)+1))
		if rng.IntN(6) != 0 {
			p = p.Masked()
		}
		return spell(rng, p.Addr()) + fmt.Sprintf("/%d", p.Bits())
	case r < 18: // range, sometimes reversed
		a, b := near(rng, base), near(rng, base)
		if a.Compare(b) > 0 && rng.IntN(4) != 0 {
			a, b = b, a
		}
		return spell(rng, a) + "-" + spell(rng, b)
	case r < 19: // mixed family
		return base.String() + "-" + randomBase(rng).String()
	default: // garbage
		return []string{"198.51.100.0/33", "2001:db8::/129", "198.51.100.1", "a-b", "-", "1.2.3.4-", "::-::/64"}[rng.IntN(7)]
	}
}

// TestIPPoolCELWorstCase validates the largest pool the schema allows, 64 entries of the
// longest textual forms, and checks that every rule stays within the per-call cost limit
// the API server applies to each expression (a rule over it fails the request).
func TestIPPoolCELWorstCase(t *testing.T) {
	v := newCELValidator(t, "IPPool")
	long := func(i int) string {
		// 2001:0db8:0000:0000:0000:0000:IIII:0000-... (39 characters each side).
		return fmt.Sprintf("2001:0db8:0000:0000:0000:0000:%04x:0000-2001:0db8:0000:0000:0000:0000:%04x:ffff", i, i)
	}
	var addrs []string
	for i := 0; i < 64; i++ {
		addrs = append(addrs, long(i))
	}
	t.Run("valid", func(t *testing.T) {
		got, cost := v.validateCost(t, pool(addrs...))
		if len(got) != 0 {
			t.Fatalf("errors: %q", got)
		}
		t.Logf("64 long IPv6 ranges: CEL cost %d (per-call limit %d, per-object budget %d)",
			cost, celconfig.PerCallLimit, celconfig.RuntimeCELCostBudget)
	})
	t.Run("overlap", func(t *testing.T) {
		over := append([]string(nil), addrs...)
		over[63] = "2001:db8::3e:ffff-2001:db8::3f:0" // touches entries 62 and 63's old place
		over[0] = "2001:db8::3e:0/112"
		got, _ := v.validateCost(t, pool(over...))
		want := []string{overlapping("2001:db8::3e:0/112", long(62))}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("CEL errors (-want +got):\n%s", d)
		}
	})
}
