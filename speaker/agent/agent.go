package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/announce"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// Component is the Event source and the status field manager.
const Component = "frontdesk-speaker"

// Defaults for Config.
const (
	DefaultMinInterval = 50 * time.Millisecond
	DefaultRetry       = time.Second
)

// Announcer announces this node's full set of VIPs on layer 2; *l2.Announcer satisfies it.
type Announcer interface {
	SetVIPs(map[netip.Addr]l2.Announcement) (map[netip.Addr]l2.VIPStatus, error)
	// Reannounce repeats the gratuitous packets of vips, of every address announced now if none
	// is named.
	Reannounce(vips ...netip.Addr) error
}

// Membership is speaker liveness; *liveness.Membership satisfies it.
type Membership interface {
	Alive() map[string]bool
	HasQuorum() bool
	Changes() <-chan struct{}
	SetPeers(map[string]netip.AddrPort) error
}

var (
	_ Announcer  = (*l2.Announcer)(nil)
	_ Membership = (*liveness.Membership)(nil)
)

// Config is the input of Run.
type Config struct {
	// NodeName is this node's Node name.
	NodeName string
	// Kube reads Services, EndpointSlices and Nodes and writes Events.
	Kube kubernetes.Interface
	// API reads IPPools, IPAllocations and L2Advertisements and writes IPAllocation status.
	API client.Interface
	// Announcer and Membership: see the interfaces.
	Announcer  Announcer
	Membership Membership
	// LivenessPort is the heartbeat port of every peer (0: liveness.DefaultPort).
	LivenessPort uint16
	// Classes are the served spec.loadBalancerClass values (nil: announce.DefaultClass).
	Classes []string
	// ResyncPeriod of the informers; each resync runs the loop, which rewrites drifted status.
	ResyncPeriod time.Duration
	// MinInterval is the least time between two runs of the loop, so that bursts of events
	// coalesce into one run (0: DefaultMinInterval).
	MinInterval time.Duration
	// Triggers, when not nil, runs the loop on each receive: Main connects the announcer's
	// OnStatusChange (an interface going down or back up), so the status follows it.
	Triggers <-chan struct{}
	// Synced, when not nil, is called once, after the caches synced and the first run of the
	// loop succeeded. Main starts the heartbeats only then: a speaker that peers see alive wins
	// elections at once, and one that cannot announce yet (still listing, or the API server is
	// unreachable) would take addresses away from nodes that serve them.
	Synced func()
	// Forwards, when not nil, says whether this node's proxy forwards an address; this node
	// announces only those, and rechecks the others when ForwardsChanged receives, or every
	// ForwardRecheck without it. Nil: every address (the node proxy is another program, such as
	// kube-proxy).
	Forwards func(netip.Addr) bool
	// ForwardsChanged, when not nil, receives when what Forwards answers may have changed (the
	// embedded proxy's ForwardsChanged): a withheld address is announced as soon as its rules
	// are in, instead of at the next poll.
	ForwardsChanged <-chan struct{}
	// Logger; the zero value means klog.FromContext of Run's context.
	Logger klog.Logger
	// Informers, when not nil, is a set shared with other loops (Main's BGP loop), which the
	// caller starts and shuts down; Run only adds its handlers. Nil: Run builds, starts and
	// stops a set of its own over Kube and API.
	Informers *Informers
}

// ForwardRecheck is how often the loop rechecks addresses it won but withholds because the node
// proxy does not forward them yet, when Config.ForwardsChanged does not say when to. It only runs
// while one is withheld.
const ForwardRecheck = 50 * time.Millisecond

// ConfigError says which Config field is wrong.
type ConfigError struct{ Field, Reason string }

func (e *ConfigError) Error() string { return "speaker agent: Config." + e.Field + ": " + e.Reason }

func (c *Config) validate() error {
	switch {
	case c.NodeName == "":
		return &ConfigError{"NodeName", "empty; want this node's Node name"}
	case c.Kube == nil:
		return &ConfigError{"Kube", "nil; want a Kubernetes clientset"}
	case c.API == nil:
		return &ConfigError{"API", "nil; want a frontdesk.dev clientset"}
	case c.Announcer == nil:
		return &ConfigError{"Announcer", "nil; want an *l2.Announcer"}
	case c.Membership == nil:
		return &ConfigError{"Membership", "nil; want a *liveness.Membership"}
	}
	if c.LivenessPort == 0 {
		c.LivenessPort = liveness.DefaultPort
	}
	if c.MinInterval <= 0 {
		c.MinInterval = DefaultMinInterval
	}
	return nil
}

type agent struct {
	cfg      Config
	log      klog.Logger
	recorder record.EventRecorder

	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	nodes    corelisters.NodeLister
	pools    client.IPPoolLister
	allocs   client.IPAllocationLister
	ads      client.L2AdvertisementLister
	dirty    chan struct{}
	prev     announce.Plan
	alive    map[string]bool // the liveness of the previous run, to notice peers coming back
	peers    map[string]netip.AddrPort
	events   map[netip.Addr]string // what the last Event of each address said, see emitEvents
	badRules map[string]string     // L2Advertisement name → resourceVersion whose selector errors were logged
	withheld map[netip.Addr]bool   // won, but not forwarded by the node proxy yet (Config.Forwards)
	// contestedSeen is, per address announced, the other L2 announcers its status named when this
	// node last repeated its gratuitous packets for it (see contested).
	contestedSeen map[netip.Addr]string
	// stalled is set when this process was stopped or starved for longer than peers wait
	// (watchStalls); the next run repeats every gratuitous packet.
	stalled atomic.Bool

	ownInformers   *Informers // nil when Config.Informers is shared
	synced         []cache.InformerSynced
	removeHandlers func()
}

// Run watches the cluster and keeps this node's layer-2 announcements and their IPAllocation
// status in step with the election, until ctx ends. Nothing is announced before the caches have
// synced. Run returns once its worker and informers have stopped; it never withdraws the
// announcements itself (it never calls SetVIPs with an empty set on the way out): the caller
// decides. On SIGTERM, Main cancels ctx first, then calls Membership.Leave and keeps the
// Announcer answering for a short drain while the peers take over, then closes it. Leaving
// before cancelling would make the loop see this node dead and withdraw everything at once.
func Run(ctx context.Context, cfg Config) error {
	a, err := newAgent(ctx, cfg)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// newAgent validates cfg and adds the loop's handlers to its informers (Config.Informers, or a
// set of its own that run starts), so that a shared set can be started once every loop is on it.
func newAgent(ctx context.Context, cfg Config) (*agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	registerMetrics()
	log := cfg.Logger
	if log.GetSink() == nil {
		log = klog.FromContext(ctx)
	}
	a := &agent{
		cfg: cfg, log: log.WithName("speaker"),
		dirty:    make(chan struct{}, 1),
		events:   map[netip.Addr]string{},
		badRules: map[string]string{},

		contestedSeen: map[netip.Addr]string{},
	}
	set := cfg.Informers
	if set == nil {
		set = NewInformers(cfg.Kube, cfg.API, nil, cfg.ResyncPeriod)
		a.ownInformers = set
	}
	all := []cache.SharedIndexInformer{
		set.Services(), set.EndpointSlices(), set.Nodes(),
		set.IPPools(), set.IPAllocations(), set.L2Advertisements(),
	}
	a.services = corelisters.NewServiceLister(all[0].GetIndexer())
	a.slices = discoverylisters.NewEndpointSliceLister(all[1].GetIndexer())
	a.nodes = corelisters.NewNodeLister(all[2].GetIndexer())
	a.pools = client.NewIPPoolLister(all[3].GetIndexer())
	a.allocs = client.NewIPAllocationLister(all[4].GetIndexer())
	a.ads = client.NewL2AdvertisementLister(all[5].GetIndexer())
	var err error
	a.synced, a.removeHandlers, err = handle(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.markDirty() },
		UpdateFunc: func(any, any) { a.markDirty() },
		DeleteFunc: func(any) { a.markDirty() },
	}, all...)
	if err != nil {
		return nil, fmt.Errorf("speaker agent: adding an event handler: %w", err)
	}
	return a, nil
}

// run is Run once the handlers are in place.
func (a *agent) run(ctx context.Context) error {
	defer a.removeHandlers()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.cfg.Kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Component, Host: a.cfg.NodeName})

	if set := a.ownInformers; set != nil {
		defer set.Shutdown()
		defer cancel() // runs before Shutdown, which waits for the informers
		set.Start(ctx)
	}
	if !cache.WaitForCacheSync(ctx.Done(), a.synced...) {
		if ctx.Err() != nil {
			return nil // stopped before the caches synced: nothing was announced
		}
		return errors.New("speaker agent: the informer caches did not sync (are the frontdesk CRDs installed?)")
	}
	a.log.Info("caches synced; announcing", "node", a.cfg.NodeName)
	stallDone := make(chan struct{})
	go func() { defer close(stallDone); a.watchStalls(ctx) }()
	a.loop(ctx)
	<-stallDone
	return nil
}

func (a *agent) markDirty() {
	select {
	case a.dirty <- struct{}{}:
	default:
	}
}

// loop is the single worker: every informer event and Membership change marks the state dirty;
// runs are at least MinInterval apart, so a burst of events costs one run. A failed run is
// retried after DefaultRetry.
func (a *agent) loop(ctx context.Context) {
	var last time.Time
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	a.markDirty() // the first run, right after the caches synced
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.dirty:
		case <-a.cfg.Membership.Changes():
		case <-a.cfg.Triggers:
		case <-a.cfg.ForwardsChanged:
		case <-retry.C:
		}
		if wait := time.Until(last.Add(a.cfg.MinInterval)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		select { // what arrived while waiting is covered by this run
		case <-a.dirty:
		default:
		}
		last = time.Now()
		err := a.sync(ctx)
		syncDuration.Observe(time.Since(last).Seconds())
		if err != nil {
			syncs.WithLabelValues("error").Inc()
			if ctx.Err() == nil {
				a.log.Error(err, "speaker sync failed; retrying", "after", DefaultRetry)
			}
			retry.Reset(DefaultRetry)
			continue
		}
		syncs.WithLabelValues("ok").Inc()
		if len(a.withheld) > 0 && a.cfg.ForwardsChanged == nil {
			retry.Reset(ForwardRecheck)
		}
		if a.cfg.Synced != nil {
			a.cfg.Synced()
			a.cfg.Synced = nil
		}
	}
}

// sync runs the loop once: peers, snapshot, election, SetVIPs, status and Events.
func (a *agent) sync(ctx context.Context) error {
	nodes, err := a.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	if peers := peersFrom(nodes, a.cfg.LivenessPort); !maps.Equal(peers, a.peers) {
		if err := a.cfg.Membership.SetPeers(peers); err != nil {
			a.log.Error(err, "setting liveness peers from the Nodes; keeping the previous peers")
		} else {
			a.peers = peers
		}
	}
	snap, err := a.snapshot(nodes)
	if err != nil {
		return err
	}
	plan, err := announce.Compute(snap)
	if err != nil {
		return fmt.Errorf("computing the announcements (keeping the previous ones): %w", err)
	}
	vips, withheld := a.forwarded(plan.VIPs)
	statuses, err := a.cfg.Announcer.SetVIPs(vips)
	if err != nil {
		return fmt.Errorf("announcing %d addresses: %w", len(vips), err)
	}
	a.withheld = withheld
	changes := announce.Diff(a.prev, plan)
	electionChanges.Add(float64(len(changes)))
	for _, c := range changes {
		a.log.V(2).Info("announcing node changed", "address", c.Addr, "from", c.From, "to", c.To)
	}
	a.prev = plan
	a.reannounce(snap.Alive, vips)
	a.alive = snap.Alive
	n := 0
	for _, st := range statuses {
		if st.Announced() {
			n++
		}
	}
	addressesAnnounced.Set(float64(n))
	return a.publish(ctx, plan, statuses, snap.Alive)
}

// reannounce repeats gratuitous packets where clients may be following another node: for every
// address when peers came back (while a peer was unreachable both sides may have announced an
// address) or when this process stalled (peers may have taken its addresses over meanwhile),
// else for the addresses whose status names another L2 announcer (contested). Once per run: a
// stall and a contested address do not start two bursts.
func (a *agent) reannounce(alive map[string]bool, vips map[netip.Addr]l2.Announcement) {
	contestedAddrs := contested(a.cfg.NodeName, slices.Collect(maps.Keys(vips)), a.storedStatus, a.contestedSeen)
	stalled := a.stalled.Swap(false)
	var why string
	var addrs []netip.Addr // none: all
	switch returned := comeBack(a.alive, alive); {
	case len(returned) > 0 && a.alive != nil:
		why = "peers came back: " + strings.Join(returned, ", ")
	case stalled:
		why = "this process stalled"
	case len(contestedAddrs) > 0:
		why, addrs = "another node announced addresses this node holds", contestedAddrs
	default:
		return
	}
	a.log.V(2).Info("repeating gratuitous packets", "why", why, "addresses", addrs)
	if err := a.cfg.Announcer.Reannounce(addrs...); err != nil {
		a.log.Error(err, "repeating gratuitous packets", "why", why)
	}
}

// storedStatus is the IPAllocation status of addr in the informer's cache.
func (a *agent) storedStatus(addr netip.Addr) (v1alpha1.IPAllocationStatus, bool) {
	al, err := a.allocs.Get(v1alpha1.IPAllocationName(addr))
	if err != nil {
		return v1alpha1.IPAllocationStatus{}, false
	}
	return al.Status, true
}

// forwarded splits the addresses this node won into those its node proxy forwards, to announce,
// and those it does not yet.
func (a *agent) forwarded(vips map[netip.Addr]l2.Announcement) (map[netip.Addr]l2.Announcement, map[netip.Addr]bool) {
	if a.cfg.Forwards == nil {
		return vips, nil
	}
	out := make(map[netip.Addr]l2.Announcement, len(vips))
	var withheld map[netip.Addr]bool
	for addr, ann := range vips {
		if a.cfg.Forwards(addr) {
			out[addr] = ann
			continue
		}
		if withheld == nil {
			withheld = map[netip.Addr]bool{}
		}
		withheld[addr] = true
	}
	return out, withheld
}

// comeBack lists the peers alive now that were known and not alive before.
func comeBack(before, now map[string]bool) []string {
	var out []string
	for n, ok := range now {
		if was, known := before[n]; ok && known && !was {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (a *agent) snapshot(nodes []*corev1.Node) (announce.Snapshot, error) {
	svcs, err := a.services.List(labels.Everything())
	if err != nil {
		return announce.Snapshot{}, err
	}
	slices, err := a.slices.List(labels.Everything())
	if err != nil {
		return announce.Snapshot{}, err
	}
	allocs, err := a.allocs.List(labels.Everything())
	if err != nil {
		return announce.Snapshot{}, err
	}
	pools, err := a.pools.List(labels.Everything())
	if err != nil {
		return announce.Snapshot{}, err
	}
	ads, err := a.ads.List(labels.Everything())
	if err != nil {
		return announce.Snapshot{}, err
	}
	rules := make([]announce.L2Rule, 0, len(ads))
	seen := make(map[string]string, len(ads))
	for _, ad := range ads {
		r, errs := ruleFrom(ad)
		rules = append(rules, r)
		if len(errs) == 0 {
			continue
		}
		seen[ad.Name] = ad.ResourceVersion
		if a.badRules[ad.Name] != ad.ResourceVersion { // log each bad version once
			a.log.Error(errors.Join(errs...), "L2Advertisement has invalid selectors", "l2advertisement", ad.Name)
		}
	}
	a.badRules = seen
	return announce.Snapshot{
		Self:           a.cfg.NodeName,
		Services:       svcs,
		EndpointSlices: slices,
		Nodes:          nodes,
		Alive:          a.cfg.Membership.Alive(),
		NoQuorum:       !a.cfg.Membership.HasQuorum(),
		Pools:          poolsFrom(allocs),
		PoolLabels:     poolLabelsFrom(pools),
		Rules:          rules,
		Classes:        a.cfg.Classes,
	}, nil
}
