package v1alpha1

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// AddressEntry is one parsed entry of IPPoolSpec.Addresses.
//
// +kubebuilder:object:generate=false
type AddressEntry struct {
	// Text is the entry as written in the spec.
	Text string
	// Prefix is the CIDR when the entry is one; it is the zero Prefix for a range.
	Prefix netip.Prefix
	// First and Last bound the entry's addresses, inclusively, for a CIDR as for a range.
	First, Last netip.Addr
}

// Overlaps says whether e and o share an address.
func (e AddressEntry) Overlaps(o AddressEntry) bool {
	return e.First.BitLen() == o.First.BitLen() && e.First.Compare(o.Last) <= 0 && o.First.Compare(e.Last) <= 0
}

// Contains says whether a is one of e's addresses.
func (e AddressEntry) Contains(a netip.Addr) bool {
	return a.BitLen() == e.First.BitLen() && e.First.Compare(a) <= 0 && a.Compare(e.Last) <= 0
}

// InvalidAddressError says why an entry of IPPoolSpec.Addresses was refused.
//
// +kubebuilder:object:generate=false
type InvalidAddressError struct {
	Entry  string
	Reason string
}

func (e *InvalidAddressError) Error() string {
	return fmt.Sprintf("%q %s", e.Entry, e.Reason)
}

// OverlapError says that two entries share an address. Pool and OtherPool are empty when both
// entries belong to the pool being parsed.
//
// +kubebuilder:object:generate=false
type OverlapError struct {
	Entry, Other string
	OtherPool    string
}

func (e *OverlapError) Error() string {
	if e.OtherPool != "" {
		return fmt.Sprintf("%q overlaps %q of pool %q; pools must not share addresses", e.Entry, e.Other, e.OtherPool)
	}
	return fmt.Sprintf("%q overlaps %q; every address may belong to one entry only: merge or split the entries",
		e.Entry, e.Other)
}

const acceptedEntries = "want a CIDR such as 198.51.100.0/24 or 2001:db8::/64, or an inclusive range " +
	"FIRST-LAST such as 198.51.100.10-198.51.100.20 (one address is 198.51.100.7/32)"

// ParseAddressEntry parses one entry of IPPoolSpec.Addresses by the rules the CRD's CEL rules
// enforce (README.md lists them), so that the controller and the API server agree on what an
// entry means. The error is an *InvalidAddressError.
func ParseAddressEntry(s string) (AddressEntry, error) {
	bad := func(reason string) (AddressEntry, error) {
		return AddressEntry{}, &InvalidAddressError{Entry: s, Reason: reason}
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Is4In6() {
			return bad("is not a valid CIDR; " + acceptedEntries)
		}
		if m := p.Masked(); m != p {
			return bad(fmt.Sprintf("has bits set after its prefix length; write its network address, %s, or use a range", m))
		}
		e := PrefixEntry(p)
		e.Text = s
		return checkAllowed(e)
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return bad("is neither a CIDR nor a range; " + acceptedEntries)
	}
	a, errA := parseAddr(first)
	b, errB := parseAddr(last)
	if errA != nil || errB != nil {
		return bad("is not a range of two IP addresses; " + acceptedEntries)
	}
	if a.Is4() != b.Is4() {
		return bad("mixes IPv4 and IPv6; both ends of a range must be of one family")
	}
	if a.Compare(b) > 0 {
		return bad(fmt.Sprintf("is reversed; its first address must not be greater than its last, as in %s-%s", last, first))
	}
	return checkAllowed(AddressEntry{Text: s, First: a, Last: b})
}

// checkAllowed refuses a well-formed entry that is too large or holds reserved addresses.
func checkAllowed(e AddressEntry) (AddressEntry, error) {
	if isTooLarge(e) {
		return AddressEntry{}, &InvalidAddressError{Entry: e.Text, Reason: tooLarge}
	}
	if r := reservedProblem(e); r != "" {
		return AddressEntry{}, &InvalidAddressError{Entry: e.Text, Reason: r}
	}
	return e, nil
}

// ReservedPrefix is a range of addresses that is never a LoadBalancer address.
//
// +kubebuilder:object:generate=false
type ReservedPrefix struct {
	Prefix netip.Prefix
	What   string // what the range is, for messages
}

// ReservedPrefixes are the ranges no IPPool entry may overlap (issue 17): the node proxy programs
// every pool address in nat-output on every node, so a pool holding 127.0.0.1 or a link-local
// address would redirect the nodes' own traffic, and multicast, broadcast and unspecified
// addresses are not unicast destinations. The CRD's CEL rule is generated from this list
// (celrules_test.go).
var ReservedPrefixes = []ReservedPrefix{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network (RFC 791)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved, with the broadcast address"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// The largest entry a pool may hold, by family: as many addresses as a /8 of IPv4 and a /32 of
// IPv6 (an RIR's usual allocation to a whole network operator). No set of LoadBalancer addresses
// comes near it, and it keeps 0.0.0.0/0 and ::/0 out, which would take every address there is.
const (
	MinPrefixLengthIPv4 = 8
	MinPrefixLengthIPv6 = 32
)

// tooLarge is the message of an entry larger than the largest allowed.
const tooLarge = "holds more addresses than a /8 of IPv4 or a /32 of IPv6, the largest pool entry; " +
	"no pool needs more, and 0.0.0.0/0 or ::/0 would take every address"

// reservedProblem says which reserved range e overlaps, or "".
func reservedProblem(e AddressEntry) string {
	for _, r := range ReservedPrefixes {
		if e.Overlaps(PrefixEntry(r.Prefix)) {
			return fmt.Sprintf("overlaps %s (%s), which is never a LoadBalancer address", r.Prefix, r.What)
		}
	}
	return ""
}

// isTooLarge says whether e holds more addresses than a prefix of the minimum length: whether
// Last-First, a 128-bit difference, reaches 2^(bits-min).
func isTooLarge(e AddressEntry) bool {
	n := e.First.BitLen() - MinPrefixLengthIPv4
	if e.First.Is6() {
		n = e.First.BitLen() - MinPrefixLengthIPv6
	}
	f, l := e.First.As16(), e.Last.As16()
	lo, borrow := bits.Sub64(binary.BigEndian.Uint64(l[8:]), binary.BigEndian.Uint64(f[8:]), 0)
	hi, _ := bits.Sub64(binary.BigEndian.Uint64(l[:8]), binary.BigEndian.Uint64(f[:8]), borrow)
	if n >= 64 {
		return hi>>(n-64) != 0
	}
	return hi != 0 || lo>>n != 0
}

// parseAddr parses an address as the CRD's ip() does: no zone, no IPv4-mapped IPv6 address.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, errors.New("zoned or IPv4-mapped")
	}
	return a, nil
}

// ParseAddresses parses every entry of IPPoolSpec.Addresses and checks that no two overlap.
// It returns the entries that parsed, sorted by first address, and an error joining an
// *InvalidAddressError per bad entry and an *OverlapError per overlapping pair found (each
// entry is reported overlapping at most the entry before it in address order).
func ParseAddresses(entries []string) ([]AddressEntry, error) {
	var errs []error
	out := make([]AddressEntry, 0, len(entries))
	for _, s := range entries {
		e, err := ParseAddressEntry(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b AddressEntry) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return a.Last.Compare(b.Last)
	})
	// Sorted by first address, an entry overlaps an earlier one exactly when it starts at or
	// before the furthest end seen so far in its family.
	var furthest [2]int // index+1 into out of the entry reaching furthest, per family
	for i, e := range out {
		f := 0
		if e.First.Is6() {
			f = 1
		}
		if j := furthest[f] - 1; j >= 0 && e.First.Compare(out[j].Last) <= 0 {
			errs = append(errs, &OverlapError{Entry: out[j].Text, Other: e.Text})
			if e.Last.Compare(out[j].Last) <= 0 {
				continue
			}
		}
		furthest[f] = i + 1
	}
	return out, errors.Join(errs...)
}

// PrefixEntry is the entry of the masked prefix p, as ParseAddressEntry reads it from p.String()
// (no check of size or reserved ranges): its Last is p's last address.
func PrefixEntry(p netip.Prefix) AddressEntry {
	return AddressEntry{Text: p.String(), Prefix: p, First: p.Addr(), Last: lastAddr(p)}
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
