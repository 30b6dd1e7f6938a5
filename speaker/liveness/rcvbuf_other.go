//go:build !linux

package liveness

import "net"

func raiseReadBuffer(c *net.UDPConn, n int) error { return c.SetReadBuffer(n) }
