package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/frontdesk-lb/frontdesk/api/client"
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
	RestartGrace time.Duration
	LivenessPort uint16
	// LivenessBindAddress is where the heartbeat socket listens; invalid (unset): the node's
	// first InternalIP, read from its Node object, where the peers send to.
	LivenessBindAddress netip.Addr
	// LivenessKeyFile holds the heartbeat key; LivenessAcceptKeyFile, optional, a key accepted
	// too (a rotation). Both are re-read while the speaker runs (liveness.WatchKeys).
	LivenessKeyFile       string
	LivenessAcceptKeyFile string
	// LivenessQuorum: announce nothing while this speaker sees at most half of the speakers
	// alive (liveness.Config.RequireQuorum).
	LivenessQuorum bool
	// BootIDFile holds this node's boot ID, sent in the heartbeats so that peers tell a speaker
	// restart from a node reboot: liveness.KernelBootIDFile, or a file of the same form where
	// nodes share a kernel (the lab). Empty: unknown.
	BootIDFile  string
	Classes     []string
	MetricsAddr string // serves /metrics and /healthz; empty: none
	// Drain is how long the addresses stay announced after Leave on shutdown, while the peers
	// take them over (they re-elect within one heartbeat and send gratuitous ARP).
	Drain time.Duration
	// BGP adds BGP to the loop, beside layer 2 (off unless BGP.Enabled).
	BGP BGPOptions
	// Proxy configures the embedded node proxy (off unless Proxy.Mode is set).
	Proxy ProxyOptions
}

// BGPOptions are the speaker's BGP flags.
type BGPOptions struct {
	// Enabled adds BGP to the loop, beside layer 2.
	Enabled bool
	// ASN is the speakers' global ASN (each BGPPeer's localASN is used on its session).
	ASN uint32
}

// Main runs the speaker until stop ends (SIGTERM), then hands over (process.shutdown): BGP
// withdrawn first, the loop stopped (so that it does not withdraw the layer-2 addresses), Leave
// (the peers take them over at once), Drain while still answering, and the announcer closed,
// which withdraws every address. When its Pod is being replaced on a node that stays up
// (restartIntent), it leaves for a restart instead: the peers keep its addresses on this node
// until the next speaker is back, and it exits at once. It returns the first error that stopped
// it.
func Main(stop context.Context, o Options) error {
	p, err := start(stop, o)
	if err != nil {
		return err
	}
	restart, runErr := p.wait(stop)
	p.shutdown(restart)
	return runErr
}

// restartCheckTimeout bounds the read of the speaker's own Pod that decides, on SIGTERM, between a
// leave and a restart: a sick API server delays the hand-over by at most this, then it is a leave.
const restartCheckTimeout = time.Second

// resyncPeriod of the informers.
const resyncPeriod = 10 * time.Minute

// The client-side rate limit of each set of clients (newClients): with a budget of its own, the
// informers' first lists of a large cluster do not wait behind the loop's writes, and the writes
// (IPAllocation status, BGPPeer sessions, Events), which grow with this node's addresses, do not
// take minutes for a few thousand at client-go's default 5 QPS. The API server's priority and
// fairness still applies.
const (
	clientQPS   = 50
	clientBurst = 100
)

// clients are one set of the speaker's clients.
type clients struct {
	kube kubernetes.Interface
	api  client.Interface // every frontdesk.dev kind, BGP's too
}

// newClients builds a set of clients over cfg with a rate limit of its own; whose names them in
// errors. timeout bounds each request (rest.Config.Timeout), so that a blackholed API server
// fails a write in that time instead of when the connection's health check gives up (client-go's
// HTTP/2 pings: 30 s idle, then 15 s): the writers' set gets loop.DefaultWriteTimeout. The
// informers' set gets none (0), which would end every watch after that long.
func newClients(cfg *rest.Config, whose string, timeout time.Duration) (c clients, err error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	cfg.Timeout = timeout
	if c.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return c, fmt.Errorf("building the %s Kubernetes client: %w", whose, err)
	}
	if c.api, err = client.NewForConfig(cfg); err != nil {
		return c, fmt.Errorf("building the %s frontdesk.dev client: %w", whose, err)
	}
	return c, nil
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
