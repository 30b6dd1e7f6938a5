package l2

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ifaddrMsg builds an RTM_NEWADDR message as the kernel sends it: struct ifaddrmsg, then
// rtattrs padded to 4 bytes.
func ifaddrMsg(family byte, bits byte, index uint32, attrs map[uint16]netip.Addr) syscall.NetlinkMessage {
	data := make([]byte, syscall.SizeofIfAddrmsg)
	data[0], data[1] = family, bits
	binary.NativeEndian.PutUint32(data[4:8], index)
	for _, typ := range []uint16{syscall.IFA_ADDRESS, syscall.IFA_LOCAL} {
		a, ok := attrs[typ]
		if !ok {
			continue
		}
		v := a.AsSlice()
		hdr := make([]byte, 4)
		binary.NativeEndian.PutUint16(hdr[0:2], uint16(4+len(v)))
		binary.NativeEndian.PutUint16(hdr[2:4], typ)
		data = append(append(data, hdr...), v...)
		for len(data)%4 != 0 {
			data = append(data, 0)
		}
	}
	return syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWADDR}, Data: data}
}

func TestAddrsFromMessages(t *testing.T) {
	ip := netip.MustParseAddr
	msgs := []syscall.NetlinkMessage{
		ifaddrMsg(syscall.AF_INET, 24, 2, map[uint16]netip.Addr{syscall.IFA_ADDRESS: ip("192.0.2.1"), syscall.IFA_LOCAL: ip("192.0.2.1")}),
		ifaddrMsg(syscall.AF_INET6, 64, 2, map[uint16]netip.Addr{syscall.IFA_ADDRESS: ip("2001:db8:1::1")}),
		// Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
		ifaddrMsg(syscall.AF_INET, 32, 3, map[uint16]netip.Addr{syscall.IFA_ADDRESS: ip("10.0.0.2"), syscall.IFA_LOCAL: ip("10.0.0.1")}),
		// Skipped: a prefix longer than the address, a family that contradicts the address, no
		// address, a truncated header, another message type.
		ifaddrMsg(syscall.AF_INET, 40, 4, map[uint16]netip.Addr{syscall.IFA_LOCAL: ip("10.1.0.1")}),
		ifaddrMsg(syscall.AF_INET6, 64, 4, map[uint16]netip.Addr{syscall.IFA_ADDRESS: ip("10.1.0.1")}),
		ifaddrMsg(syscall.AF_INET, 24, 4, nil),
		{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWADDR}, Data: []byte{2, 24}},
		{Header: syscall.NlMsghdr{Type: syscall.RTM_NEWLINK}, Data: make([]byte, 16)},
	}
	want := map[int][]netip.Prefix{
		2: {netip.MustParsePrefix("192.0.2.1/24"), netip.MustParsePrefix("2001:db8:1::1/64")},
		3: {netip.MustParsePrefix("10.0.0.1/32")},
	}
	got := addrsFromMessages(msgs)
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
}
