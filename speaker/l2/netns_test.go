//go:build netns

package l2

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

var (
	nsVIP4      = netip.MustParseAddr("10.77.0.100")
	nsVIP6      = netip.MustParseAddr("fd77::100")
	nsNotOwned  = netip.MustParseAddr("10.77.0.101")
	nsNoSubnet  = netip.MustParseAddr("198.51.100.7")
	nsTakeLimit = 2 * time.Second // the L2 failover target: client served by the new node within 2 s
)

// arping asks from the client and returns the MACs that answered (none: "").
func arping(t *testing.T, ns *netnstest.NS, ip netip.Addr) string {
	t.Helper()
	out, err := ns.Command("arping", "-i", nsIface, "-c", "1", "-w", "2", "-r", ip.String()).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 {
			return "" // no reply
		}
		t.Fatalf("arping %v: %v\n%s", ip, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestNetnsAnswersOnlyOwnedVIPs(t *testing.T) {
	tp := newTopology(t)
	var mu sync.Mutex
	var last map[netip.Addr]VIPStatus
	a, rec := nsAnnouncer(t, tp.n1, func(m map[netip.Addr]VIPStatus) {
		mu.Lock()
		defer mu.Unlock()
		last = m
	})
	lastStatus := func(vip netip.Addr) (VIPStatus, bool) {
		mu.Lock()
		defer mu.Unlock()
		s, ok := last[vip]
		return s, ok
	}
	st := setVIPs(t, a, map[netip.Addr]announce.Announcement{
		nsVIP4: {}, nsVIP6: {}, nsNoSubnet: {},
		netip.MustParseAddr("10.77.0.102"): {Interfaces: []string{"fdl2-nope"}},
	})
	for _, vip := range []netip.Addr{nsVIP4, nsVIP6} {
		if s := st[vip]; len(s.Interfaces) != 1 || s.Interfaces[0] != nsIface || s.Err != nil {
			t.Errorf("status of %v = %+v, want announced on %s", vip, s, nsIface)
		}
	}
	if _, ok := errorsAs[*ErrNoSubnet](st[nsNoSubnet].Err); !ok {
		t.Errorf("status of %v = %+v, want ErrNoSubnet", nsNoSubnet, st[nsNoSubnet])
	}
	if ue, ok := errorsAs[*ErrInterfaceUnavailable](st[netip.MustParseAddr("10.77.0.102")].Err); !ok || ue.Reason != InterfaceMissing {
		t.Errorf("status of a VIP on a missing interface = %+v, want InterfaceMissing", st[netip.MustParseAddr("10.77.0.102")])
	}

	if got := arping(t, tp.client, nsVIP4); got != tp.mac1 {
		t.Errorf("arping %v answered by %q, want %s", nsVIP4, got, tp.mac1)
	}
	if got := arping(t, tp.client, nsNotOwned); got != "" {
		t.Errorf("arping %v (not announced) answered by %q", nsNotOwned, got)
	}
	testkit.EventuallyTrue(t, wait, waitEvery, "the unowned request to be dropped as not_owned", func() bool {
		return rec.count(event{kind: "dropped", proto: protoARP, iface: nsIface, reason: string(DropNotOwned)}) >= 1
	})
	// The client claims the VIP with a gratuitous ARP: two hosts answer for one address, which
	// the speaker counts as a conflict (the metric the chart's alert reads).
	var noReply *exec.ExitError // arping exits 1 when nothing answers, as nothing does here
	if out, err := tp.client.Command("arping", "-i", nsIface, "-c", "1", "-U", "-S", nsVIP4.String(), nsVIP4.String()).CombinedOutput(); err != nil &&
		(!errors.As(err, &noReply) || noReply.ExitCode() != 1) {
		t.Fatalf("gratuitous arping: %v\n%s", err, out)
	}
	testkit.EventuallyTrue(t, wait, waitEvery, "the client's claim on the VIP to be counted as a conflict", func() bool {
		return rec.count(event{kind: "dropped", proto: protoARP, iface: nsIface, reason: string(DropConflict)}) >= 1
	})
	// The client's kernel resolves both VIPs to n1 through our answers.
	if got := resolve(tp.client, nsVIP4); got != tp.mac1 {
		t.Errorf("client resolved %v to %q, want %s", nsVIP4, got, tp.mac1)
	}
	if got := resolve(tp.client, nsVIP6); got != tp.mac1 {
		t.Errorf("client resolved %v to %q, want %s", nsVIP6, got, tp.mac1)
	}
	if rec.count(event{kind: "answered", proto: protoNDP, iface: nsIface}) == 0 {
		t.Error("no neighbour solicitation answered")
	}

	// The link goes down: the link event alone (periodic rechecks are an hour apart) reports it
	// and closes the sockets; back up, the VIP is announced again.
	tp.n1.IP("link", "set", nsIface, "down")
	testkit.EventuallyTrue(t, wait, waitEvery, "the down link to be reported", func() bool {
		s, ok := lastStatus(nsVIP4)
		ue, isUE := errorsAs[*ErrInterfaceUnavailable](s.Err)
		return ok && isUE && ue.Reason == InterfaceDown
	})
	tp.n1.IP("link", "set", nsIface, "up")
	testkit.EventuallyTrue(t, 3*time.Second, waitEvery, "the link to announce again", func() bool {
		s, ok := lastStatus(nsVIP4)
		return ok && s.Announced()
	})
	if got := arping(t, tp.client, nsVIP4); got != tp.mac1 {
		t.Errorf("after the link came back, arping %v answered by %q, want %s", nsVIP4, got, tp.mac1)
	}
}

// osLinks reads every address in one dump; the standard library asks interface by interface.
// Both must agree on a real kernel.
func TestNetnsLinksMatchTheStandardLibrary(t *testing.T) {
	tp := newTopology(t)
	var links []link
	want := map[string][]netip.Prefix{}
	err := tp.n1.Do(func() (err error) {
		if links, err = osLinks(); err != nil {
			return err
		}
		for _, l := range links {
			addrs, err := l.ifi.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if p, perr := netip.ParsePrefix(a.String()); perr == nil {
					want[l.name()] = append(want[l.name()], p)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]netip.Prefix{}
	for _, l := range links {
		got[l.name()] = l.prefixes
	}
	sortPrefixes := cmpopts.SortSlices(func(a, b netip.Prefix) bool { return a.String() < b.String() })
	if diff := cmp.Diff(want, got, sortPrefixes, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("addresses (-stdlib +osLinks):\n%s", diff)
	}
	if !slices.Contains(got[nsIface], netip.MustParsePrefix("10.77.0.1/24")) || !slices.Contains(got[nsIface], netip.MustParsePrefix("fd77::1/64")) {
		t.Errorf("%s has %v, want 10.77.0.1/24 and fd77::1/64 among them", nsIface, got[nsIface])
	}
}

// TestNetnsTakeover moves both VIPs from n1 to n2 the way an unplanned failover does (n1 stops
// dead, n2 takes over) and measures how long the client's neighbour entries take to follow.
func TestNetnsTakeover(t *testing.T) {
	tp := newTopology(t)
	a1, _ := nsAnnouncer(t, tp.n1, nil)
	a2, rec2 := nsAnnouncer(t, tp.n2, nil)
	vips := bySubnet(nsVIP4, nsVIP6)
	setVIPs(t, a1, vips)
	for _, vip := range []netip.Addr{nsVIP4, nsVIP6} {
		if got := resolve(tp.client, vip); got != tp.mac1 {
			t.Fatalf("client resolved %v to %q before the takeover, want %s", vip, got, tp.mac1)
		}
	}
	// The entries were just learnt, well within Linux's 1 s locktime: the gratuitous forms we
	// send must land anyway.
	if err := a1.Close(); err != nil {
		t.Fatal(err)
	}
	mon := monitorNeigh(t, tp.client)
	start := time.Now()
	st := setVIPs(t, a2, vips)
	setDone := time.Since(start)
	for _, vip := range []netip.Addr{nsVIP4, nsVIP6} {
		if !st[vip].Announced() {
			t.Fatalf("n2 does not announce %v: %v", vip, st[vip].Err)
		}
	}
	// The kernel's own report times the change; the table is read after as a cross-check.
	at := map[netip.Addr]time.Duration{}
	for len(at) < 2 {
		select {
		case l := <-mon.lines:
			for _, vip := range []netip.Addr{nsVIP4, nsVIP6} {
				if f := strings.Fields(l.text); len(f) > 0 && f[0] == vip.String() && strings.Contains(l.text, "lladdr "+tp.mac2) {
					if _, seen := at[vip]; !seen {
						at[vip] = l.at.Sub(start)
					}
				}
			}
		case <-time.After(nsTakeLimit):
			t.Fatalf("after %v the client's kernel reported only %v moving to n2", nsTakeLimit, at)
		}
	}
	for _, vip := range []netip.Addr{nsVIP4, nsVIP6} {
		if got := tp.client.Neigh(nsIface, vip); got != tp.mac2 {
			t.Errorf("client's entry for %v is %q, want %s", vip, got, tp.mac2)
		}
		if at[vip] > nsTakeLimit {
			t.Errorf("%v moved after %v, want within %v", vip, at[vip], nsTakeLimit)
		}
	}
	t.Logf("takeover: SetVIPs returned after %v; the client's entry moved to n2 after %v (IPv4, gratuitous ARP) and %v (IPv6, unsolicited NA)",
		setDone, at[nsVIP4], at[nsVIP6])
	testkit.EventuallyTrue(t, wait, waitEvery, "n2 to count both gratuitous ARP forms", func() bool {
		return rec2.count(event{kind: "gratuitous", proto: protoARP, iface: nsIface}) >= 2
	})
}

// TestNetnsGratuitousFormsBeatLocktime checks the claim behind the packets we send against the
// real kernel: within the neighbour locktime (1 s) after an entry changed, Linux ignores a
// gratuitous reply whose target MAC is the broadcast address (MetalLB's form), but takes both
// our forms (a request with sender IP = target IP, a reply with target MAC = sender MAC).
func TestNetnsGratuitousFormsBeatLocktime(t *testing.T) {
	tp := newTopology(t)
	var conn frameConn
	err := tp.n2.Do(func() error {
		ifi, err := net.InterfaceByName(nsIface)
		if err != nil {
			return err
		}
		conn, err = osDialer{}.dialARP(link{ifi: *ifi})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	mac2, _ := net.ParseMAC(tp.mac2)
	send := func(p *arp.Packet) {
		t.Helper()
		r := &arpResponder{conn: conn}
		if err := r.write(ethernet.Broadcast, p); err != nil {
			t.Fatal(err)
		}
	}
	forms := garpPackets(nsVIP4, mac2)
	metallb := *forms[1]
	metallb.TargetHardwareAddr = ethernet.Broadcast

	for _, tc := range []struct {
		name string
		p    *arp.Packet
	}{{"request form", forms[0]}, {"reply form with target MAC = sender MAC", forms[1]}} {
		t.Run(tc.name, func(t *testing.T) {
			client := tp.client.For(t)
			// Point the entry at n1 now: the change starts the locktime window.
			client.IP("neigh", "replace", nsVIP4.String(), "lladdr", "02:fd:00:00:00:99", "dev", nsIface, "nud", "reachable")
			client.IP("neigh", "replace", nsVIP4.String(), "lladdr", tp.mac1, "dev", nsIface, "nud", "reachable")
			start := time.Now()
			send(&metallb)
			time.Sleep(50 * time.Millisecond)
			if got := client.Neigh(nsIface, nsVIP4); got != tp.mac1 {
				t.Fatalf("a broadcast-target reply moved the entry to %q within locktime; the kernel no longer behaves as this test assumes", got)
			}
			send(tc.p)
			d := waitNeigh(t, client, nsVIP4, tp.mac2, 500*time.Millisecond, start)
			if time.Since(start) >= time.Second {
				t.Fatalf("the check took %v, past the locktime it is about", time.Since(start))
			}
			t.Logf("%s landed %v after the entry changed (locktime 1 s)", tc.name, d)
		})
	}
	// And the broadcast-target reply was ignored because of the locktime, not for some other
	// reason: once the lock expired, it lands.
	t.Run("broadcast-target reply after locktime", func(t *testing.T) {
		client := tp.client.For(t)
		client.IP("neigh", "replace", nsVIP4.String(), "lladdr", tp.mac1, "dev", nsIface, "nud", "reachable")
		time.Sleep(1200 * time.Millisecond)
		start := time.Now()
		send(&metallb)
		waitNeigh(t, client, nsVIP4, tp.mac2, 500*time.Millisecond, start)
	})
}
