package liveness

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// errTooManyPeers: the filter would not fit the kernel's limit on classic BPF programs.
var errTooManyPeers = errors.New("too many peer addresses for a socket filter (4096 instructions); the reader filters alone")

// setSourceFilter attaches to the socket a classic BPF filter that lets through only datagrams
// from addrs (issue 17, item 6). The kernel runs it before queueing a datagram, so a flood from
// any other address never takes room in the receive queue that heartbeats need, nor a wake-up of
// the reader: a filter in the reader alone cannot prevent that, since the kernel drops whatever
// does not fit the queue, heartbeats included. The reader still checks the source (admission):
// datagrams queued before the filter changed, and sockets that are not *net.UDPConn (tests).
// With no addrs, everything is dropped until SetPeers names some.
func setSourceFilter(conn net.PacketConn, addrs []netip.Addr) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	prog, perr := sourceFilter(addrs)
	var raw []bpf.RawInstruction
	if perr == nil {
		raw, perr = bpf.Assemble(prog)
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		if perr != nil {
			// The previous filter would drop new peers' heartbeats: none is better.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
			if errors.Is(serr, unix.ENOENT) { // there was none
				serr = nil
			}
			return
		}
		ins := make([]unix.SockFilter, len(raw))
		for i, r := range raw {
			ins[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
		}
		fprog := unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]} // never empty: sourceFilter has 6 or more
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog)
	})
	return errors.Join(perr, cerr, serr)
}

// skfNetOff is SKF_NET_OFF: an absolute load at skfNetOff+k reads byte k of the IP header (a UDP
// socket's filter otherwise starts at the UDP header).
const skfNetOff = 0xfff00000 // -0x100000 as the 32-bit K of a load

const (
	maxFilterLen = 4096       // BPF_MAXINSNS
	acceptAll    = 0xffffffff // keep the whole datagram
)

// sourceFilter is the program: the IP version from the header's first nibble, then the source
// address against each peer's of that version.
//
//	ldb [net+0]; rsh #4; jeq #4, v4, next; ja v6
//	v4: ld [net+12]; { jeq #a, accept-next, skip; ret #accept } ...; ret #0
//	v6: { ld [net+8]; jeq #w0 ... ld [net+20]; jeq #w3; ret #accept } ...; ret #0
func sourceFilter(addrs []netip.Addr) ([]bpf.Instruction, error) {
	var v4, v6 []bpf.Instruction
	v4 = append(v4, bpf.LoadAbsolute{Off: skfNetOff + 12, Size: 4})
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			b := a.As4()
			v4 = append(v4, bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[:]), SkipTrue: 0, SkipFalse: 1},
				bpf.RetConstant{Val: acceptAll})
			continue
		}
		b := a.As16()
		for w := range 4 {
			// Each mismatch skips the rest of this address's block: the loads and compares
			// after it, and the accept.
			skip := uint8(2*(3-w) + 1)
			v6 = append(v6, bpf.LoadAbsolute{Off: skfNetOff + 8 + uint32(4*w), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[4*w:]), SkipFalse: skip})
		}
		v6 = append(v6, bpf.RetConstant{Val: acceptAll})
	}
	v4 = append(v4, bpf.RetConstant{Val: 0})
	v6 = append(v6, bpf.RetConstant{Val: 0})
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: skfNetOff, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipTrue: 1},
		bpf.Jump{Skip: uint32(len(v4))},
	}
	prog = append(append(prog, v4...), v6...)
	if len(prog) > maxFilterLen {
		return nil, errTooManyPeers
	}
	return prog, nil
}
