//go:build netns

package l2

import (
	"bufio"
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
)

// Topology of the netns tests: a bridge in its own namespace joins two node namespaces and a
// client namespace, each through a veth named fdl2-eth on its side.
//
//	n1      02:fd:00:00:00:01  10.77.0.1/24  fd77::1/64
//	n2      02:fd:00:00:00:02  10.77.0.2/24  fd77::2/64
//	client  02:fd:00:00:00:0c  10.77.0.10/24 fd77::10/64
//	VIPs    10.77.0.100, fd77::100 (announced), 10.77.0.101 (not), 198.51.100.7 (no subnet)
const nsIface = "fdl2-eth"

type topology struct {
	n1, n2, client *netnstest.NS
	mac1, mac2     string
}

func newTopology(t *testing.T) *topology {
	t.Helper()
	netnstest.RequireRoot(t, "arping", "ping")
	// Namespaces are named fdl2-<run id>-<role>.
	id := "l2-" + netnstest.RunID(t)
	br := netnstest.NewBridge(t, id, "br")
	tp := &topology{n1: netnstest.New(t, id, "n1"), n2: netnstest.New(t, id, "n2"), client: netnstest.New(t, id, "cl"),
		mac1: "02:fd:00:00:00:01", mac2: "02:fd:00:00:00:02"}
	br.Attach(tp.n1, nsIface, tp.mac1, netip.MustParsePrefix("10.77.0.1/24"), netip.MustParsePrefix("fd77::1/64"))
	br.Attach(tp.n2, nsIface, tp.mac2, netip.MustParsePrefix("10.77.0.2/24"), netip.MustParsePrefix("fd77::2/64"))
	br.Attach(tp.client, nsIface, "02:fd:00:00:00:0c", netip.MustParsePrefix("10.77.0.10/24"), netip.MustParsePrefix("fd77::10/64"))
	return tp
}

// nsDialer opens the announcer's sockets inside a namespace; sockets keep the namespace they
// were created in, so only listing interfaces and opening sockets go through it.
type nsDialer struct{ ns *netnstest.NS }

func (d nsDialer) dialARP(l link) (c frameConn, err error) {
	if derr := d.ns.Do(func() error { c, err = osDialer{}.dialARP(l); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

func (d nsDialer) dialNDP(l link) (c ndpConn, src netip.Addr, err error) {
	if derr := d.ns.Do(func() error { c, src, err = osDialer{}.dialNDP(l); return nil }); derr != nil {
		return nil, netip.Addr{}, derr
	}
	return c, src, err
}

// nsAnnouncer runs the real announcer (real interface listing, sockets and link events, real
// schedule) inside a namespace. Periodic rechecks are an hour apart, so that only link events
// can explain a reaction to a link change.
func nsAnnouncer(t *testing.T, ns *netnstest.NS, onStatus func(map[netip.Addr]VIPStatus)) (*Announcer, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	d := deps{
		links: func() (ls []link, err error) {
			if derr := ns.Do(func() error { ls, err = osLinks(); return nil }); derr != nil {
				return nil, derr
			}
			return ls, err
		},
		dial: nsDialer{ns: ns},
		events: func() (e linkEvents, err error) {
			if derr := ns.Do(func() error { e, err = openLinkEvents(); return nil }); derr != nil {
				return nil, derr
			}
			return e, err
		},
		clock:    clock.RealClock{},
		rec:      rec,
		schedule: garpSchedule(garpSpan, garpGap),
	}
	cfg := Config{Logger: ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(4))).WithValues("node", ns.Name),
		RecheckInterval: time.Hour, OnStatusChange: onStatus}
	a, err := newAnnouncer(context.Background(), cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, rec
}

// resolve makes the client's kernel resolve ip (the ping itself gets no answer: the VIP is not
// configured on the node) and returns the MAC it learnt.
func resolve(ns *netnstest.NS, ip netip.Addr) string {
	_ = ns.Command("ping", "-c", "1", "-W", "1", ip.String()).Run()
	return ns.Neigh(nsIface, ip)
}

// neighMonitor timestamps the client's neighbour-table changes as the kernel announces them
// (ip monitor), a finer clock than polling the table.
type neighMonitor struct {
	lines chan neighLine
}

type neighLine struct {
	at   time.Time
	text string
}

func monitorNeigh(t *testing.T, ns *netnstest.NS) *neighMonitor {
	t.Helper()
	cmd := exec.Command("ip", "-n", ns.Name, "monitor", "neigh")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &neighMonitor{lines: make(chan neighLine, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			m.lines <- neighLine{at: time.Now(), text: sc.Text()}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
	})
	// Ready once it reports a change we make; it subscribes some time after it starts, so
	// the change is repeated until one is seen.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; ; i++ {
		mac := []string{"02:fd:00:00:00:fa", "02:fd:00:00:00:fb"}[i%2]
		ns.IP("neigh", "replace", "10.77.0.250", "lladdr", mac, "dev", nsIface, "nud", "stale")
		select {
		case l := <-m.lines:
			if strings.HasPrefix(l.text, "10.77.0.250 ") {
				return m
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("ip monitor neigh reported nothing within 3 s")
		}
	}
}

// waitNeigh polls the client's entry for ip until it is mac, and returns how long that took.
// ns is the view of the test that calls it (netnstest.NS.For).
func waitNeigh(t *testing.T, ns *netnstest.NS, ip netip.Addr, mac string, limit time.Duration, start time.Time) time.Duration {
	t.Helper()
	for {
		if got := ns.Neigh(nsIface, ip); got == mac {
			return time.Since(start)
		} else if time.Since(start) > limit {
			t.Fatalf("client's entry for %s is %q after %v, want %s", ip, got, limit, mac)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
