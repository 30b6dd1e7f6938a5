package allocator

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/bits"
	"net/netip"
)

// Family is an IP family. Its values are spelled like Kubernetes' v1.IPFamily, so an adapter converts
// with a plain Family(f).
type Family string

// The IP families.
const (
	IPv4 Family = "IPv4"
	IPv6 Family = "IPv6"
)

// FamilyOf returns the family of a valid address.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// index maps a family to a slot in the per-family arrays; ok is false for an unknown family.
func (f Family) index() (int, bool) {
	switch f {
	case IPv4:
		return 0, true
	case IPv6:
		return 1, true
	}
	return 0, false
}

var families = [2]Family{IPv4, IPv6}

// Protocol is a transport protocol. Its values are spelled like Kubernetes' v1.Protocol.
type Protocol string

// The protocols a Service port may use.
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// bit gives each protocol one bit of a protoSet; 0 means unknown.
func (p Protocol) bit() protoSet {
	switch p {
	case TCP:
		return 1
	case UDP:
		return 2
	case SCTP:
		return 4
	}
	return 0
}

// protoSet is a set of protocols, one bit each.
type protoSet uint8

// Port is one port and protocol of a Service, as used for IP sharing.
type Port struct {
	Port     uint16
	Protocol Protocol
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// Range is an explicit, inclusive range of addresses of one family.
type Range struct {
	First, Last netip.Addr
}

func (r Range) String() string { return r.First.String() + "-" + r.Last.String() }

// u128 is an unsigned 128-bit integer: range sizes of IPv6 pools do not fit in 64 bits.
type u128 struct{ hi, lo uint64 }

func u128Of(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) sub(v u128) u128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, borrow)
	return u128{hi, lo}
}

func (u u128) big() *big.Int {
	x := new(big.Int).SetUint64(u.hi)
	x.Lsh(x, 64)
	return x.Or(x, new(big.Int).SetUint64(u.lo))
}

// lastAddr returns the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
