package l2

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// FuzzARPVerdict feeds arbitrary frames to the ARP classifier. Whatever the input: no panic,
// an answer only for the owned VIP to a unicast asker that is not us, and a reply that
// survives a marshal/parse round trip as a valid reply.
func FuzzARPVerdict(f *testing.F) {
	zero := make(net.HardwareAddr, 6)
	f.Add(whoHas(f, vip4a))
	f.Add(whoHas(f, vip4b))
	f.Add(whoHas(f, vip4a)[:30])
	f.Add(arpFrameOf(f, arp.OperationReply, clientMAC, mac0, clientMAC, clientIP, mac0, vip4a))
	f.Add(arpFrameOf(f, arp.OperationRequest, clientMAC, ethernet.Broadcast, clientMAC, netip.IPv4Unspecified(), zero, vip4a))
	f.Add(arpFrameOf(f, arp.OperationRequest, clientMAC, ethernet.Broadcast, clientMAC, vip4a, zero, vip4a))
	tagged := whoHas(f, vip4a) // an 802.1Q tag before the EtherType
	f.Add(append(append(bytes.Clone(tagged[:12]), 0x81, 0x00, 0x00, 0x05), tagged[12:]...))
	f.Add([]byte{})

	owned := func(a netip.Addr) DropReason {
		if a == vip4a {
			return ""
		}
		return DropNotOwned
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, reason := arpVerdict(frame, mac0, owned)
		if reason != "" {
			return
		}
		if req == nil || req.Operation != arp.OperationRequest || req.TargetIP != vip4a ||
			!unicastMAC(req.SenderHardwareAddr) || bytes.Equal(req.SenderHardwareAddr, mac0) || req.SenderIP == req.TargetIP {
			t.Fatalf("answered %+v", req)
		}
		b, err := arpFrame(req.SenderHardwareAddr, arpReply(req, mac0))
		if err != nil {
			t.Fatalf("marshal reply: %v", err)
		}
		var eth ethernet.Frame
		var rep arp.Packet
		if err := eth.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if err := rep.UnmarshalBinary(eth.Payload); err != nil {
			t.Fatal(err)
		}
		if rep.Operation != arp.OperationReply || rep.SenderIP != vip4a || !bytes.Equal(rep.SenderHardwareAddr, mac0) ||
			rep.TargetIP != req.SenderIP || !bytes.Equal(eth.Destination, req.SenderHardwareAddr) {
			t.Fatalf("reply %+v to %v for request %+v", rep, eth.Destination, req)
		}
		// Our own reply, looped back, is never answered.
		if _, r := arpVerdict(b, mac0, owned); r == "" {
			t.Fatal("our own reply would be answered")
		}
	})
}

// FuzzNSVerdict does the same for ICMPv6 messages, with any hop limit and source.
func FuzzNSVerdict(f *testing.F) {
	seed := func(target netip.Addr, opts ...ndp.Option) []byte {
		b, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{TargetAddress: target, Options: opts})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	sll := &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: clientMAC}
	f.Add(seed(vip6a, sll), uint8(255), false)
	f.Add(seed(vip6a), uint8(255), true)
	f.Add(seed(vip6b, sll), uint8(255), false)
	f.Add(seed(vip6a, sll)[:20], uint8(255), false)
	f.Add(seed(vip6a, sll), uint8(64), false)
	f.Add([]byte{136, 0, 0, 0}, uint8(255), false)

	owned := func(a netip.Addr) DropReason {
		if a == vip6a {
			return ""
		}
		return DropNotOwned
	}
	self := func(a netip.Addr) bool { return a == linkLocal(mac0) }
	f.Fuzz(func(t *testing.T, b []byte, hop uint8, unspecified bool) {
		src := linkLocal(clientMAC)
		if unspecified {
			src = netip.IPv6Unspecified()
		}
		ns, reason := nsVerdict(b, &ipv6.ControlMessage{HopLimit: int(hop)}, src, self, mac0, owned)
		if reason != "" {
			return
		}
		if ns == nil || hop != 255 || ns.TargetAddress != vip6a {
			t.Fatalf("answered %+v with hop limit %d", ns, hop)
		}
		na, dst := neighborAdvertisement(ns.TargetAddress, mac0, src)
		if unspecified != (dst == netip.IPv6LinkLocalAllNodes()) || na.Solicited == unspecified {
			t.Fatalf("answer to %v solicited=%v for source %v", dst, na.Solicited, src)
		}
		out, err := ndp.MarshalMessage(na)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		m, err := ndp.ParseMessage(out)
		if err != nil {
			t.Fatalf("parse our answer: %v", err)
		}
		got, ok := m.(*ndp.NeighborAdvertisement)
		if !ok || !got.Override || got.TargetAddress != vip6a || !bytes.Equal(targetMAC(got), mac0) {
			t.Fatalf("answer parsed back as %+v", m)
		}
		// An advertisement is never answered.
		if _, r := nsVerdict(out, &ipv6.ControlMessage{HopLimit: 255}, linkLocal(mac1), self, mac0, owned); r != DropNotRequest {
			t.Fatalf("our advertisement classified %q, want %q", r, DropNotRequest)
		}
	})
}
