package topology

import (
	"errors"
	"net/netip"
	"slices"
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

func TestClusterDNS(t *testing.T) {
	p, _ := New("fdlab", 3)
	if want := netip.MustParseAddr("198.19.128.10"); p.ClusterDNS != want {
		t.Errorf("ClusterDNS = %s, want %s (the 10th address of %s)", p.ClusterDNS, want, p.ServiceCIDR)
	}
	if !p.ServiceCIDR.Contains(p.ClusterDNS) {
		t.Errorf("ClusterDNS %s outside the Service range %s", p.ClusterDNS, p.ServiceCIDR)
	}
}

func TestRoutes(t *testing.T) {
	p, _ := New("fdlab", 3)
	rs := Routes(p)
	def := netip.MustParsePrefix("0.0.0.0/0")
	want := map[string][]Route{
		"fdlab-node1": {{p.Nodes[1].PodCIDR, p.Nodes[1].IP}, {p.Nodes[2].PodCIDR, p.Nodes[2].IP}, {def, p.Router}},
		"fdlab-router": {{p.Nodes[0].PodCIDR, p.Nodes[0].IP}, {p.Nodes[1].PodCIDR, p.Nodes[1].IP},
			{p.Nodes[2].PodCIDR, p.Nodes[2].IP}},
		"fdlab-client": {{def, p.RouterExternal}},
	}
	for ns, w := range want {
		if !slices.Equal(rs[ns], w) {
			t.Errorf("routes of %s = %v, want %v", ns, rs[ns], w)
		}
	}
	for _, ns := range []string{"fdlab-cp", "fdlab-lanclient", "fdlab-node2", "fdlab-node3"} {
		if got := rs[ns]; len(got) == 0 || got[len(got)-1] != (Route{def, p.Router}) {
			t.Errorf("routes of %s = %v: want a default route via the router last", ns, got)
		}
	}
	if _, ok := rs["fdlab-switch"]; ok {
		t.Error("the switch has no address and no route")
	}
	if got := (Route{def, p.Router}).ipRoute(); got != "route add default via 198.18.0.1" {
		t.Errorf("ipRoute = %q", got)
	}
}
