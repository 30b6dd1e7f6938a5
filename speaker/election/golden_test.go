package election

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHashIsFNV1a checks the inlined hash against the standard library's FNV-1a 64.
func TestHashIsFNV1a(t *testing.T) {
	for _, s := range []string{"", "a", "node-a", "ip-10-0-3-17.eu-west-1.compute.internal", "\x00\xff"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := fnvString(s), h.Sum64(); got != want {
			t.Errorf("fnvString(%q) = %#x, want %#x", s, got, want)
		}
		if got, want := fnvBytes([]byte(s)), h.Sum64(); got != want {
			t.Errorf("fnvBytes(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// TestGolden pins the ranking. Speakers of two releases run side by side during a rolling
// upgrade; if this test has to change, both would announce some addresses until the upgrade ends,
// and the release notes must say so. The figures were checked against an independent
// implementation (a few lines of Python over the same definition: FNV-1a 64 of the name and of
// the 16-byte address, XOR, murmur3 fmix64; highest weight wins).
func TestGolden(t *testing.T) {
	nodes := []string{"node-a", "node-b", "node-c", "worker-1", "worker-2"}
	addrs := []string{"192.0.2.10", "192.0.2.11", "192.0.2.12", "198.51.100.1", "203.0.113.200",
		"::ffff:192.0.2.10", "2001:db8::10", "2001:db8::11"}
	want := map[string]string{
		"192.0.2.10":        "worker-2",
		"192.0.2.11":        "node-b",
		"192.0.2.12":        "node-b",
		"198.51.100.1":      "node-b",
		"203.0.113.200":     "node-a",
		"::ffff:192.0.2.10": "worker-2", // the same 16 bytes as 192.0.2.10
		"2001:db8::10":      "node-b",
		"2001:db8::11":      "worker-1",
	}
	var ns []Node
	for _, n := range nodes {
		ns = append(ns, node(n))
	}
	e, err := New(Config{Self: "node-a", Nodes: ns})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range addrs {
		got[a] = e.Elect(Announcement{Addr: netip.MustParseAddr(a)}).Winner
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("winners changed (-want +got):\n%s", diff)
	}

	wantW := map[string]string{
		"node-a/192.0.2.10":   "0xbf86a9dceda67af3",
		"worker-2/2001:db8::": "0xe75fb55f0bb61bdb",
	}
	gotW := map[string]string{
		"node-a/192.0.2.10":   fmt.Sprintf("%#x", weight(nodeKey("node-a"), addrKey(netip.MustParseAddr("192.0.2.10")))),
		"worker-2/2001:db8::": fmt.Sprintf("%#x", weight(nodeKey("worker-2"), addrKey(netip.MustParseAddr("2001:db8::")))),
	}
	if diff := cmp.Diff(wantW, gotW); diff != "" {
		t.Errorf("weights changed (-want +got):\n%s", diff)
	}
}
