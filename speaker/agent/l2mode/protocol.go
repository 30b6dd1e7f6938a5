// Package l2mode is the layer-2 way of announcing, driven by the speaker's loop
// (speaker/agent/loop): from the run's snapshot and the L2Advertisements to the election
// (speaker/l2/announce), l2.Announcer.SetVIPs, this node's `mode: L2` entries of the IPAllocation
// status with the Announced condition, and the AnnouncingNode and NoSubnet Events.
package l2mode

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	fdlisters "github.com/frontdesk-lb/frontdesk/api/generated/listers/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/l2"
	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

// Announcer announces this node's full set of VIPs on layer 2; *l2.Announcer satisfies it.
type Announcer interface {
	SetVIPs(map[netip.Addr]announce.Announcement) (map[netip.Addr]l2.VIPStatus, error)
	// Reannounce repeats the gratuitous packets of vips, of every address announced now if none
	// is named.
	Reannounce(vips ...netip.Addr) error
}

var _ Announcer = (*l2.Announcer)(nil)

// ForwardRecheck is how often the addresses this node won but withholds, because the node proxy
// does not forward them yet, are rechecked when Config.ForwardsChanged does not say when to. It
// only runs while one is withheld.
const ForwardRecheck = 50 * time.Millisecond

// Config is the input of New.
type Config struct {
	// NodeName is this node's Node name.
	NodeName string
	// Announcer answers ARP and NDP; the protocol never closes it (its owner does, after the
	// drain).
	Announcer Announcer
	// Triggers, when not nil, runs the loop on each receive: Main connects the announcer's
	// OnStatusChange (an interface going down or back up), so the status follows it.
	Triggers <-chan struct{}
	// Synced, when not nil, is called once, after the first Sync applied its plan. Main starts
	// the heartbeats only then: a speaker that peers see alive wins elections at once, and one
	// that cannot announce yet (still listing, or the API server is unreachable) would take
	// addresses away from nodes that serve them.
	Synced func()
	// Forwards, when not nil, says whether this node's proxy forwards an address; this node
	// announces only those, and rechecks the others when ForwardsChanged receives, or every
	// ForwardRecheck without it. Nil: every address (the node proxy is another program).
	Forwards        func(netip.Addr) bool
	ForwardsChanged <-chan struct{}
	// Logger; the zero value means klog.Background.
	Logger klog.Logger
}

// Protocol is layer 2 as a loop.Protocol.
type Protocol struct {
	cfg Config
	log klog.Logger
	ads fdlisters.L2AdvertisementLister

	prev     announce.Plan
	alive    map[string]bool       // the liveness of the previous run, to notice peers coming back
	events   map[netip.Addr]string // what the last Event of each address said, see emitEvents
	badRules map[string]string     // L2Advertisement name → resourceVersion whose selector errors were logged
	withheld map[netip.Addr]bool   // won, but not forwarded by the node proxy yet (Config.Forwards)
	// contestedSeen is, per address announced, the other L2 announcers its status named when this
	// node last repeated its gratuitous packets for it (see contested).
	contestedSeen map[netip.Addr]string
}

var _ loop.Protocol = (*Protocol)(nil)

// New registers the L2Advertisements on set.
func New(set *loop.Informers, cfg Config) (*Protocol, error) {
	switch {
	case cfg.NodeName == "":
		return nil, &loop.ConfigError{Field: "NodeName", Reason: "empty; want this node's Node name"}
	case cfg.Announcer == nil:
		return nil, &loop.ConfigError{Field: "Announcer", Reason: "nil; want an *l2.Announcer"}
	}
	registerMetrics()
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = klog.Background()
	}
	return &Protocol{
		cfg: cfg, log: cfg.Logger.WithName("l2"),
		ads:           fdlisters.NewL2AdvertisementLister(set.L2Advertisements().GetIndexer()),
		events:        map[netip.Addr]string{},
		badRules:      map[string]string{},
		contestedSeen: map[netip.Addr]string{},
	}, nil
}

// Mode is L2.
func (p *Protocol) Mode() v1alpha1.AnnouncementMode { return v1alpha1.AnnouncementModeL2 }

// Wakes are the announcer's status changes and the node proxy's forwarding changes.
func (p *Protocol) Wakes() []<-chan struct{} {
	return []<-chan struct{}{p.cfg.Triggers, p.cfg.ForwardsChanged}
}

// Sync elects, announces this node's set (full-set semantics), repeats gratuitous packets where
// clients may follow another node, and reports the status and Events.
func (p *Protocol) Sync(_ context.Context, s *loop.Snapshot, ev loop.Recorder) (loop.Report, error) {
	rules, err := p.rules()
	if err != nil {
		return loop.Report{}, err
	}
	plan, err := announce.Compute(announce.Snapshot{
		Self: s.Self, Services: s.Services, EndpointSlices: s.EndpointSlices, Nodes: s.Nodes,
		Alive: s.Alive, NoQuorum: s.NoQuorum, Pools: s.Pools, PoolLabels: s.PoolLabels,
		Rules: rules, Classes: s.Classes,
	})
	if err != nil {
		return loop.Report{}, fmt.Errorf("computing the announcements (keeping the previous ones): %w", err)
	}
	vips, withheld := p.forwarded(plan.VIPs)
	statuses, err := p.cfg.Announcer.SetVIPs(vips)
	if err != nil {
		return loop.Report{}, fmt.Errorf("announcing %d addresses: %w", len(vips), err)
	}
	p.withheld = withheld
	changes := announce.Diff(p.prev, plan)
	electionChanges.Add(float64(len(changes)))
	for _, c := range changes {
		p.log.V(2).Info("announcing node changed", "address", c.Addr, "from", c.From, "to", c.To)
	}
	p.prev = plan
	p.reannounce(s, vips)
	p.alive = s.Alive
	n := 0
	for _, st := range statuses {
		if st.Announced() {
			n++
		}
	}
	addressesAnnounced.Set(float64(n))
	if p.cfg.Synced != nil {
		p.cfg.Synced()
		p.cfg.Synced = nil
	}
	rep := p.publish(s, plan, statuses, ev)
	if len(p.withheld) > 0 && p.cfg.ForwardsChanged == nil {
		rep.Again = ForwardRecheck
	}
	return rep, nil
}

// Close withdraws every address (the announcer stays open for its owner) and removes this
// node's L2 entries. Main does not call it: on SIGTERM it stops the loop and keeps the addresses
// answered while the peers take them over; they remove this node's entries.
func (p *Protocol) Close(context.Context) (loop.Report, error) {
	_, err := p.cfg.Announcer.SetVIPs(map[netip.Addr]announce.Announcement{})
	now, alive := metav1.Now(), p.alive
	gone := func(addr netip.Addr) loop.Part {
		return p.part(view{Self: p.cfg.NodeName, Now: now, Alive: alive,
			Decision: announce.Decision{Addr: addr, Reason: announce.NoPool}})
	}
	rep := loop.Report{Parts: map[netip.Addr]loop.Part{}, Default: gone, Sure: true}
	for addr := range p.prev.VIPs {
		rep.Parts[addr] = gone(addr)
	}
	p.prev, p.withheld = announce.Plan{}, nil
	return rep, err
}

// reannounce repeats gratuitous packets where clients may be following another node: for every
// address when peers came back (while a peer was unreachable both sides may have announced an
// address) or when this process stalled (peers may have taken its addresses over meanwhile),
// else for the addresses whose status names another L2 announcer (contested). Once per run: a
// stall and a contested address do not start two bursts.
func (p *Protocol) reannounce(s *loop.Snapshot, vips map[netip.Addr]announce.Announcement) {
	stored := func(addr netip.Addr) (v1alpha1.IPAllocationStatus, bool) {
		al, ok := s.Allocation(addr)
		if !ok {
			return v1alpha1.IPAllocationStatus{}, false
		}
		return al.Status, true
	}
	contestedAddrs := contested(p.cfg.NodeName, slices.Collect(maps.Keys(vips)), stored, p.contestedSeen)
	var why string
	var addrs []netip.Addr // none: all
	switch returned := comeBack(p.alive, s.Alive); {
	case len(returned) > 0 && p.alive != nil:
		why = "peers came back: " + strings.Join(returned, ", ")
	case s.Stalled:
		why = "this process stalled"
	case len(contestedAddrs) > 0:
		why, addrs = "another node announced addresses this node holds", contestedAddrs
	default:
		return
	}
	p.log.V(2).Info("repeating gratuitous packets", "why", why, "addresses", addrs)
	if err := p.cfg.Announcer.Reannounce(addrs...); err != nil {
		p.log.Error(err, "repeating gratuitous packets", "why", why)
	}
}

// forwarded splits the addresses this node won into those its node proxy forwards, to announce,
// and those it does not yet.
func (p *Protocol) forwarded(vips map[netip.Addr]announce.Announcement) (map[netip.Addr]announce.Announcement, map[netip.Addr]bool) {
	if p.cfg.Forwards == nil {
		return vips, nil
	}
	out := make(map[netip.Addr]announce.Announcement, len(vips))
	var withheld map[netip.Addr]bool
	for addr, ann := range vips {
		if p.cfg.Forwards(addr) {
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

// rules converts the L2Advertisements; a selector that does not convert becomes a nil entry,
// which matches nothing, and is logged once per resourceVersion.
func (p *Protocol) rules() ([]announce.L2Rule, error) {
	ads, err := p.ads.List(labels.Everything())
	if err != nil {
		return nil, err
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
		if p.badRules[ad.Name] != ad.ResourceVersion { // log each bad version once
			p.log.Error(errors.Join(errs...), "L2Advertisement has invalid selectors", "l2advertisement", ad.Name)
		}
	}
	p.badRules = seen
	return rules, nil
}
