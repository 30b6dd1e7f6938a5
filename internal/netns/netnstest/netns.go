//go:build linux

// Package netnstest builds small networks of Linux network namespaces for root tests, over the core
// the lab uses (internal/netns): namespaces, bridges, veth pairs, addresses, and sockets opened
// inside a namespace by the test process itself. Everything a test creates is removed by t.Cleanup,
// also when the test fails.
//
// Nothing here touches the machine's own namespace: every link, address, route and sysctl is set
// inside a namespace the test made, and a test reaches its namespaces only through sockets opened
// inside them (Listen, Dial) or processes started in them (Command).
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/frontdesk-lb/frontdesk/internal/netns"
)

// RequireRoot skips the test when it does not run as root, and fails it when a tool the package
// runs is missing: a root run must not silently test less.
func RequireRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network-namespace tests need root")
	}
	for _, tool := range append([]string{"ip", "sysctl"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("network-namespace tests need %s (make deps installs it): %v", tool, err)
		}
	}
}

// RunID returns a short random name part, so that tests running at the same time (other
// packages, other checkouts) never share a namespace or a bridge name.
func RunID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// NS is a network namespace made for one test.
type NS struct {
	Name string
	t    testing.TB
}

// For returns a view of the namespace whose failing commands fail t, a subtest of the test that
// made it: a subtest must not call its parent's FailNow. The namespace itself still goes with the
// test that made it.
func (ns *NS) For(t testing.TB) *NS {
	return &NS{Name: ns.Name, t: t}
}

// New makes a namespace named "fd<id>-<role>" with lo up and IPv6 duplicate address detection off
// (addresses are usable at once), and deletes it when the test ends, with any process the test
// left inside. id comes from RunID.
func New(t testing.TB, id, role string) *NS {
	t.Helper()
	name := "fd" + id + "-" + role
	if len(name) > 32 {
		t.Fatalf("namespace name %q is longer than 32 characters", name)
	}
	if err := netns.Add(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	ns := &NS{Name: name, t: t}
	t.Cleanup(func() {
		if err := netns.Delete(context.Background(), name); err != nil {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	ns.Sysctl("net.ipv6.conf.all.accept_dad", "0")
	ns.Sysctl("net.ipv6.conf.default.accept_dad", "0")
	return ns
}

// Run runs a command in the test's own namespace (used for `ip netns ...` management only) and
// fails the test when it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// IP runs `ip -n <ns> args...`.
func (ns *NS) IP(args ...string) string {
	ns.t.Helper()
	return Run(ns.t, append([]string{"ip", "-n", ns.Name}, args...)...)
}

// Exec runs a command inside the namespace and fails the test when it fails.
func (ns *NS) Exec(args ...string) string {
	ns.t.Helper()
	return Run(ns.t, append([]string{"ip", "netns", "exec", ns.Name}, args...)...)
}

// Command prepares a command that runs inside the namespace; the caller starts and stops it.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return netns.Command(context.Background(), ns.Name, name, args...)
}

// Sysctl sets a sysctl inside the namespace (net.* keys are per namespace).
func (ns *NS) Sysctl(key, value string) {
	ns.t.Helper()
	ns.Exec("sysctl", "-qw", key+"="+value)
}

// AddAddr adds an address to an interface of the namespace (IPv6 without DAD).
func (ns *NS) AddAddr(iface string, p netip.Prefix) {
	ns.t.Helper()
	args := []string{"addr", "add", p.String(), "dev", iface}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	ns.IP(args...)
}

// Do runs fn on an OS thread switched into the namespace (netns.Do). Sockets keep the namespace
// they were made in, so a listener or connection opened in fn serves that namespace for its
// lifetime, from any goroutine. fn must not open sockets from goroutines it starts.
func (ns *NS) Do(fn func() error) error {
	return netns.Do(ns.Name, fn)
}

// Listen opens a listener inside the namespace.
func (ns *NS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() (err error) { l, err = net.Listen(network, addr); return err })
	return l, err
}

// ListenPacket opens a packet socket (UDP) inside the namespace.
func (ns *NS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.Do(func() (err error) { c, err = net.ListenPacket(network, addr); return err })
	return c, err
}

// Dial connects from inside the namespace.
func (ns *NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return err })
	return c, err
}
