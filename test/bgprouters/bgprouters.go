//go:build linux

// Package bgprouters holds the BGP routers that root tests peer their speakers with: gobgpd
// (built from the GoBGP module pinned in hack/tools/go.mod), BIRD 2 and FRR 8 (bgpd alone,
// without zebra), each started inside a test's network namespace. It owns their configuration
// (one neighbour per speaker, MD5 password, hold time, BFD, GTSM, a prefix the router originates),
// their readiness, restart and stop, the parsers of each daemon's RIB into one Path type, the
// GoBGP best-path Monitor that timestamps every change, AdjIn, which follows each speaker's
// paths in gobgpd's Adj-RIB-In, and GoTool, which finds the pinned gobgp and gobgpd.
//
// It is test code, imported only from _test.go files. The lab's product router (lab/router:
// dynamic neighbours, the lab's BFD timers) is a different router and does not depend on it.
package bgprouters

import (
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/test/proc"
)

// Kind names a router implementation; it is also the subtest name tests give it.
type Kind string

// The router implementations.
const (
	GoBGPD Kind = "gobgpd"
	BIRD   Kind = "bird"
	FRR    Kind = "frr"
)

// Kinds are all the router implementations, for tests that run against each.
var Kinds = []Kind{GoBGPD, BIRD, FRR}

// Config is what a router is configured with: one neighbour per speaker.
type Config struct {
	// Router is the router's address: its router ID and the address its sessions use.
	Router netip.Addr
	// RouterASN is the router's AS.
	RouterASN uint32
	// Speakers are the speakers' addresses, a neighbour each.
	Speakers []netip.Addr
	// SpeakerASN is the speakers' AS: RouterASN for iBGP, another for eBGP.
	SpeakerASN uint32
	// Password, if set, is the TCP MD5 (RFC 2385) password of every session.
	Password string
	// Hold is the hold time offered (whole seconds; keepalives every third of it, at least 1 s);
	// 0 leaves the daemon's default, 90 s.
	Hold time.Duration
	// BFD, unless zero, runs BFD towards every speaker (gobgpd and BIRD; FRR's BFD needs bfdd,
	// which is not run).
	BFD BFD
	// GTSM enables TTL security (RFC 5082) towards the speakers, one hop (gobgpd only).
	GTSM bool
	// Originate, if valid, is a prefix the router originates and announces to the speakers.
	// Paths leaves it out.
	Originate netip.Prefix
	// Flood, if positive, is how many more routes the router announces to the speakers: /32s
	// from FloodFrom up, as a misconfigured or hostile router sends its full table (BIRD only).
	Flood int
}

// FloodFrom is the first address of Config.Flood's routes (100.64.0.0/10, RFC 6598: room for
// four million /32s that no test uses otherwise).
var FloodFrom = netip.MustParseAddr("100.64.0.0")

// BFD are the router's BFD timers: Interval is both the desired minimum transmit and the required
// minimum receive interval, and a session goes down after Multiplier intervals without a packet.
type BFD struct {
	Interval   time.Duration
	Multiplier int
}

// On reports whether BFD is configured.
func (b BFD) On() bool { return b.Interval > 0 }

// Router is a BGP daemon in a router namespace, peering with the speakers.
type Router interface {
	// Paths returns the paths the router holds for prefixes learnt from the speakers.
	Paths(t testing.TB) map[netip.Prefix][]Path
	// Restart stops the daemon and starts it again with the same configuration.
	Restart(t testing.TB)
	// Stop kills the daemon (SIGKILL: it closes nothing itself).
	Stop(t testing.TB)
}

// Path is one path a router holds for a prefix, as the router reports it.
type Path struct {
	NextHop          netip.Addr
	Communities      []string // "65000:100", well-known ones as ASN:VALUE too
	LargeCommunities []string // "65000:1:2"
	LocalPref        uint32   // 0 when the router shows none
}

// Start starts a router of kind k in ns, its configuration, sockets and log in dir (FRR's bgpd,
// which drops to user frr, must be able to reach dir: t.TempDir's parent is not open to it), and
// returns once the daemon answers queries. The daemon is stopped when the test ends.
func Start(t testing.TB, k Kind, ns *netnstest.NS, dir string, c Config) Router {
	t.Helper()
	switch k {
	case GoBGPD:
		return StartGoBGP(t, ns, dir, c)
	case BIRD:
		return StartBIRD(t, ns, dir, c)
	case FRR:
		return StartFRR(t, ns, dir, c)
	}
	t.Fatalf("no router kind %q", k)
	return nil
}

// poll is how often readiness is checked.
const poll = 20 * time.Millisecond

// holdSeconds returns the hold time and keepalive interval in seconds; 0, 0 for the default.
func (c Config) holdSeconds(t testing.TB) (hold, keepalive int) {
	t.Helper()
	if c.Hold == 0 {
		return 0, 0
	}
	if c.Hold%time.Second != 0 || c.Hold < 3*time.Second {
		t.Fatalf("hold time %v: want whole seconds, at least 3", c.Hold)
	}
	hold = int(c.Hold / time.Second)
	return hold, max(1, hold/3)
}

func writeConfig(t testing.TB, path, conf string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// daemon is a process in the router namespace, restartable with the same arguments.
type daemon struct {
	kind Kind
	ns   *netnstest.NS
	dir  string
	name string
	args []string
	proc *proc.Proc
	// ready waits until the daemon answers queries after a start.
	ready func(t testing.TB)
}

func (d *daemon) start(t testing.TB) {
	t.Helper()
	d.proc = proc.Start(t, d.dir, string(d.kind), d.ns.Command(d.name, d.args...))
	d.ready(t)
}

func (d *daemon) Stop(t testing.TB) {
	t.Helper()
	d.proc.Stop(syscall.SIGKILL)
}

func (d *daemon) Restart(t testing.TB) {
	t.Helper()
	d.Stop(t)
	d.start(t)
}

// sortPaths puts paths in next-hop order, their communities sorted.
func sortPaths(m map[netip.Prefix][]Path) map[netip.Prefix][]Path {
	for _, ps := range m {
		for i := range ps {
			slices.Sort(ps[i].Communities)
			slices.Sort(ps[i].LargeCommunities)
		}
		slices.SortFunc(ps, func(a, b Path) int { return a.NextHop.Compare(b.NextHop) })
	}
	return m
}
