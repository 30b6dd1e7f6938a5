package l2

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// garpCount counts the gratuitous ARP frames for vip among frames.
func isGARP(t *testing.T, frame []byte, vip netip.Addr, mac net.HardwareAddr) bool {
	_, p := parseARPFrame(t, frame)
	return p.SenderIP == vip && p.TargetIP == vip && p.SenderHardwareAddr.String() == mac.String()
}

func TestSetVIPsTransitions(t *testing.T) {
	synctest.Test(t, testSetVIPsTransitions)
}

func testSetVIPsTransitions(t *testing.T) {
	n := twoLinkNet()
	c0 := n.eth["eth0"].port(clientMAC)
	c1 := n.eth["eth1"].port(mustMAC("02:00:00:00:00:bb"))
	a, rec := testAnnouncer(t, n)

	// Add: announced on eth0 with a burst there, nothing on eth1.
	st := setVIPs(t, a, bySubnet(vip4a))
	if diff := cmp.Diff(statusView{Interfaces: []string{"eth0"}}, view(st[vip4a])); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		f := c0.next(t, wait)
		if _, p := parseARPFrame(t, f); !isGARP(t, f, vip4a, mac0) || p.Operation != op {
			t.Errorf("burst frame %+v, want a gratuitous %v for %v", p, op, vip4a)
		}
	}
	c1.none(t, 30*time.Millisecond)

	// Unchanged set: no new burst.
	setVIPs(t, a, bySubnet(vip4a))
	c0.none(t, 30*time.Millisecond)

	// Move to eth1 by naming it, with another VIP staying on eth0: eth1 bursts and answers;
	// eth0 answers only the other VIP, and drops requests for the moved one as wrong_interface.
	st = setVIPs(t, a, map[netip.Addr]announce.Announcement{vip4a: {Interfaces: []string{"eth1"}}, vip4b: {}})
	if diff := cmp.Diff(statusView{Interfaces: []string{"eth1"}}, view(st[vip4a])); diff != "" {
		t.Errorf("moved status (-want +got):\n%s", diff)
	}
	for range 2 {
		if f := c1.next(t, wait); !isGARP(t, f, vip4a, mac1) {
			t.Errorf("eth1 burst frame is not a gratuitous ARP for %v from %v", vip4a, mac1)
		}
		if f := c0.next(t, wait); !isGARP(t, f, vip4b, mac0) {
			t.Errorf("eth0 burst frame is not a gratuitous ARP for %v", vip4b)
		}
	}
	c0.send(whoHas(t, vip4a))
	testkit.EventuallyTrue(t, wait, waitEvery, "wrong_interface drop on eth0", func() bool {
		return rec.count(event{kind: "dropped", proto: protoARP, iface: "eth0", reason: string(DropWrongInterface)}) == 1
	})
	c0.none(t, 30*time.Millisecond)

	// Remove everything: every socket closed, nothing answered.
	st = setVIPs(t, a, nil)
	if len(st) != 0 {
		t.Errorf("status of an empty set = %v", st)
	}
	if open := n.openSockets(); len(open) != 0 {
		t.Errorf("sockets still open: %v", open)
	}
	c0.send(whoHas(t, vip4b))
	c0.none(t, 30*time.Millisecond)
}

func TestBurstRepeatsAndStopsWithTheVIP(t *testing.T) {
	n := twoLinkNet()
	c0 := n.eth["eth0"].port(clientMAC)
	v6 := n.v6["eth0"].port(linkLocal(clientMAC), clientIP6)
	schedule := []time.Duration{0, 30 * time.Millisecond, 60 * time.Millisecond, 10 * time.Second}
	a, rec := testAnnouncer(t, n, func(d *deps, _ *Config) { d.schedule = schedule })
	setVIPs(t, a, bySubnet(vip4a, vip6a))
	for i := range 3 {
		for range 2 {
			if f := c0.next(t, wait); !isGARP(t, f, vip4a, mac0) {
				t.Errorf("round %d: not a gratuitous ARP", i)
			}
		}
		if na := parseNA(t, v6.next(t, wait)); na.Solicited || !na.Override || na.TargetAddress != vip6a {
			t.Errorf("round %d: NA %+v, want unsolicited with Override for %v", i, na, vip6a)
		}
	}
	// Counted after the write that delivered the frame: wait for the last count.
	testkit.EventuallyTrue(t, wait, waitEvery, "6 gratuitous ARP packets counted", func() bool {
		return rec.count(event{kind: "gratuitous", proto: protoARP, iface: "eth0"}) == 6
	})
	// The 4th round is 10 s away; removing the VIPs cancels it (Close would too, but later).
	setVIPs(t, a, nil)
	a.mu.Lock()
	nb := len(a.bursts)
	a.mu.Unlock()
	if nb != 0 {
		t.Errorf("%d bursts left after removing every VIP", nb)
	}
}

func TestReannounceRestartsTheBurst(t *testing.T) {
	synctest.Test(t, testReannounceRestartsTheBurst)
}

func testReannounceRestartsTheBurst(t *testing.T) {
	n := twoLinkNet()
	c0 := n.eth["eth0"].port(clientMAC)
	a, _ := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip4a))
	for range 2 {
		c0.next(t, wait) // the takeover burst's first round: request and reply forms
	}
	setVIPs(t, a, bySubnet(vip4a))
	c0.none(t, 30*time.Millisecond) // an unchanged set sends nothing
	if err := a.Reannounce(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if f := c0.next(t, wait); !isGARP(t, f, vip4a, mac0) {
			t.Error("Reannounce did not send a gratuitous ARP for the announced VIP")
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Reannounce(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reannounce after Close = %v, want ErrClosed", err)
	}
}

// Reannounce with addresses named repeats the burst of those only.
func TestReannounceNamedVIPs(t *testing.T) {
	synctest.Test(t, testReannounceNamedVIPs)
}

func testReannounceNamedVIPs(t *testing.T) {
	n := twoLinkNet()
	c0 := n.eth["eth0"].port(clientMAC)
	a, _ := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip4a, vip4b))
	for range 4 {
		c0.next(t, wait) // the takeover bursts' first rounds: two forms for each VIP
	}
	c0.none(t, 30*time.Millisecond)
	if err := a.Reannounce(vip4b); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if f := c0.next(t, wait); !isGARP(t, f, vip4b, mac0) {
			t.Errorf("Reannounce(%v) sent something else than its gratuitous ARP", vip4b)
		}
	}
	c0.none(t, 30*time.Millisecond) // nothing for vip4a
}

func TestNoSubnetIsReported(t *testing.T) {
	n := twoLinkNet()
	a, _ := testAnnouncer(t, n)
	st := setVIPs(t, a, bySubnet(vipNoNet, vip4a))
	s := st[vipNoNet]
	if s.Announced() {
		t.Errorf("%v announced on %v", vipNoNet, s.Interfaces)
	}
	var ns *ErrNoSubnet
	if !errors.As(s.Err, &ns) || ns.VIP != vipNoNet {
		t.Fatalf("status error = %v, want *ErrNoSubnet for %v", s.Err, vipNoNet)
	}
	const want = "cannot be announced from this node: no interface has a subnet containing 198.51.100.7"
	if got := s.Err.Error(); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("message %q, want it to start with %q", got, want)
	}
	if !st[vip4a].Announced() {
		t.Errorf("%v not announced: %v", vip4a, st[vip4a].Err)
	}
	// A subnet that appears later is noticed on the next recheck.
	n.addLink("eth2", 9, "02:00:00:00:00:09", "198.51.100.1/24")
	a.Recheck()
	testkit.EventuallyTrue(t, wait, waitEvery, "the new subnet to be used", func() bool { return a.Status()[vipNoNet].Announced() })
}

func TestUnavailableInterfaceIsCountedAndRetried(t *testing.T) {
	synctest.Test(t, testUnavailableInterfaceIsCountedAndRetried)
}

func testUnavailableInterfaceIsCountedAndRetried(t *testing.T) {
	n := twoLinkNet()
	c0 := n.eth["eth0"].port(clientMAC)
	var mu sync.Mutex
	var changes []map[netip.Addr]VIPStatus
	a, rec := testAnnouncer(t, n, func(_ *deps, c *Config) {
		c.OnStatusChange = func(m map[netip.Addr]VIPStatus) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, m)
		}
	})
	lastChange := func() map[netip.Addr]VIPStatus {
		mu.Lock()
		defer mu.Unlock()
		if len(changes) == 0 {
			return nil
		}
		return changes[len(changes)-1]
	}

	// A named interface that does not exist yet.
	st := setVIPs(t, a, map[netip.Addr]announce.Announcement{vip4a: {Interfaces: []string{"eth7"}}})
	if diff := cmp.Diff(statusView{Errs: []string{"eth7:missing"}}, view(st[vip4a])); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	// Rechecks while it is still missing count it once.
	a.Recheck()
	synctest.Wait()
	a.Recheck() // within minRecheckGap of the first: deferred
	// Past the spacing of rechecks and the first backoff retry (fake time), then until the
	// announcer is idle: every recheck those asked for has run.
	time.Sleep(minRecheckGap + retryBase)
	synctest.Wait()
	if got := rec.count(event{kind: "unavailable", iface: "eth7", reason: string(InterfaceMissing)}); got != 1 {
		t.Errorf("missing counted %d times, want 1 (on the transition)", got)
	}
	// It appears; the backoff retry finds it without any call, and the callback says so. The
	// backoff doubled at each attempt above (SetVIPs, the first Recheck, the deferred one run at
	// the gap), so the retry is due 2 s after that last one, at 2.1 s of fake time; the periodic
	// recheck (10 s) is later than this wait allows.
	n.addLink("eth7", 8, "02:00:00:00:00:07", "10.7.0.1/24")
	n.eth["eth7"].port(mustMAC("02:00:00:00:00:cc"))
	testkit.EventuallyTrue(t, 4*time.Second, waitEvery, "eth7 to be used", func() bool {
		s, ok := lastChange()[vip4a]
		return ok && s.Announced()
	})

	// The subnet interface goes down (no carrier): the VIP is reported, the socket closed.
	setVIPs(t, a, bySubnet(vip4a))
	c0.next(t, wait)
	c0.next(t, wait)
	n.setFlags("eth0", net.FlagUp|net.FlagBroadcast)
	a.Recheck()
	testkit.EventuallyTrue(t, wait, waitEvery, "eth0 to be reported down", func() bool {
		return cmp.Equal(statusView{Errs: []string{"eth0:down"}}, view(lastChange()[vip4a]))
	})
	if got := rec.count(event{kind: "unavailable", iface: "eth0", reason: string(InterfaceDown)}); got != 1 {
		t.Errorf("down counted %d times, want 1", got)
	}
	// Carrier back: announced again, with a new burst since switches may have forgotten us.
	n.setFlags("eth0", net.FlagUp|net.FlagRunning|net.FlagBroadcast)
	testkit.EventuallyTrue(t, 3*time.Second, waitEvery, "eth0 to announce again", func() bool { return a.Status()[vip4a].Announced() })
	if f := c0.next(t, wait); !isGARP(t, f, vip4a, mac0) {
		t.Error("no gratuitous ARP after the carrier came back")
	}
}

func TestSocketFailuresAreRetried(t *testing.T) {
	synctest.Test(t, testSocketFailuresAreRetried)
}

func testSocketFailuresAreRetried(t *testing.T) {
	n := twoLinkNet()
	n.setDialErr("eth0", protoARP, errInjected)
	c0 := n.eth["eth0"].port(clientMAC)
	a, rec := testAnnouncer(t, n)
	st := setVIPs(t, a, bySubnet(vip4a))
	ue, ok := errorsAs[*ErrInterfaceUnavailable](st[vip4a].Err)
	if !ok || ue.Reason != InterfaceSocketFailed || ue.Protocol != "ARP" || !errors.Is(st[vip4a].Err, errInjected) {
		t.Fatalf("status = %+v, want an ARP socket failure wrapping the dial error", st[vip4a])
	}
	n.setDialErr("eth0", protoARP, nil)
	testkit.EventuallyTrue(t, 3*time.Second, waitEvery, "the dial retry", func() bool { return a.Status()[vip4a].Announced() })
	if got := rec.count(event{kind: "unavailable", iface: "eth0", reason: string(InterfaceSocketFailed)}); got != 1 {
		t.Errorf("socket failure counted %d times, want 1", got)
	}
	c0.next(t, wait) // the burst after the retry: both forms
	c0.next(t, wait)
	c0.none(t, 30*time.Millisecond)

	// The socket breaks under us (the interface was reset): the read loop reports it, the
	// announcer reopens it and bursts again on the new socket.
	n.lastARP("eth0").readErr <- errors.New("recvfrom: network is down")
	testkit.EventuallyTrue(t, wait, waitEvery, "the socket to be reopened", func() bool { return n.dialCount("eth0", protoARP) == 3 })
	testkit.EventuallyTrue(t, wait, waitEvery, "the new socket to be published", func() bool {
		return a.Status()[vip4a].Announced() && len(n.openSockets()) == 1
	})
	if f := c0.next(t, wait); !isGARP(t, f, vip4a, mac0) {
		t.Error("no gratuitous ARP on the reopened socket")
	}
	c0.next(t, wait)
	c0.send(whoHas(t, vip4a))
	for {
		if _, p := parseARPFrame(t, c0.next(t, wait)); p.Operation == arp.OperationReply && p.TargetIP == clientIP {
			break
		}
	}
}

func TestRecreatedInterfaceGetsANewSocket(t *testing.T) {
	n := twoLinkNet()
	a, _ := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip6a))
	old := n.lastNDP("eth0")
	n.addLink("eth0", 12, "02:00:00:00:00:01", "192.0.2.1/24", "2001:db8:1::1/64") // new index
	a.Recheck()
	testkit.EventuallyTrue(t, wait, waitEvery, "the old socket to close", old.closed)
	testkit.EventuallyTrue(t, wait, waitEvery, "a new socket with the group joined", func() bool {
		p := n.lastNDP("eth0")
		return p != old && len(p.joined()) == 1
	})
}

func TestRemovedInterfaceIsReported(t *testing.T) {
	n := twoLinkNet()
	a, rec := testAnnouncer(t, n)
	setVIPs(t, a, map[netip.Addr]announce.Announcement{vip4a: {Interfaces: []string{"eth1"}}})
	sock := n.lastARP("eth1")
	n.removeLink("eth1")
	a.Recheck()
	testkit.EventuallyTrue(t, wait, waitEvery, "the removed interface to be reported", func() bool {
		return cmp.Equal(statusView{Errs: []string{"eth1:missing"}}, view(a.Status()[vip4a]))
	})
	if !sock.closed() {
		t.Error("the socket of the removed interface is still open")
	}
	if got := rec.count(event{kind: "unavailable", iface: "eth1", reason: string(InterfaceMissing)}); got != 1 {
		t.Errorf("missing counted %d times, want 1", got)
	}
}

func TestListFailureKeepsAnnouncing(t *testing.T) {
	n := twoLinkNet()
	c0 := n.eth["eth0"].port(clientMAC)
	a, _ := testAnnouncer(t, n)
	setVIPs(t, a, bySubnet(vip4a))
	c0.next(t, wait)
	c0.next(t, wait)
	n.mu.Lock()
	n.listErr = errInjected
	n.mu.Unlock()
	a.Recheck()
	if _, err := a.SetVIPs(bySubnet(vip4a, vip4b)); !errors.Is(err, errInjected) {
		t.Errorf("SetVIPs while listing fails: %v, want the listing error", err)
	}
	c0.send(whoHas(t, vip4a))
	if _, p := parseARPFrame(t, c0.next(t, wait)); p.SenderIP != vip4a {
		t.Errorf("answer for %v, want %v", p.SenderIP, vip4a)
	}
	// Listing works again: the retry applies the set given while it failed.
	n.mu.Lock()
	n.listErr = nil
	n.mu.Unlock()
	testkit.EventuallyTrue(t, 3*time.Second, waitEvery, "the retry to apply the new set", func() bool { return a.Status()[vip4b].Announced() })
}

func TestCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	n := twoLinkNet()
	for _, stop := range []string{"Close", "context"} {
		t.Run(stop, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &fakeRecorder{}
			events := newFakeEvents()
			a, err := newAnnouncer(ctx, Config{}, deps{links: n.list, dial: n, clock: realClock(), rec: rec,
				events:   func() (linkEvents, error) { return events, nil },
				schedule: []time.Duration{0, time.Hour}}) // bursts still pending at close
			if err != nil {
				t.Fatal(err)
			}
			setVIPs(t, a, bySubnet(vip4a, vip4eth1, vip6a, vip6eth1))
			if open := n.openSockets(); len(open) != 4 {
				t.Fatalf("open sockets = %v, want ARP and NDP on two interfaces", open)
			}
			events.fire() // a recheck from a link event, while running
			if stop == "Close" {
				if err := a.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				cancel()
				done := make(chan struct{})
				go func() { _ = a.Close(); close(done) }()
				select {
				case <-done:
				case <-time.After(wait):
					t.Fatal("Close after the context ended did not return")
				}
			}
			if open := n.openSockets(); len(open) != 0 {
				t.Errorf("sockets open after close: %v", open)
			}
			if !events.isClosed() {
				t.Error("link event subscription not closed")
			}
			if _, err := a.SetVIPs(bySubnet(vip4a)); !errors.Is(err, ErrClosed) {
				t.Errorf("SetVIPs after close: %v, want ErrClosed", err)
			}
		})
	}
	// Every goroutine started (loops, bursts, event reader, read loops) has returned.
	testkit.EventuallyTrue(t, wait, waitEvery, "goroutines to return", func() bool { return runtime.NumGoroutine() <= before })
}

// TestDeferredRechecksKeepTheBackoff: rechecks deferred by minRecheckGap are not attempts: they
// neither double the backoff nor put off the retry already due (in fake time, exactly).
func TestDeferredRechecksKeepTheBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := twoLinkNet()
		a, _ := testAnnouncer(t, n)
		// Attempt 1 fails (eth7 is missing): retry in 500 ms.
		setVIPs(t, a, map[netip.Addr]announce.Announcement{vip4a: {Interfaces: []string{"eth7"}}})
		synctest.Wait()
		// The first recheck runs (attempt 2: retry in 1 s); the four after it, within the gap,
		// are deferred into one run at the gap (attempt 3: retry in 2 s).
		for range 5 {
			a.Recheck()
			synctest.Wait()
		}
		time.Sleep(minRecheckGap)
		synctest.Wait()
		n.addLink("eth7", 8, "02:00:00:00:00:07", "10.7.0.1/24")
		n.eth["eth7"].port(mustMAC("02:00:00:00:00:cc"))
		start := time.Now()
		for !a.Status()[vip4a].Announced() {
			if time.Since(start) > time.Minute {
				t.Fatal("eth7 never used")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The poll's own 10 ms steps may fall just after the retry's instant.
		if d := time.Since(start); d > retryDelay(2, time.Hour)+20*time.Millisecond {
			t.Errorf("the retry came %s after the last attempt, want %s: the deferred rechecks grew the backoff", d, retryDelay(2, time.Hour))
		}
	})
}
