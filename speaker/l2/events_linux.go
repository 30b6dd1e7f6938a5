package l2

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// netlinkEvents wakes on every rtnetlink link or address notification. Messages are not
// parsed: any change means "list the interfaces again", and listing is cheap next to the cost
// of answering late.
type netlinkEvents struct {
	f   *os.File
	buf []byte
}

// openLinkEvents subscribes in the network namespace of the calling thread.
func openLinkEvents() (linkEvents, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	sa := &unix.SockaddrNetlink{
		Family: unix.AF_NETLINK,
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR,
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	// A non-blocking descriptor makes the File use the runtime poller, so Close wakes a
	// pending Read and the reading goroutine can stop.
	return &netlinkEvents{f: os.NewFile(uintptr(fd), "rtnetlink"), buf: make([]byte, 64<<10)}, nil
}

func (e *netlinkEvents) wait() error {
	_, err := e.f.Read(e.buf)
	if errors.Is(err, unix.ENOBUFS) {
		// The kernel dropped notifications for us: something changed, we do not know what.
		return nil
	}
	return err
}

func (e *netlinkEvents) close() error { return e.f.Close() }
