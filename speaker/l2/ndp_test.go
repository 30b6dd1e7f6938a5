package l2

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
)

func nsBytes(t *testing.T, target netip.Addr, opts ...ndp.Option) []byte {
	t.Helper()
	b, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{TargetAddress: target, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNSVerdict(t *testing.T) {
	owned := func(a netip.Addr) DropReason {
		switch a {
		case vip6a:
			return ""
		case vip6eth1:
			return DropWrongInterface
		}
		return DropNotOwned
	}
	ourLL := linkLocal(mac0)
	self := func(a netip.Addr) bool { return a == ourLL }
	sll := func(mac []byte) ndp.Option { return &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac} }
	hop255 := &ipv6.ControlMessage{HopLimit: 255}
	clientLL := linkLocal(clientMAC)
	na, err := ndp.MarshalMessage(&ndp.NeighborAdvertisement{TargetAddress: vip6a})
	if err != nil {
		t.Fatal(err)
	}
	withCode := func(b []byte) []byte { b = append([]byte(nil), b...); b[1] = 1; return b }
	tests := []struct {
		name string
		b    []byte
		cm   *ipv6.ControlMessage
		src  netip.Addr
		want DropReason
	}{
		{"solicitation for an owned VIP", nsBytes(t, vip6a, sll(clientMAC)), hop255, clientLL, ""},
		{"unicast NUD probe without source link-layer address", nsBytes(t, vip6a), hop255, clientIP6, ""},
		{"duplicate address detection is defended", nsBytes(t, vip6a), hop255, netip.IPv6Unspecified(), ""},
		{"solicitation for another address", nsBytes(t, netip.MustParseAddr("2001:db8:1::55"), sll(clientMAC)), hop255, clientLL, DropNotOwned},
		{"solicitation for a VIP on another interface", nsBytes(t, vip6eth1, sll(clientMAC)), hop255, clientLL, DropWrongInterface},
		{"advertisement", na, hop255, clientLL, DropNotRequest},
		{"from our link-local address", nsBytes(t, vip6a), hop255, ourLL, DropFromSelf},
		{"with our MAC as source link-layer address", nsBytes(t, vip6a, sll(mac0)), hop255, clientLL, DropFromSelf},
		{"hop limit 254 (forwarded by a router)", nsBytes(t, vip6a, sll(clientMAC)), &ipv6.ControlMessage{HopLimit: 254}, clientLL, DropMalformed},
		{"code 1", withCode(nsBytes(t, vip6a, sll(clientMAC))), hop255, clientLL, DropMalformed},
		{"truncated", nsBytes(t, vip6a)[:12], hop255, clientLL, DropMalformed},
		{"shorter than an ICMPv6 header", []byte{135, 0}, hop255, clientLL, DropMalformed},
		{"multicast target", nsBytes(t, netip.MustParseAddr("ff02::1")), hop255, clientLL, DropMalformed},
		{"DAD with a source link-layer address", nsBytes(t, vip6a, sll(clientMAC)), hop255, netip.IPv6Unspecified(), DropMalformed},
		{"source link-layer address option of 16 bytes", append(nsBytes(t, vip6a), 1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14), hop255, clientLL, DropMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := nsVerdict(tt.b, tt.cm, tt.src, self, mac0, owned)
			if got != tt.want {
				t.Errorf("nsVerdict = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNDPAnswersOwnedVIPs(t *testing.T) {
	synctest.Test(t, testNDPAnswersOwnedVIPs)
}

func testNDPAnswersOwnedVIPs(t *testing.T) {
	n := twoLinkNet()
	client := n.v6["eth0"].port(linkLocal(clientMAC), clientIP6)
	a, rec := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip6a, vip6eth1))

	// The takeover: one unsolicited advertisement to all nodes, with Override.
	m := client.next(t, wait)
	got := parseNA(t, m)
	if m.dst != netip.IPv6LinkLocalAllNodes() || got.Solicited || !got.Override || got.TargetAddress != vip6a || targetMAC(got).String() != mac0.String() {
		t.Errorf("unsolicited NA to %v = %+v (MAC %v); want to ff02::1, Override, not Solicited, target %v at %v",
			m.dst, got, targetMAC(got), vip6a, mac0)
	}

	solicit(t, client, vip6a)
	m = client.next(t, wait)
	got = parseNA(t, m)
	want := &ndp.NeighborAdvertisement{Solicited: true, Override: true, TargetAddress: vip6a,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac0}}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	if m.dst != linkLocal(clientMAC) || m.src != linkLocal(mac0) || m.hop != 255 {
		t.Errorf("answer %v -> %v hop %d, want %v -> %v hop 255", m.src, m.dst, m.hop, linkLocal(mac0), linkLocal(clientMAC))
	}

	// Duplicate address detection for the VIP is defended to all nodes.
	client.sendFrom(netip.IPv6Unspecified(), nsBytes(t, vip6a), 255, mustSNM(t, vip6a))
	m = client.next(t, wait)
	if got := parseNA(t, m); m.dst != netip.IPv6LinkLocalAllNodes() || got.Solicited {
		t.Errorf("DAD answer to %v solicited=%v, want to ff02::1 unsolicited", m.dst, got.Solicited)
	}
	testkit.EventuallyTrue(t, wait, waitEvery, "both answers to be counted", func() bool {
		return rec.count(event{kind: "answered", proto: protoNDP, iface: "eth0"}) == 2
	})

	// A solicitation for a VIP of eth1 sent to its group on eth0 does not even reach us: we
	// joined only the groups of eth0's VIPs there. Sent to all nodes, it does, and is dropped.
	if err := client.sendRaw(nsBytes(t, vip6eth1), 255, netip.IPv6LinkLocalAllNodes()); err != nil {
		t.Fatal(err)
	}
	if err := client.sendRaw(nsBytes(t, vip6a), 64, mustSNM(t, vip6a)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []DropReason{DropWrongInterface, DropMalformed} {
		testkit.EventuallyTrue(t, wait, waitEvery, "a "+string(r)+" drop", func() bool {
			return rec.count(event{kind: "dropped", proto: protoNDP, iface: "eth0", reason: string(r)}) == 1
		})
	}
	client.none(t, 50*time.Millisecond)
}

func mustSNM(t *testing.T, a netip.Addr) netip.Addr {
	t.Helper()
	g, err := ndp.SolicitedNodeMulticast(a)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The solicited-node groups follow the owned VIPs, with a group shared by two VIPs (equal low
// 24 bits) kept until both are gone. The fake fails a double join or a leave of an unjoined
// group, as the kernel does.
func TestNDPSolicitedNodeGroups(t *testing.T) {
	n := twoLinkNet()
	a, _ := testAnnouncer(t, n)
	shared := netip.MustParseAddr("2001:db8:1:0:ffff::100") // same low 24 bits as vip6a
	steps := []struct {
		vips []netip.Addr
		want []netip.Addr
	}{
		{[]netip.Addr{vip6a}, []netip.Addr{mustSNM(t, vip6a)}},
		{[]netip.Addr{vip6a, shared, vip6b}, []netip.Addr{mustSNM(t, vip6a), mustSNM(t, vip6b)}},
		{[]netip.Addr{shared, vip6b}, []netip.Addr{mustSNM(t, vip6a), mustSNM(t, vip6b)}},
		{[]netip.Addr{vip6b}, []netip.Addr{mustSNM(t, vip6b)}},
	}
	for i, s := range steps {
		st := setVIPs(t, a, bySubnet(s.vips...))
		for vip, vs := range st {
			if vs.Err != nil {
				t.Fatalf("step %d: %v: %v", i, vip, vs.Err)
			}
		}
		if diff := cmp.Diff(s.want, n.lastNDP("eth0").joined(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("step %d: joined groups (-want +got):\n%s", i, diff)
		}
	}
	// The last VIP gone, the socket is closed.
	setVIPs(t, a, nil)
	if open := n.openSockets(); len(open) != 0 {
		t.Errorf("sockets still open with no VIPs: %v", open)
	}
}

func TestNDPJoinFailureIsPerVIPAndRetried(t *testing.T) {
	n := twoLinkNet()
	a, rec := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip6b))
	port := n.lastNDP("eth0")
	port.mu.Lock()
	port.joinErr = errInjected
	port.mu.Unlock()

	st := setVIPs(t, a, bySubnet(vip6a, vip6b))
	if !st[vip6b].Announced() || st[vip6b].Err != nil {
		t.Errorf("status of %v = %+v, want announced: its group was joined before", vip6b, st[vip6b])
	}
	ue, ok := errorsAs[*ErrInterfaceUnavailable](st[vip6a].Err)
	if st[vip6a].Announced() || !ok || ue.Reason != InterfaceSocketFailed {
		t.Fatalf("status of %v = %+v, want not announced with a socket failure", vip6a, st[vip6a])
	}
	if got := rec.count(event{kind: "unavailable", iface: "eth0", reason: string(InterfaceSocketFailed)}); got != 1 {
		t.Errorf("unavailable count = %d, want 1", got)
	}
	port.mu.Lock()
	port.joinErr = nil
	port.mu.Unlock()
	// The retry (backoff starts at 500 ms) joins it without any call from us.
	testkit.EventuallyTrue(t, 3*time.Second, waitEvery, "the retry to announce "+vip6a.String(), func() bool { return a.Status()[vip6a].Announced() })
}
