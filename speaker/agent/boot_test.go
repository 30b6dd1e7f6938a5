package agent

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/proxy"
	"github.com/frontdesk-lb/frontdesk/speaker/deadnodes"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// fakeBoot stands for a node's kernel: the boot ID the seam gives, until the test reboots it.
type fakeBoot struct {
	mu sync.Mutex
	id liveness.BootID
}

func (f *fakeBoot) BootID() (liveness.BootID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id, nil
}

func (f *fakeBoot) reboot() {
	f.mu.Lock()
	f.id[15]++
	f.mu.Unlock()
}

// speakerNode runs one node's liveness Membership on loopback, as Main does: its boot ID read
// through the seam when the speaker process starts.
type speakerNode struct {
	t      *testing.T
	name   string
	addr   netip.AddrPort
	boot   *fakeBoot
	m      *liveness.Membership
	cancel context.CancelFunc
	done   chan struct{}
}

var bootTestKey = []byte("0123456789abcdef0123456789abcdef")

// start begins a new speaker process on the node: a new incarnation, the boot ID of now.
func (n *speakerNode) start(peers map[string]netip.AddrPort) {
	n.t.Helper()
	conn, err := liveness.Listen(n.addr)
	if err != nil {
		n.t.Fatal(err)
	}
	n.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	n.m, err = liveness.New(liveness.Config{NodeName: n.name, Key: bootTestKey, Conn: conn,
		Interval: 100 * time.Millisecond, Timeout: time.Second, BootID: bootIDFrom(n.boot, klog.Background())})
	if err != nil {
		n.t.Fatal(err)
	}
	if peers != nil {
		if err := n.m.SetPeers(peers); err != nil {
			n.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan struct{})
	go func() { defer close(n.done); _ = n.m.Run(ctx) }()
}

// crash ends the speaker without LEAVING: its peers see it dead after the Timeout.
func (n *speakerNode) crash() { n.cancel(); <-n.done }

// leave ends it as SIGTERM does: LEAVING first.
func (n *speakerNode) leave() {
	if err := n.m.Leave(context.Background()); err != nil {
		n.t.Error(err)
	}
	<-n.done
}

// startSpeakers runs a liveness Membership per node on loopback, each with a boot ID of its own
// from a fake seam, all peered, stopped when the test ends (and those restarted by then). peers
// is what a restarted node peers with again.
func startSpeakers(t *testing.T, names ...string) (nodes map[string]*speakerNode, peers map[string]netip.AddrPort) {
	t.Helper()
	loop := netip.MustParseAddr("127.0.0.1")
	nodes = map[string]*speakerNode{}
	for i, name := range names {
		nodes[name] = &speakerNode{t: t, name: name, addr: netip.AddrPortFrom(loop, 0), boot: &fakeBoot{id: liveness.BootID{0: byte(i + 1), 15: 1}}}
		nodes[name].start(nil)
	}
	peers = map[string]netip.AddrPort{}
	for name, n := range nodes {
		peers[name] = n.addr
	}
	for _, n := range nodes {
		if err := n.m.SetPeers(peers); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.cancel()
			<-n.done
		}
	})
	return nodes, peers
}

// TestRestartOrRebootEndToEnd: three speakers' liveness on loopback (real heartbeats, wire
// version 3), node-a's exclusion loop feeding a fake proxy and recording Events, node-c's boot
// ID from a faked seam. A speaker restart on the same boot after a death is taken back whole
// (SpeakerRestarted); one after LEAVING is nothing at all; a reboot after a death is held for
// readiness (ReturnedAt), and a reboot after LEAVING is held too (RebootedNodeExcluded).
func TestRestartOrRebootEndToEnd(t *testing.T) {
	nodes, peers := startSpeakers(t, "node-a", "node-b", "node-c")
	ps := &fakeSetter{}
	rv := &recordingView{membershipView: nodes["node-a"].m}
	rec := record.NewFakeRecorder(100)
	goRunDeadNodes(t, rv, ps, rec, deadnodes.Config{ReturnAfter: 300 * time.Millisecond, RestartHold: time.Hour})
	a := nodes["node-a"].m
	aliveC := func() bool { return a.IsAlive("node-c") }
	events := func() []string {
		var out []string
		for len(rec.Events) > 0 {
			out = append(out, <-rec.Events)
		}
		return out
	}
	waitUntil(t, "all heard", func() bool { return allHeard(nodes) })
	c := nodes["node-c"]

	// A speaker crash: dead to both others, so excluded; back on the same boot: taken back whole.
	c.crash()
	waitUntil(t, "node-c excluded", func() bool { _, ok := ps.last()["node-c"]; return ok })
	c.start(peers)
	waitUntil(t, "node-c taken back", func() bool { return aliveC() && len(ps.last()) == 0 })
	for _, set := range ps.all() {
		if x, ok := set["node-c"]; ok && !x.ReturnedAt.IsZero() {
			t.Errorf("a speaker restart on the same boot waited for readiness: %+v", x)
		}
	}
	// Events are recorded asynchronously: wait for both, or the second would turn up in the
	// SIGTERM check below.
	var ev []string
	waitUntil(t, "the crash's two Events", func() bool { ev = append(ev, events()...); return len(ev) >= 2 })
	if len(ev) != 2 || !strings.Contains(ev[0], ReasonDeadNodeExcluded) || !strings.Contains(ev[1], "restarted on the same boot") {
		t.Errorf("crash and restart on the same boot: events %q", ev)
	}

	// SIGTERM and back on the same boot: no death, so no exclusion and no Event. The loop decides
	// on the view where node-c is back (a reboot would be held from that very view on).
	n := ps.count()
	oldInc := rv.last().Peers["node-c"].Incarnation
	c.leave()
	waitUntil(t, "node-c left", func() bool { return !aliveC() })
	c.start(peers)
	back := -1
	waitUntil(t, "the exclusion loop deciding on node-c back", func() bool {
		if back < 0 {
			back = rv.firstWith(func(v liveness.View) bool {
				p := v.Peers["node-c"]
				return p.Alive && p.Incarnation != oldInc && p.Incarnation != 0
			})
		}
		return back >= 0 && ps.count() > back
	})
	if ev := events(); len(ev) != 0 {
		t.Errorf("a SIGTERM restart recorded %q", ev)
	}
	for _, set := range ps.all()[n : back+1] {
		if len(set) != 0 {
			t.Errorf("a SIGTERM restart excluded %+v", set)
		}
	}

	// A power-off and a reboot: excluded, then held for readiness from its return.
	c.crash()
	waitUntil(t, "node-c excluded", func() bool { _, ok := ps.last()["node-c"]; return ok })
	c.boot.reboot()
	c.start(peers)
	waitUntil(t, "node-c held for readiness", func() bool { return !ps.last()["node-c"].ReturnedAt.IsZero() })
	if ev := events(); len(ev) != 1 || !strings.Contains(ev[0], ReasonDeadNodeExcluded) {
		t.Errorf("power-off and reboot: events %q, want one DeadNodeExcluded (the return ends with the hold)", ev)
	}
}

// TestRebootAfterLeaveEndToEnd: a node shut down cleanly (its speaker sends LEAVING, so nothing
// is excluded) and back on a new boot is held from its first heartbeat: the Pods listed from
// before are gone.
func TestRebootAfterLeaveEndToEnd(t *testing.T) {
	nodes, peers := startSpeakers(t, "node-a", "node-b", "node-c")
	ps := &fakeSetter{}
	rec := record.NewFakeRecorder(100)
	goRunDeadNodes(t, nodes["node-a"].m, ps, rec, deadnodes.Config{ReturnAfter: 300 * time.Millisecond, RestartHold: time.Hour})
	a, c := nodes["node-a"].m, nodes["node-c"]
	waitUntil(t, "all heard", func() bool { return allHeard(nodes) })
	c.leave()
	waitUntil(t, "node-c left", func() bool { return !a.IsAlive("node-c") })
	c.boot.reboot()
	c.start(peers)
	waitUntil(t, "node-c held", func() bool { return !ps.last()["node-c"].ReturnedAt.IsZero() })
	var ev []string
	for len(rec.Events) > 0 {
		ev = append(ev, <-rec.Events)
	}
	if len(ev) != 1 || !strings.Contains(ev[0], ReasonRebootedNodeExcluded) {
		t.Errorf("events %q, want one RebootedNodeExcluded", ev)
	}
}

func (f *fakeSetter) all() []map[string]proxy.ExcludedNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sets)
}

// recordingView keeps every view the exclusion loop read: the i-th is what its i-th
// SetExcludedNodes was decided on.
type recordingView struct {
	membershipView
	mu    sync.Mutex
	views []liveness.View
}

func (r *recordingView) View() liveness.View {
	v := r.membershipView.View()
	r.mu.Lock()
	r.views = append(r.views, v)
	r.mu.Unlock()
	return v
}

func (r *recordingView) last() liveness.View {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.views[len(r.views)-1]
}

// firstWith is the index of the first view read that satisfies f, -1 if none.
func (r *recordingView) firstWith(f func(liveness.View) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.IndexFunc(r.views, f)
}

// allHeard: every speaker has heard every other (not only presumed alive in its startup grace).
func allHeard(nodes map[string]*speakerNode) bool {
	for _, n := range nodes {
		for _, p := range n.m.View().Peers {
			if !p.Alive || p.Incarnation == 0 {
				return false
			}
		}
	}
	return true
}

// TestBootIDFromSeam: an unreadable boot ID leaves it unknown (zero) and the speaker running.
func TestBootIDFromSeam(t *testing.T) {
	if b := bootIDFrom(&fakeBoot{id: liveness.BootID{1}}, klog.Background()); b != (liveness.BootID{1}) {
		t.Errorf("got %v", b)
	}
	if b := nodeBootID(t.TempDir()+"/missing", klog.Background()); !b.IsZero() {
		t.Errorf("missing file: %v, want unknown", b)
	}
	if b := nodeBootID("", klog.Background()); !b.IsZero() {
		t.Errorf("no file: %v, want unknown", b)
	}
}
