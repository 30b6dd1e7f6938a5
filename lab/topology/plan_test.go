package topology

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNew(t *testing.T) {
	p, err := New("fdlab", 3)
	if err != nil {
		t.Fatal(err)
	}
	type node struct {
		Name, NS string
		IP       netip.Addr
		PodCIDR  netip.Prefix
	}
	var got []node
	for _, n := range p.Nodes {
		got = append(got, node(n))
	}
	want := []node{
		{"node1", "fdlab-node1", netip.MustParseAddr("198.18.0.11"), netip.MustParsePrefix("198.19.1.0/24")},
		{"node2", "fdlab-node2", netip.MustParseAddr("198.18.0.12"), netip.MustParsePrefix("198.19.2.0/24")},
		{"node3", "fdlab-node3", netip.MustParseAddr("198.18.0.13"), netip.MustParsePrefix("198.19.3.0/24")},
	}
	if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
		t.Errorf("nodes (-want +got)\n%s", d)
	}
	// Every address the plan hands out lies in its own range, and ranges do not overlap.
	for _, a := range []netip.Addr{p.Router, p.ControlPlane, p.LANClient} {
		if !p.LAN.Contains(a) {
			t.Errorf("%s is not on the LAN %s", a, p.LAN)
		}
	}
	for _, n := range p.Nodes {
		if !p.LAN.Contains(n.IP) || !p.ClusterCIDR.Contains(n.PodCIDR.Addr()) {
			t.Errorf("node %s: %s / %s outside %s / %s", n.Name, n.IP, n.PodCIDR, p.LAN, p.ClusterCIDR)
		}
	}
	if !p.External.Contains(p.Client) || !p.External.Contains(p.RouterExternal) {
		t.Errorf("client side %s, %s outside %s", p.Client, p.RouterExternal, p.External)
	}
	for _, pair := range [][2]netip.Prefix{{p.LAN, p.ClusterCIDR}, {p.LAN, p.ServiceCIDR}, {p.ClusterCIDR, p.ServiceCIDR}, {p.LAN, p.BGPPool}, {p.External, p.LAN}} {
		if pair[0].Overlaps(pair[1]) {
			t.Errorf("%s overlaps %s", pair[0], pair[1])
		}
	}
	for _, a := range []string{"198.18.0.200", "198.18.0.250"} {
		if !p.LAN.Contains(netip.MustParseAddr(a)) {
			t.Errorf("L2 pool address %s is off the LAN: no speaker would find an interface for it", a)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		nodes  int
	}{{"", 3}, {"Lab", 3}, {"1lab", 3}, {"lab-x", 3}, {"waytoolongname", 3}, {"lab", 0}, {"lab", 10}} {
		if _, err := New(tc.prefix, tc.nodes); err == nil {
			t.Errorf("New(%q, %d) accepted", tc.prefix, tc.nodes)
		}
	}
	var pe *ErrPrefix
	if _, err := New("Lab", 3); !errors.As(err, &pe) {
		t.Errorf("a bad prefix gives %T, want *ErrPrefix", err)
	}
}

func TestPodNames(t *testing.T) {
	p, _ := New("fdt0a1b2c", 3) // the longest names: a test lab's prefix
	uid := "8ae6a5bd-72c4-4c1e-9a43-1f0d2a3b4c5d"
	if got, want := p.PodNS(uid), "fdt0a1b2c-pod-8ae6a5bd72"; got != want {
		t.Errorf("PodNS = %q, want %q", got, want)
	}
	if v := PodVeth(uid); len(v) > 15 {
		t.Errorf("PodVeth = %q: %d bytes, the kernel's limit is 15", v, len(v))
	}
	if PodVeth(uid) == PodVeth("8ae6a5bd-72c4-4c1e-9a43-000000000000") {
		t.Log("two UIDs with the same first 10 hex digits share a veth name (1 in 2^40)")
	}
}
