package l2

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

func TestARPVerdict(t *testing.T) {
	owned := func(a netip.Addr) DropReason {
		switch a {
		case vip4a:
			return ""
		case vip4eth1:
			return DropWrongInterface
		}
		return DropNotOwned
	}
	zero := make(net.HardwareAddr, 6)
	req := func(target netip.Addr) []byte { return whoHas(t, target) }
	mutate := func(b []byte, off int, v byte) []byte { b = bytes.Clone(b); b[off] = v; return b }
	tests := []struct {
		name  string
		frame []byte
		want  DropReason
	}{
		{"request for an owned VIP", req(vip4a), ""},
		{"unicast request for an owned VIP (NUD probe to the old owner)",
			arpFrameOf(t, arp.OperationRequest, clientMAC, mac1, clientMAC, clientIP, mac1, vip4a), ""},
		{"probe (sender 0.0.0.0) for an owned VIP is defended",
			arpFrameOf(t, arp.OperationRequest, clientMAC, ethernet.Broadcast, clientMAC, netip.IPv4Unspecified(), zero, vip4a), ""},
		{"request for another address", req(netip.MustParseAddr("192.0.2.55")), DropNotOwned},
		{"request for a VIP announced on another interface", req(vip4eth1), DropWrongInterface},
		{"reply", arpFrameOf(t, arp.OperationReply, clientMAC, mac0, clientMAC, clientIP, mac0, vip4a), DropNotRequest},
		{"announcement by another host", arpFrameOf(t, arp.OperationRequest, clientMAC, ethernet.Broadcast, clientMAC, vip4a, zero, vip4a), DropGratuitous},
		{"our own frame", arpFrameOf(t, arp.OperationRequest, mac0, ethernet.Broadcast, mac0, netip.MustParseAddr("192.0.2.1"), zero, vip4a), DropFromSelf},
		{"our MAC as ARP sender behind another source", arpFrameOf(t, arp.OperationRequest, clientMAC, ethernet.Broadcast, mac0, clientIP, zero, vip4a), DropFromSelf},
		{"truncated ARP payload", req(vip4a)[:14+20], DropMalformed},
		{"shorter than an Ethernet header", req(vip4a)[:10], DropMalformed},
		{"not ARP EtherType", mutate(req(vip4a), 13, 0x00), DropMalformed},
		{"hardware type not Ethernet", mutate(req(vip4a), 15, 6), DropMalformed},
		{"protocol not IPv4", mutate(req(vip4a), 16, 0x86), DropMalformed},
		{"hardware length 8", mutate(req(vip4a), 18, 8), DropMalformed},
		{"broadcast sender MAC", arpFrameOf(t, arp.OperationRequest, clientMAC, ethernet.Broadcast, ethernet.Broadcast, clientIP, zero, vip4a), DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := arpVerdict(tt.frame, mac0, owned)
			if got != tt.want {
				t.Errorf("arpVerdict = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestARPAnswersOwnedVIPs(t *testing.T) {
	synctest.Test(t, testARPAnswersOwnedVIPs)
}

func testARPAnswersOwnedVIPs(t *testing.T) {
	n := twoLinkNet()
	client := n.eth["eth0"].port(clientMAC)
	a, rec := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip4a, vip4eth1))
	// The takeover burst comes first: a request form and a reply form per round.
	for range 2 {
		client.next(t, wait)
	}

	client.send(whoHas(t, vip4a))
	eth, p := parseARPFrame(t, client.next(t, wait))
	want := arp.Packet{HardwareType: 1, ProtocolType: 0x0800, HardwareAddrLength: 6, IPLength: 4,
		Operation: arp.OperationReply, SenderHardwareAddr: mac0, SenderIP: vip4a,
		TargetHardwareAddr: clientMAC, TargetIP: clientIP}
	if diff := cmp.Diff(want, *p, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
	if !bytes.Equal(eth.Destination, clientMAC) || !bytes.Equal(eth.Source, mac0) {
		t.Errorf("reply frame %v -> %v, want unicast %v -> %v", eth.Source, eth.Destination, mac0, clientMAC)
	}
	testkit.EventuallyTrue(t, wait, waitEvery, "the answer to be counted", func() bool {
		return rec.count(event{kind: "answered", proto: protoARP, iface: "eth0"}) == 1
	})

	// Everything else is ignored, each for its reason, and nothing is sent.
	ignored := []struct {
		frame  []byte
		reason DropReason
	}{
		{whoHas(t, netip.MustParseAddr("192.0.2.55")), DropNotOwned},
		{whoHas(t, vip4eth1), DropWrongInterface},
		{arpFrameOf(t, arp.OperationReply, clientMAC, mac0, clientMAC, clientIP, mac0, vip4a), DropNotRequest},
		{whoHas(t, vip4a)[:30], DropMalformed},
	}
	for _, ig := range ignored {
		client.send(ig.frame)
		testkit.EventuallyTrue(t, wait, waitEvery, "a "+string(ig.reason)+" drop", func() bool {
			return rec.count(event{kind: "dropped", proto: protoARP, iface: "eth0", reason: string(ig.reason)}) == 1
		})
	}
	client.none(t, 50*time.Millisecond)
}

func TestARPStopsAnsweringRemovedVIPAtOnce(t *testing.T) {
	synctest.Test(t, testARPStopsAnsweringRemovedVIPAtOnce)
}

func testARPStopsAnsweringRemovedVIPAtOnce(t *testing.T) {
	n := twoLinkNet()
	client := n.eth["eth0"].port(clientMAC)
	a, rec := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip4a, vip4b))
	for range 4 {
		client.next(t, wait) // the bursts of both VIPs
	}
	setVIPs(t, a, bySubnet(vip4b))
	// No wait between SetVIPs and the request: "not answered once SetVIPs returns".
	client.send(whoHas(t, vip4a))
	testkit.EventuallyTrue(t, wait, waitEvery, "the removed VIP's request to be dropped", func() bool {
		return rec.count(event{kind: "dropped", proto: protoARP, iface: "eth0", reason: string(DropNotOwned)}) == 1
	})
	client.none(t, 50*time.Millisecond)
	client.send(whoHas(t, vip4b))
	if _, p := parseARPFrame(t, client.next(t, wait)); p.SenderIP != vip4b {
		t.Errorf("answered for %v, want %v", p.SenderIP, vip4b)
	}
}
