package liveness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// ReadBuffer is the socket receive buffer Listen asks for: room for about ten thousand datagrams
// (the kernel counts each at several times its size), so that a burst of unwanted traffic, which
// the reader drops cheaply (admission), does not make the kernel drop heartbeats first.
const ReadBuffer = 8 << 20

// Listen opens the UDP socket for Config.Conn on addr: the node's address that its peers send to
// (its first InternalIP) and the heartbeat port (DefaultPort). The unspecified address would also
// take datagrams sent to any other address of the node, a Pod network's gateway included. The
// receive buffer is raised to ReadBuffer where the kernel allows.
func Listen(addr netip.AddrPort) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("liveness: listening for heartbeats on %s: %w", addr, err)
	}
	if err := raiseReadBuffer(c, ReadBuffer); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("liveness: raising the heartbeat socket's receive buffer: %w", err)
	}
	return c, nil
}

// Run heartbeats until ctx is cancelled or Leave completes, then closes the socket and returns
// once its goroutines have ended. It returns nil then, or the error that stopped it (the socket
// failing). A Membership runs once (ErrAlreadyStarted).
func (m *Membership) Run(ctx context.Context) error {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	if m.state != stateNew {
		m.mu.Unlock()
		return ErrAlreadyStarted
	}
	m.beginLocked(now)
	m.mu.Unlock()
	m.notify()

	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { readErr <- m.readLoop() })
	err := m.loop(ctx, readErr)

	m.mu.Lock()
	m.state = stateStopped
	m.publishLocked(m.cfg.Clock.Now())
	m.mu.Unlock()
	close(m.stopped)
	m.notify()
	// Closing the socket is what ends readLoop; its error after that is only the close.
	cerr := m.conn.Close()
	wg.Wait()
	if cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = errors.Join(err, fmt.Errorf("liveness: closing the heartbeat socket: %w", cerr))
	}
	return err
}

func (m *Membership) beginLocked(now time.Time) {
	m.state = stateRunning
	m.nonce, m.nonceAt = m.random(), now
	m.graceEnd = now.Add(m.cfg.StartupGrace)
	m.nextSend = now
	m.publishLocked(now) // unheard peers become alive: presumed, for the startup grace
}

// readLoop hands every datagram to handle until the socket fails or is closed.
func (m *Membership) readLoop() error {
	buf := make([]byte, readBufferSz)
	fast, _ := m.conn.(addrPortReader)
	for {
		var (
			n    int
			from netip.AddrPort
			err  error
		)
		if fast != nil {
			n, from, err = fast.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			n, a, err = m.conn.ReadFrom(buf)
			if ua, ok := a.(*net.UDPAddr); ok {
				from = ua.AddrPort()
			}
		}
		if err != nil {
			return err
		}
		now := m.cfg.Clock.Now()
		if m.admitFrom(from.Addr(), now) {
			m.handle(buf[:n], now)
		}
	}
}

// loop is the owner of sending and of expiry: it wakes for the next heartbeat or the next instant
// a peer may die, whichever is first, so a death is noticed at Timeout, not up to an Interval late.
func (m *Membership) loop(ctx context.Context, readErr <-chan error) error {
	t := m.cfg.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			return fmt.Errorf("liveness: reading heartbeats: %w", err)
		case r := <-m.leaveReq:
			m.leave(ctx, r.flags)
			close(r.done)
			return nil
		case <-m.kick:
		case <-t.C():
		}
		next := m.poll(m.cfg.Clock.Now())
		t.Reset(max(0, next.Sub(m.cfg.Clock.Now())))
	}
}

// poll sends heartbeats if they are due and publishes liveness changes. It returns when it wants
// to be called next.
func (m *Membership) poll(now time.Time) time.Time {
	m.mu.Lock()
	var out []outgoing
	// A change in the peers we see dead goes out at once rather than with the next heartbeat:
	// the others count our report before they exclude a node's endpoints (speaker/deadnodes), so
	// waiting would add up to an Interval to every exclusion.
	dead := m.deadListLocked(now)
	if m.state == stateRunning && (!now.Before(m.nextSend) || !slices.Equal(dead, m.sentDead)) {
		if now.Sub(m.nonceAt) >= m.cfg.Timeout {
			m.prevNonce, m.nonce, m.nonceAt = m.nonce, m.random(), now
		}
		out = m.buildLocked(0, dead)
		m.sentDead = dead
		m.nextSend = now.Add(m.cfg.Interval)
	}
	changed := m.publishLocked(now)
	next := m.nextSend
	if m.state != stateRunning {
		next = now.Add(m.cfg.Interval) // nothing to send; only expiries, if still listening
	}
	for _, p := range m.peers {
		switch {
		case p.published && p.left: // restarting: alive until its grace ends
			next = earliest(next, p.restartBy)
		case p.published && !p.lastSeen.IsZero():
			next = earliest(next, p.lastSeen.Add(m.cfg.Timeout))
		case p.published:
			next = earliest(next, m.graceEnd)
		}
	}
	m.mu.Unlock()
	if changed {
		m.notify()
	}
	m.send(out)
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

type outgoing struct {
	to netip.AddrPort
	b  []byte
}

// buildLocked encodes one datagram per peer, each with its own sequence number and echo, and
// dead: the peers this node sees dead (deadListLocked).
func (m *Membership) buildLocked(flags uint8, dead []string) []outgoing {
	out := make([]outgoing, 0, len(m.peers))
	buf := make([]byte, 0, len(m.peers)*(headerSize+len(m.self)+macSize+1))
	for _, name := range m.order {
		p := m.peers[name]
		m.seq++
		d := datagram{flags: flags, inc: m.inc, seq: m.seq, nonce: m.nonce, echo: p.echo, name: m.self, boot: m.cfg.BootID, dead: dead}
		switch p.version {
		case wireV1:
			d.version, d.dead, d.flags = wireV1, nil, flags&knownFlagsV3
		case wireV2, wireV3:
			d.version, d.flags = p.version, flags&knownFlagsV3
		}
		start := len(buf)
		buf = appendDatagram(buf, &d, m.signer)
		out = append(out, outgoing{to: p.addr, b: buf[start:len(buf):len(buf)]})
	}
	return out
}

// addrPortReader is implemented by *net.UDPConn; it saves a net.UDPAddr allocation per datagram,
// which matters under a flood.
type addrPortReader interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
}

// addrPortWriter is implemented by *net.UDPConn; it saves a net.UDPAddr allocation per datagram.
type addrPortWriter interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

func (m *Membership) send(out []outgoing) {
	w, fast := m.conn.(addrPortWriter)
	for _, o := range out {
		var err error
		if fast {
			_, err = w.WriteToUDPAddrPort(o.b, o.to)
		} else {
			_, err = m.conn.WriteTo(o.b, net.UDPAddrFromAddrPort(o.to))
		}
		if err != nil {
			m.sendErrors.Add(1)
			sendErrorsMetric.Inc()
			m.log.V(4).Info("Sending heartbeat failed", "to", o.to, "err", err)
			continue
		}
		m.sent.Add(1)
		sentMetric.Inc()
	}
}

// Leave tells every peer that this speaker is leaving, so they take its addresses over at once
// rather than after Timeout: the planned hand-over on SIGTERM. This node stops being alive to
// itself first (Changes fires: re-elect, and keep answering for the addresses until the peers'
// gratuitous ARP has moved the clients). Leave returns when the LEAVING datagrams are sent, about
// (LeaveRepeats-1) × LeaveSpacing; Run then returns nil.
func (m *Membership) Leave(ctx context.Context) error { return m.leaveWith(ctx, flagLeaving) }

// LeaveForRestart is Leave for a speaker that will be back on a node that stays up (its Pod is
// being replaced): the LEAVING datagrams also say RESTARTING, and peers keep it alive for their
// RestartGrace, so that its addresses do not move away and back while its node, whose kernel
// keeps forwarding, goes on serving them. Peers of an older release, or with no grace, take it
// for leaving.
func (m *Membership) LeaveForRestart(ctx context.Context) error {
	return m.leaveWith(ctx, flagLeaving|flagRestarting)
}

func (m *Membership) leaveWith(ctx context.Context, flags uint8) error {
	m.mu.Lock()
	st := m.state
	m.mu.Unlock()
	if st != stateRunning {
		return ErrNotRunning
	}
	done := make(chan struct{})
	select {
	case m.leaveReq <- leaveRequest{flags, done}:
	case <-m.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leaveRequest is a Leave handed to the loop.
type leaveRequest struct {
	flags uint8
	done  chan struct{}
}

// leave runs in the loop: no heartbeat can follow the LEAVING ones.
func (m *Membership) leave(ctx context.Context, flags uint8) {
	m.mu.Lock()
	m.state = stateLeaving
	m.publishLocked(m.cfg.Clock.Now())
	peers := len(m.peers)
	m.mu.Unlock()
	m.notify()
	m.log.Info("Leaving: telling peers", "peers", peers, "repeats", m.cfg.LeaveRepeats, "restarting", flags&flagRestarting != 0)
	for i := range m.cfg.LeaveRepeats {
		if i > 0 {
			t := m.cfg.Clock.NewTimer(m.cfg.LeaveSpacing)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
		m.sendLeaving(flags)
	}
}

func (m *Membership) sendLeaving(flags uint8) {
	m.mu.Lock()
	out := m.buildLocked(flags, m.deadListLocked(m.cfg.Clock.Now()))
	m.mu.Unlock()
	m.send(out)
}
