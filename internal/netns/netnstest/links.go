//go:build linux

package netnstest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Bridge is a Linux bridge in its own namespace: the switch of a test LAN.
type Bridge struct {
	ns    *NS
	name  string
	ports int
}

// NewBridge makes a namespace holding one bridge, up.
func NewBridge(t testing.TB, id, role string) *Bridge {
	t.Helper()
	ns := New(t, id, role)
	b := &Bridge{ns: ns, name: "br0"}
	ns.IP("link", "add", b.name, "type", "bridge")
	ns.IP("link", "set", b.name, "up")
	return b
}

// NS is the namespace holding the bridge.
func (b *Bridge) NS() *NS { return b.ns }

// Attach plugs host into the bridge through a veth named iface on host's side, with the given
// MAC ("" lets the kernel pick) and addresses, and brings it up.
func (b *Bridge) Attach(host *NS, iface, mac string, addrs ...netip.Prefix) {
	b.ns.t.Helper()
	b.ports++
	port := "p" + strconv.Itoa(b.ports)
	args := []string{"link", "add", iface}
	if mac != "" {
		args = append(args, "address", mac)
	}
	args = append(args, "type", "veth", "peer", "name", port, "netns", b.ns.Name)
	host.IP(args...)
	b.ns.IP("link", "set", port, "master", b.name, "up")
	for _, a := range addrs {
		host.AddAddr(iface, a)
	}
	host.IP("link", "set", iface, "up")
}

// Veth joins two namespaces directly and brings both ends up.
func Veth(a *NS, aIface string, b *NS, bIface string) {
	a.t.Helper()
	a.IP("link", "add", aIface, "type", "veth", "peer", "name", bIface, "netns", b.Name)
	a.IP("link", "set", aIface, "up")
	b.IP("link", "set", bIface, "up")
}

// MAC returns an interface's hardware address.
func (ns *NS) MAC(iface string) string {
	ns.t.Helper()
	f := strings.Fields(ns.IP("-br", "link", "show", iface))
	if len(f) < 3 {
		ns.t.Fatalf("ip -br link show %s in %s: unexpected %q", iface, ns.Name, f)
	}
	return f[2]
}

// Neigh returns the namespace's neighbour entry for ip on iface: its MAC, or "" without one.
func (ns *NS) Neigh(iface string, ip netip.Addr) string {
	ns.t.Helper()
	f := strings.Fields(ns.IP("neigh", "show", ip.String(), "dev", iface))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// ForwardLoopback makes a TCP service on the test's own loopback (the API server of lab/controlplane,
// say) reachable inside ns at the same address: a listener opened inside ns on addr forwards each
// connection to addr as seen from the test process. Nothing is opened in the machine's namespace
// but the test's own outgoing connections to loopback. addr must be a loopback address.
func ForwardLoopback(t testing.TB, ns *NS, addr string) {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("ForwardLoopback: %q is not a loopback address and port", addr)
	}
	l, err := ns.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s inside %s: %v", addr, ns.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			wg.Go(func() { pipe(ctx, in, addr) })
		}
	})
	t.Cleanup(func() {
		cancel()
		_ = l.Close()
		wg.Wait()
	})
}

// pipe copies both ways between in and a new connection to addr until either side closes or ctx
// ends.
func pipe(ctx context.Context, in net.Conn, addr string) {
	defer func() { _ = in.Close() }()
	out, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return
	}
	defer func() { _ = out.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = in.Close(); _ = out.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if err == nil || errors.Is(err, net.ErrClosed) {
			// Half-close so that the other direction can finish its reply.
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		}
		done <- struct{}{}
	}
	go cp(out, in)
	go cp(in, out)
	<-done
	<-done
}
