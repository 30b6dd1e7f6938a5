package agent

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
)

// BGPOptions are the speaker's BGP flags.
type BGPOptions struct {
	// Enabled runs the BGP loop beside the layer-2 one.
	Enabled bool
	// ASN is the speakers' global ASN (each BGPPeer's localASN is used on its session).
	ASN uint32
}

// The client-side rate limit of the BGP loop's clients.
const (
	bgpClientQPS   = 50
	bgpClientBurst = 100
)

// bgpConfig is the BGP loop's config, with clients of its own, or nil without --bgp.
func bgpConfig(o Options, cfg *rest.Config, log klog.Logger) (*BGPConfig, error) {
	if !o.BGP.Enabled {
		return nil, nil
	}
	if o.BGP.ASN == 0 {
		return nil, errors.New("--bgp-asn is required with --bgp (1 to 4294967295)")
	}
	// The BGP loop's writes grow with this node's addresses (one IPAllocation status each when
	// they change, and on shutdown); client-go's default 5 QPS would take minutes for a few
	// thousand. Its own clients get a larger budget; the API server's priority and fairness
	// still applies.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = bgpClientQPS, bgpClientBurst
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client for BGP: %w", err)
	}
	api, err := client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the frontdesk.dev client for BGP: %w", err)
	}
	bgpAPI, err := client.NewBGPForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the frontdesk.dev BGP client: %w", err)
	}
	return &BGPConfig{
		NodeName: o.NodeName, Namespace: o.Namespace, Kube: kube, API: api, BGP: bgpAPI,
		NewSpeaker: GoBGPSpeaker(o.BGP.ASN), Classes: o.Classes, ResyncPeriod: resyncPeriod, Logger: log,
	}, nil
}

// startBGP runs the prepared BGP loop (nil: none) until the returned stop is called. stop
// cancels it and waits: the loop then withdraws every route and closes the sessions. Main calls
// stop first on SIGTERM: over BGP every node advertises, so there is nothing to hand over and
// the peers move the traffic to the other nodes as soon as they see the withdrawal.
func startBGP(ctx context.Context, b *bgpAgent, log klog.Logger, ready <-chan struct{}, errc chan<- error) (stop func()) {
	if b == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// With the node proxy in this process, nothing is advertised before it forwards.
		select {
		case <-ready:
		case <-ctx.Done():
			b.removeHandlers()
			return
		}
		if err := b.run(ctx); err != nil {
			select {
			case errc <- fmt.Errorf("bgp: %w", err):
			default:
				log.Error(err, "BGP loop stopped")
			}
		}
	}()
	return func() { cancel(); <-done }
}
