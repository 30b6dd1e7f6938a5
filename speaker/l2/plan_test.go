package l2

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// statusView is a VIPStatus with its error reduced to comparable facts.
type statusView struct {
	Interfaces []string
	Errs       []string // for each error: its type and the interface or reason it names
}

func view(s VIPStatus) statusView {
	v := statusView{Interfaces: s.Interfaces}
	if s.Err == nil {
		return v
	}
	errs := []error{s.Err}
	if l, ok := s.Err.(interface{ Unwrap() []error }); ok {
		errs = l.Unwrap()
	}
	for _, err := range errs {
		var (
			ns *ErrNoSubnet
			iv *ErrInvalidVIP
			ue *ErrInterfaceUnavailable
		)
		switch {
		case errors.As(err, &ns):
			v.Errs = append(v.Errs, "no-subnet")
		case errors.As(err, &iv):
			v.Errs = append(v.Errs, "invalid")
		case errors.As(err, &ue):
			v.Errs = append(v.Errs, ue.Interface+":"+string(ue.Reason))
		default:
			v.Errs = append(v.Errs, "other:"+err.Error())
		}
	}
	return v
}

func TestMakePlan(t *testing.T) {
	n := twoLinkNet()
	n.addLink("eth2", 4, "02:00:00:00:00:03", "192.0.2.2/24") // same subnet as eth0
	n.addLink("eth3", 5, "02:00:00:00:00:04", "10.9.0.1/24")
	n.setFlags("eth3", net.FlagBroadcast) // down
	n.addLink("dummy0", 6, "02:00:00:00:00:05", "198.51.100.7/32", "192.0.2.200/32")
	n.addLink("lo", 1, "", "127.0.0.1/8")
	n.setFlags("lo", net.FlagUp|net.FlagRunning|net.FlagLoopback)
	n.addLink("wg0", 7, "", "10.8.0.1/24")
	links, _ := n.list()

	tests := []struct {
		name string
		vip  netip.Addr
		ann  announce.Announcement
		want statusView
	}{
		{"IPv4 VIP in eth1's subnet", vip4eth1, announce.Announcement{}, statusView{Interfaces: []string{"eth1"}}},
		{"IPv6 VIP in eth0's subnet", vip6a, announce.Announcement{}, statusView{Interfaces: []string{"eth0"}}},
		{"subnet on two interfaces: both", vip4a, announce.Announcement{}, statusView{Interfaces: []string{"eth0", "eth2"}}},
		{"in no subnet", netip.MustParseAddr("198.51.100.8"), announce.Announcement{}, statusView{Errs: []string{"no-subnet"}}},
		{"only a host route holds it", vipNoNet, announce.Announcement{}, statusView{Errs: []string{"no-subnet"}}},
		{"subnet only on a down interface", netip.MustParseAddr("10.9.0.5"), announce.Announcement{}, statusView{Errs: []string{"eth3:down"}}},
		{"subnet only on a non-Ethernet interface", netip.MustParseAddr("10.8.0.5"), announce.Announcement{}, statusView{Errs: []string{"wg0:not_ethernet"}}},
		{"named interface outside the VIP's subnet", vipNoNet, announce.Announcement{Interfaces: []string{"eth1"}}, statusView{Interfaces: []string{"eth1"}}},
		{"named interfaces, one missing, one down", vip4a, announce.Announcement{Interfaces: []string{"eth0", "eth9", "eth3"}},
			statusView{Interfaces: []string{"eth0"}, Errs: []string{"eth9:missing", "eth3:down"}}},
		{"named twice", vip4a, announce.Announcement{Interfaces: []string{"eth1", "eth1"}}, statusView{Interfaces: []string{"eth1"}}},
		{"multicast", netip.MustParseAddr("224.0.0.5"), announce.Announcement{}, statusView{Errs: []string{"invalid"}}},
		{"IPv4-mapped IPv6", netip.MustParseAddr("::ffff:192.0.2.100"), announce.Announcement{}, statusView{Errs: []string{"invalid"}}},
		{"link-local", netip.MustParseAddr("fe80::5"), announce.Announcement{}, statusView{Errs: []string{"invalid"}}},
		{"zone", netip.MustParseAddr("2001:db8:1::100%eth0"), announce.Announcement{}, statusView{Errs: []string{"invalid"}}},
		{"loopback", netip.MustParseAddr("127.0.0.5"), announce.Announcement{}, statusView{Errs: []string{"invalid"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := makePlan(links, map[netip.Addr]announce.Announcement{tt.vip: tt.ann})
			if diff := cmp.Diff(tt.want, view(p.vips[tt.vip].status())); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			// Every interface the VIP is announced on carries it, under its protocol only.
			for _, name := range p.vips[tt.vip].status().Interfaces {
				lp := p.links[name]
				if lp == nil || !contains(lp.vips[protocolOf(tt.vip)], tt.vip) {
					t.Errorf("interface %s announces %v but its plan is %+v", name, tt.vip, lp)
				}
			}
		})
	}
}

func contains(s []netip.Addr, a netip.Addr) bool {
	for _, x := range s {
		if x == a {
			return true
		}
	}
	return false
}

func TestStatusMessages(t *testing.T) {
	tests := []struct {
		err  error
		want []string
	}{
		{&ErrNoSubnet{VIP: vipNoNet}, []string{"cannot be announced from this node: no interface has a subnet containing 198.51.100.7"}},
		{&ErrInterfaceUnavailable{Interface: "eth9", Reason: InterfaceMissing}, []string{`"eth9" does not exist`, "retrying"}},
		{&ErrInterfaceUnavailable{Interface: "eth3", Reason: InterfaceDown}, []string{`"eth3" is down`}},
		{&ErrInterfaceUnavailable{Interface: "eth0", Reason: InterfaceSocketFailed, Protocol: "NDP", Err: errInjected},
			[]string{`"eth0": cannot serve NDP: injected failure`}},
		{&ErrInvalidVIP{VIP: netip.MustParseAddr("224.0.0.5"), Reason: "it is a multicast or broadcast address"},
			[]string{"224.0.0.5 cannot be announced: it is a multicast", "must be a unicast"}},
		{errorList{&ErrNoSubnet{VIP: vipNoNet}, &ErrInterfaceUnavailable{Interface: "eth3", Reason: InterfaceDown}},
			[]string{"198.51.100.7 (name", `; interface "eth3" is down`}},
	}
	for _, tt := range tests {
		for _, w := range tt.want {
			if !strings.Contains(tt.err.Error(), w) {
				t.Errorf("%q does not contain %q", tt.err.Error(), w)
			}
		}
		if strings.Contains(tt.err.Error(), "\n") {
			t.Errorf("%q spans lines; statuses are one line", tt.err.Error())
		}
	}
}
