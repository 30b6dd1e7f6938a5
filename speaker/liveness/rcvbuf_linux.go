package liveness

import (
	"net"

	"golang.org/x/sys/unix"
)

// raiseReadBuffer asks for n bytes of socket receive buffer. SO_RCVBUF is capped by the
// net.core.rmem_max sysctl (208 KiB by default: a few hundred datagrams); SO_RCVBUFFORCE is not,
// and needs CAP_NET_ADMIN, which the speaker has. Without it, the capped request still helps.
func raiseReadBuffer(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	if serr != nil {
		return c.SetReadBuffer(n)
	}
	return nil
}
