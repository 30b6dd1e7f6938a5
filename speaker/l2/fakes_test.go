package l2

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
)

// waitEvery is how often the tests poll for an effect of the read loops.
const waitEvery = 2 * time.Millisecond

// This file holds stateful fakes of the OS seams: an Ethernet segment carrying frames between
// ports (the ARP side), an IPv6 link carrying ICMPv6 messages with multicast group membership
// (the NDP side), the interface list, and a recorder. They model state and the kernel's errors,
// not a script of calls.

var errFakeClosed = net.ErrClosed

// segment is an Ethernet broadcast domain: a frame reaches every other port whose MAC it is
// addressed to, or all of them when broadcast or multicast.
type segment struct {
	mu    sync.Mutex
	ports []*framePort
}

type framePort struct {
	seg       *segment
	mac       net.HardwareAddr
	in        chan []byte
	done      chan struct{}
	closeOnce sync.Once
	readErr   chan error // an error to return from the next ReadFrom
}

func (s *segment) port(mac net.HardwareAddr) *framePort {
	p := &framePort{seg: s, mac: mac, in: make(chan []byte, 256), done: make(chan struct{}), readErr: make(chan error, 1)}
	s.mu.Lock()
	s.ports = append(s.ports, p)
	s.mu.Unlock()
	return p
}

func (p *framePort) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case <-p.done:
		return 0, nil, errFakeClosed
	case err := <-p.readErr:
		return 0, nil, err
	case f := <-p.in:
		return copy(b, f), &packet.Addr{HardwareAddr: net.HardwareAddr(f[6:12])}, nil
	}
}

func (p *framePort) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-p.done:
		return 0, errFakeClosed
	default:
	}
	if len(b) < 14 {
		return 0, fmt.Errorf("fake segment: frame of %d bytes is shorter than an Ethernet header", len(b))
	}
	dst := net.HardwareAddr(b[0:6])
	pa, ok := addr.(*packet.Addr)
	if !ok || !bytes.Equal(pa.HardwareAddr, dst) {
		return 0, fmt.Errorf("fake segment: socket address %v does not match the frame destination %v", addr, dst)
	}
	p.seg.deliver(p, b)
	return len(b), nil
}

func (s *segment) deliver(from *framePort, b []byte) {
	dst := net.HardwareAddr(b[0:6])
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.ports {
		toQ := dst[0]&1 == 1 || bytes.Equal(dst, q.mac) // broadcast, multicast or its own MAC
		if q == from || q.closed() || !toQ {
			continue
		}
		select {
		case q.in <- slices.Clone(b):
		default: // a full receive queue drops, as a NIC does
		}
	}
}

func (p *framePort) Close() error {
	p.closeOnce.Do(func() { close(p.done) })
	return nil
}

func (p *framePort) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// send injects raw bytes as if this port had written them.
func (p *framePort) send(b []byte) { p.seg.deliver(p, b) }

// next returns the next frame received, or fails the test after timeout.
func (p *framePort) next(t *testing.T, timeout time.Duration) []byte {
	t.Helper()
	select {
	case f := <-p.in:
		return f
	case <-time.After(timeout):
		t.Fatalf("port %v: no frame within %v", p.mac, timeout)
		return nil
	}
}

// none fails if a frame arrives within d. It must run in a synctest bubble, where d is fake
// time that passes only while every goroutine of the announcer is blocked: a frame sent late, or
// by a timer within d, is seen, which a window of real time could miss on a slow machine.
func (p *framePort) none(t *testing.T, d time.Duration) {
	t.Helper()
	synctest.Wait() // panics outside a bubble: a "nothing sent" check must not be a bare sleep
	select {
	case f := <-p.in:
		t.Fatalf("port %v: unexpected frame % x", p.mac, f)
	case <-time.After(d):
	}
}

// ndpLink is an IPv6 link carrying ICMPv6 messages. Multicast reaches only ports that joined
// the group (all-nodes reaches everyone), as the kernel filters multicast for unjoined groups;
// joining a group twice or leaving one not joined fails as setsockopt does.
type ndpLink struct {
	mu    sync.Mutex
	ports []*ndpPort
}

type ndpMsg struct {
	b   []byte
	src netip.Addr
	dst netip.Addr
	hop int
}

type ndpPort struct {
	link      *ndpLink
	addrs     []netip.Addr // unicast addresses; the first one is the source of what it sends
	mu        sync.Mutex
	groups    map[netip.Addr]bool
	joinErr   error // returned by JoinGroup when set
	in        chan ndpMsg
	done      chan struct{}
	closeOnce sync.Once
}

func (l *ndpLink) port(addrs ...netip.Addr) *ndpPort {
	p := &ndpPort{link: l, addrs: addrs, groups: map[netip.Addr]bool{}, in: make(chan ndpMsg, 256), done: make(chan struct{})}
	l.mu.Lock()
	l.ports = append(l.ports, p)
	l.mu.Unlock()
	return p
}

func (p *ndpPort) ReadRaw(b []byte) (int, *ipv6.ControlMessage, netip.Addr, error) {
	select {
	case <-p.done:
		return 0, nil, netip.Addr{}, errFakeClosed
	case m := <-p.in:
		return copy(b, m.b), &ipv6.ControlMessage{HopLimit: m.hop, Dst: m.dst.AsSlice()}, m.src, nil
	}
}

func (p *ndpPort) WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error {
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		return err
	}
	hop := ndp.HopLimit
	if cm != nil {
		hop = cm.HopLimit
	}
	return p.sendRaw(b, hop, dst)
}

func (p *ndpPort) sendRaw(b []byte, hop int, dst netip.Addr) error {
	select {
	case <-p.done:
		return errFakeClosed
	default:
	}
	p.sendFrom(p.addrs[0], b, hop, dst)
	return nil
}

// sendFrom injects a message with any source, e.g. the unspecified address of DAD.
func (p *ndpPort) sendFrom(src netip.Addr, b []byte, hop int, dst netip.Addr) {
	p.link.deliver(p, ndpMsg{b: slices.Clone(b), src: src, dst: dst.WithZone(""), hop: hop})
}

func (l *ndpLink) deliver(from *ndpPort, m ndpMsg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.ports {
		if q == from || !q.accepts(m.dst) {
			continue
		}
		select {
		case q.in <- m:
		default:
		}
	}
}

func (p *ndpPort) accepts(dst netip.Addr) bool {
	select {
	case <-p.done:
		return false
	default:
	}
	if dst == netip.IPv6LinkLocalAllNodes() {
		return true
	}
	if dst.IsMulticast() {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.groups[dst]
	}
	return slices.Contains(p.addrs, dst)
}

func (p *ndpPort) JoinGroup(g netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.joinErr != nil {
		return p.joinErr
	}
	if p.groups[g] {
		return fmt.Errorf("setsockopt IPV6_JOIN_GROUP %s: address already in use", g)
	}
	p.groups[g] = true
	return nil
}

func (p *ndpPort) LeaveGroup(g netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.groups[g] {
		return fmt.Errorf("setsockopt IPV6_LEAVE_GROUP %s: cannot assign requested address", g)
	}
	delete(p.groups, g)
	return nil
}

func (p *ndpPort) joined() []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gs []netip.Addr
	for g := range p.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, netip.Addr.Compare)
	return gs
}

func (p *ndpPort) Close() error {
	p.closeOnce.Do(func() { close(p.done) })
	return nil
}

func (p *ndpPort) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *ndpPort) next(t *testing.T, timeout time.Duration) ndpMsg {
	t.Helper()
	select {
	case m := <-p.in:
		return m
	case <-time.After(timeout):
		t.Fatalf("NDP port %v: no message within %v", p.addrs, timeout)
		return ndpMsg{}
	}
}

// none is framePort.none for NDP messages: it too runs in a synctest bubble only.
func (p *ndpPort) none(t *testing.T, d time.Duration) {
	t.Helper()
	synctest.Wait()
	select {
	case m := <-p.in:
		t.Fatalf("NDP port %v: unexpected message % x from %v", p.addrs, m.b, m.src)
	case <-time.After(d):
	}
}

// fakeNet is a node's interfaces, each attached to a segment and an IPv6 link, plus a dialer
// that hands out ports on them and remembers them all for leak checks.
type fakeNet struct {
	mu      sync.Mutex
	links   []link
	listErr error
	eth     map[string]*segment
	v6      map[string]*ndpLink
	dialErr map[respKey]error
	arp     []*framePort
	ndp     []*ndpPort
	dials   map[respKey]int
}

func newFakeNet() *fakeNet {
	return &fakeNet{eth: map[string]*segment{}, v6: map[string]*ndpLink{}, dialErr: map[respKey]error{}, dials: map[respKey]int{}}
}

// addLink adds (or replaces) an up Ethernet interface with the given addresses.
func (n *fakeNet) addLink(name string, index int, mac string, prefixes ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := link{ifi: net.Interface{Name: name, Index: index, MTU: 1500, HardwareAddr: mustMAC(mac),
		Flags: net.FlagUp | net.FlagRunning | net.FlagBroadcast | net.FlagMulticast}}
	for _, p := range prefixes {
		l.prefixes = append(l.prefixes, netip.MustParsePrefix(p))
	}
	n.links = slices.DeleteFunc(n.links, func(o link) bool { return o.name() == name })
	n.links = append(n.links, l)
	if n.eth[name] == nil {
		n.eth[name] = &segment{}
		n.v6[name] = &ndpLink{}
	}
}

func (n *fakeNet) setFlags(name string, flags net.Flags) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.links {
		if n.links[i].name() == name {
			n.links[i].ifi.Flags = flags
		}
	}
}

func (n *fakeNet) removeLink(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links = slices.DeleteFunc(n.links, func(o link) bool { return o.name() == name })
}

func (n *fakeNet) list() ([]link, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listErr != nil {
		return nil, n.listErr
	}
	return slices.Clone(n.links), nil
}

func (n *fakeNet) setDialErr(iface string, p protocol, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dialErr[respKey{iface: iface, proto: p}] = err
}

func (n *fakeNet) dialCount(iface string, p protocol) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials[respKey{iface: iface, proto: p}]
}

func (n *fakeNet) dialARP(l link) (frameConn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := respKey{iface: l.name(), proto: protoARP}
	n.dials[k]++
	if err := n.dialErr[k]; err != nil {
		return nil, err
	}
	p := n.eth[l.name()].port(l.ifi.HardwareAddr)
	n.arp = append(n.arp, p)
	return p, nil
}

func (n *fakeNet) dialNDP(l link) (ndpConn, netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := respKey{iface: l.name(), proto: protoNDP}
	n.dials[k]++
	if err := n.dialErr[k]; err != nil {
		return nil, netip.Addr{}, err
	}
	ll := linkLocal(l.ifi.HardwareAddr)
	addrs := []netip.Addr{ll}
	for _, p := range l.prefixes {
		addrs = append(addrs, p.Addr())
	}
	p := n.v6[l.name()].port(addrs...)
	n.ndp = append(n.ndp, p)
	return p, ll, nil
}

// lastARP and lastNDP return the newest socket opened on an interface.
func (n *fakeNet) lastARP(iface string) *framePort {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.arp) - 1; i >= 0; i-- {
		if bytes.Equal(n.arp[i].mac, n.macOf(iface)) {
			return n.arp[i]
		}
	}
	return nil
}

func (n *fakeNet) lastNDP(iface string) *ndpPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	ll := linkLocal(n.macOf(iface))
	for i := len(n.ndp) - 1; i >= 0; i-- {
		if n.ndp[i].addrs[0] == ll {
			return n.ndp[i]
		}
	}
	return nil
}

func (n *fakeNet) macOf(iface string) net.HardwareAddr {
	for _, l := range n.links {
		if l.name() == iface {
			return l.ifi.HardwareAddr
		}
	}
	return nil
}

// openSockets lists the sockets not closed.
func (n *fakeNet) openSockets() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var open []string
	for _, p := range n.arp {
		if !p.closed() {
			open = append(open, "arp "+p.mac.String())
		}
	}
	for _, p := range n.ndp {
		if !p.closed() {
			open = append(open, "ndp "+p.addrs[0].String())
		}
	}
	return open
}

// linkLocal is the EUI-64 link-local address of a MAC, as the kernel derives it.
func linkLocal(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	copy(b[8:11], mac[0:3])
	b[8] ^= 2
	b[11], b[12] = 0xff, 0xfe
	copy(b[13:16], mac[3:6])
	return netip.AddrFrom16(b)
}

func mustMAC(s string) net.HardwareAddr {
	if s == "" {
		return nil // loopback, tun, WireGuard
	}
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// event is one thing the recorder saw.
type event struct {
	kind   string // answered, dropped, gratuitous, unavailable
	proto  protocol
	iface  string
	reason string
}

// fakeRecorder keeps events in order. It never blocks: responders call it from their read
// loops, which close waits for.
type fakeRecorder struct {
	mu      sync.Mutex
	events  []event
	unavail int
}

func (r *fakeRecorder) add(e event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *fakeRecorder) answered(p protocol, iface string) {
	r.add(event{kind: "answered", proto: p, iface: iface})
}

func (r *fakeRecorder) dropped(p protocol, iface string, reason DropReason) {
	r.add(event{kind: "dropped", proto: p, iface: iface, reason: string(reason)})
}

func (r *fakeRecorder) gratuitousSent(p protocol, iface string) {
	r.add(event{kind: "gratuitous", proto: p, iface: iface})
}

func (r *fakeRecorder) interfaceUnavailable(iface string, reason InterfaceReason) {
	r.add(event{kind: "unavailable", iface: iface, reason: string(reason)})
}

func (r *fakeRecorder) unavailableNow(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unavail = n
}

func (r *fakeRecorder) count(e event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, got := range r.events {
		if got == e {
			n++
		}
	}
	return n
}

var errInjected = errors.New("injected failure")

// fakeEvents is a link-change subscription the test fires by hand.
type fakeEvents struct {
	ch        chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newFakeEvents() *fakeEvents {
	return &fakeEvents{ch: make(chan struct{}, 1), done: make(chan struct{})}
}

func (e *fakeEvents) fire() { e.ch <- struct{}{} }

func (e *fakeEvents) wait() error {
	select {
	case <-e.ch:
		return nil
	case <-e.done:
		return errFakeClosed
	}
}

func (e *fakeEvents) close() error {
	e.closeOnce.Do(func() { close(e.done) })
	return nil
}

func (e *fakeEvents) isClosed() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}
