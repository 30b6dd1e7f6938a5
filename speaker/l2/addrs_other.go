//go:build !linux

package l2

import (
	"net"
	"net/netip"
)

// interfaceAddrs asks each interface for its addresses: only Linux has the single dump.
func interfaceAddrs() (map[int][]netip.Prefix, error) {
	ifis, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := map[int][]netip.Prefix{}
	for _, ifi := range ifis {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(ipn.IP)
				ones, _ := ipn.Mask.Size()
				out[ifi.Index] = append(out[ifi.Index], netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
	}
	return out, nil
}
