package liveness

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// fakeClock is a Clock that moves only when told. Timers follow Go 1.23 semantics: after Reset or
// Stop, no stale value is received.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Set moves the clock to now (never backwards) and fires the timers that are due.
func (c *fakeClock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.now) {
		c.now = now
	}
	for _, t := range c.timers {
		t.fireIfDueLocked()
	}
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	when   time.Time
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drain()
	t.when, t.active = t.c.now.Add(d), true
	t.fireIfDueLocked()
}

func (t *fakeTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.active = false
	t.drain()
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

func (t *fakeTimer) fireIfDueLocked() {
	if t.active && !t.when.After(t.c.now) {
		t.active = false
		t.ch <- t.c.now
	}
}

// memNet is an in-memory datagram network: delivery is immediate, in order, and subject to drop.
type memNet struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*memConn
	drop  func(from, to netip.AddrPort) bool
	tap   func(from, to netip.AddrPort, b []byte) // sees every datagram sent, dropped or not
	// With delay set (simulation only), a datagram waits in pending until now()+delay(), and the
	// simulation releases it then; random delays reorder datagrams.
	delay   func() time.Duration
	now     func() time.Time
	pending []timedPacket
}

type timedPacket struct {
	due time.Time
	to  netip.AddrPort
	p   packet
}

// release moves the pending datagrams due by now into their sockets and returns when the next
// one is due (zero if none is pending).
func (n *memNet) release(now time.Time) (next time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := n.pending[:0]
	for _, tp := range n.pending {
		if tp.due.After(now) {
			keep = append(keep, tp)
			if next.IsZero() || tp.due.Before(next) {
				next = tp.due
			}
			continue
		}
		n.pushLocked(tp.to, tp.p)
	}
	n.pending = keep
	return next
}

func newMemNet() *memNet { return &memNet{conns: map[netip.AddrPort]*memConn{}} }

func (n *memNet) listen(addr netip.AddrPort) *memConn {
	c := &memConn{net: n, addr: addr, inbox: make(chan packet, 4096), closed: make(chan struct{})}
	n.mu.Lock()
	n.conns[addr] = c
	n.mu.Unlock()
	return c
}

func (n *memNet) setDrop(f func(from, to netip.AddrPort) bool) {
	n.mu.Lock()
	n.drop = f
	n.mu.Unlock()
}

func (n *memNet) deliver(from, to netip.AddrPort, b []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tap != nil {
		n.tap(from, to, b)
	}
	if n.drop != nil && n.drop(from, to) {
		return
	}
	p := packet{from: from, b: slices.Clone(b)}
	if n.delay != nil {
		n.pending = append(n.pending, timedPacket{due: n.now().Add(n.delay()), to: to, p: p})
		return
	}
	n.pushLocked(to, p)
}

func (n *memNet) pushLocked(to netip.AddrPort, p packet) {
	c := n.conns[to]
	if c == nil {
		return
	}
	select {
	case <-c.closed:
	case c.inbox <- p:
	default: // a full socket buffer drops, as the kernel does
	}
}

type packet struct {
	from netip.AddrPort
	b    []byte
}

// memConn is a net.PacketConn on a memNet.
type memConn struct {
	net       *memNet
	addr      netip.AddrPort
	inbox     chan packet
	closed    chan struct{}
	closeOnce sync.Once
	// filter, when set, drops the datagrams it returns false for (a receiver of an older
	// release refusing what it cannot parse); set before traffic starts.
	filter func([]byte) bool
}

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.inbox:
		return copy(b, p.b), net.UDPAddrFromAddrPort(p.from), nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

// tryRead returns a waiting datagram, for the simulation's synchronous delivery.
func (c *memConn) tryRead() (packet, bool) {
	for {
		select {
		case p := <-c.inbox:
			if c.filter != nil && !c.filter(p.b) {
				continue
			}
			return p, true
		default:
			return packet{}, false
		}
	}
}

func (c *memConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	c.net.deliver(c.addr, to, b)
	return len(b), nil
}

func (c *memConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ap := addr.(*net.UDPAddr).AddrPort()
	return c.WriteToUDPAddrPort(b, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

func (c *memConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() { close(c.closed); err = nil })
	return err
}

func (c *memConn) LocalAddr() net.Addr              { return net.UDPAddrFromAddrPort(c.addr) }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
