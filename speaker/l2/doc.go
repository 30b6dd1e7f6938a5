// Package l2 announces LoadBalancer VIPs on the local layer-2 segment.
//
// An [Announcer] is told, with full-set semantics, which VIPs this node announces now
// ([Announcer.SetVIPs]). For every VIP it picks the interfaces to announce on (those whose
// configured subnet holds the VIP, unless the caller names interfaces), answers ARP requests
// (RFC 826) for IPv4 VIPs and neighbour solicitations (RFC 4861) for IPv6 VIPs on them, and sends
// a burst of gratuitous ARP / unsolicited neighbour advertisements whenever a VIP becomes
// announced on an interface, so that clients move their neighbour entry to this node at once.
// Everything it does not announce it ignores, counting each ignored packet by a [DropReason].
//
// The sockets sit behind two small interfaces (a packet connection carrying Ethernet frames for
// ARP, and the calls of an NDP connection), so tests drive the responders through in-memory
// segments; the real ones come from github.com/mdlayher/packet and github.com/mdlayher/ndp.
// See README.md for the packet flow and the gratuitous schedule.
package l2
