package liveness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"
)

// These tests run the real goroutines (Run's loop and reader) on the fake clock and the in-memory
// network, in a synctest bubble. The simulation (sim_test.go) calls the same poll and handle
// synchronously; here the fake clock is advanced in small steps, each once every goroutine is idle
// (synctest.Wait), so fake time is exact too and "not dead before timeout - interval" cannot be
// blurred by goroutines lagging behind the clock. The tests check the wiring: start, heartbeats,
// death, Leave, stop, errors.

type runner struct {
	t     *testing.T
	clock *fakeClock
	net   *memNet
	ms    map[string]*Membership
	conns map[string]*memConn
	stop  map[string]context.CancelFunc
	done  map[string]chan error
}

func newRunner(t *testing.T, names ...string) *runner {
	r := &runner{t: t, clock: newFakeClock(), net: newMemNet(), ms: map[string]*Membership{},
		conns: map[string]*memConn{}, stop: map[string]context.CancelFunc{}, done: map[string]chan error{}}
	peers := map[string]netip.AddrPort{}
	for i, name := range names {
		peers[name] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 7473)
	}
	for _, name := range names {
		r.conns[name] = r.net.listen(peers[name])
		m, err := New(Config{NodeName: name, Key: testKey, Conn: r.conns[name], Clock: r.clock})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetPeers(peers); err != nil {
			t.Fatal(err)
		}
		r.ms[name] = m
	}
	t.Cleanup(func() {
		for name, cancel := range r.stop {
			cancel()
			if err := <-r.done[name]; err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		}
	})
	return r
}

func (r *runner) run(name string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ms[name].Run(ctx) }()
	r.stop[name], r.done[name] = cancel, done
}

// until advances the fake clock in 5 ms steps, each once the goroutines of the bubble are idle,
// until cond holds; it fails after a minute of fake time. It must run in a synctest bubble.
func (r *runner) until(what string, cond func() bool) {
	r.t.Helper()
	start := r.clock.Now()
	for synctest.Wait(); !cond(); synctest.Wait() {
		if r.clock.Now().Sub(start) > time.Minute {
			r.t.Fatalf("timed out after a minute of fake time waiting until %s", what)
		}
		r.clock.Advance(5 * time.Millisecond)
	}
}

// allAlive holds when every named node sees every other alive by its heartbeats (not by the
// startup grace's presumption).
func (r *runner) allAlive(names ...string) func() bool {
	return func() bool {
		for _, v := range names {
			for _, p := range names {
				if !r.ms[v].IsAlive(p) || (p != v && !heard(r.ms[v], p)) {
					return false
				}
			}
		}
		return true
	}
}

func heard(m *Membership, peer string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peers[peer] != nil && !m.peers[peer].lastSeen.IsZero()
}

func TestRunHeartbeatsAndStops(t *testing.T) {
	synctest.Test(t, testRunHeartbeatsAndStops)
}

func testRunHeartbeatsAndStops(t *testing.T) {
	r := newRunner(t, "node-0", "node-1", "node-2")
	for _, n := range []string{"node-0", "node-1", "node-2"} {
		r.run(n)
	}
	r.until("every node hears every other", r.allAlive("node-0", "node-1", "node-2"))
	for _, n := range []string{"node-0", "node-1"} {
		select {
		case <-r.ms[n].Changes():
		default:
			t.Errorf("%s: no change notified since the start", n)
		}
	}

	// Cancel node-2's context: Run returns nil and closes its socket.
	r.stop["node-2"]()
	if err := <-r.done["node-2"]; err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
	delete(r.stop, "node-2")
	if _, err := r.conns["node-2"].WriteToUDPAddrPort([]byte("x"), netip.MustParseAddrPort("192.0.2.1:7473")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("socket after Run: %v, want it closed", err)
	}
	if r.ms["node-2"].IsAlive("node-2") {
		t.Error("node-2 alive to itself after Run returned")
	}
	stopped := r.clock.Now()
	r.until("node-0 sees node-2 dead", func() bool { return !r.ms["node-0"].IsAlive("node-2") })
	if d := r.clock.Now().Sub(stopped); d < timeout-interval {
		t.Errorf("node-2 declared dead %v (fake time) after it stopped, before timeout - interval", d)
	}
	if err := r.ms["node-2"].Run(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Run: %v, want ErrAlreadyStarted", err)
	}
}

func TestRunLeave(t *testing.T) {
	synctest.Test(t, testRunLeave)
}

func testRunLeave(t *testing.T) {
	r := newRunner(t, "node-0", "node-1")
	if err := r.ms["node-1"].Leave(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Leave before Run: %v, want ErrNotRunning", err)
	}
	r.run("node-0")
	r.run("node-1")
	r.until("both alive", r.allAlive("node-0", "node-1"))

	left := make(chan error, 1)
	start := r.clock.Now()
	go func() { left <- r.ms["node-1"].Leave(context.Background()) }()
	// Leave waits LeaveSpacing (fake time) between its datagrams.
	var err error
	r.until("Leave returns", func() bool {
		select {
		case err = <-left:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := <-r.done["node-1"]; err != nil {
		t.Errorf("Run after Leave returned %v, want nil", err)
	}
	delete(r.stop, "node-1")
	r.until("node-0 sees node-1 gone", func() bool { return !r.ms["node-0"].IsAlive("node-1") })
	if d := r.clock.Now().Sub(start); d >= timeout/2 {
		t.Errorf("node-1 seen gone %v (fake time) after Leave, want at once, far before the timeout", d)
	}
	if err := r.ms["node-1"].Leave(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Leave after Run returned: %v, want ErrNotRunning", err)
	}
	if st := r.ms["node-0"].Stats(); st.Received == 0 {
		t.Error("node-0 received nothing")
	}
}

// failingConn reports a socket error on the first read.
type failingConn struct{ *memConn }

var errSocket = errors.New("socket broke")

func (failingConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errSocket }

func TestRunReturnsSocketErrors(t *testing.T) {
	conn := failingConn{newMemNet().listen(netip.MustParseAddrPort("192.0.2.1:7473"))}
	m, err := New(Config{NodeName: "node-0", Key: testKey, Conn: conn, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	select {
	case err := <-done:
		if !errors.Is(err, errSocket) {
			t.Errorf("Run: %v, want it to wrap %v", err, errSocket)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its socket failed")
	}
}

// TestChangesCoalesce: many changes, one pending notification.
func TestChangesCoalesce(t *testing.T) {
	r := newRunner(t, "node-0")
	m := r.ms["node-0"]
	for i := range 10 {
		if err := m.SetPeers(map[string]netip.AddrPort{fmt.Sprintf("node-%d", i+1): netip.MustParseAddrPort("192.0.2.9:7473")}); err != nil {
			t.Fatal(err)
		}
	}
	<-m.Changes()
	select {
	case <-m.Changes():
		t.Error("a second notification was pending")
	default:
	}
}
