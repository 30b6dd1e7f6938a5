package loop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
	fdlisters "github.com/frontdesk-lb/frontdesk/api/generated/listers/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/runner"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// Component is the Event source and the status field manager.
const Component = "frontdesk-speaker"

// Defaults for Config.
const (
	DefaultMinInterval = 50 * time.Millisecond
	DefaultRetry       = time.Second
)

// Membership is speaker liveness; *liveness.Membership satisfies it.
type Membership interface {
	Alive() map[string]bool
	HasQuorum() bool
	Changes() <-chan struct{}
	SetPeers(map[string]netip.AddrPort) error
}

var _ Membership = (*liveness.Membership)(nil)

// Config is the input of New.
type Config struct {
	// NodeName is this node's Node name.
	NodeName string
	// API writes the IPAllocation status, through Writer.
	API client.Interface
	// Writer makes the status writes off the announce path; the loop runs it (nil: one of its
	// own, with DefaultWriteTimeout). The protocols that write status of their own share it.
	Writer *Writer
	// Informers is the set the loop reads; every informer of it runs the loop on each change.
	// The protocols register theirs before New; the caller starts the set and shuts it down.
	Informers *Informers
	// Protocols, in the order their parts are applied to a status.
	Protocols []Protocol
	// Membership, when not nil, gives the snapshot's liveness, and gets the peers from the Nodes'
	// first InternalIP and LivenessPort (0: liveness.DefaultPort); its changes run the loop.
	Membership   Membership
	LivenessPort uint16
	// Classes are the served spec.loadBalancerClass values, for the snapshot.
	Classes []string
	// MinInterval is the least time between two runs, so that bursts of events coalesce into
	// one run (0: DefaultMinInterval).
	MinInterval time.Duration
	// Events records the Services' Events: the process's one recorder.
	Events record.EventRecorder
	// Logger; the zero value means klog.Background.
	Logger klog.Logger
}

// ConfigError says which Config field is wrong.
type ConfigError struct{ Field, Reason string }

func (e *ConfigError) Error() string { return "speaker: Config." + e.Field + ": " + e.Reason }

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return &ConfigError{"NodeName", "empty; want this node's Node name"}
	case c.API == nil:
		return &ConfigError{"API", "nil; want a frontdesk.dev clientset"}
	case c.Events == nil:
		return &ConfigError{"Events", "nil; want an Event recorder"}
	case c.Informers == nil:
		return &ConfigError{"Informers", "nil; want the set the protocols registered on"}
	}
	if c.LivenessPort == 0 {
		c.LivenessPort = liveness.DefaultPort
	}
	if c.MinInterval <= 0 {
		c.MinInterval = DefaultMinInterval
	}
	if c.Logger.GetSink() == nil {
		c.Logger = klog.Background()
	}
	return nil
}

// Loop is the speaker's one worker.
type Loop struct {
	cfg       Config
	log       klog.Logger
	protocols []Protocol

	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	nodes    corelisters.NodeLister
	pools    fdlisters.IPPoolLister
	allocs   fdlisters.IPAllocationLister

	runner *runner.Runner
	// turn is held by a run and by Retire, so that a protocol is retired between two runs; a
	// channel of one, not a mutex, so that Retire gives up when its context ends.
	turn chan struct{}
	// announced says, under turn, that the runs have begun: from then on Retire writes the
	// retired protocol's Report.
	announced bool
	peers     map[string]netip.AddrPort
	stalled   atomic.Bool
	events    Recorder

	// writer makes the status writes; unwritten holds, per address and mode, the latest part
	// not written yet (queueStatus), under statusMu; modes is the protocols' order of parts.
	writer    *Writer
	statusMu  sync.Mutex
	unwritten map[netip.Addr]map[v1alpha1.AnnouncementMode]queuedPart
	partSeq   uint64
	modes     []v1alpha1.AnnouncementMode

	synced         []cache.InformerSynced
	removeHandlers func()
}

// New adds the loop's handler to every informer of cfg.Informers (the protocols' too).
func New(cfg Config) (*Loop, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	registerMetrics()
	set := cfg.Informers
	l := &Loop{
		cfg: cfg, log: cfg.Logger.WithName("speaker"), protocols: slices.Clone(cfg.Protocols),
		services: corelisters.NewServiceLister(set.Services().GetIndexer()),
		slices:   discoverylisters.NewEndpointSliceLister(set.EndpointSlices().GetIndexer()),
		nodes:    corelisters.NewNodeLister(set.Nodes().GetIndexer()),
		pools:    fdlisters.NewIPPoolLister(set.IPPools().GetIndexer()),
		allocs:   fdlisters.NewIPAllocationLister(set.IPAllocations().GetIndexer()),
	}
	l.init()
	l.events = ServiceEvents(cfg.Events, l.services)
	var err error
	l.synced, l.removeHandlers, err = handle(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { l.markDirty() },
		UpdateFunc: func(any, any) { l.markDirty() },
		DeleteFunc: func(any) { l.markDirty() },
	}, set.All()...)
	if err != nil {
		return nil, fmt.Errorf("speaker: adding an event handler: %w", err)
	}
	return l, nil
}

func (l *Loop) init() {
	l.turn = make(chan struct{}, 1)
	l.writer = l.cfg.Writer
	if l.writer == nil {
		l.writer = NewWriter(DefaultWriteTimeout, l.log)
	}
	l.unwritten = map[netip.Addr]map[v1alpha1.AnnouncementMode]queuedPart{}
	for _, p := range l.protocols {
		l.modes = append(l.modes, p.Mode())
	}
	l.runner = runner.New("speaker", l.run, runner.Options{MinInterval: l.cfg.MinInterval})
}

// Run waits for the informers' caches (until ctx ends: a missing CRD keeps it waiting, and its
// informer logs why), then runs the loop until ctx ends; it returns once its worker has stopped.
// It never withdraws anything itself: Retire withdraws a protocol, and the caller decides what to
// do with those left when Run returns.
func (l *Loop) Run(ctx context.Context) error {
	defer l.removeHandlers()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), l.synced...) {
		return nil // stopped before the caches synced: nothing was announced
	}
	l.log.Info("caches synced; announcing", "node", l.cfg.NodeName)
	var wakes []<-chan struct{}
	if l.cfg.Membership != nil {
		wakes = append(wakes, l.cfg.Membership.Changes())
	}
	l.turn <- struct{}{} // Retire may be changing the protocols
	for _, p := range l.protocols {
		wakes = append(wakes, p.Wakes()...)
	}
	<-l.turn
	var wg sync.WaitGroup
	for _, c := range wakes {
		if c != nil {
			wg.Go(func() { l.forward(ctx, c) })
		}
	}
	wg.Go(func() { l.watchStalls(ctx) })
	l.loop(ctx)
	cancel()
	wg.Wait()
	return nil
}

// forward runs the loop on each receive from c, until c closes or ctx ends.
func (l *Loop) forward(ctx context.Context, c <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-c:
			l.markDirty()
			if !ok {
				return
			}
		}
	}
}

// markDirty asks for a run: every informer event, Membership change and protocol wake does.
// Runs are at least MinInterval apart, so a burst of events costs one run.
func (l *Loop) markDirty() { l.runner.Run() }

// loop runs the worker and the status Writer until ctx ends, starting with a run right after
// the caches synced.
func (l *Loop) loop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { l.writer.Run(ctx) })
	l.turn <- struct{}{}
	l.announced = true
	<-l.turn
	l.runner.Run()
	l.runner.Loop(ctx)
}

// run is one run of the worker. A failed run is retried after DefaultRetry, but, unlike the
// runner's own retry, without holding back the runs events ask for meanwhile: the event that
// follows a conflict or a protocol's failure is often what mends it.
func (l *Loop) run(ctx context.Context) error {
	l.turn <- struct{}{}
	defer func() { <-l.turn }()
	start := time.Now()
	again, err := l.sync(ctx)
	syncDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		syncs.WithLabelValues("error").Inc()
		if ctx.Err() == nil {
			l.log.Error(err, "speaker sync failed; retrying", "after", DefaultRetry)
		}
		again = DefaultRetry
	} else {
		syncs.WithLabelValues("ok").Inc()
	}
	if again > 0 {
		l.runner.RunAfter(again)
	}
	return nil
}

// sync runs the loop once: the snapshot, every protocol's Sync, then the status handed to the
// Writer (queueStatus), which writes it meanwhile: no run waits for the API server.
func (l *Loop) sync(ctx context.Context) (time.Duration, error) {
	snap, err := l.snapshot()
	if err != nil {
		return 0, err
	}
	var errs []error
	var again time.Duration
	reports := make([]modeReport, 0, len(l.protocols))
	for _, p := range l.protocols {
		rep, err := p.Sync(ctx, snap, l.events)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Mode(), err))
		}
		reports = append(reports, modeReport{p.Mode(), rep})
		if rep.Again > 0 && (again == 0 || rep.Again < again) {
			again = rep.Again
		}
	}
	if snap.Alive == nil || snap.Alive[l.cfg.NodeName] {
		l.queueStatus(snap.allocs, reports)
	} else {
		// This speaker is not running in liveness: before it starts (the first run, whose Sync
		// starts it) and once it left. Its protocols elect without it then, so every address
		// would read "not announced here" for a moment: a restart would take this node's entries
		// out of the status and put them back (and flap each Service's condition) while the
		// node never stopped forwarding. What it announces stays as the last run alive wrote,
		// until a run alive writes it or, once it left, its peers take its entries over.
		l.log.V(4).Info("status not written: this speaker is not running in liveness yet or any more")
	}
	if len(errs) > 0 && snap.Stalled {
		l.stalled.Store(true) // not acted on yet: the retry sees it again
	}
	return again, errors.Join(errs...)
}

// Retire withdraws p while the loop keeps running the others: between two runs (or at once when
// the loop does not run, before or after Run), p.Close withdraws what it announces, then, once the
// runs have begun, its Report is queued for the Writer (this node's entries of its mode removed).
// It does not wait for the API server: Flush writes what is queued. Main retires BGP first on
// SIGTERM.
func (l *Loop) Retire(ctx context.Context, p Protocol) error {
	select {
	case l.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-l.turn }()
	start := time.Now()
	rep, err := p.Close(ctx)
	l.protocols = slices.DeleteFunc(l.protocols, func(q Protocol) bool { return q == p })
	l.log.Info("withdrawn", "mode", p.Mode(), "took", time.Since(start))
	if !l.announced {
		return err // nothing was announced, so there is nothing to write
	}
	allocs, lerr := l.allocs.List(everything)
	if lerr != nil {
		return errors.Join(err, lerr)
	}
	l.queueStatus(allocs, []modeReport{{p.Mode(), rep}})
	return err
}

// Flush writes the status writes queued now (Retire's, the runs'), within ctx: the last writes
// on shutdown, whether the loop still runs or not.
func (l *Loop) Flush(ctx context.Context) error { return l.writer.Flush(ctx) }
