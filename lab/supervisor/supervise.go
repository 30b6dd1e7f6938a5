package supervisor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/lab/dns"
	"github.com/frontdesk-lb/frontdesk/lab/router"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
	"github.com/frontdesk-lb/frontdesk/test/cluster"
)

type supervisor struct {
	o        Options
	plan     topology.Plan
	state    *stateFile
	progress *os.File
	wg       sync.WaitGroup
	procs    group

	exitsMu sync.Mutex
	exits   map[string]error // component → how it last exited (nodeFailure)
}

// exited records how a component exited.
func (s *supervisor) exited(name string, err error) {
	s.exitsMu.Lock()
	defer s.exitsMu.Unlock()
	if s.exits == nil {
		s.exits = map[string]error{}
	}
	s.exits[name] = err
}

func (s *supervisor) progressf(format string, args ...any) {
	_, _ = fmt.Fprintf(s.progress, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Supervise runs the lab's components until ctx ends (SIGTERM), then stops them. It must run
// inside the control-plane namespace (up starts it there): the control plane binds that
// namespace's LAN address. Progress goes to progress.log, the phase to state.json.
func Supervise(ctx context.Context, o Options) (err error) {
	plan, err := o.Plan()
	if err != nil {
		return err
	}
	prog, err := os.OpenFile(o.progressPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = prog.Close() }()
	s := &supervisor{o: o, plan: plan, progress: prog,
		state: &stateFile{s: State{Options: o, Supervisor: os.Getpid(), Phase: PhaseStarting, Pids: map[string]int{}}}}
	if err := s.state.update(func(*State) {}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.progressf("failed: %v", err)
			_ = s.state.update(func(st *State) { st.Phase, st.Error = PhaseFailed, err.Error() })
		}
	}()

	cp, err := s.startControlPlane()
	if err != nil {
		return err
	}
	defer func() { _ = cp.Close() }()
	defer s.wg.Wait()
	defer s.procs.stopAll()

	if err := s.bringUp(ctx, cp); err != nil {
		return err
	}
	_ = s.state.update(func(st *State) { st.Phase, st.APIServer = PhaseReady, cp.Config.Host })
	s.progressf("ready")
	<-ctx.Done()
	s.progressf("stopping")
	_ = s.state.update(func(st *State) { st.Phase = PhaseStopping })
	return nil
}

func (s *supervisor) startControlPlane() (*cluster.Cluster, error) {
	s.progressf("control plane: etcd, kube-apiserver (on %s), kube-controller-manager, kube-scheduler", s.plan.ControlPlane)
	began := time.Now()
	_ = os.Setenv(cluster.BinDirEnv, s.o.K8sBin)
	cp, err := cluster.New(
		cluster.WithWorkDir(filepath.Join(s.o.Dir, "cp")),
		cluster.WithBindAddress(s.plan.ControlPlane),
		cluster.WithServiceCIDR(s.plan.ServiceCIDR),
		// node-lifecycle removes the not-ready taint the API server puts on every new Node (and
		// would taint a node whose agent stops heartbeating), as in a real cluster.
		cluster.WithControllerManager(append(slices.Clone(cluster.DefaultControllers), "node-lifecycle-controller")...),
		cluster.WithScheduler(),
		// Real kubelets: Node authorization and NodeRestriction, the API server's client
		// certificate for kubectl exec and logs.
		cluster.WithNodeAuthorization(),
	)
	if err != nil {
		return nil, err
	}
	s.progressf("control plane ready in %s: %s", time.Since(began).Round(100*time.Millisecond), cp.Config.Host)
	return cp, nil
}

// bringUp starts everything after the control plane, in dependency order, and waits for the
// nodes to be Ready.
func (s *supervisor) bringUp(ctx context.Context, cp *cluster.Cluster) error {
	if err := crds.Install(ctx, cp.Config); err != nil {
		return fmt.Errorf("installing the frontdesk.dev CRDs: %w", err)
	}
	s.progressf("frontdesk.dev CRDs installed")
	if err := s.startDNS(ctx, cp.Client); err != nil {
		return err
	}
	if err := s.pointDNS(ctx, cp.Client); err != nil {
		return err
	}
	if err := ifNotPresent(ctx, cp.Client); err != nil {
		return err
	}
	s.startRouteKeeper(ctx)
	if err := s.startRouter(ctx); err != nil {
		return err
	}
	kubeconfigs, err := s.installChart(ctx, cp)
	if err != nil {
		return err
	}
	kc := kubeconfigs["controller"]
	s.start(ctx, proc{name: "frontdesk-controller", argv: []string{s.o.bin("frontdesk-controller"),
		"--cloud-provider=baremetal", "--kubeconfig=" + kc, "--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc, "--bind-address=127.0.0.1", "--secure-port=10258",
		"--leader-elect=false", "--controllers=" + strings.Join(controllers, ","), "--v=2"}})
	s.progressf("frontdesk-controller --cloud-provider=baremetal started")

	keyFile := filepath.Join(s.o.Dir, "liveness.key")
	if err := os.WriteFile(keyFile, []byte(rand.Text()), 0o600); err != nil {
		return err
	}
	if err := s.startNodes(ctx, cp); err != nil {
		return err
	}
	if err := s.waitNodesReady(ctx, cp.Client); err != nil {
		return err
	}
	s.wg.Go(func() { s.keepPodCIDRs(ctx, cp.Client) })
	mode := "L2"
	for _, n := range s.plan.Nodes {
		if s.o.Proxy == ProxyKubeProxy {
			s.startProxy(ctx, n)
		}
		speaker := proc{name: "speaker/" + n.Name, ns: n.NS, argv: []string{s.o.bin("frontdesk-speaker"),
			"--kubeconfig=" + kubeconfigs["speaker"], "--node-name=" + n.Name, "--liveness-key-file=" + keyFile,
			"--metrics-bind-address=127.0.0.1:7472", "--v=2"}}
		if s.o.Proxy == ProxyFrontdesk {
			// frontdesk's node proxy in the speaker, as the chart's proxy.enabled runs it.
			speaker.argv = append(speaker.argv, "--proxy=nftables",
				"--proxy-cluster-cidr="+s.plan.ClusterCIDR.String(),
				// NodePorts on the LAN address only, not on the Pods' gateway address.
				"--proxy-nodeport-addresses="+s.plan.LAN.String(),
				"--proxy-healthz-bind-address=127.0.0.1:10256")
		}
		if s.o.BGP {
			// As the chart's DaemonSet runs it: the flags, and the namespace of BGP password
			// Secrets from POD_NAMESPACE.
			speaker.argv = append(speaker.argv, "--bgp", fmt.Sprintf("--bgp-asn=%d", s.plan.NodeASN))
			speaker.env = []string{"POD_NAMESPACE=" + ChartNamespace}
			mode = fmt.Sprintf("L2 and BGP, AS %d, peering with the router", s.plan.NodeASN)
		}
		s.start(ctx, speaker)
	}
	if s.o.Proxy == ProxyFrontdesk {
		s.progressf("on each node: frontdesk-speaker (%s; the node proxy: --proxy=nftables)", mode)
	} else {
		s.progressf("on each node: kube-proxy, frontdesk-speaker (%s)", mode)
	}
	return nil
}

// startProxy starts kube-proxy, the alternative node proxy (frontdesk's runs in the speaker).
func (s *supervisor) startProxy(ctx context.Context, n topology.Node) {
	s.start(ctx, proc{name: "kube-proxy/" + n.Name, ns: n.NS, argv: []string{s.o.k8s("kube-proxy"),
		"--kubeconfig=" + s.o.Kubeconfig(), "--hostname-override=" + n.Name, "--proxy-mode=nftables",
		"--cluster-cidr=" + s.plan.ClusterCIDR.String(),
		// NodePorts on the LAN address only, not on the Pods' gateway address.
		"--nodeport-addresses=" + s.plan.LAN.String(),
		// conntrack's table size is global to the machine: not the lab's to change.
		"--conntrack-max-per-core=0",
		"--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256", "--v=2"}})
}

// start supervises p in the background; stopAll stops it.
func (s *supervisor) start(ctx context.Context, p proc) {
	p.log = s.o.logPath(strings.ReplaceAll(p.name, "/", "_"))
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		s.supervise(pctx, p)
	})
	s.procs.add(func() { cancel(); <-done })
}

// startRouter runs gobgpd in the router's namespace and the syncer that installs its routes in
// the router's kernel table. The speakers peer with it once they speak BGP (#6).
func (s *supervisor) startRouter(ctx context.Context) error {
	conf := filepath.Join(s.o.Dir, "gobgpd.toml")
	if err := os.WriteFile(conf, []byte(router.Config(s.plan)), 0o644); err != nil {
		return err
	}
	ns := s.plan.NS(topology.RoleRouter)
	s.start(ctx, proc{name: "gobgpd", ns: ns, argv: []string{s.o.bin("gobgpd"), "-f", conf, "-p",
		"--api-hosts=" + router.APIAddr, "--pprof-disable"}})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		router.Sync(sctx, ns, s.o.bin("gobgp"), klog.Background().WithName("router"))
	})
	s.procs.add(func() { cancel(); <-done })
	s.progressf("router: gobgpd AS %d on %s, nodes accepted as AS %d neighbours; its routes go to the router's table (ECMP)",
		s.plan.RouterASN, s.plan.Router, s.plan.NodeASN)
	return nil
}

// startDNS serves the lab's cluster DNS on the control-plane address, port 53.
func (s *supervisor) startDNS(ctx context.Context, kube kubernetes.Interface) error {
	conn, err := net.ListenPacket("udp", netip.AddrPortFrom(s.plan.ControlPlane, 53).String())
	if err != nil {
		return fmt.Errorf("lab DNS: %w", err)
	}
	factory := informers.NewSharedInformerFactory(kube, 10*time.Minute)
	lister := factory.Core().V1().Services().Lister()
	dctx, cancel := context.WithCancel(ctx)
	factory.Start(dctx.Done())
	factory.WaitForCacheSync(dctx.Done())
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		if err := dns.Serve(dctx, conn, dns.Services{Lister: lister}); err != nil {
			s.progressf("lab DNS stopped: %v", err)
		}
	})
	s.procs.add(func() { cancel(); <-done; factory.Shutdown() })
	s.progressf("lab DNS on %s:53 answers <service>.<namespace>.svc.%s; Pods reach it at kube-dns's ClusterIP %s",
		s.plan.ControlPlane, dns.Domain, s.plan.ClusterDNS)
	return nil
}

func (s *supervisor) waitNodesReady(ctx context.Context, kube kubernetes.Interface) error {
	var notReady []string
	began := time.Now()
	var failed error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if failed = s.nodeFailure(); failed != nil {
			return false, failed
		}
		notReady = notReady[:0]
		for _, n := range s.plan.Nodes {
			node, err := kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err == nil && node.Spec.PodCIDR == "" {
				_ = s.setPodCIDR(ctx, kube, n)
			}
			if err != nil || !nodeReady(node) {
				notReady = append(notReady, n.Name)
			}
		}
		return len(notReady) == 0, nil
	})
	if failed != nil {
		return failed
	}
	if err != nil {
		return errors.Join(fmt.Errorf("nodes not Ready: %s (see the kubelet_<node>.log and containerd_<node>.log in %s)",
			strings.Join(notReady, ", "), filepath.Join(s.o.Dir, "logs")), err)
	}
	s.progressf("nodes Ready: %d in %s, each running containerd and the kubelet (system:node:<name>), Pod ranges in spec.podCIDR",
		len(s.plan.Nodes), time.Since(began).Round(100*time.Millisecond))
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
