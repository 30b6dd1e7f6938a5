package agent

import (
	"context"
	"net/netip"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/bgpmode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/l2mode"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// Component is the Event source and the status field manager.
const Component = loop.Component

// ReasonAnnouncingNode is layer 2's Event when this node starts announcing an address.
const ReasonAnnouncingNode = l2mode.ReasonAnnouncingNode

// The parts' types, for Run's and RunBGP's configs.
type (
	Announcer     = l2mode.Announcer
	Membership    = loop.Membership
	Informers     = loop.Informers
	ConfigError   = loop.ConfigError
	BGPSpeaker    = bgpmode.Speaker
	NewBGPSpeaker = bgpmode.NewSpeaker
)

// NewInformers returns an unstarted informer set over the clients; bgp may be nil when no
// protocol reads the BGP kinds.
func NewInformers(kube kubernetes.Interface, api client.Interface, bgp client.BGPInterface, resync time.Duration) *Informers {
	return loop.NewInformers(kube, api, bgp, resync)
}

// GoBGPSpeaker is the NewBGPSpeaker of production: an embedded GoBGP v4.
func GoBGPSpeaker(asn uint32) NewBGPSpeaker { return bgpmode.GoBGP(asn) }

// Config is the input of Run: layer 2 alone, in a loop of its own.
type Config struct {
	NodeName string
	// Kube reads Services, EndpointSlices and Nodes and writes Events.
	Kube kubernetes.Interface
	// API reads IPPools, IPAllocations and L2Advertisements and writes IPAllocation status.
	API        client.Interface
	Announcer  Announcer
	Membership Membership
	// LivenessPort is the heartbeat port of every peer (0: liveness.DefaultPort).
	LivenessPort uint16
	// Classes are the served spec.loadBalancerClass values (nil: announce.DefaultClass).
	Classes []string
	// ResyncPeriod of the informers; each resync runs the loop, which rewrites drifted status.
	ResyncPeriod time.Duration
	// MinInterval: see loop.Config.
	MinInterval time.Duration
	// Triggers, Synced, Forwards and ForwardsChanged: see l2mode.Config.
	Triggers        <-chan struct{}
	Synced          func()
	Forwards        func(netip.Addr) bool
	ForwardsChanged <-chan struct{}
	// Logger; the zero value means klog.FromContext of Run's context.
	Logger klog.Logger
	// Informers, when not nil, is a set the caller starts and shuts down. Nil: Run builds,
	// starts and stops a set of its own over Kube and API.
	Informers *Informers
}

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return &ConfigError{Field: "NodeName", Reason: "empty; want this node's Node name"}
	case c.Kube == nil:
		return &ConfigError{Field: "Kube", Reason: "nil; want a Kubernetes clientset"}
	case c.API == nil:
		return &ConfigError{Field: "API", Reason: "nil; want a frontdesk.dev clientset"}
	case c.Announcer == nil:
		return &ConfigError{Field: "Announcer", Reason: "nil; want an *l2.Announcer"}
	case c.Membership == nil:
		return &ConfigError{Field: "Membership", Reason: "nil; want a *liveness.Membership"}
	}
	if c.LivenessPort == 0 {
		c.LivenessPort = liveness.DefaultPort
	}
	return nil
}

// Run keeps this node's layer-2 announcements and their IPAllocation status in step with the
// election, until ctx ends: the speaker's loop with the layer-2 protocol only (Main runs both
// protocols in one loop). It never withdraws anything on the way out: see Main's shutdown.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	log := logger(ctx, cfg.Logger)
	set := cfg.Informers
	if set == nil {
		set = loop.NewInformers(cfg.Kube, cfg.API, nil, cfg.ResyncPeriod)
	}
	l2p, err := l2mode.New(set, l2mode.Config{NodeName: cfg.NodeName, Announcer: cfg.Announcer, Triggers: cfg.Triggers,
		Synced: cfg.Synced, Forwards: cfg.Forwards, ForwardsChanged: cfg.ForwardsChanged, Logger: log})
	if err != nil {
		return err
	}
	l, err := loop.New(loop.Config{NodeName: cfg.NodeName, Kube: cfg.Kube, API: cfg.API, Informers: set,
		Protocols: []loop.Protocol{l2p}, Membership: cfg.Membership, LivenessPort: cfg.LivenessPort,
		Classes: cfg.Classes, MinInterval: cfg.MinInterval, Logger: log})
	if err != nil {
		return err
	}
	return runAlone(ctx, l, set, cfg.Informers == nil, nil, log)
}

// BGPConfig is the input of RunBGP: BGP alone, in a loop of its own.
type BGPConfig struct {
	NodeName string
	// Namespace holds the BGPPeers' password Secrets (the speakers' own namespace).
	Namespace  string
	Kube       kubernetes.Interface
	API        client.Interface
	BGP        client.BGPInterface
	NewSpeaker NewBGPSpeaker
	Classes    []string
	// ResyncPeriod of the informers; MinInterval between two runs (0: loop.DefaultMinInterval).
	ResyncPeriod, MinInterval time.Duration
	Logger                    klog.Logger
	// Informers: see Config.Informers; a set of the caller's needs the BGP client.
	Informers *Informers
}

// RunBGP keeps this node's BGP sessions and routes in step with the cluster until ctx ends,
// then withdraws every route, closes the sessions and removes this node's BGP entries from the
// IPAllocation and BGPPeer status (best effort, within shutdownBudget).
func RunBGP(ctx context.Context, cfg BGPConfig) error {
	if cfg.Kube == nil || cfg.API == nil {
		return &ConfigError{Field: "Kube, API", Reason: "nil; want the clientsets"}
	}
	log := logger(ctx, cfg.Logger)
	set := cfg.Informers
	if set == nil {
		set = loop.NewInformers(cfg.Kube, cfg.API, cfg.BGP, cfg.ResyncPeriod)
	}
	bgpp, err := bgpmode.New(set, bgpmode.Config{NodeName: cfg.NodeName, Namespace: cfg.Namespace, BGP: cfg.BGP,
		NewSpeaker: cfg.NewSpeaker, Logger: log})
	if err != nil {
		return err
	}
	l, err := loop.New(loop.Config{NodeName: cfg.NodeName, Kube: cfg.Kube, API: cfg.API, Informers: set,
		Protocols: []loop.Protocol{bgpp}, Classes: cfg.Classes, MinInterval: cfg.MinInterval, Logger: log})
	if err != nil {
		return err
	}
	return runAlone(ctx, l, set, cfg.Informers == nil, bgpp, log)
}

// shutdownBudget bounds the withdrawal of BGP on shutdown: its status writes after the routes
// are withdrawn, within the Pod's termination grace period (30 s by default).
const shutdownBudget = 10 * time.Second

// runAlone runs l until ctx ends, starting and stopping set when own; then it retires retire
// (nil: none) through the loop before stopping it.
func runAlone(ctx context.Context, l *loop.Loop, set *Informers, own bool, retire loop.Protocol, log klog.Logger) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if own {
		set.Start(runCtx)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	var err error
	returned := false
	select {
	case <-ctx.Done():
	case err = <-done: // the caches did not sync
		returned = true
	}
	if retire != nil {
		rctx, rcancel := context.WithTimeout(context.Background(), shutdownBudget)
		if rerr := l.Retire(rctx, retire); rerr != nil {
			log.Error(rerr, "withdrawing on shutdown", "mode", retire.Mode())
		}
		rcancel()
	}
	cancel()
	if !returned {
		err = <-done
	}
	if own {
		set.Shutdown()
	}
	return err
}

func logger(ctx context.Context, log klog.Logger) klog.Logger {
	if log.GetSink() == nil {
		return klog.FromContext(ctx)
	}
	return log
}
