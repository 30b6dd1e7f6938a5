package l2

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// ndpResponder answers neighbour solicitations for the IPv6 VIPs of one interface.
type ndpResponder struct {
	responderBase
	conn ndpConn
	src  netip.Addr // the link-local address we send from

	mu     sync.Mutex                  // serialises setOwned; the read loop never takes it
	groups map[netip.Addr][]netip.Addr // solicited-node group → owned VIPs that need it
}

func newNDPResponder(cfg responderConfig, conn ndpConn, src netip.Addr) *ndpResponder {
	r := &ndpResponder{conn: conn, src: src.WithZone(""), groups: map[netip.Addr][]netip.Addr{}}
	r.init(cfg, protoNDP)
	go r.run()
	return r
}

// setOwned joins the solicited-node multicast group of every VIP (RFC 4861 §7.2.1 sends
// solicitations there, and the kernel drops multicast for groups nobody joined) and leaves the
// groups no VIP needs any more. Several VIPs share a group when their low 24 bits are equal.
func (r *ndpResponder) setOwned(vips []netip.Addr) map[netip.Addr]error {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[netip.Addr][]netip.Addr{}
	for _, vip := range vips {
		g, err := ndp.SolicitedNodeMulticast(vip)
		if err != nil {
			continue // not IPv6: makePlan never sends those here
		}
		want[g] = append(want[g], vip)
	}
	var failed map[netip.Addr]error
	owned := make([]netip.Addr, 0, len(vips))
	for g, members := range want {
		if _, ok := r.groups[g]; !ok {
			if err := r.conn.JoinGroup(g); err != nil {
				if failed == nil {
					failed = map[netip.Addr]error{}
				}
				for _, vip := range members {
					failed[vip] = fmt.Errorf("joining the solicited-node group %s: %w", g, err)
				}
				delete(want, g)
				continue
			}
		}
		owned = append(owned, members...)
	}
	// Publish before leaving: a VIP being removed stops being answered now, not after the
	// syscalls.
	r.store(owned)
	for g := range r.groups {
		if _, ok := want[g]; !ok {
			if err := r.conn.LeaveGroup(g); err != nil {
				r.log.V(2).Info("Leaving a solicited-node group failed", "group", g, "err", err)
			}
		}
	}
	r.groups = want
	return failed
}

func (r *ndpResponder) close() { r.shut(r.conn.Close) }

func (r *ndpResponder) run() {
	defer close(r.done)
	buf := make([]byte, max(r.link().ifi.MTU, 1500))
	for {
		n, cm, src, err := r.conn.ReadRaw(buf)
		if err != nil {
			r.stopped(err)
			return
		}
		r.handle(buf[:n], cm, src)
	}
}

func (r *ndpResponder) handle(b []byte, cm *ipv6.ControlMessage, src netip.Addr) {
	mac := r.link().ifi.HardwareAddr
	self := func(a netip.Addr) bool { return a.WithZone("") == r.src || r.link().ownAddr(a) }
	ns, reason := nsVerdict(b, cm, src, self, mac, r.target)
	if reason != "" {
		if v := r.drop(reason); v.Enabled() && ns != nil {
			v.Info("Ignored an ICMPv6 message", "target", ns.TargetAddress, "sender", src)
		} else if v.Enabled() {
			v.Info("Ignored an ICMPv6 message", "sender", src, "bytes", len(b))
		}
		return
	}
	na, dst := neighborAdvertisement(ns.TargetAddress, mac, src)
	if err := r.conn.WriteTo(na, nil, dst); err != nil {
		r.drop(DropReplyFailed)
		r.log.Error(err, "Answering a neighbour solicitation failed", "vip", ns.TargetAddress, "asker", src)
		return
	}
	r.rec.answered(protoNDP, r.link().name())
	if v := r.log.V(4); v.Enabled() {
		v.Info("Answered neighbour solicitation", "vip", ns.TargetAddress, "asker", src)
	}
}

// gratuitous sends an unsolicited neighbour advertisement for vip to all nodes (RFC 4861
// §7.2.6) with the Override flag, which makes receivers replace the link-layer address of an
// existing entry (§7.2.5). Linux has no locktime for NDP: the first one that arrives lands.
func (r *ndpResponder) gratuitous(vip netip.Addr) error {
	na, dst := neighborAdvertisement(vip, r.link().ifi.HardwareAddr, netip.Addr{})
	na.Solicited = false
	if err := r.conn.WriteTo(na, nil, dst); err != nil {
		return fmt.Errorf("sending an unsolicited neighbour advertisement for %s: %w", vip, err)
	}
	r.rec.gratuitousSent(protoNDP, r.link().name())
	return nil
}

// neighborAdvertisement builds the answer to a solicitation from src. Override is always set:
// with it clear, RFC 4861 §7.2.5 has a client keep the old MAC of an entry it already holds,
// which is exactly the entry that must move after a takeover. A solicitation from the
// unspecified address is duplicate address detection, answered to all nodes, unsolicited
// (RFC 4861 §7.2.4).
func neighborAdvertisement(target netip.Addr, mac net.HardwareAddr, src netip.Addr) (*ndp.NeighborAdvertisement, netip.Addr) {
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
	if !src.IsValid() || src.IsUnspecified() {
		return na, netip.IPv6LinkLocalAllNodes()
	}
	na.Solicited = true
	return na, src
}

// nsVerdict decides what to do with one received ICMPv6 message: answer the returned
// solicitation (reason ""), or drop it for the returned reason. self reports our own addresses;
// target classifies the solicited address.
func nsVerdict(b []byte, cm *ipv6.ControlMessage, src netip.Addr, self func(netip.Addr) bool,
	mac net.HardwareAddr, target func(netip.Addr) DropReason) (*ndp.NeighborSolicitation, DropReason) {
	if len(b) < 4 {
		return nil, DropMalformed
	}
	if ipv6.ICMPType(b[0]) != ipv6.ICMPTypeNeighborSolicitation {
		return nil, DropNotRequest
	}
	// RFC 4861 §7.1.1: code 0 and hop limit 255, which proves the sender is on this link.
	if b[1] != 0 || (cm != nil && cm.HopLimit != ndp.HopLimit) {
		return nil, DropMalformed
	}
	m, err := ndp.ParseMessage(b)
	if err != nil {
		return nil, DropMalformed
	}
	ns, ok := m.(*ndp.NeighborSolicitation)
	if !ok || !ns.TargetAddress.Is6() || ns.TargetAddress.IsMulticast() {
		return ns, DropMalformed
	}
	sll, bad := sourceLinkLayer(ns.Options)
	// A solicitation from the unspecified address (DAD) must not carry a source link-layer
	// address: nobody could cache it.
	if bad || (src.IsUnspecified() && sll != nil) {
		return ns, DropMalformed
	}
	if self(src) || (sll != nil && bytes.Equal(sll, mac)) {
		return ns, DropFromSelf
	}
	return ns, target(ns.TargetAddress.WithZone(""))
}

// sourceLinkLayer returns the source link-layer address option; bad is true when it is not a
// MAC, which RFC 4861 §4.6.1 says to treat as an invalid message on Ethernet.
func sourceLinkLayer(opts []ndp.Option) (mac net.HardwareAddr, bad bool) {
	for _, o := range opts {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			return lla.Addr, len(lla.Addr) != 6
		}
	}
	return nil, false
}
