package agent

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/proxy"
)

// ProxyOptions are the speaker's node-proxy flags (--proxy=nftables runs package proxy in the
// speaker's process; see proxy/README.md).
type ProxyOptions struct {
	// Mode is "" (no node proxy: kube-proxy or another one forwards) or "nftables".
	Mode string
	// Config holds the proxy's settings from its flags (proxy.AddFlags, named --proxy-*): node
	// ports, Pod CIDRs, families, table, sync periods, /healthz. The client, node name and logger
	// are the speaker's; its /metrics serves the proxy's metrics too.
	Config proxy.Config
	// ExcludeDeadNodes stops new connections to endpoints on nodes that liveness, with a majority
	// of speakers agreeing, reports dead (speaker/deadnodes; docs/design/dead-nodes.md).
	ExcludeDeadNodes bool
}

// ProxyModes are the accepted values of --proxy.
var ProxyModes = []string{"", "nftables"}

// nodeProxy is the embedded node proxy, when there is one.
type nodeProxy struct {
	p *proxy.Proxy
}

// startProxy builds the node proxy and runs it until ctx ends, reporting a failure on errc. It
// returns nil when Mode is empty. The rules stay in the kernel when the speaker exits, so that a
// restart drops no connection.
func startProxy(ctx context.Context, o Options, cfg *rest.Config, log klog.Logger, run func(func()), errc chan<- error) (*nodeProxy, error) {
	if o.Proxy.Mode == "" {
		return nil, nil
	}
	if o.Proxy.Mode != "nftables" {
		return nil, fmt.Errorf("--proxy=%q: want nftables, or empty for no node proxy", o.Proxy.Mode)
	}
	// Its own client: the first lists of a large cluster should not wait behind the announcer's
	// status writes (client-go's default is 5 QPS per client).
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the node proxy's Kubernetes client: %w", err)
	}
	pc := o.Proxy.Config
	pc.Client, pc.NodeName, pc.Logger, pc.MetricsBindAddress = kube, o.NodeName, log, "" // New names it "proxy"
	p, err := proxy.New(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("node proxy: %w", err)
	}
	run(func() {
		if err := p.Run(ctx); err != nil {
			errc <- fmt.Errorf("node proxy: %w", err)
		}
	})
	return &nodeProxy{p: p}, nil
}

// ready is closed once the proxy has programmed every Service (at once without a proxy).
func (n *nodeProxy) ready() <-chan struct{} {
	if n == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return n.p.Ready()
}

// forwards is the announcers' per-address gate (nil without a proxy: announce everything).
func (n *nodeProxy) forwards() func(netip.Addr) bool {
	if n == nil {
		return nil
	}
	return n.p.Forwards
}

// forwardsChanged receives when forwards' answers changed (nil without a proxy: they never do).
func (n *nodeProxy) forwardsChanged() <-chan struct{} {
	if n == nil {
		return nil
	}
	return n.p.ForwardsChanged()
}

// gatherer adds the proxy's metrics to the speaker's /metrics.
func (n *nodeProxy) gatherer() prometheus.Gatherer {
	if n == nil {
		return prometheus.Gatherers{}
	}
	return n.p.Registry()
}
