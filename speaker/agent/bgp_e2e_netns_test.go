//go:build netns && integration

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/kubeclient"
	"github.com/frontdesk-lb/frontdesk/internal/netns/netnstest"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/bgpmode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/test/bgprouters"
)

// The end-to-end test runs the speaker's loop with BGP alone (NewLoop with the real embedded
// GoBGP, run by runLoop) as a child process inside a node namespace, talking to the test's API
// server through a loopback forwarder, and peering with gobgpd in a router namespace. It times
// what a user sees: the Service's ingress address written → the route at the router.

type agentHelperConfig struct {
	Kubeconfig, Node, Namespace string
	ASN                         uint32
}

func TestMain(m *testing.M) {
	testkit.Main(m, map[string]func(string) int{"bgp-agent": agentHelper})
}

func agentHelper(cfgJSON string) int {
	var hc agentHelperConfig
	if err := json.Unmarshal([]byte(cfgJSON), &hc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg, err := kubeclient.Config(hc.Kubeconfig, kubeclient.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// The clients, informers and loop the speaker's start builds for --bgp, without layer 2.
	readers, err := newClients(cfg, "informers'", 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	writers, err := newClients(cfg, "writers'", loop.DefaultWriteTimeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(os.Stderr)))
	defer klog.Flush()
	err = runLoop(ctx, writers.kube, LoopConfig{
		Config: loop.Config{NodeName: hc.Node, API: writers.api, Logger: log,
			Informers: loop.NewInformers(readers.kube, readers.api, resyncPeriod)},
		BGP: &bgpmode.Config{NodeName: hc.Node, Namespace: hc.Namespace, BGP: writers.api,
			NewSpeaker: bgpmode.GoBGP(hc.ASN, log.WithName("bgp")), Logger: log},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// agentLab is what the end-to-end tests share: an API server, a router namespace with gobgpd
// (10.0.0.1, AS 64512, its best-path stream in monitor) and a node namespace (10.0.0.11) where
// the agent runs for node-0 (AS 64513), peered with the router as BGPPeer r, whose session is
// Established when newAgentLab returns.
type agentLab struct {
	id        string // netnstest.RunID
	ctx       context.Context
	api       client.Interface
	kube      kubernetes.Interface
	lan       *netnstest.Bridge
	node      *netnstest.NS
	m         *bgprouters.Monitor
	agent     *exec.Cmd
	agentDone chan error
}

func newAgentLab(tb testing.TB) *agentLab {
	netnstest.RequireRoot(tb)
	c := controlplane.Start(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	tb.Cleanup(cancel)
	if err := crds.Install(ctx, c.Config); err != nil {
		tb.Fatal(err)
	}
	api, err := client.NewForConfig(c.Config)
	if err != nil {
		tb.Fatal(err)
	}
	kube := c.Client
	must := func(_ any, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}

	// The lab: router 10.0.0.1 (gobgpd, AS 64512), node 10.0.0.11 (the agent, AS 64513).
	id := netnstest.RunID(tb)
	lan := netnstest.NewBridge(tb, id, "lan")
	router := netnstest.New(tb, id, "r")
	node := netnstest.New(tb, id, "n0")
	lan.Attach(router, "eth0", "", netip.MustParsePrefix("10.0.0.1/24"))
	lan.Attach(node, "eth0", "", netip.MustParsePrefix("10.0.0.11/24"))
	u, err := url.Parse(c.Config.Host)
	if err != nil {
		tb.Fatal(err)
	}
	netnstest.ForwardLoopback(tb, node, u.Host)

	m := bgprouters.StartGoBGP(tb, router, tb.TempDir(), bgprouters.Config{
		Router: netip.MustParseAddr("10.0.0.1"), RouterASN: 64512,
		Speakers: []netip.Addr{netip.MustParseAddr("10.0.0.11")}, SpeakerASN: 64513,
	}).Monitor(tb)

	// The cluster: this node, a pool, the router as BGPPeer, one advertisement.
	n, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-0"}}, metav1.CreateOptions{})
	must(n, err)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.11"}}
	must(kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}))
	must(kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "frontdesk"}}, metav1.CreateOptions{}))
	must(api.IPPools().Create(ctx, &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "blue"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{"198.51.100.0/24"}}}, metav1.CreateOptions{}))
	must(api.BGPPeers().Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "r"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.1", PeerASN: 64512, LocalASN: 64513}}, metav1.CreateOptions{}))
	must(api.BGPAdvertisements().Create(ctx, &v1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "all"}}, metav1.CreateOptions{}))

	hc, _ := json.Marshal(agentHelperConfig{Kubeconfig: c.KubeconfigPath, Node: "node-0", Namespace: "frontdesk", ASN: 64513})
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	agent := node.Command(self, "-test.run=^$")
	agent.Env = testkit.ChildEnv("bgp-agent", string(hc))
	var stderr strings.Builder
	var stderrMu sync.Mutex
	agent.Stderr = writerFunc(func(p []byte) (int, error) { stderrMu.Lock(); defer stderrMu.Unlock(); return stderr.Write(p) })
	if err := agent.Start(); err != nil {
		tb.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Wait() }()
	tb.Cleanup(func() {
		_ = agent.Process.Kill()
		select {
		case err := <-agentDone:
			_ = err // killed: the exit status says so, and nothing else
		case <-time.After(5 * time.Second):
		}
		if tb.Failed() {
			stderrMu.Lock()
			tb.Logf("agent stderr:\n%s", stderr.String())
			stderrMu.Unlock()
		}
	})

	l := &agentLab{id: id, ctx: ctx, api: api, kube: kube, lan: lan, node: node, m: m, agent: agent, agentDone: agentDone}
	l.poll(tb, "the BGPPeer status shows node-0 Established", 60*time.Second, func() string {
		p, err := api.BGPPeers().Get(ctx, "r", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if len(p.Status.Sessions) != 1 || p.Status.Sessions[0].State != v1alpha1.BGPSessionEstablished {
			return fmt.Sprintf("%+v", p.Status.Sessions)
		}
		return ""
	})
	return l
}

// poll waits on the API server; what the router sees is waited for on its monitor.
func (l *agentLab) poll(tb testing.TB, what string, timeout time.Duration, f func() string) {
	tb.Helper()
	testkit.Eventually(tb, timeout, 20*time.Millisecond, func() string {
		if why := f(); why != "" {
			return what + ": " + why
		}
		return ""
	})
}

func e2eBGP(tb testing.TB, services int) (announce []time.Duration, sigterm time.Duration) {
	l := newAgentLab(tb)
	ctx, api, kube, m, agent, agentDone := l.ctx, l.api, l.kube, l.m, l.agent, l.agentDone
	must := func(_ any, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	poll := func(what string, timeout time.Duration, f func() string) { tb.Helper(); l.poll(tb, what, timeout, f) }

	// Services one after another: IPAllocation first (as the controller does), then the
	// ingress address; the clock starts when the ingress write returns.
	for i := range services {
		vip := netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
		name := fmt.Sprintf("web-%d", i)
		svc, err := kube.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
			metav1.CreateOptions{})
		must(svc, err)
		must(api.IPAllocations().Create(ctx, &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(vip)},
			Spec: v1alpha1.IPAllocationSpec{Address: vip.String(), Pool: "blue",
				Services: []v1alpha1.ServiceRef{{Namespace: "default", Name: name, UID: svc.UID}}}}, metav1.CreateOptions{}))
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip.String()}}
		must(kube.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{}))
		start := time.Now()
		pfx := netip.PrefixFrom(vip, 32)
		m.Wait(tb, 10*time.Second, pfx.String()+" at the router", func() bool {
			at, ok := m.Up(pfx)
			return ok && !at.Before(start)
		})
		at, _ := m.Up(pfx)
		announce = append(announce, at.Sub(start))
	}
	poll("every IPAllocation names node-0 over BGP", 30*time.Second, func() string {
		list, err := api.IPAllocations().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, a := range list.Items {
			if len(a.Status.Announcers) != 1 || a.Status.Announcers[0].Mode != v1alpha1.AnnouncementModeBGP {
				return a.Name + ": " + dump(a.Status)
			}
		}
		return ""
	})

	// SIGTERM: every route withdrawn at the router, then the status entries gone.
	start := time.Now()
	if err := agent.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	// The last withdrawal as the router's stream timed it, not when a poll noticed it.
	m.Wait(tb, 10*time.Second, "every route withdrawn after SIGTERM", func() bool {
		sigterm = 0
		for i := range services {
			pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), 32)
			at, ok := m.Down(pfx)
			if !ok || at.Before(start) {
				return false
			}
			sigterm = max(sigterm, at.Sub(start))
		}
		return true
	})
	select {
	case err := <-agentDone:
		agentDone <- err
		if err != nil {
			tb.Errorf("agent exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		tb.Fatal("the agent did not exit after SIGTERM")
	}
	list, err := api.IPAllocations().List(ctx, metav1.ListOptions{})
	must(list, err)
	for _, a := range list.Items {
		if len(a.Status.Announcers) != 0 {
			tb.Errorf("after SIGTERM %s still has %s", a.Name, dump(a.Status))
		}
	}
	return announce, sigterm
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

func TestBGPEndToEnd(t *testing.T) {
	lat, term := e2eBGP(t, 20)
	t.Logf("ingress written → route at the router: p50 %v, p99 %v; SIGTERM → 20 routes withdrawn %v", pct(lat, 50), pct(lat, 99), term)
	if p := pct(lat, 99); p > 5*time.Second {
		t.Errorf("p99 %v; generous bound 5 s", p)
	}
}

// BenchmarkBGPEndToEnd: 100 Services one after another, ingress written → route at gobgpd.
func BenchmarkBGPEndToEnd(b *testing.B) {
	for range b.N {
		lat, term := e2eBGP(b, 100)
		b.ReportMetric(float64(pct(lat, 50))/1e6, "announce-p50-ms")
		b.ReportMetric(float64(pct(lat, 99))/1e6, "announce-p99-ms")
		b.ReportMetric(float64(term)/1e6, "sigterm-withdraw-100-ms")
	}
}

// TestPassivePeerCannotListen: a passive BGPPeer appears while the speaker cannot listen on TCP
// 179 (here the port is taken in the node's namespace; in a Pod without NET_BIND_SERVICE the
// bind is refused the same way). The speaker keeps its working sessions (the router never loses
// the route), says why in the passive peer's status, and listens once the port is free (issue 17).
func TestPassivePeerCannotListen(t *testing.T) {
	l := newAgentLab(t)
	ctx := l.ctx
	vip := netip.MustParsePrefix("198.51.100.10/32")
	svc, err := l.kube.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.api.IPAllocations().Create(ctx, &v1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(vip.Addr())},
		Spec: v1alpha1.IPAllocationSpec{Address: vip.Addr().String(), Pool: "blue",
			Services: []v1alpha1.ServiceRef{{Namespace: "default", Name: "web", UID: svc.UID}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip.Addr().String()}}
	if _, err := l.kube.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	l.m.Wait(t, 10*time.Second, vip.String()+" at the router", func() bool { _, ok := l.m.Up(vip); return ok })

	// Something else holds TCP 179 on the node (every address, both families, as GoBGP binds).
	taken, err := l.node.Listen("tcp", ":179")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = taken.Close() }() // closed again below: this one only for an early failure
	if _, err := l.api.BGPPeers().Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "passive"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.2", PeerASN: 64512, LocalASN: 64513, Passive: true}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	session := func(peer string) (v1alpha1.BGPSession, string) {
		p, err := l.api.BGPPeers().Get(ctx, peer, metav1.GetOptions{})
		if err != nil {
			return v1alpha1.BGPSession{}, err.Error()
		}
		if len(p.Status.Sessions) != 1 {
			return v1alpha1.BGPSession{}, fmt.Sprintf("sessions %+v, want node-0's", p.Status.Sessions)
		}
		return p.Status.Sessions[0], ""
	}
	l.poll(t, "the passive peer's status says the speaker cannot listen", 30*time.Second, func() string {
		s, why := session("passive")
		if why != "" {
			return why
		}
		if !strings.Contains(s.Message, "cannot listen") || !strings.Contains(s.Message, "address already in use") ||
			!strings.Contains(s.Message, "NET_BIND_SERVICE") {
			return fmt.Sprintf("%s: %q", s.State, s.Message)
		}
		return ""
	})
	// The working session was not touched: the router never withdrew the route, and the
	// BGPPeer's status still says Established.
	if at, down := l.m.Down(vip); down {
		t.Errorf("the router lost %s at %v: the speaker's working session went down for a passive peer it cannot serve", vip, at)
	}
	if s, why := session("r"); why != "" || s.State != v1alpha1.BGPSessionEstablished {
		t.Errorf("BGPPeer r: %s %+v, want Established", why, s)
	}

	l.poll(t, "a Warning Event on the passive BGPPeer", 10*time.Second, func() string {
		evs, err := l.kube.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=passive"})
		if err != nil {
			return err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "BGPPeer" && e.Type == corev1.EventTypeWarning && e.Reason == bgpmode.ReasonBGPPassiveNotListening &&
				strings.HasPrefix(e.Message, "node-0: passive, but this node's speaker cannot listen") {
				return ""
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return fmt.Sprintf("Events %q", seen)
	})

	// The port freed, the speaker tries again by itself and listens; the passive session then
	// waits for its peer, without the error.
	if err := taken.Close(); err != nil {
		t.Fatal(err)
	}
	l.poll(t, "the speaker listens once the port is free", 60*time.Second, func() string {
		if s, why := session("passive"); why != "" || strings.Contains(s.Message, "cannot listen") {
			return fmt.Sprintf("%s %s: %q", why, s.State, s.Message)
		}
		if out := l.node.Exec("ss", "-Htln", "sport", "=", ":179"); !strings.Contains(out, ":179") {
			return "nothing listens on 179: " + out
		}
		return ""
	})
	// Listening starts a new speaker, whose sessions start anew: the route comes back.
	l.m.Wait(t, 30*time.Second, vip.String()+" at the router after the restart", func() bool {
		_, up := l.m.Up(vip) // only while not withdrawn since
		_, down := l.m.Down(vip)
		return up && down
	})
}

// TestMaxPrefixStatus: a second router (BIRD) sends node-0 more routes than the BGPPeer's
// default limit; its session is shut down and the BGPPeer's status says why, while the session
// to the first router stays Established (issue 17; speaker/bgp's TestMaxPrefix floods 100,000
// routes and measures the memory).
func TestMaxPrefixStatus(t *testing.T) {
	l := newAgentLab(t)
	ctx := l.ctx
	r2 := netnstest.New(t, l.id, "r2")
	l.lan.Attach(r2, "eth0", "", netip.MustParsePrefix("10.0.0.2/24"))
	bgprouters.StartBIRD(t, r2, t.TempDir(), bgprouters.Config{
		Router: netip.MustParseAddr("10.0.0.2"), RouterASN: 64512,
		Speakers: []netip.Addr{netip.MustParseAddr("10.0.0.11")}, SpeakerASN: 64513, Flood: 1000,
	})
	if _, err := l.api.BGPPeers().Create(ctx, &v1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "flood"},
		Spec: v1alpha1.BGPPeerSpec{Address: "10.0.0.2", PeerASN: 64512, LocalASN: 64513}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l.poll(t, "the flooding peer's status says max-prefix", 60*time.Second, func() string {
		p, err := l.api.BGPPeers().Get(ctx, "flood", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		for _, s := range p.Status.Sessions {
			if s.Node == "node-0" && s.State != v1alpha1.BGPSessionEstablished &&
				strings.HasPrefix(s.Message, "max-prefix: the peer sent more than 100 routes") {
				return ""
			}
		}
		return fmt.Sprintf("%+v", p.Status.Sessions)
	})
	p, err := l.api.BGPPeers().Get(ctx, "r", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Status.Sessions) != 1 || p.Status.Sessions[0].State != v1alpha1.BGPSessionEstablished {
		t.Errorf("BGPPeer r: %+v, want node-0 Established", p.Status.Sessions)
	}
}
