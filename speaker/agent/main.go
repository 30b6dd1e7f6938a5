package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/internal/kubeclient"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// Options are the speaker command's flags.
type Options struct {
	Kubeconfig string // empty: in-cluster config
	NodeName   string
	// Namespace is the speakers' own namespace: their Pods' and the BGP password Secrets'.
	Namespace string
	// PodName is the speaker's own Pod: on SIGTERM, whether it is being deleted decides between
	// a leave and a restart (restartIntent). Empty: always a leave.
	PodName string
	// RestartGrace is how long a peer that left for a restart stays alive to this speaker
	// (liveness.Config.RestartGrace); zero: none, a restart is a leave.
	RestartGrace    time.Duration
	LivenessPort    uint16
	LivenessKeyFile string
	// BootIDFile holds this node's boot ID, sent in the heartbeats so that peers tell a speaker
	// restart from a node reboot: liveness.KernelBootIDFile, or a file of the same form where
	// nodes share a kernel (the lab). Empty: unknown.
	BootIDFile  string
	Classes     []string
	MetricsAddr string // serves /metrics and /healthz; empty: none
	// Drain is how long the addresses stay announced after Leave on shutdown, while the peers
	// take them over (they re-elect within one heartbeat and send gratuitous ARP).
	Drain time.Duration
	// BGP configures the BGP loop (off unless BGP.Enabled).
	BGP BGPOptions
	// Proxy configures the embedded node proxy (off unless Proxy.Mode is set).
	Proxy ProxyOptions
}

// Main runs the speaker until stop ends (SIGTERM), then hands over: stop the loop (so that it
// does not withdraw anything), Leave (the peers take the addresses over at once), keep answering
// for Drain, and close the announcer, which withdraws every address. When its Pod is being
// replaced on a node that stays up (restartIntent), it leaves for a restart instead: the peers
// keep its addresses on this node until the next speaker is back, and it exits at once. It
// returns the first error that stopped it.
func Main(stop context.Context, o Options) error {
	log := klog.FromContext(stop)
	if o.NodeName == "" {
		return errors.New("the node name is empty: set --node-name or the NODE_NAME environment variable (the downward API's spec.nodeName)")
	}
	key, err := os.ReadFile(o.LivenessKeyFile)
	if err != nil {
		return fmt.Errorf("reading the liveness key (--liveness-key-file): %w", err)
	}
	cfg, err := kubeclient.Config(o.Kubeconfig, kubeclient.Options{})
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building the Kubernetes client: %w", err)
	}
	api, err := client.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("building the frontdesk.dev client: %w", err)
	}

	conn, err := liveness.Listen(netip.AddrPortFrom(netip.IPv6Unspecified(), o.LivenessPort))
	if err != nil {
		return err
	}
	mem, err := liveness.New(liveness.Config{
		NodeName: o.NodeName, Key: key, Conn: conn, BootID: nodeBootID(o.BootIDFile, log), RestartGrace: o.RestartGrace,
		Logger: slog.New(logr.ToSlogHandler(log.WithName("liveness"))),
	})
	if err != nil {
		_ = conn.Close()
		return err
	}
	// The announcer lives until the very end: it must keep answering during the drain.
	statusChanged := make(chan struct{}, 1)
	ann, err := l2.New(context.WithoutCancel(stop), l2.Config{
		Logger: log.WithName("l2"),
		OnStatusChange: func(map[netip.Addr]l2.VIPStatus) {
			select {
			case statusChanged <- struct{}{}:
			default: // a run is already due
			}
		},
	})
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer func() {
		if err := ann.Close(); err != nil {
			log.Error(err, "closing the L2 announcer")
		}
	}()

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(stop))
	defer cancelRun()
	var wg sync.WaitGroup
	defer wg.Wait() // after cancelRun (deferred later, runs first)
	defer cancelRun()
	errc := make(chan error, 5)
	np, err := startProxy(runCtx, o, cfg, log, wg.Go, errc)
	if err != nil {
		return err
	}
	// Heartbeats start once the agent has synced (see Config.Synced) and the node proxy, if any,
	// has programmed every Service: until then this node is not alive to its peers, nor to
	// itself, and announces nothing.
	synced := make(chan struct{})
	wg.Go(func() {
		for _, c := range []<-chan struct{}{synced, np.ready()} {
			select {
			case <-c:
			case <-runCtx.Done():
				return
			}
		}
		log.Info("synced; sending heartbeats")
		if err := mem.Run(runCtx); err != nil {
			errc <- fmt.Errorf("liveness: %w", err)
		}
	})
	stopDeadNodes := startDeadNodes(runCtx, o, np, mem, kube, log, wg.Go)
	defer stopDeadNodes() // after cancelRun (deferred later, runs first): the loop has returned
	defer cancelRun()
	// One informer set for both loops, so that with --bgp every resource is still watched once.
	set, err := newInformersFor(cfg, o.BGP.Enabled)
	if err != nil {
		return err
	}
	defer set.Shutdown() // after cancelRun (deferred later, runs first); the loops have returned
	defer cancelRun()
	bgpCfg, err := bgpConfig(o, cfg, log)
	if err != nil {
		return err
	}
	l2Loop, bgpLoop, err := prepareLoops(runCtx, set, Config{
		NodeName: o.NodeName, Kube: kube, API: api, Announcer: ann, Membership: mem,
		LivenessPort: o.LivenessPort, Classes: o.Classes, ResyncPeriod: resyncPeriod, Logger: log,
		Triggers: statusChanged, Synced: func() { close(synced) }, Forwards: np.forwards(), ForwardsChanged: np.forwardsChanged(),
	}, bgpCfg)
	if err != nil {
		return err
	}
	agentCtx, cancelAgent := context.WithCancel(runCtx)
	defer cancelAgent()
	agentDone := make(chan struct{})
	wg.Go(func() {
		defer close(agentDone)
		if err := l2Loop.run(agentCtx); err != nil {
			errc <- err
		}
	})
	stopBGP := startBGP(runCtx, bgpLoop, log, np.ready(), errc)
	defer stopBGP() // idempotent: the shutdown below has already stopped it
	if o.MetricsAddr != "" {
		srv, err := serveMetrics(o.MetricsAddr, np.gatherer(), &wg, errc)
		if err != nil {
			return err
		}
		defer func() { _ = srv.Close() }()
	}

	var runErr error
	restart := false
	select {
	case <-stop.Done():
		ctx, cancel := context.WithTimeout(context.Background(), restartCheckTimeout)
		node, _ := corelisters.NewNodeLister(set.Nodes().GetIndexer()).Get(o.NodeName)
		var why string
		restart, why = restartIntent(ctx, kube.CoreV1(), o.Namespace, o.PodName, node)
		cancel()
		if restart {
			log.Info("stopping for a restart: the peers keep this node's addresses here meanwhile", "why", why)
		} else {
			log.Info("stopping: handing the addresses over", "why", why, "drain", o.Drain)
		}
	case runErr = <-errc:
		log.Error(runErr, "stopping")
	}
	// The loop stops first: after Leave it would see this node not alive, re-elect and withdraw
	// every address at once, before the peers have taken them over. Stopped, it leaves the
	// announcer answering for the last set; the new owners remove this node's status entries
	// (it is dead to them) and send gratuitous ARP.
	stopBGP() // withdraw first: over BGP there is nothing to hand over
	cancelAgent()
	<-agentDone
	leaveCtx, cancelLeave := context.WithTimeout(context.Background(), time.Second)
	leave := mem.Leave
	if restart {
		leave = mem.LeaveForRestart
	}
	if err := leave(leaveCtx); err != nil && !errors.Is(err, liveness.ErrNotRunning) {
		log.Error(err, "leaving the liveness group; peers will notice after the timeout")
	}
	cancelLeave()
	if !restart {
		time.Sleep(o.Drain) // still answering ARP/NDP while the peers' gratuitous packets move the clients
	}
	// A restart has nobody to hand over to: the sooner this process exits, the sooner the next
	// one is back, while the node's kernel goes on forwarding by the node proxy's rules.
	return runErr
}

// restartCheckTimeout bounds the read of the speaker's own Pod that decides, on SIGTERM, between a
// leave and a restart: a sick API server delays the hand-over by at most this, then it is a leave.
const restartCheckTimeout = time.Second

// resyncPeriod of the informers of both loops.
const resyncPeriod = 10 * time.Minute

// The client-side rate limit of the shared informers' clients: with their own budget, the first
// lists of a large cluster do not wait behind the loops' writes (client-go's default is 5 QPS).
const (
	informerClientQPS   = 50
	informerClientBurst = 100
)

// newInformersFor builds the informer set of Main over clients of its own; withBGP adds the
// client of the BGP kinds.
func newInformersFor(cfg *rest.Config, withBGP bool) (*Informers, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = informerClientQPS, informerClientBurst
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the informers' Kubernetes client: %w", err)
	}
	api, err := client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the informers' frontdesk.dev client: %w", err)
	}
	var bgpAPI client.BGPInterface
	if withBGP {
		if bgpAPI, err = client.NewBGPForConfig(cfg); err != nil {
			return nil, fmt.Errorf("building the informers' frontdesk.dev BGP client: %w", err)
		}
	}
	return NewInformers(kube, api, bgpAPI, resyncPeriod), nil
}

// prepareLoops puts the layer-2 loop and, when bgp is not nil, the BGP loop on set, then starts
// set: it starts once both loops' informers and handlers are in, so that each resource is listed
// and watched once and each loop's handlers see the first list. The caller runs the loops.
func prepareLoops(ctx context.Context, set *Informers, l2 Config, bgp *BGPConfig) (*agent, *bgpAgent, error) {
	l2.Informers = set
	a, err := newAgent(ctx, l2)
	if err != nil {
		return nil, nil, err
	}
	var b *bgpAgent
	if bgp != nil {
		bgp.Informers = set
		if b, err = newBGPAgent(ctx, *bgp); err != nil {
			a.removeHandlers()
			return nil, nil, err
		}
	}
	set.Start(ctx)
	return a, b, nil
}

// serveMetrics serves /metrics (the legacy registry) and /healthz until the returned server is
// closed; its goroutine is in wg.
func serveMetrics(addr string, extra prometheus.Gatherer, wg *sync.WaitGroup, errc chan<- error) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s (--metrics-bind-address): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{legacyregistry.DefaultGatherer, extra}, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	wg.Go(func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics server: %w", err)
		}
	})
	return srv, nil
}
