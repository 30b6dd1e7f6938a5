package l2

import (
	"encoding/binary"
	"net/netip"
	"os"
	"syscall"
)

// interfaceAddrs returns the configured addresses of every interface, by index, from one
// rtnetlink dump.
func interfaceAddrs() (map[int][]netip.Prefix, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_UNSPEC)
	if err != nil {
		return nil, os.NewSyscallError("netlinkrib", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, os.NewSyscallError("parsenetlinkmessage", err)
	}
	return addrsFromMessages(msgs), nil
}

// addrsFromMessages reads RTM_NEWADDR messages (struct ifaddrmsg, then attributes). Messages it
// cannot read are skipped: one odd address must not hide the others.
func addrsFromMessages(msgs []syscall.NetlinkMessage) map[int][]netip.Prefix {
	out := map[int][]netip.Prefix{}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		family, bits := m.Data[0], int(m.Data[1])
		index := int(binary.NativeEndian.Uint32(m.Data[4:8]))
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			continue
		}
		var addr, local netip.Addr
		for _, a := range attrs {
			ip, ok := netip.AddrFromSlice(a.Value)
			if !ok {
				continue
			}
			switch a.Attr.Type {
			case syscall.IFA_ADDRESS:
				addr = ip
			case syscall.IFA_LOCAL:
				local = ip
			}
		}
		// On a point-to-point IPv4 link IFA_ADDRESS is the peer; IFA_LOCAL is ours, as the
		// standard library reads it.
		if family == syscall.AF_INET && local.IsValid() {
			addr = local
		}
		if !addr.IsValid() || (family == syscall.AF_INET) != addr.Is4() || bits > addr.BitLen() {
			continue
		}
		out[index] = append(out[index], netip.PrefixFrom(addr, bits))
	}
	return out
}
