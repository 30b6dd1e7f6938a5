package router

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

var (
	n1 = netip.MustParseAddr("198.18.0.11")
	n2 = netip.MustParseAddr("198.18.0.12")
	n3 = netip.MustParseAddr("198.18.0.13")
	v1 = netip.MustParsePrefix("198.18.100.1/32")
	v2 = netip.MustParsePrefix("198.18.100.2/32")
)

func TestParseRIB(t *testing.T) {
	// The shape gobgp v4.8.0 prints: two paths for one prefix (ECMP), one for another.
	in := `{"198.18.100.1/32":[{"nlri":{"prefix":"198.18.100.1/32"},"best":true,"attrs":[{"type":1,"value":0},{"type":3,"nexthop":"198.18.0.12"}]},
	{"nlri":{"prefix":"198.18.100.1/32"},"attrs":[{"type":1,"value":0},{"type":3,"nexthop":"198.18.0.11"}]}],
	"198.18.100.2/32":[{"attrs":[{"type":3,"nexthop":"198.18.0.13"}]},{"attrs":[{"type":3,"nexthop":"198.18.0.13"}]}],
	"198.18.100.3/32":[{"attrs":[{"type":1,"value":0}]}]}`
	got, err := ParseRIB([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Prefix][]netip.Addr{v1: {n1, n2}, v2: {n3}}
	if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if _, err := ParseRIB([]byte(`{"not a prefix":[]}`)); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name       string
		have, want map[netip.Prefix][]netip.Addr
		cmds       []string
	}{
		{name: "nothing", cmds: nil},
		{name: "one next hop", want: map[netip.Prefix][]netip.Addr{v1: {n1}},
			cmds: []string{"route replace 198.18.100.1/32 proto bgp via 198.18.0.11"}},
		{name: "ECMP", want: map[netip.Prefix][]netip.Addr{v1: {n1, n2, n3}},
			cmds: []string{"route replace 198.18.100.1/32 proto bgp nexthop via 198.18.0.11 nexthop via 198.18.0.12 nexthop via 198.18.0.13"}},
		{name: "unchanged: no command", have: map[netip.Prefix][]netip.Addr{v1: {n1, n2}}, want: map[netip.Prefix][]netip.Addr{v1: {n1, n2}}},
		{name: "a node withdraws", have: map[netip.Prefix][]netip.Addr{v1: {n1, n2}}, want: map[netip.Prefix][]netip.Addr{v1: {n2}},
			cmds: []string{"route replace 198.18.100.1/32 proto bgp via 198.18.0.12"}},
		{name: "prefix gone", have: map[netip.Prefix][]netip.Addr{v1: {n1}, v2: {n2}}, want: map[netip.Prefix][]netip.Addr{v2: {n2}},
			cmds: []string{"route del 198.18.100.1/32 proto bgp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range Commands(tc.have, tc.want) {
				got = append(got, strings.Join(c, " "))
			}
			if d := cmp.Diff(tc.cmds, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	p, _ := topology.New("fdlab", 3)
	c := Config(p)
	for _, want := range []string{`as = 64500`, `router-id = "198.18.0.1"`, `peer-as = 64512`, `prefix = "198.18.0.0/24"`, `local-address-list = ["198.18.0.1"]`,
		"[peer-groups.bfd.config]\n    enabled = true", `desired-minimum-tx-interval = 200000`, `required-minimum-receive = 200000`, `detection-multiplier = 3`,
		"[peer-groups.timers.config]\n    connect-retry = 5"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %s:\n%s", want, c)
		}
	}
}
