// Package bgpmode is the BGP way of announcing, driven by the speaker's loop
// (speaker/agent/loop): from the run's snapshot, the BGPPeers, BGPAdvertisements and password
// Secrets to routes.Compute, the embedded speaker's SetPeers and SetRoutes, this node's
// `mode: BGP` entries of the IPAllocation status, its entries of BGPPeer.status.sessions, and
// the BGPAdvertising, BGPCommunityRefused, BGPPassiveNotListening and BGPAggregationRefused
// Events.
package bgpmode

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/api/client"
	fdlisters "github.com/frontdesk-lb/frontdesk/api/generated/listers/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
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
	// ReasonBGPPassiveNotListening (warning, on the BGPPeer): the peer is passive, and this
	// node's speaker cannot listen for it (NET_BIND_SERVICE missing, or the port taken).
	ReasonBGPPassiveNotListening = "BGPPassiveNotListening"
)

// Speaker is the embedded BGP speaker; *bgp.Speaker satisfies it.
type Speaker interface {
	SetPeers([]bgp.PeerConfig) error
	SetRoutes(map[string][]routes.Route) error
	Sessions() []bgp.SessionState
	Close() error
}

var _ Speaker = (*bgp.Speaker)(nil)

// NewSpeaker starts a speaker; the protocol calls it once it knows the node's router ID, and
// again when listening must change (a passive peer appears or goes). onState must be called on
// every session state change.
type NewSpeaker func(routerID netip.Addr, listen bool, onState func(bgp.SessionState)) (Speaker, error)

// GoBGP is the NewSpeaker of production: an embedded GoBGP v4, whose warnings and errors go to
// log.
func GoBGP(asn uint32, log klog.Logger) NewSpeaker {
	return func(id netip.Addr, listen bool, onState func(bgp.SessionState)) (Speaker, error) {
		return bgp.New(bgp.Config{RouterID: id, ASN: asn, Listen: listen, OnState: onState, Logger: log})
	}
}

// Config is the input of New.
type Config struct {
	NodeName string
	// Namespace holds the BGPPeers' password Secrets (the speakers' own namespace).
	Namespace string
	// BGP writes this node's entries of BGPPeer.status.sessions, through Writes.
	BGP client.Interface
	// Writes makes those writes off the announce path: the loop's Writer (NewLoop gives it).
	Writes     loop.Writes
	NewSpeaker NewSpeaker
	// Ready, when not nil, holds everything back until it is closed: with the node proxy in the
	// speaker's process, nothing is advertised before it forwards.
	Ready <-chan struct{}
	// Events, when not nil, records the Events on BGPPeers: the process's one recorder, the
	// loop's (NewLoop gives it).
	Events record.EventRecorder
	// Logger; the zero value means klog.Background.
	Logger klog.Logger
}

// Protocol is BGP as a loop.Protocol.
type Protocol struct {
	cfg Config
	log klog.Logger

	secrets corelisters.SecretLister
	peers   fdlisters.BGPPeerLister
	ads     fdlisters.BGPAdvertisementLister
	pools   fdlisters.IPPoolLister
	wake    chan struct{}

	speaker  Speaker
	routerID netip.Addr
	listen   bool
	// listenErr is why the speaker does not listen although a passive peer wants it to (nil
	// otherwise): the passive peers are then left out, with this reason in their status.
	listenErr error
	// notListening are the passive peers told (an Event) that the speaker cannot listen, with
	// what they were told.
	notListening map[peerMessage]bool
	// advertised is the set of addresses advertised by the last run, for Events.
	advertised map[netip.Addr]bool
	// refused and aggTold are the community and aggregation refusals this speaker told
	// (tellRefusals).
	refused map[routes.RefusedCommunity]bool
	aggTold map[aggRefusal]bool
	// spans are the pools' addresses (poolSpans).
	spans map[string]poolSpan
	// sessions are the entries this node last wrote, by peer.
	sessions map[string]v1alpha1.BGPSession
	updates  map[string]uint64
	badObjs  map[string]string // kind/name → resourceVersion whose errors were logged
}

var _ loop.Protocol = (*Protocol)(nil)

// passwordSelector selects the password Secrets, the only Secrets the speaker reads.
var passwordSelector = v1alpha1.BGPPasswordSecretLabel + "=true"

// New registers the password Secrets of cfg.Namespace (passwordSelector), the BGPPeers and the BGPAdvertisements on set,
// which needs its BGP client (loop.NewInformers).
func New(set *loop.Informers, cfg Config) (*Protocol, error) {
	switch {
	case cfg.NodeName == "":
		return nil, &loop.ConfigError{Field: "NodeName", Reason: "empty; want this node's Node name"}
	case cfg.BGP == nil:
		return nil, &loop.ConfigError{Field: "BGP", Reason: "nil; want the frontdesk.dev BGP clientset"}
	case cfg.Writes == nil:
		return nil, &loop.ConfigError{Field: "Writes", Reason: "nil; want the loop's Writer"}
	case cfg.NewSpeaker == nil:
		return nil, &loop.ConfigError{Field: "NewSpeaker", Reason: "nil; want GoBGP(asn, logger)"}
	case cfg.Namespace == "":
		return nil, &loop.ConfigError{Field: "Namespace", Reason: "empty; want the speakers' namespace (password Secrets live there)"}
	}
	registerMetrics()
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	return &Protocol{
		cfg: cfg, log: cfg.Logger.WithName("bgp"),
		secrets:    corelisters.NewSecretLister(set.Secrets(cfg.Namespace, passwordSelector).GetIndexer()),
		peers:      fdlisters.NewBGPPeerLister(set.BGPPeers().GetIndexer()),
		ads:        fdlisters.NewBGPAdvertisementLister(set.BGPAdvertisements().GetIndexer()),
		pools:      fdlisters.NewIPPoolLister(set.IPPools().GetIndexer()),
		wake:       make(chan struct{}, 1),
		advertised: map[netip.Addr]bool{},
		refused:    map[routes.RefusedCommunity]bool{},
		sessions:   map[string]v1alpha1.BGPSession{},
		updates:    map[string]uint64{},
		badObjs:    map[string]string{},

		notListening: map[peerMessage]bool{},
	}, nil
}

// Mode is BGP.
func (p *Protocol) Mode() v1alpha1.AnnouncementMode { return v1alpha1.AnnouncementModeBGP }

// Wakes are the sessions' state changes and Config.Ready.
func (p *Protocol) Wakes() []<-chan struct{} { return []<-chan struct{}{p.wake, p.cfg.Ready} }

// Sync applies routes.Compute to the speaker (full sets) and reports the status, the sessions
// and the Events.
func (p *Protocol) Sync(ctx context.Context, s *loop.Snapshot, ev loop.Recorder) (loop.Report, error) {
	if p.cfg.Ready != nil {
		select {
		case <-p.cfg.Ready:
		default:
			return loop.Report{}, nil // not yet: this node's entries stay as they are
		}
	}
	start := time.Now()
	rep, err := p.sync(ctx, s, ev)
	bgpSyncDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		bgpSyncs.WithLabelValues("error").Inc()
	} else {
		bgpSyncs.WithLabelValues("ok").Inc()
	}
	return rep, err
}

func (p *Protocol) sync(_ context.Context, s *loop.Snapshot, ev loop.Recorder) (loop.Report, error) {
	snap, peerCfgs, peerErrs, err := p.snapshot(s)
	if err != nil {
		return loop.Report{}, err
	}
	if err := p.ensureSpeaker(s.Node, peerCfgs); err != nil {
		return loop.Report{}, err
	}
	if p.speaker == nil {
		// No router ID (yet): nothing to advertise from. The refusals are the cluster's, not
		// this node's: the first live speaker tells them even so.
		p.tellRefusals(routes.Compute(snap), s, ev)
		return loop.Report{}, nil
	}
	var passiveOut []string
	if p.listenErr != nil {
		peerCfgs, passiveOut = p.leaveOutPassive(peerCfgs, peerErrs)
		snap.Peers = slices.DeleteFunc(snap.Peers, func(rp routes.Peer) bool { _, out := peerErrs[rp.Name]; return out })
	}
	p.tellNotListening(passiveOut, peerErrs)
	if err := p.speaker.SetPeers(peerCfgs); err != nil {
		return loop.Report{}, fmt.Errorf("configuring %d BGP sessions: %w", len(peerCfgs), err)
	}
	plan := routes.Compute(snap)
	if err := p.speaker.SetRoutes(plan.Routes); err != nil {
		return loop.Report{}, fmt.Errorf("advertising routes: %w", err)
	}
	p.tellRefusals(plan, s, ev)
	rep := p.publish(plan, s.Now, ev)
	if p.listenErr != nil {
		rep.Again = listenRetry // the port may be freed meanwhile, with nothing else changing
	}
	p.writeSessions(peerErrs)
	return rep, nil
}

// Close withdraws every route and closes the sessions (the peers move the traffic to the other
// nodes at once, on the withdrawals or the sessions' end; with ECMP there is nothing to hand
// over), asks Writes
// to remove this node's entries of the BGPPeers' status, and reports the removal of its
// IPAllocation entries. It never waits for the API server: the caller flushes the Writer.
func (p *Protocol) Close(context.Context) (loop.Report, error) {
	var err error
	if p.speaker != nil {
		start := time.Now()
		err = p.speaker.Close()
		p.log.Info("BGP routes withdrawn and sessions closed", "took", time.Since(start))
		p.speaker = nil
	}
	for peer := range p.sessions {
		p.putSession(peer, nil)
	}
	p.sessions = map[string]v1alpha1.BGPSession{}
	now := metav1.Now()
	gone := func(addr netip.Addr) loop.Part { return p.part(addr, false, "the speaker stopped", now) }
	rep := loop.Report{Parts: map[netip.Addr]loop.Part{}, Default: gone, Sure: true}
	for addr := range p.advertised {
		rep.Parts[addr] = gone(addr)
	}
	p.advertised = map[netip.Addr]bool{}
	return rep, err
}

// ensureSpeaker starts the speaker once the node's router ID is known, and restarts it when
// its router ID or whether it must listen changes. Listening can fail where starting cannot
// (TCP 179 needs NET_BIND_SERVICE, the port may be taken): so the new speaker is started
// before the working one is closed, and when it cannot listen the working one stays (or, with
// none or a new router ID, one that does not listen starts), the passive peers are left out
// with the reason (listenErr), and the next run tries again. A passive BGPPeer never takes
// down the node's other sessions (issue 17).
func (p *Protocol) ensureSpeaker(self *corev1.Node, peers []bgp.PeerConfig) error {
	id, ok := routerIDOf(self)
	if !ok {
		if p.speaker == nil && len(peers) > 0 {
			p.log.Info("node has no IPv4 InternalIP for the BGP router ID; not peering", "node", p.cfg.NodeName)
		}
		return nil
	}
	listen := slices.ContainsFunc(peers, func(pc bgp.PeerConfig) bool { return pc.Passive })
	if p.speaker != nil && id == p.routerID && listen == p.listen {
		p.listenErr = nil
		return nil
	}
	onState := func(bgp.SessionState) { p.poke() }
	if p.speaker != nil && p.listen && listen {
		// Only the router ID changed, and both would listen on one port: the old one goes first.
		p.closeSpeaker()
	}
	s, err := p.cfg.NewSpeaker(id, listen, onState)
	if err != nil && listen {
		if p.listenErr == nil || p.listenErr.Error() != err.Error() {
			p.log.Error(err, "the BGP speaker cannot listen for passive peers; keeping the sessions it has, and leaving the passive peers out")
		}
		p.listenErr = err // the run asks the loop for another after listenRetry (sync)
		if p.speaker != nil && p.routerID == id {
			return nil // the working speaker stays, as it was
		}
		listen = false
		s, err = p.cfg.NewSpeaker(id, listen, onState)
	} else if err == nil {
		p.listenErr = nil
	}
	if err != nil {
		return fmt.Errorf("starting the BGP speaker: %w", err)
	}
	if p.speaker != nil {
		p.log.Info("restarting the BGP speaker", "routerID", id, "listen", listen)
		p.closeSpeaker()
	}
	p.speaker, p.routerID, p.listen = s, id, listen
	return nil
}

// listenRetry is how soon a speaker that could not listen tries again: the run that failed
// asks the loop for another (loop.Report.Again).
const listenRetry = 10 * time.Second

// poke asks for a run.
func (p *Protocol) poke() {
	select {
	case p.wake <- struct{}{}:
	default: // a run is already due
	}
}

func (p *Protocol) closeSpeaker() {
	if err := p.speaker.Close(); err != nil {
		p.log.Error(err, "closing the BGP speaker")
	}
	p.speaker = nil
}

// leaveOutPassive moves the passive peers from cfgs to peerErrs, with p.listenErr, and names them.
func (p *Protocol) leaveOutPassive(cfgs []bgp.PeerConfig, peerErrs map[string]string) ([]bgp.PeerConfig, []string) {
	var out []string
	cfgs = slices.DeleteFunc(cfgs, func(pc bgp.PeerConfig) bool {
		if pc.Passive {
			out = append(out, pc.Name)
			peerErrs[pc.Name] = fmt.Sprintf("passive, but this node's speaker cannot listen for the peer to connect (%v); "+
				"TCP port 179 needs the NET_BIND_SERVICE capability (chart value announce.bgp.passivePeers: true) and a free port; "+
				"the node's other sessions are kept", p.listenErr)
		}
		return pc.Passive
	})
	return cfgs, out
}

// tellNotListening records a Warning Event on each passive peer left out (names), once per
// message; a peer served again is forgotten, so that another failure is told again.
func (p *Protocol) tellNotListening(names []string, peerErrs map[string]string) {
	p.notListening = tellNew(p.notListening, p.cfg.Events != nil, names,
		func(name string) peerMessage { return peerMessage{name, peerErrs[name]} },
		func(name string) {
			if obj, err := p.peers.Get(name); err == nil { // else deleted meanwhile
				p.warnOn(obj, "BGPPeer", ReasonBGPPassiveNotListening, p.cfg.NodeName+": "+peerErrs[name])
			}
		})
}

// peerMessage is a passive peer told that the speaker cannot listen, with what it was told.
type peerMessage struct{ peer, msg string }

// snapshot adds the BGP kinds to the run's snapshot. Peers whose object cannot be used (a
// missing password Secret) are left out of the sessions and reported in peerErrs, by name.
func (p *Protocol) snapshot(s *loop.Snapshot) (routes.Snapshot, []bgp.PeerConfig, map[string]string, error) {
	peerObjs, err := p.peers.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	adObjs, err := p.ads.List(labels.Everything())
	if err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	snap := routes.Snapshot{Self: s.Self, Services: s.Services, EndpointSlices: s.EndpointSlices, Node: s.Node,
		Pools: s.Pools, PoolLabels: s.PoolLabels, Classes: s.Classes}
	if snap.PoolSpans, err = p.poolSpans(); err != nil {
		return routes.Snapshot{}, nil, nil, err
	}
	seen := map[string]string{}
	logBad := func(kind string, meta metav1.Object, err error) {
		key := kind + "/" + meta.GetName()
		seen[key] = meta.GetResourceVersion()
		if p.badObjs[key] != meta.GetResourceVersion() {
			p.log.Error(err, "ignoring an invalid object", "kind", kind, "name", meta.GetName())
		}
	}
	var cfgs []bgp.PeerConfig
	peerErrs := map[string]string{}
	getSecret := func(name string) (*corev1.Secret, error) { return p.secrets.Secrets(p.cfg.Namespace).Get(name) }
	for _, obj := range peerObjs {
		rp, err := routes.PeerFromBGPPeer(obj)
		if err != nil {
			logBad("BGPPeer", obj, err)
			continue
		}
		if s.Node == nil || (len(obj.Spec.NodeSelectors) > 0 && !matchesAnySel(rp.NodeSelectors, s.Node.Labels)) {
			continue // not this node's peer
		}
		pc, err := peerConfigFrom(obj, getSecret, p.cfg.Namespace)
		if err != nil {
			peerErrs[obj.Name] = err.Error()
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
	p.badObjs = seen
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
