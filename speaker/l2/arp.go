package l2

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// arpReadBuffer holds any Ethernet frame: a shorter buffer would truncate long (padded, or
// VLAN-tagged) frames into something that looks malformed.
const arpReadBuffer = 1522

// arpResponder answers ARP requests for the IPv4 VIPs of one interface.
type arpResponder struct {
	responderBase
	conn frameConn
}

func newARPResponder(cfg responderConfig, conn frameConn) *arpResponder {
	r := &arpResponder{conn: conn}
	r.init(cfg, protoARP)
	go r.run()
	return r
}

func (r *arpResponder) setOwned(vips []netip.Addr) map[netip.Addr]error {
	r.store(vips)
	return nil
}

func (r *arpResponder) close() { r.shut(r.conn.Close) }

func (r *arpResponder) run() {
	defer close(r.done)
	buf := make([]byte, arpReadBuffer)
	for {
		n, _, err := r.conn.ReadFrom(buf)
		if err != nil {
			r.stopped(err)
			return
		}
		r.handle(buf[:n])
	}
}

func (r *arpResponder) handle(frame []byte) {
	mac := r.link().ifi.HardwareAddr
	req, reason := arpVerdict(frame, mac, r.target)
	if reason == DropGratuitous && req != nil && r.owned.Load().has(req.TargetIP) {
		reason = DropConflict
		r.log.Info("Another host announces a VIP this node announces: address conflict",
			"vip", req.TargetIP, "otherMAC", req.SenderHardwareAddr.String())
	}
	if reason != "" {
		if v := r.drop(reason); v.Enabled() && req != nil {
			v.Info("Ignored an ARP packet", "target", req.TargetIP, "sender", req.SenderIP, "op", req.Operation.String())
		} else if v.Enabled() {
			v.Info("Ignored an ARP packet", "bytes", len(frame))
		}
		return
	}
	// Unicast to the asker, as the kernel does: a broadcast reply would make every host on the
	// segment re-learn the VIP at each request.
	if err := r.write(req.SenderHardwareAddr, arpReply(req, mac)); err != nil {
		r.drop(DropReplyFailed)
		r.log.Error(err, "Answering an ARP request failed", "vip", req.TargetIP, "asker", req.SenderIP)
		return
	}
	r.rec.answered(protoARP, r.link().name())
	if v := r.log.V(4); v.Enabled() {
		v.Info("Answered ARP request", "vip", req.TargetIP, "asker", req.SenderIP, "askerMAC", req.SenderHardwareAddr.String())
	}
}

// gratuitous sends the two forms of gratuitous ARP for vip, both broadcast:
//   - a request with sender IP = target IP (the RFC 5227 §2.3 announcement), and
//   - a reply with sender IP = target IP and target MAC = sender MAC.
//
// Linux (net/ipv4/arp.c, arp_is_garp) treats either form as gratuitous and then overrides an
// existing neighbour entry even within its locktime; a reply whose target MAC is the broadcast
// address (MetalLB's form) is not recognised as gratuitous there and is subject to locktime.
// Other stacks and switches act on one form or the other, so both go out.
func (r *arpResponder) gratuitous(vip netip.Addr) error {
	mac := r.link().ifi.HardwareAddr
	for _, p := range garpPackets(vip, mac) {
		if err := r.write(ethernet.Broadcast, p); err != nil {
			return fmt.Errorf("sending gratuitous ARP (%s) for %s: %w", p.Operation, vip, err)
		}
		r.rec.gratuitousSent(protoARP, r.link().name())
	}
	return nil
}

// arpReply answers req: the requested address is at mac.
func arpReply(req *arp.Packet, mac net.HardwareAddr) *arp.Packet {
	return &arp.Packet{
		HardwareType: 1, ProtocolType: uint16(ethernet.EtherTypeIPv4),
		HardwareAddrLength: 6, IPLength: 4,
		Operation:          arp.OperationReply,
		SenderHardwareAddr: mac, SenderIP: req.TargetIP,
		TargetHardwareAddr: req.SenderHardwareAddr, TargetIP: req.SenderIP,
	}
}

func garpPackets(vip netip.Addr, mac net.HardwareAddr) []*arp.Packet {
	base := arp.Packet{
		HardwareType: 1, ProtocolType: uint16(ethernet.EtherTypeIPv4),
		HardwareAddrLength: 6, IPLength: 4,
		SenderHardwareAddr: mac, SenderIP: vip, TargetIP: vip,
	}
	req, rep := base, base
	req.Operation = arp.OperationRequest
	req.TargetHardwareAddr = make(net.HardwareAddr, 6) // RFC 5227: ignored, zero
	rep.Operation = arp.OperationReply
	rep.TargetHardwareAddr = mac
	return []*arp.Packet{&req, &rep}
}

func (r *arpResponder) write(dst net.HardwareAddr, p *arp.Packet) error {
	frame, err := arpFrame(dst, p)
	if err != nil {
		return err
	}
	_, err = r.conn.WriteTo(frame, &packet.Addr{HardwareAddr: dst})
	return err
}

func arpFrame(dst net.HardwareAddr, p *arp.Packet) ([]byte, error) {
	payload, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f := ethernet.Frame{
		Destination: dst,
		Source:      p.SenderHardwareAddr,
		EtherType:   ethernet.EtherTypeARP,
		Payload:     payload,
	}
	return f.MarshalBinary()
}

// arpVerdict decides what to do with one received frame: answer the returned request (reason
// ""), or drop it for the returned reason. The request is returned whenever it parsed, for
// logging. target classifies the requested address.
func arpVerdict(frame []byte, mac net.HardwareAddr, target func(netip.Addr) DropReason) (*arp.Packet, DropReason) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil || f.EtherType != ethernet.EtherTypeARP {
		return nil, DropMalformed
	}
	p := new(arp.Packet)
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return nil, DropMalformed
	}
	// RFC 826 over Ethernet for IPv4: hardware type 1, protocol 0x0800, lengths 6 and 4. The
	// sender must be a unicast MAC: we would unicast the reply to it.
	if p.HardwareType != 1 || p.ProtocolType != uint16(ethernet.EtherTypeIPv4) ||
		p.HardwareAddrLength != 6 || p.IPLength != 4 || !unicastMAC(p.SenderHardwareAddr) {
		return p, DropMalformed
	}
	if bytes.Equal(f.Source, mac) || bytes.Equal(p.SenderHardwareAddr, mac) {
		return p, DropFromSelf
	}
	if p.Operation != arp.OperationRequest {
		return p, DropNotRequest
	}
	// A sender IP of 0.0.0.0 is an RFC 5227 probe: answering it is how the owner defends the
	// address. Sender IP = target IP is an announcement: nobody is asking.
	if p.SenderIP == p.TargetIP {
		return p, DropGratuitous
	}
	// Frames unicast to another MAC are answered too: a client re-probing the VIP's old owner
	// (NUD PROBE state) whose frame is flooded to us gets the new owner at once.
	return p, target(p.TargetIP)
}

func unicastMAC(m net.HardwareAddr) bool {
	return len(m) == 6 && m[0]&1 == 0 && !bytes.Equal(m, make(net.HardwareAddr, 6))
}
