//go:build netns

package bgp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
	"github.com/frontdesk-lb/frontdesk/test/bgprouters"
)

// waitEvery is how often the tests poll the routers and the speakers for a state.
const waitEvery = 20 * time.Millisecond

// IP plan of the lab:
//
//	LAN 10.0.0.0/24 (a bridge): router 10.0.0.1, node i at 10.0.0.(11+i)
//	client link 10.1.0.0/24: router 10.1.0.1, client 10.1.0.2 (default route via the router)
//	VIPs 198.51.100.0/24, on the nodes' lo; the router announces 192.0.2.0/24 to the speakers
//	ASNs: router 64512, speakers 64513 (eBGP) or 64512 (iBGP)
var (
	routerAddr = netip.MustParseAddr("10.0.0.1")
	clientAddr = netip.MustParseAddr("10.1.0.2")
	peerRoute  = netip.MustParsePrefix("192.0.2.0/24")
)

const (
	routerASN  = 64512
	speakerASN = 64513
)

func nodeAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(11 + i)}) }

// lab is a router, nodes on one LAN with it, and a client behind the router.
type lab struct {
	t      testing.TB
	id     string
	lan    *netnstest.Bridge
	router *netnstest.NS
	nodes  []*netnstest.NS
	client *netnstest.NS
}

func newLab(t testing.TB, nodes int) *lab {
	t.Helper()
	netnstest.RequireRoot(t)
	id := netnstest.RunID(t)
	lan := netnstest.NewBridge(t, id, "lan")
	l := &lab{t: t, id: id, lan: lan}
	l.router = netnstest.New(t, id, "r")
	lan.Attach(l.router, "eth0", "", netip.PrefixFrom(routerAddr, 24))
	for i := range nodes {
		n := netnstest.New(t, id, fmt.Sprintf("n%d", i))
		lan.Attach(n, "eth0", "", netip.PrefixFrom(nodeAddr(i), 24))
		n.IP("route", "add", "default", "via", routerAddr.String())
		l.nodes = append(l.nodes, n)
	}
	l.client = netnstest.New(t, id, "c")
	netnstest.Veth(l.router, "toc", l.client, "eth0")
	l.router.AddAddr("toc", netip.MustParsePrefix("10.1.0.1/24"))
	l.client.AddAddr("eth0", netip.PrefixFrom(clientAddr, 24))
	l.client.IP("route", "add", "default", "via", "10.1.0.1")
	l.router.Sysctl("net.ipv4.ip_forward", "1")
	// Hash on ports too, so that one client's connections spread over the ECMP next hops.
	l.router.Sysctl("net.ipv4.fib_multipath_hash_policy", "1")
	return l
}

// dir is a directory for a router's configuration, sockets and log, removed at the end; under
// the shared temporary directory, so that FRR's bgpd (user frr) reaches it.
func (l *lab) dir(name string) string {
	d, err := os.MkdirTemp("", "fd"+l.id+"-"+name+"-")
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// routerConfig is the lab's router for speakers in asn at nodes: the router's address and AS,
// and peerRoute, which it announces to the speakers.
func routerConfig(asn uint32, nodes ...netip.Addr) bgprouters.Config {
	return bgprouters.Config{Router: routerAddr, RouterASN: routerASN, Speakers: nodes, SpeakerASN: asn, Originate: peerRoute}
}

// routerBFD are the BFD timers of the tests' routers and speakers: 300 ms × 3.
var routerBFD = bgprouters.BFD{Interval: 300 * time.Millisecond, Multiplier: 3}

// startRouter starts a router of kind k in the lab's router namespace.
func (l *lab) startRouter(t testing.TB, k bgprouters.Kind, c bgprouters.Config) bgprouters.Router {
	t.Helper()
	return bgprouters.Start(t, k, l.router, l.dir(string(k)), c)
}

// addRouterNS adds a second router namespace on the LAN, at addr.
func (l *lab) addRouterNS(t testing.TB, role string, addr netip.Addr) *netnstest.NS {
	t.Helper()
	ns := netnstest.New(t, l.id, role)
	l.lan.Attach(ns, "eth0", "", netip.PrefixFrom(addr, 24))
	return ns
}

// startGoBGP starts gobgpd in the lab's router namespace.
func (l *lab) startGoBGP(t testing.TB, c bgprouters.Config) *bgprouters.GoBGP {
	t.Helper()
	return bgprouters.StartGoBGP(t, l.router, l.dir("gobgp"), c)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// speakerProc is a Speaker running in a node's namespace (see helper_netns_test.go).
type speakerProc struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser

	replies chan helperOut
	closed  chan helperOut
	exited  chan struct{}
	stderr  *lockedBuffer // the speaker's logs, GoBGP's among them

	mu     sync.Mutex
	states map[string]SessionState
	// history is every state each session went through, in order.
	history map[string][]SessionState
}

func startSpeaker(t testing.TB, ns *netnstest.NS, routerID netip.Addr) *speakerProc {
	t.Helper()
	return startSpeakerWith(t, ns, helperConfig{RouterID: routerID, ASN: speakerASN})
}

func startSpeakerWith(t testing.TB, ns *netnstest.NS, hc helperConfig) *speakerProc {
	t.Helper()
	cfg, err := json.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(self, "-test.run=^$")
	cmd.Env = testkit.ChildEnv("bgp-helper", string(cfg))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &speakerProc{t: t, cmd: cmd, stdin: stdin, replies: make(chan helperOut, 16), closed: make(chan helperOut, 1),
		exited: make(chan struct{}), stderr: stderr, states: map[string]SessionState{}, history: map[string][]SessionState{}}
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var o helperOut
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				continue
			}
			switch o.Kind {
			case "state":
				p.mu.Lock()
				p.states[o.State.Peer] = *o.State
				p.history[o.State.Peer] = append(p.history[o.State.Peer], *o.State)
				p.mu.Unlock()
			case "closed":
				p.closed <- o
			default:
				p.replies <- o
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() && stderr.String() != "" {
			t.Logf("speaker in %s stderr:\n%s", ns.Name, stderr.String())
		}
	})
	return p
}

func (p *speakerProc) call(c helperCmd) helperOut {
	p.t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("speaker: %v", err)
	}
	select {
	case o := <-p.replies:
		if o.Kind == "err" {
			p.t.Fatalf("speaker %s: %s", c.Cmd, o.Err)
		}
		return o
	case <-p.exited:
		p.t.Fatal("speaker exited")
	case <-time.After(60 * time.Second):
		p.t.Fatalf("speaker %s: no reply", c.Cmd)
	}
	return helperOut{}
}

// set applies peers and routes and returns when the speaker had applied them.
func (p *speakerProc) set(peers []PeerConfig, rs map[string][]routes.Route) time.Time {
	p.t.Helper()
	return p.call(helperCmd{Cmd: "set", Peers: peers, Routes: rs}).At
}

func (p *speakerProc) state(peer string) SessionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states[peer]
}

// historyOf is every state the session went through so far.
func (p *speakerProc) historyOf(peer string) []SessionState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.history[peer])
}

func (p *speakerProc) waitState(peer string, want State, timeout time.Duration) {
	p.t.Helper()
	testkit.Eventually(p.t, timeout, waitEvery, func() string {
		if st := p.state(peer); st.State != want {
			return fmt.Sprintf("session %s is %s (%s), want %s", peer, st.State, st.Message, want)
		}
		return ""
	})
}

// terminate sends SIGTERM and returns when the speaker says it withdrew and closed.
func (p *speakerProc) terminate() helperOut {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case o := <-p.closed:
		return o
	case <-time.After(30 * time.Second):
		p.t.Fatal("no close after SIGTERM")
	}
	return helperOut{}
}

func (p *speakerProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// routerPeer is the speaker's view of the router: a PeerConfig of the session to it.
func routerPeer(name string, tweaks ...func(*PeerConfig)) PeerConfig {
	pc := PeerConfig{Name: name, Address: routerAddr, ASN: routerASN, LocalASN: speakerASN, ConnectRetry: time.Second}
	for _, f := range tweaks {
		f(&pc)
	}
	return pc
}

func hostRoutes(peer string, vips ...string) map[string][]routes.Route {
	var rs []routes.Route
	for _, v := range vips {
		a := netip.MustParseAddr(v)
		rs = append(rs, routes.Route{Prefix: netip.PrefixFrom(a, a.BitLen())})
	}
	return map[string][]routes.Route{peer: rs}
}
