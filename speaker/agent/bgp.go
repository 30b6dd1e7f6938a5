package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// BGP Event reasons.
const (
	// ReasonBGPAdvertising: this node started advertising the address over BGP.
	ReasonBGPAdvertising = "BGPAdvertising"
	// ReasonBGPCommunityRefused (warning): the Service asks for a community no
	// BGPAdvertisement of its address allows, or that is not a community.
	ReasonBGPCommunityRefused = "BGPCommunityRefused"
)

// shutdownBudget bounds the status writes after the routes are withdrawn on shutdown.
const shutdownBudget = 10 * time.Second

// BGPSpeaker is the embedded BGP speaker; *bgp.Speaker satisfies it.
type BGPSpeaker interface {
	SetPeers([]bgp.PeerConfig) error
	SetRoutes(map[string][]routes.Route) error
	Sessions() []bgp.SessionState
	Close() error
}

var _ BGPSpeaker = (*bgp.Speaker)(nil)

// NewBGPSpeaker starts a speaker; RunBGP calls it once it knows the node's router ID, and again
// when listening must change (a passive peer appears or goes). onState must be called on
// every session state change.
type NewBGPSpeaker func(routerID netip.Addr, listen bool, onState func(bgp.SessionState)) (BGPSpeaker, error)

// GoBGPSpeaker is the NewBGPSpeaker of production: an embedded GoBGP v4.
func GoBGPSpeaker(asn uint32) NewBGPSpeaker {
	return func(id netip.Addr, listen bool, onState func(bgp.SessionState)) (BGPSpeaker, error) {
		return bgp.New(bgp.Config{RouterID: id, ASN: asn, Listen: listen, OnState: onState})
	}
}

// BGPConfig is the input of RunBGP.
type BGPConfig struct {
	NodeName string
	// Namespace holds the BGPPeers' password Secrets (the speakers' own namespace).
	Namespace  string
	Kube       kubernetes.Interface
	API        client.Interface
	BGP        client.BGPInterface
	NewSpeaker NewBGPSpeaker
	Classes    []string
	// ResyncPeriod of the informers; MinInterval between two runs (0: DefaultMinInterval).
	ResyncPeriod, MinInterval time.Duration
	Logger                    klog.Logger
	// Informers: see Config.Informers; a shared set needs the BGP client (NewInformers).
	Informers *Informers
}

func (c *BGPConfig) validate() error {
	switch {
	case c.NodeName == "":
		return &ConfigError{"NodeName", "empty; want this node's Node name"}
	case c.Kube == nil || c.API == nil || c.BGP == nil:
		return &ConfigError{"Kube, API, BGP", "nil; want the clientsets"}
	case c.NewSpeaker == nil:
		return &ConfigError{"NewSpeaker", "nil; want GoBGPSpeaker(asn)"}
	case c.Namespace == "":
		return &ConfigError{"Namespace", "empty; want the speakers' namespace (password Secrets live there)"}
	}
	if c.MinInterval <= 0 {
		c.MinInterval = DefaultMinInterval
	}
	return nil
}

type bgpAgent struct {
	cfg      BGPConfig
	log      klog.Logger
	recorder record.EventRecorder

	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	nodes    corelisters.NodeLister
	secrets  corelisters.SecretLister
	pools    client.IPPoolLister
	allocs   client.IPAllocationLister
	peers    client.BGPPeerLister
	ads      client.BGPAdvertisementLister
	dirty    chan struct{}

	speaker  BGPSpeaker
	routerID netip.Addr
	listen   bool
	// advertised is the set of addresses advertised by the last run, for Events.
	advertised map[netip.Addr]bool
	// refused are the refusals already reported as Events.
	refused map[routes.RefusedCommunity]bool
	// sessions are the entries this node last wrote, by peer.
	sessions map[string]v1alpha1.BGPSession
	updates  map[string]uint64
	badObjs  map[string]string // kind/name → resourceVersion whose errors were logged

	ownInformers   *Informers // nil when BGPConfig.Informers is shared
	synced         []cache.InformerSynced
	removeHandlers func()
}

// RunBGP keeps this node's BGP sessions and routes in step with the cluster until ctx ends,
// then withdraws every route (the peers move the traffic to the other nodes at once; with ECMP
// there is nothing to hand over), closes the sessions and removes this node's BGP entries from
// the IPAllocation and BGPPeer status (best effort, bounded by a few seconds).
func RunBGP(ctx context.Context, cfg BGPConfig) error {
	a, err := newBGPAgent(ctx, cfg)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

// newBGPAgent validates cfg and adds the loop's handlers to its informers; see newAgent.
func newBGPAgent(ctx context.Context, cfg BGPConfig) (*bgpAgent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	registerBGPMetrics()
	log := cfg.Logger
	if log.GetSink() == nil {
		log = klog.FromContext(ctx)
	}
	a := &bgpAgent{
		cfg: cfg, log: log.WithName("bgp"),
		dirty:      make(chan struct{}, 1),
		advertised: map[netip.Addr]bool{},
		refused:    map[routes.RefusedCommunity]bool{},
		sessions:   map[string]v1alpha1.BGPSession{},
		updates:    map[string]uint64{},
		badObjs:    map[string]string{},
	}
	set := cfg.Informers
	if set == nil {
		set = NewInformers(cfg.Kube, cfg.API, cfg.BGP, cfg.ResyncPeriod)
		a.ownInformers = set
	}
	all := []cache.SharedIndexInformer{
		set.Services(), set.EndpointSlices(), set.Nodes(), set.Secrets(cfg.Namespace),
		set.IPPools(), set.IPAllocations(), set.BGPPeers(), set.BGPAdvertisements(),
	}
	a.services = corelisters.NewServiceLister(all[0].GetIndexer())
	a.slices = discoverylisters.NewEndpointSliceLister(all[1].GetIndexer())
	a.nodes = corelisters.NewNodeLister(all[2].GetIndexer())
	a.secrets = corelisters.NewSecretLister(all[3].GetIndexer())
	a.pools = client.NewIPPoolLister(all[4].GetIndexer())
	a.allocs = client.NewIPAllocationLister(all[5].GetIndexer())
	a.peers = client.NewBGPPeerLister(all[6].GetIndexer())
	a.ads = client.NewBGPAdvertisementLister(all[7].GetIndexer())
	var err error
	a.synced, a.removeHandlers, err = handle(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.markDirty() },
		UpdateFunc: func(any, any) { a.markDirty() },
		DeleteFunc: func(any) { a.markDirty() },
	}, all...)
	if err != nil {
		return nil, fmt.Errorf("speaker bgp: adding an event handler: %w", err)
	}
	return a, nil
}

// run is RunBGP once the handlers are in place.
func (a *bgpAgent) run(ctx context.Context) error {
	defer a.removeHandlers()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.cfg.Kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Component, Host: a.cfg.NodeName})

	if set := a.ownInformers; set != nil {
		defer set.Shutdown()
		defer cancel()
		set.Start(ctx)
	}
	if !cache.WaitForCacheSync(ctx.Done(), a.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("speaker bgp: the informer caches did not sync (are the frontdesk CRDs installed?)")
	}
	a.log.Info("caches synced; advertising over BGP", "node", a.cfg.NodeName)
	a.loop(ctx)
	return a.shutdown()
}

func (a *bgpAgent) markDirty() {
	select {
	case a.dirty <- struct{}{}:
	default:
	}
}

func (a *bgpAgent) loop(ctx context.Context) {
	var last time.Time
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	a.markDirty()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.dirty:
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
		select {
		case <-a.dirty:
		default:
		}
		last = time.Now()
		err := a.sync(ctx)
		bgpSyncDuration.Observe(time.Since(last).Seconds())
		if err != nil {
			bgpSyncs.WithLabelValues("error").Inc()
			if ctx.Err() == nil {
				a.log.Error(err, "BGP sync failed; retrying", "after", DefaultRetry)
			}
			retry.Reset(DefaultRetry)
			continue
		}
		bgpSyncs.WithLabelValues("ok").Inc()
	}
}

// shutdown withdraws, closes the speaker and removes this node's status entries.
func (a *bgpAgent) shutdown() error {
	var err error
	if a.speaker != nil {
		start := time.Now()
		err = a.speaker.Close() // withdraws every route before the sessions close
		a.log.Info("BGP routes withdrawn and sessions closed", "took", time.Since(start))
		a.speaker = nil
	}
	// Within the Pod's termination grace period (30 s by default); the writes run a few at a
	// time, since one node may advertise thousands of addresses.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	now := metav1.Now()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for addr := range a.advertised {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if e := a.writeAllocation(ctx, addr, false, "the speaker stopped", now, true); e != nil {
				a.log.Error(e, "removing the BGP announcer entry on shutdown", "address", addr)
			}
		})
	}
	for peer := range a.sessions {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if e := a.applySession(ctx, peer, nil); e != nil {
				a.log.Error(e, "removing the BGP session entry on shutdown", "peer", peer)
			}
		})
	}
	wg.Wait()
	return err
}

// sync runs the loop once.
func (a *bgpAgent) sync(ctx context.Context) error {
	self, err := a.nodes.Get(a.cfg.NodeName)
	if apierrors.IsNotFound(err) {
		self = nil
	} else if err != nil {
		return err
	}
	snap, peerCfgs, peerErrs, err := a.snapshot(self)
	if err != nil {
		return err
	}
	if err := a.ensureSpeaker(self, peerCfgs); err != nil {
		return err
	}
	if a.speaker == nil {
		return nil // no router ID yet: nothing to advertise from
	}
	if err := a.speaker.SetPeers(peerCfgs); err != nil {
		return fmt.Errorf("configuring %d BGP sessions: %w", len(peerCfgs), err)
	}
	plan := routes.Compute(snap)
	if err := a.speaker.SetRoutes(plan.Routes); err != nil {
		return fmt.Errorf("advertising routes: %w", err)
	}
	return a.publish(ctx, plan, peerErrs)
}

// ensureSpeaker starts the speaker once the node's router ID is known, and restarts it when
// its router ID or whether it must listen changes.
func (a *bgpAgent) ensureSpeaker(self *corev1.Node, peers []bgp.PeerConfig) error {
	id, ok := routerIDOf(self)
	if !ok {
		if a.speaker == nil && len(peers) > 0 {
			a.log.Info("node has no IPv4 InternalIP for the BGP router ID; not peering", "node", a.cfg.NodeName)
		}
		return nil
	}
	listen := slices.ContainsFunc(peers, func(p bgp.PeerConfig) bool { return p.Passive })
	if a.speaker != nil && id == a.routerID && listen == a.listen {
		return nil
	}
	if a.speaker != nil {
		a.log.Info("restarting the BGP speaker", "routerID", id, "listen", listen)
		if err := a.speaker.Close(); err != nil {
			a.log.Error(err, "closing the BGP speaker")
		}
		a.speaker = nil
	}
	s, err := a.cfg.NewSpeaker(id, listen, func(bgp.SessionState) { a.markDirty() })
	if err != nil {
		return fmt.Errorf("starting the BGP speaker: %w", err)
	}
	a.speaker, a.routerID, a.listen = s, id, listen
	return nil
}

// snapshot reads the listers. Peers whose object cannot be used (a missing password Secret)
// are left out of the sessions and reported in peerErrs, by name.
func (a *bgpAgent) snapshot(self *corev1.Node) (routes.Snapshot, []bgp.PeerConfig, map[string]string, error) {
	svcs, err := a.services.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	eps, err := a.slices.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	allocs, err := a.allocs.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	pools, err := a.pools.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	peerObjs, err := a.peers.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	adObjs, err := a.ads.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	snap := routes.Snapshot{Self: a.cfg.NodeName, Services: svcs, EndpointSlices: eps, Node: self,
		Pools: poolsFrom(allocs), PoolLabels: poolLabelsFrom(pools), Classes: a.cfg.Classes}
	seen := map[string]string{}
	logBad := func(kind string, meta metav1.Object, err error) {
		key := kind + "/" + meta.GetName()
		seen[key] = meta.GetResourceVersion()
		if a.badObjs[key] != meta.GetResourceVersion() {
			a.log.Error(err, "ignoring an invalid object", "kind", kind, "name", meta.GetName())
		}
	}
	var cfgs []bgp.PeerConfig
	peerErrs := map[string]string{}
	getSecret := func(name string) (*corev1.Secret, error) { return a.secrets.Secrets(a.cfg.Namespace).Get(name) }
	for _, p := range peerObjs {
		rp, err := routes.PeerFromBGPPeer(p)
		if err != nil {
			logBad("BGPPeer", p, err)
			continue
		}
		if self == nil || (len(p.Spec.NodeSelectors) > 0 && !matchesAnySel(rp.NodeSelectors, self.Labels)) {
			continue // not this node's peer
		}
		pc, err := peerConfigFrom(p, getSecret, a.cfg.Namespace)
		if err != nil {
			peerErrs[p.Name] = err.Error()
			continue
		}
		snap.Peers = append(snap.Peers, rp)
		cfgs = append(cfgs, pc)
	}
	for _, ad := range adObjs {
		r, err := routes.RuleFromAdvertisement(ad)
		if err != nil {
			logBad("BGPAdvertisement", ad, err)
			continue
		}
		snap.Rules = append(snap.Rules, r)
	}
	a.badObjs = seen
	return snap, cfgs, peerErrs, nil
}

func matchesAnySel(sels []labels.Selector, set map[string]string) bool {
	for _, s := range sels {
		if s.Matches(labels.Set(set)) {
			return true
		}
	}
	return false
}

// publish writes what changed: IPAllocation status entries, BGPPeer session entries, Events and
// metrics.
func (a *bgpAgent) publish(ctx context.Context, plan routes.Plan, peerErrs map[string]string) error {
	now := metav1.Now()
	var errs []error
	next := map[netip.Addr]bool{}
	for _, d := range plan.Decisions {
		if d.Pool == "" {
			continue
		}
		adv := d.Advertised()
		if adv {
			next[d.Addr] = true
		}
		if err := a.writeAllocation(ctx, d.Addr, adv, string(d.Reason), now, false); err != nil {
			errs = append(errs, err)
			continue
		}
		if adv && !a.advertised[d.Addr] {
			a.event(d.Services, corev1.EventTypeNormal, ReasonBGPAdvertising,
				fmt.Sprintf("%s is advertised over BGP from %s to %s", d.Addr, a.cfg.NodeName, strings.Join(d.Peers, ", ")))
		}
	}
	a.advertised = next
	refused := map[routes.RefusedCommunity]bool{}
	for _, r := range plan.Refused {
		refused[r] = true
		if !a.refused[r] {
			a.event([]types.NamespacedName{r.Service}, corev1.EventTypeWarning, ReasonBGPCommunityRefused,
				fmt.Sprintf("community %s from annotation %s is not attached: %s", r.Community, v1alpha1.ServiceCommunitiesAnnotation, r.Why))
		}
	}
	a.refused = refused

	// Session entries: every peer this node has (configured or in error), none for the others.
	sessions := a.speaker.Sessions()
	want := map[string]v1alpha1.BGPSession{}
	established, routesOut := 0, 0
	for _, s := range sessions {
		want[s.Peer] = sessionEntry(a.cfg.NodeName, s, "")
		if s.State == bgp.StateEstablished {
			established++
		}
		routesOut += s.RoutesAdvertised
		if d := s.UpdatesSent - a.updates[s.Peer]; s.UpdatesSent >= a.updates[s.Peer] {
			bgpUpdatesSent.Add(float64(d))
		}
		a.updates[s.Peer] = s.UpdatesSent
	}
	for name, msg := range peerErrs {
		want[name] = sessionEntry(a.cfg.NodeName, bgp.SessionState{}, msg)
	}
	bgpSessionsEstablished.Set(float64(established))
	bgpRoutesAdvertised.Set(float64(routesOut))
	for name, e := range want {
		if old, ok := a.sessions[name]; ok && sameSession(old, e) {
			continue
		}
		if err := a.applySession(ctx, name, &e); err != nil {
			errs = append(errs, err)
			continue
		}
		a.sessions[name] = e
	}
	for name := range a.sessions {
		if _, ok := want[name]; ok {
			continue
		}
		if err := a.applySession(ctx, name, nil); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		delete(a.sessions, name)
	}
	return errors.Join(errs...)
}

func sameSession(a, b v1alpha1.BGPSession) bool {
	return a.State == b.State && a.Message == b.Message && a.RoutesAdvertised == b.RoutesAdvertised && a.BFD == b.BFD
}

func (a *bgpAgent) event(svcs []types.NamespacedName, evType, reason, msg string) {
	for _, s := range svcs {
		svc, err := a.services.Services(s.Namespace).Get(s.Name)
		if err != nil {
			continue
		}
		a.recorder.Event(svc, evType, reason, msg)
	}
}

// applySession writes this node's entry of a BGPPeer's status.sessions (nil: removes it).
func (a *bgpAgent) applySession(ctx context.Context, peer string, e *v1alpha1.BGPSession) error {
	body, err := sessionApply(peer, e)
	if err != nil {
		return err
	}
	_, err = a.cfg.BGP.BGPPeers().Patch(ctx, peer, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: Component + "/" + a.cfg.NodeName, Force: ptr.To(true)}, "status")
	if apierrors.IsNotFound(err) {
		return nil // the BGPPeer is gone
	}
	if err != nil {
		return fmt.Errorf("writing the session of %s to BGPPeer %s: %w", a.cfg.NodeName, peer, err)
	}
	return nil
}

// writeAllocation writes this node's BGP entry of one IPAllocation, if it changes. It compares
// with the informer's copy, so that nothing is written while nothing changes (a stale copy ends
// in a conflict, a re-read and a retry). sure is for the last writes on shutdown: when the
// informer's copy shows nothing to change, the object is read from the API server to be sure,
// since the informer may not have seen this node's latest entry yet.
func (a *bgpAgent) writeAllocation(ctx context.Context, addr netip.Addr, advertising bool, why string, now metav1.Time, sure bool) error {
	name := v1alpha1.IPAllocationName(addr)
	cur, err := a.allocs.Get(name)
	if apierrors.IsNotFound(err) && !sure {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if sure && (cur == nil || slices.ContainsFunc(cur.Status.Announcers, func(x v1alpha1.Announcer) bool {
		return x.Node == a.cfg.NodeName && x.Mode == v1alpha1.AnnouncementModeBGP
	}) == advertising) {
		if cur, err = a.cfg.API.IPAllocations().Get(ctx, name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
	}
	for range maxConflicts {
		next, changed := nextBGPStatus(cur.Status, a.cfg.NodeName, advertising, addr.String(), why, now)
		if !changed {
			return nil
		}
		obj := cur.DeepCopy()
		obj.Status = next
		_, err := a.cfg.API.IPAllocations().UpdateStatus(ctx, obj, metav1.UpdateOptions{FieldManager: Component})
		switch {
		case err == nil:
			statusWrites.WithLabelValues("ok").Inc()
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			statusWrites.WithLabelValues("error").Inc()
			return fmt.Errorf("writing the status of IPAllocation %s: %w", name, err)
		}
		statusWrites.WithLabelValues("conflict").Inc()
		if cur, err = a.cfg.API.IPAllocations().Get(ctx, name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("re-reading IPAllocation %s after a conflict: %w", name, err)
		}
	}
	return fmt.Errorf("writing the status of IPAllocation %s: still conflicting after %d attempts", name, maxConflicts)
}
