package l2

import (
	"net/netip"
	"slices"
)

// VIPStatus says where a VIP is announced from this node, and why not (or not everywhere).
type VIPStatus struct {
	// Interfaces the VIP is announced on now, sorted.
	Interfaces []string
	// Err says why the VIP is not announced, or, for named interfaces, why not on some of them:
	// an *ErrNoSubnet, *ErrInvalidVIP, or one *ErrInterfaceUnavailable per interface (joined
	// with errors.Join; inspect with errors.As). Nil when announced everywhere it should be.
	Err error
}

// Announced reports whether the VIP is announced on at least one interface.
func (s VIPStatus) Announced() bool { return len(s.Interfaces) > 0 }

func (s VIPStatus) equal(o VIPStatus) bool {
	return slices.Equal(s.Interfaces, o.Interfaces) && errString(s.Err) == errString(o.Err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// DropReason says why a received ARP or NDP packet was not answered. The values are the
// "reason" label of the frontdesk_speaker_l2_packets_dropped_total metric.
type DropReason string

const (
	// DropMalformed: not a parseable packet, or one that RFC 826 / RFC 4861 §7.1.1 says to
	// discard (not Ethernet/IPv4 ARP, hop limit other than 255, multicast target, ...).
	DropMalformed DropReason = "malformed"
	// DropNotRequest: an ARP reply or an ICMPv6 message other than a neighbour solicitation.
	DropNotRequest DropReason = "not_request"
	// DropFromSelf: sent from this interface's own hardware or IPv6 address.
	DropFromSelf DropReason = "from_self"
	// DropGratuitous: an ARP announcement (sender IP equals target IP) for an address this node
	// does not announce. It asks nothing.
	DropGratuitous DropReason = "gratuitous"
	// DropConflict: an ARP announcement from another host claiming a VIP this node announces:
	// two hosts answer for one address (IPv4 only: NDP's unsolicited advertisements are not read).
	DropConflict DropReason = "conflict"
	// DropNotOwned: the target is not a VIP this node announces.
	DropNotOwned DropReason = "not_owned"
	// DropWrongInterface: the target is announced by this node, but on another interface.
	DropWrongInterface DropReason = "wrong_interface"
	// DropReplyFailed: the request was for us but writing the answer failed.
	DropReplyFailed DropReason = "reply_failed"
)

// protocol is the neighbour protocol one responder speaks; its value is a metric label.
type protocol string

const (
	protoARP protocol = "arp"
	protoNDP protocol = "ndp"
)

func protocolOf(vip netip.Addr) protocol {
	if vip.Is4() {
		return protoARP
	}
	return protoNDP
}

// vipSet is an immutable set once published: responders read it without locks.
type vipSet map[netip.Addr]struct{}

func (s vipSet) has(a netip.Addr) bool {
	_, ok := s[a]
	return ok
}
