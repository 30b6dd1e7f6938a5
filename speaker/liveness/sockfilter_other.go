//go:build !linux

package liveness

import (
	"net"
	"net/netip"
)

// setSourceFilter filters in the kernel on Linux only; elsewhere the reader filters alone.
func setSourceFilter(net.PacketConn, []netip.Addr) error { return nil }
