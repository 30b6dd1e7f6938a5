//go:build linux

package bgprouters

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testdata holds what each daemon answered in TestAttributes (speaker/bgp) over iBGP: the router
// originates 192.0.2.0/24, and the speaker at 10.0.0.11 announces 198.51.100.7/32 (communities
// 65000:100 and no-export, large community 65000:1:2, local preference 250) and 198.51.100.8/32
// (community 65000:300).
var (
	originated = netip.MustParsePrefix("192.0.2.0/24")
	vip7       = netip.MustParsePrefix("198.51.100.7/32")
	vip8       = netip.MustParsePrefix("198.51.100.8/32")
	wantPaths  = map[netip.Prefix][]Path{
		vip7: {{NextHop: netip.MustParseAddr("10.0.0.11"), Communities: []string{"65000:100", "65535:65281"},
			LargeCommunities: []string{"65000:1:2"}, LocalPref: 250}},
		vip8: {{NextHop: netip.MustParseAddr("10.0.0.11"), Communities: []string{"65000:300"}, LocalPref: 100}},
	}
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func diffPaths(t *testing.T, got map[netip.Prefix][]Path) {
	t.Helper()
	if d := cmp.Diff(wantPaths, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("paths (-want +got):\n%s", d)
	}
}

func TestParseGoBGP(t *testing.T) {
	got, err := ParseGoBGP(readTestdata(t, "gobgp-global-rib.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[originated]; !ok {
		t.Errorf("the originated prefix is not in the RIB: %v", got)
	}
	delete(got, originated)
	diffPaths(t, sortPaths(got))
}

func TestParseBIRD(t *testing.T) {
	diffPaths(t, sortPaths(ParseBIRD(readTestdata(t, "birdc-show-route-all.txt"))))
}

func TestParseFRR(t *testing.T) {
	prefixes, err := ParseFRRTable(readTestdata(t, "frr-table.json"))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(prefixes, netip.Prefix.Compare)
	if want := []netip.Prefix{originated, vip7, vip8}; !slices.Equal(prefixes, want) {
		t.Errorf("prefixes %v, want %v", prefixes, want)
	}
	got := map[netip.Prefix][]Path{}
	for pfx, file := range map[netip.Prefix]string{vip7: "frr-198.51.100.7.json", vip8: "frr-198.51.100.8.json"} {
		if got[pfx], err = ParseFRRPrefix(readTestdata(t, file)); err != nil {
			t.Fatal(err)
		}
	}
	diffPaths(t, sortPaths(got))
}
