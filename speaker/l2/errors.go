package l2

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrClosed is returned by SetVIPs after Close, or after the context given to New was cancelled.
var ErrClosed = errors.New("l2: the announcer is closed")

// ErrNoSubnet says that no interface of this node has a configured subnet containing VIP, so
// nothing on this node's links would expect to reach it directly.
type ErrNoSubnet struct {
	VIP netip.Addr
}

func (e *ErrNoSubnet) Error() string {
	return fmt.Sprintf("cannot be announced from this node: no interface has a subnet containing %s "+
		"(name the interfaces to announce it on, or pick a VIP from a subnet of this node's interfaces)", e.VIP)
}

// ErrInvalidVIP says that an address can never be announced as a VIP.
type ErrInvalidVIP struct {
	VIP    netip.Addr
	Reason string
}

func (e *ErrInvalidVIP) Error() string {
	return fmt.Sprintf("%s cannot be announced: %s; a VIP must be a unicast, non-link-local IPv4 or IPv6 address without a zone",
		e.VIP, e.Reason)
}

// InterfaceReason says why an interface cannot carry announcements. The values are the "reason"
// label of the frontdesk_speaker_l2_interface_unavailable_total metric.
type InterfaceReason string

const (
	// InterfaceMissing: a named interface does not exist on this node.
	InterfaceMissing InterfaceReason = "missing"
	// InterfaceDown: the interface is administratively down or has no carrier.
	InterfaceDown InterfaceReason = "down"
	// InterfaceNotEthernet: the interface has no 6-byte hardware address (loopback, tun,
	// WireGuard...), so ARP and NDP cannot name a MAC for the VIP.
	InterfaceNotEthernet InterfaceReason = "not_ethernet"
	// InterfaceSocketFailed: opening the ARP or NDP socket, or joining a multicast group, failed.
	InterfaceSocketFailed InterfaceReason = "socket_failed"
)

// ErrInterfaceUnavailable says why one interface does not announce a VIP. Missing, down and
// socket failures are retried with backoff and on every interface change.
type ErrInterfaceUnavailable struct {
	Interface string
	Reason    InterfaceReason
	Protocol  string // "ARP" or "NDP", for InterfaceSocketFailed
	Err       error  // the socket error, for InterfaceSocketFailed
}

func (e *ErrInterfaceUnavailable) Error() string {
	switch e.Reason {
	case InterfaceMissing:
		return fmt.Sprintf("interface %q does not exist on this node (retrying)", e.Interface)
	case InterfaceDown:
		return fmt.Sprintf("interface %q is down or has no carrier (retrying)", e.Interface)
	case InterfaceNotEthernet:
		return fmt.Sprintf("interface %q has no Ethernet address; ARP and NDP announce only on Ethernet-like interfaces", e.Interface)
	default:
		return fmt.Sprintf("interface %q: cannot serve %s: %v (retrying)", e.Interface, e.Protocol, e.Err)
	}
}

func (e *ErrInterfaceUnavailable) Unwrap() error { return e.Err }

// checkVIP returns an *ErrInvalidVIP for addresses no neighbour protocol can announce.
func checkVIP(vip netip.Addr) error {
	reason := ""
	switch {
	case !vip.IsValid():
		reason = "it is not an IP address"
	case vip.Zone() != "":
		reason = "it has a zone"
	case vip.Is4In6():
		reason = "it is an IPv4-mapped IPv6 address (use the IPv4 form)"
	case vip.IsUnspecified():
		reason = "it is the unspecified address"
	case vip.IsLoopback():
		reason = "it is a loopback address"
	case vip.IsMulticast(), vip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		reason = "it is a multicast or broadcast address"
	case vip.IsLinkLocalUnicast():
		reason = "it is a link-local address"
	default:
		return nil
	}
	return &ErrInvalidVIP{VIP: vip, Reason: reason}
}

// errorList is several errors of one VIP. Unlike errors.Join it keeps the message on one line,
// since it ends up in a status condition; errors.As and errors.Is still see every member.
type errorList []error

func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l errorList) Unwrap() []error { return l }
