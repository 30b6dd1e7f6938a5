package served

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseCIDRs parses a list of CIDRs, such as the values of the node proxies' and the
// controller's --allowed-external-ip-cidrs, each in the form CheckAddrs compares with
// (UnmapPrefix); blank entries are skipped.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 192.168.0.0/24 or fd00::/64", s)
		}
		out = append(out, UnmapPrefix(p))
	}
	return out, nil
}

// UnmapPrefix is p in the form CheckAddrs compares with, whose addresses ClaimsOf unmaps:
// masked, and an IPv4-mapped prefix (::ffff:a.b.c.d/n, n >= 96) as the IPv4 one (/n-96). A
// shorter prefix is wider than the mapped range and stays an IPv6 prefix.
func UnmapPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}
