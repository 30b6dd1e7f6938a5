package l2

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
)

// frameConn carries whole Ethernet frames of one interface: the subset of *packet.Conn the ARP
// responder uses. We parse frames ourselves rather than going through arp.Client because
// arp.Dial refuses interfaces without an IPv4 address (a named interface may have none) and
// hides truncated frames that we want to count as malformed.
type frameConn interface {
	ReadFrom(b []byte) (int, net.Addr, error)
	WriteTo(b []byte, addr net.Addr) (int, error)
	Close() error
}

// ndpConn is the subset of *ndp.Conn the NDP responder uses. ReadRaw rather than ReadFrom, so
// that malformed messages are counted instead of silently skipped, and the hop limit checked.
type ndpConn interface {
	ReadRaw(b []byte) (int, *ipv6.ControlMessage, netip.Addr, error)
	WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error
	JoinGroup(group netip.Addr) error
	LeaveGroup(group netip.Addr) error
	Close() error
}

// dialer opens the sockets of one interface. Tests give in-memory segments; the real one
// creates sockets in the network namespace of the calling thread.
type dialer interface {
	dialARP(l link) (frameConn, error)
	// dialNDP returns the connection and the link-local address it sends from.
	dialNDP(l link) (ndpConn, netip.Addr, error)
}

type osDialer struct{}

func (osDialer) dialARP(l link) (frameConn, error) {
	ifi := l.ifi
	return packet.Listen(&ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
}

func (osDialer) dialNDP(l link) (ndpConn, netip.Addr, error) {
	ifi := l.ifi
	// The link-local source is what RFC 4861 §4.4 expects of advertisements and is present on
	// every IPv6-enabled interface, whatever subnet the VIP is in. It stays tentative for about
	// a second after the link comes up (DAD); Listen fails until then and the retry covers it.
	c, src, err := ndp.Listen(&ifi, ndp.LinkLocal)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	// Solicitations only: the kernel hands a raw ICMPv6 socket every ICMPv6 message of the
	// interface, and waking up for each echo or router advertisement is wasted work.
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborSolicitation)
	if err := c.SetICMPFilter(&f); err != nil {
		_ = c.Close()
		return nil, netip.Addr{}, fmt.Errorf("setting the ICMPv6 filter: %w", err)
	}
	// The hop limit proves a solicitation was not forwarded by a router (RFC 4861 §7.1.1).
	if err := c.SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
		_ = c.Close()
		return nil, netip.Addr{}, fmt.Errorf("asking for the hop limit: %w", err)
	}
	return c, src, nil
}
