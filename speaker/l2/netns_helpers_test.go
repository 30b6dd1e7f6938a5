//go:build netns

package l2

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"
)

// Topology of the netns tests: a bridge in its own namespace joins two node namespaces and a
// client namespace, each through a veth named fdl2-eth on its side.
//
//	n1      02:fd:00:00:00:01  10.77.0.1/24  fd77::1/64
//	n2      02:fd:00:00:00:02  10.77.0.2/24  fd77::2/64
//	client  02:fd:00:00:00:0c  10.77.0.10/24 fd77::10/64
//	VIPs    10.77.0.100, fd77::100 (announced), 10.77.0.101 (not), 198.51.100.7 (no subnet)
const (
	nsIface = "fdl2-eth"
	brName  = "fdl2-br"
)

type topology struct {
	br, n1, n2, client string // namespace names, unique per run
	mac1, mac2         string
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netns tests need root")
	}
	for _, tool := range []string{"ip", "arping", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("netns tests need %s: %v", tool, err)
		}
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTopology(t *testing.T) *topology {
	t.Helper()
	requireRoot(t)
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id := "fdl2-" + hex.EncodeToString(b)
	tp := &topology{br: id + "-br", n1: id + "-n1", n2: id + "-n2", client: id + "-cl",
		mac1: "02:fd:00:00:00:01", mac2: "02:fd:00:00:00:02"}
	for _, ns := range []string{tp.br, tp.n1, tp.n2, tp.client} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("deleting namespace %s: %v\n%s", ns, err, out)
			}
		})
		// Addresses are usable at once (nodad below; link-local too): DAD would otherwise
		// keep the NDP socket from binding for about a second.
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", tp.br, "link", "add", brName, "type", "bridge")
	run(t, "ip", "-n", tp.br, "link", "set", brName, "up")
	for _, n := range []struct{ ns, port, mac, v4, v6 string }{
		{tp.n1, "fdl2-p1", tp.mac1, "10.77.0.1/24", "fd77::1/64"},
		{tp.n2, "fdl2-p2", tp.mac2, "10.77.0.2/24", "fd77::2/64"},
		{tp.client, "fdl2-pc", "02:fd:00:00:00:0c", "10.77.0.10/24", "fd77::10/64"},
	} {
		run(t, "ip", "-n", n.ns, "link", "add", nsIface, "address", n.mac, "type", "veth", "peer", "name", n.port, "netns", tp.br)
		run(t, "ip", "-n", tp.br, "link", "set", n.port, "master", brName, "up")
		run(t, "ip", "-n", n.ns, "addr", "add", n.v4, "dev", nsIface)
		run(t, "ip", "-n", n.ns, "addr", "add", n.v6, "dev", nsIface, "nodad")
		run(t, "ip", "-n", n.ns, "link", "set", nsIface, "up")
	}
	return tp
}

// netns runs functions on an OS thread inside a network namespace. Sockets keep the
// namespace they were created in, so only listing interfaces and opening sockets go through it.
type netns struct {
	reqs chan func()
	done chan struct{}
}

func enterNetns(t *testing.T, name string) *netns {
	t.Helper()
	ns := &netns{reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(ns.done)
		// Never unlocked: the thread exits with this goroutine instead of going back to the
		// runtime's pool while still in the test's namespace.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + name)
		if err == nil {
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			_ = f.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		for fn := range ns.reqs {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("entering namespace %s: %v", name, err)
	}
	t.Cleanup(func() { close(ns.reqs); <-ns.done })
	return ns
}

func (ns *netns) do(fn func()) {
	done := make(chan struct{})
	ns.reqs <- func() { defer close(done); fn() }
	<-done
}

type nsDialer struct{ ns *netns }

func (d nsDialer) dialARP(l link) (c frameConn, err error) {
	d.ns.do(func() { c, err = osDialer{}.dialARP(l) })
	return c, err
}

func (d nsDialer) dialNDP(l link) (c ndpConn, src netip.Addr, err error) {
	d.ns.do(func() { c, src, err = osDialer{}.dialNDP(l) })
	return c, src, err
}

// nsAnnouncer runs the real announcer (real interface listing, sockets and link events, real
// schedule) inside a namespace. Periodic rechecks are an hour apart, so that only link events
// can explain a reaction to a link change.
func nsAnnouncer(t *testing.T, name string, onStatus func(map[netip.Addr]VIPStatus)) (*Announcer, *fakeRecorder) {
	t.Helper()
	ns := enterNetns(t, name)
	rec := &fakeRecorder{}
	d := deps{
		links: func() (ls []link, err error) {
			ns.do(func() { ls, err = osLinks() })
			return ls, err
		},
		dial: nsDialer{ns: ns},
		events: func() (e linkEvents, err error) {
			ns.do(func() { e, err = openLinkEvents() })
			return e, err
		},
		clock:    clock.RealClock{},
		rec:      rec,
		schedule: garpSchedule(garpSpan, garpGap),
	}
	cfg := Config{Logger: ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(4))).WithValues("node", name),
		RecheckInterval: time.Hour, OnStatusChange: onStatus}
	a, err := newAnnouncer(context.Background(), cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, rec
}

// neighMAC is the client's neighbour entry for ip: its MAC, or "" when there is none.
func neighMAC(t *testing.T, ns, ip string) string {
	t.Helper()
	out := run(t, "ip", "-n", ns, "neigh", "show", ip, "dev", nsIface)
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// resolve makes the client's kernel resolve ip (the ping itself gets no answer: the VIP is not
// configured on the node) and returns the MAC it learnt.
func resolve(t *testing.T, ns, ip string) string {
	t.Helper()
	_ = exec.Command("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", ip).Run()
	return neighMAC(t, ns, ip)
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

func monitorNeigh(t *testing.T, ns string) *neighMonitor {
	t.Helper()
	cmd := exec.Command("ip", "-n", ns, "monitor", "neigh")
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
		run(t, "ip", "-n", ns, "neigh", "replace", "10.77.0.250", "lladdr", mac, "dev", nsIface, "nud", "stale")
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
func waitNeigh(t *testing.T, ns, ip, mac string, limit time.Duration, start time.Time) time.Duration {
	t.Helper()
	for {
		if got := neighMAC(t, ns, ip); got == mac {
			return time.Since(start)
		} else if time.Since(start) > limit {
			t.Fatalf("client's entry for %s is %q after %v, want %s", ip, got, limit, mac)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
