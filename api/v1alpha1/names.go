package v1alpha1

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrInvalidName is matched (errors.Is) by the error of ParseIPAllocationName.
var ErrInvalidName = errors.New("not an IPAllocation name")

// IPAllocationName returns the name of the IPAllocation of the address a, which must be valid
// and zoneless (an IPv4-mapped IPv6 address is not a pool address; the CRD refuses it).
//
// An IPv4 address is its own name (198.51.100.7). Object names of custom resources are DNS
// subdomains, which cannot hold ':', so an IPv6 address is written in canonical form (RFC 5952)
// with '-' for ':' (2001:db8::7 is 2001-db8--7); since a name must begin and end with a letter
// or digit, a leading or trailing "::" gets a '0' on its outer side (::1 is 0--1, 2001:db8:: is
// 2001-db8--0). The API server's own IPAddress objects keep the ':' (their names are checked as
// IPs, not as DNS subdomains), so the two names differ for IPv6.
func IPAllocationName(a netip.Addr) string {
	s := a.String()
	if a.Is4() {
		return s
	}
	s = strings.ReplaceAll(s, ":", "-")
	if strings.HasPrefix(s, "-") {
		s = "0" + s
	}
	if strings.HasSuffix(s, "-") {
		s += "0"
	}
	return s
}

// ParseIPAllocationName returns the address whose IPAllocation is called name. It accepts
// exactly the names IPAllocationName returns, so that one address has one name.
func ParseIPAllocationName(name string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.ReplaceAll(name, "-", ":"))
	switch {
	case err != nil:
		return netip.Addr{}, invalidName(name, "it does not encode an IP address")
	case a.Zone() != "":
		return netip.Addr{}, invalidName(name, "it has a zone")
	case a.Is4In6():
		return netip.Addr{}, invalidName(name, "it encodes an IPv4-mapped IPv6 address")
	case IPAllocationName(a) != name:
		return netip.Addr{}, invalidName(name, fmt.Sprintf("the name of %s is %s", a, IPAllocationName(a)))
	}
	return a, nil
}

func invalidName(name, reason string) error {
	return fmt.Errorf("%w: %q: %s; want an IPv4 address such as 198.51.100.7, or an IPv6 address "+
		"in canonical form with - for :, such as 2001-db8--7", ErrInvalidName, name, reason)
}
