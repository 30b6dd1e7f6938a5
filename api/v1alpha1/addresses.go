package v1alpha1

import (
	"errors"
	"fmt"
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
		return AddressEntry{Text: s, Prefix: p, First: p.Addr(), Last: lastAddr(p)}, nil
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
	return AddressEntry{Text: s, First: a, Last: b}, nil
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

// lastAddr returns the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
