package l2

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"

	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// IP plan of the unit tests.
//
//	eth0  02:00:00:00:00:01  192.0.2.1/24     2001:db8:1::1/64   segment shared with the client
//	eth1  02:00:00:00:00:02  203.0.113.1/24   2001:db8:2::1/64
//	client 02:00:00:00:00:aa 192.0.2.10        2001:db8:1::10 (and its link-local)
//	VIPs in eth0's subnets: 192.0.2.100, 192.0.2.101, 2001:db8:1::100, 2001:db8:1::101
//	VIPs in eth1's subnets: 203.0.113.100, 2001:db8:2::100
//	VIP in no subnet:       198.51.100.7
var (
	mac0      = mustMAC("02:00:00:00:00:01")
	mac1      = mustMAC("02:00:00:00:00:02")
	clientMAC = mustMAC("02:00:00:00:00:aa")
	clientIP  = netip.MustParseAddr("192.0.2.10")
	clientIP6 = netip.MustParseAddr("2001:db8:1::10")
	vip4a     = netip.MustParseAddr("192.0.2.100")
	vip4b     = netip.MustParseAddr("192.0.2.101")
	vip4eth1  = netip.MustParseAddr("203.0.113.100")
	vip6a     = netip.MustParseAddr("2001:db8:1::100")
	vip6b     = netip.MustParseAddr("2001:db8:1::101")
	vip6eth1  = netip.MustParseAddr("2001:db8:2::100")
	vipNoNet  = netip.MustParseAddr("198.51.100.7")
)

const wait = 2 * time.Second // generous bound for effects that cross goroutines

func twoLinkNet() *fakeNet {
	n := newFakeNet()
	n.addLink("eth0", 2, "02:00:00:00:00:01", "192.0.2.1/24", "2001:db8:1::1/64")
	n.addLink("eth1", 3, "02:00:00:00:00:02", "203.0.113.1/24", "2001:db8:2::1/64")
	return n
}

// testAnnouncer starts an announcer on a fake network with a one-packet burst (tests of the
// schedule set their own) and closes it at the end of the test.
func testAnnouncer(t *testing.T, n *fakeNet, tweaks ...func(*deps, *Config)) (*Announcer, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	d := deps{links: n.list, dial: n, clock: clock.RealClock{}, rec: rec, schedule: []time.Duration{0}}
	cfg := Config{Logger: ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(5)))}
	for _, tw := range tweaks {
		tw(&d, &cfg)
	}
	a, err := newAnnouncer(context.Background(), cfg, d)
	if err != nil {
		t.Fatalf("newAnnouncer: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, rec
}

func setVIPs(t *testing.T, a *Announcer, vips map[netip.Addr]announce.Announcement) map[netip.Addr]VIPStatus {
	t.Helper()
	st, err := a.SetVIPs(vips)
	if err != nil {
		t.Fatalf("SetVIPs: %v", err)
	}
	return st
}

func bySubnet(vips ...netip.Addr) map[netip.Addr]announce.Announcement {
	m := map[netip.Addr]announce.Announcement{}
	for _, v := range vips {
		m[v] = announce.Announcement{}
	}
	return m
}

func arpFrameOf(t testing.TB, op arp.Operation, ethSrc, ethDst net.HardwareAddr, sha net.HardwareAddr, sip netip.Addr, tha net.HardwareAddr, tip netip.Addr) []byte {
	t.Helper()
	p := &arp.Packet{HardwareType: 1, ProtocolType: uint16(ethernet.EtherTypeIPv4), HardwareAddrLength: 6, IPLength: 4,
		Operation: op, SenderHardwareAddr: sha, SenderIP: sip, TargetHardwareAddr: tha, TargetIP: tip}
	payload, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := ethernet.Frame{Destination: ethDst, Source: ethSrc, EtherType: ethernet.EtherTypeARP, Payload: payload}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// whoHas is a client's broadcast ARP request for target.
func whoHas(t testing.TB, target netip.Addr) []byte {
	return arpFrameOf(t, arp.OperationRequest, clientMAC, ethernet.Broadcast, clientMAC, clientIP, make(net.HardwareAddr, 6), target)
}

func parseARPFrame(t *testing.T, b []byte) (*ethernet.Frame, *arp.Packet) {
	t.Helper()
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil {
		t.Fatalf("frame: %v", err)
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		t.Fatalf("ARP: %v", err)
	}
	return &f, &p
}

// solicit sends a neighbour solicitation for target from the client port, to the target's
// solicited-node group, with the client's MAC as source link-layer address.
func solicit(t *testing.T, client *ndpPort, target netip.Addr) {
	t.Helper()
	ns := &ndp.NeighborSolicitation{TargetAddress: target,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: clientMAC}}}
	g, err := ndp.SolicitedNodeMulticast(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.WriteTo(ns, nil, g); err != nil {
		t.Fatal(err)
	}
}

func parseNA(t *testing.T, m ndpMsg) *ndp.NeighborAdvertisement {
	t.Helper()
	msg, err := ndp.ParseMessage(m.b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	na, ok := msg.(*ndp.NeighborAdvertisement)
	if !ok {
		t.Fatalf("got %T, want a neighbour advertisement", msg)
	}
	return na
}

func targetMAC(na *ndp.NeighborAdvertisement) net.HardwareAddr {
	for _, o := range na.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
			return lla.Addr
		}
	}
	return nil
}

func errorsAs[E error](err error) (E, bool) { return errors.AsType[E](err) }

func realClock() clock.Clock { return clock.RealClock{} }
