package l2

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/frontdesk-lb/frontdesk/speaker/l2/announce"
)

const (
	defaultRecheckInterval = 10 * time.Second
	// retryBase is the first retry delay for an unavailable interface; it doubles up to the
	// recheck interval. Short, because a link coming back (or a link-local address finishing
	// DAD, about 1 s) is common and the VIP is unreachable until we notice.
	retryBase = 500 * time.Millisecond
	// minRecheckGap spaces rechecks asked for by link events and Recheck. Events come in
	// storms (a pod start adds a veth, its addresses, its routes) and one listing per storm
	// is enough.
	minRecheckGap = 100 * time.Millisecond
)

// Config configures an Announcer. The zero value is usable.
type Config struct {
	// Logger receives structured logs. Zero means klog.Background().
	Logger klog.Logger
	// RecheckInterval is how often the node's interfaces are listed again even without a
	// link or address change event, and the longest retry delay for an unavailable interface.
	// Zero means 10 s.
	RecheckInterval time.Duration
	// OnStatusChange, if set, is called with every VIP's status after a recheck (periodic,
	// on an interface event, or Recheck) changed any of them. SetVIPs returns its statuses
	// instead. It is called from the announcer's goroutine without locks held, and may call the
	// Announcer's methods, but a slow callback delays retries.
	OnStatusChange func(map[netip.Addr]VIPStatus)
}

// deps are the Announcer's seams to the OS, replaced in tests.
type deps struct {
	links    func() ([]link, error)
	dial     dialer
	events   func() (linkEvents, error) // nil: no change events, periodic rechecks only
	clock    clock.Clock
	rec      recorder
	schedule []time.Duration
}

// linkEvents is a subscription to link and address changes.
type linkEvents interface {
	// wait blocks until something changed (nil) or the subscription is closed or broken.
	wait() error
	close() error
}

// An Announcer announces a set of VIPs on this node's links. Its methods are safe for
// concurrent use.
type Announcer struct {
	log      klog.Logger
	cfg      Config
	deps     deps
	interval time.Duration

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the loop, the event reader and the bursts
	recheckCh chan struct{}  // reconcile now
	reschedCh chan struct{}  // SetVIPs reconciled: recompute the next retry only

	// all is every VIP announced on some interface, read by the responders.
	all atomic.Pointer[vipSet]

	mu          sync.Mutex
	closed      bool
	want        map[netip.Addr]announce.Announcement
	responders  map[respKey]responder
	bursts      map[pairKey]burst
	status      map[netip.Addr]VIPStatus
	unavailable map[unavailableKey]*ErrInterfaceUnavailable
	retry       bool // something needed is unavailable: recheck with backoff
}

type respKey struct {
	iface string
	proto protocol
}

// pairKey is one VIP announced on one interface.
type pairKey struct {
	vip   netip.Addr
	iface string
}

// burst is the gratuitous burst of one pair, tied to the responder that sends it.
type burst struct {
	r      responder
	cancel context.CancelFunc
}

type unavailableKey struct {
	iface  string
	reason InterfaceReason
	proto  string
}

// New starts an Announcer that announces nothing until SetVIPs. It stops when ctx ends or Close
// is called. Interfaces are listed and sockets opened from several goroutines, so the process
// must be in the network namespace to announce in (the host's, for a speaker with hostNetwork).
func New(ctx context.Context, cfg Config) (*Announcer, error) {
	return newAnnouncer(ctx, cfg, deps{
		links:    osLinks,
		dial:     osDialer{},
		events:   openLinkEvents,
		clock:    clock.RealClock{},
		rec:      newPromRecorder(),
		schedule: garpSchedule(garpSpan, garpGap),
	})
}

func newAnnouncer(ctx context.Context, cfg Config, d deps) (*Announcer, error) {
	if cfg.RecheckInterval < 0 {
		return nil, fmt.Errorf("l2: RecheckInterval %v is negative; use 0 for the default (%v) or a positive duration",
			cfg.RecheckInterval, defaultRecheckInterval)
	}
	a := &Announcer{
		log:         cfg.Logger,
		cfg:         cfg,
		deps:        d,
		interval:    cfg.RecheckInterval,
		recheckCh:   make(chan struct{}, 1),
		reschedCh:   make(chan struct{}, 1),
		want:        map[netip.Addr]announce.Announcement{},
		responders:  map[respKey]responder{},
		bursts:      map[pairKey]burst{},
		status:      map[netip.Addr]VIPStatus{},
		unavailable: map[unavailableKey]*ErrInterfaceUnavailable{},
	}
	if a.log.GetSink() == nil {
		a.log = klog.Background()
	}
	a.log = a.log.WithName("l2")
	if a.interval == 0 {
		a.interval = defaultRecheckInterval
	}
	a.all.Store(&vipSet{})
	var ev linkEvents
	if d.events != nil {
		var err error
		if ev, err = d.events(); err != nil {
			// Not fatal: the periodic recheck still notices changes, only later.
			a.log.Error(err, "Cannot subscribe to link changes; relying on periodic rechecks", "interval", a.interval)
			ev = nil
		}
	}
	a.ctx, a.cancel = context.WithCancel(ctx)
	a.wg.Go(func() { a.run(ev) })
	if ev != nil {
		a.wg.Go(func() {
			for {
				if err := ev.wait(); err != nil {
					if a.ctx.Err() == nil {
						a.log.Error(err, "Link change events stopped; relying on periodic rechecks", "interval", a.interval)
					}
					return
				}
				a.Recheck()
			}
		})
	}
	return a, nil
}

// SetVIPs replaces the set of VIPs this node announces. VIPs that become announced on an
// interface get a gratuitous burst; VIPs no longer in the set are not answered for once SetVIPs
// returns. It returns the status of every VIP in the set; later changes go to
// Config.OnStatusChange and Status. It fails with ErrClosed after Close, or when the
// interfaces cannot be listed: then nothing changed yet, and the new set is applied by the
// retries that follow.
func (a *Announcer) SetVIPs(vips map[netip.Addr]announce.Announcement) (map[netip.Addr]VIPStatus, error) {
	want := make(map[netip.Addr]announce.Announcement, len(vips))
	for vip, ann := range vips {
		want[vip] = announce.Announcement{Interfaces: slices.Clone(ann.Interfaces)}
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, ErrClosed
	}
	a.want = want
	_, err := a.reconcileLocked()
	st := cloneStatus(a.status)
	a.mu.Unlock()
	poke(a.reschedCh)
	return st, err
}

// Reannounce starts the gratuitous burst of vips again, of every VIP announced now if none is
// named. Call it when a peer comes back (a partition healed), or when another node is seen to have
// announced an address this node holds (this node was frozen or cut off while it took over):
// clients may have followed the other node's gratuitous packets, and must learn again that this
// node holds the address (metallb#584). VIPs not announced now are ignored.
func (a *Announcer) Reannounce(vips ...netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	for k, b := range a.bursts {
		if len(vips) > 0 && !slices.Contains(vips, k.vip) {
			continue
		}
		b.cancel()
		delete(a.bursts, k)
	}
	_, err := a.reconcileLocked()
	return err
}

// Status returns the status of every VIP of the last SetVIPs, as of the last recheck.
func (a *Announcer) Status() map[netip.Addr]VIPStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return cloneStatus(a.status)
}

func cloneStatus(m map[netip.Addr]VIPStatus) map[netip.Addr]VIPStatus {
	out := make(map[netip.Addr]VIPStatus, len(m))
	for vip, s := range m {
		out[vip] = VIPStatus{Interfaces: slices.Clone(s.Interfaces), Err: s.Err}
	}
	return out
}

// Recheck lists the interfaces again soon, without waiting for the periodic recheck, e.g. when
// the caller learnt of a link change.
func (a *Announcer) Recheck() { poke(a.recheckCh) }

// Close stops answering and sending, closes every socket, and waits for every goroutine.
func (a *Announcer) Close() error {
	a.cancel()
	a.wg.Wait()
	return nil
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (a *Announcer) run(ev linkEvents) {
	attempt := 0
	var last time.Time // of the last reconcile done here
	pending := false   // a recheck was asked for within minRecheckGap of the last one
	due := a.deps.clock.Now().Add(a.interval)
	t := a.deps.clock.NewTimer(a.interval)
	defer t.Stop()
	for {
		reconcile, resched := false, false
		select {
		case <-a.ctx.Done():
			a.shutdown(ev)
			return
		case <-t.C():
			reconcile = true
		case <-a.recheckCh:
			if a.deps.clock.Since(last) >= minRecheckGap {
				reconcile = true
			} else {
				pending = true
			}
		case <-a.reschedCh:
			resched = true
		}
		var changed map[netip.Addr]VIPStatus
		if reconcile {
			pending = false
			last = a.deps.clock.Now()
			a.mu.Lock()
			if ok, _ := a.reconcileLocked(); ok {
				changed = cloneStatus(a.status)
			}
			a.mu.Unlock()
		}
		a.mu.Lock()
		retry := a.retry
		a.mu.Unlock()
		if changed != nil && a.cfg.OnStatusChange != nil {
			a.cfg.OnStatusChange(changed)
		}
		// Only an attempt (a reconcile here, or SetVIPs's, which pokes reschedCh) moves the
		// schedule: a recheck deferred by minRecheckGap neither doubles the backoff nor puts
		// off the retry already due.
		now := a.deps.clock.Now()
		if reconcile || resched {
			if retry {
				due = now.Add(retryDelay(attempt, a.interval))
				attempt++
			} else {
				due, attempt = now.Add(a.interval), 0
			}
		}
		next := max(due.Sub(now), 0)
		if pending {
			next = min(next, max(minRecheckGap-a.deps.clock.Since(last), 0))
		}
		if !t.Stop() {
			select {
			case <-t.C():
			default:
			}
		}
		t.Reset(next)
	}
}

// retryDelay is retryBase doubled per failed attempt, capped at limit.
func retryDelay(attempt int, limit time.Duration) time.Duration {
	d := retryBase
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func (a *Announcer) shutdown(ev linkEvents) {
	if ev != nil {
		if err := ev.close(); err != nil {
			a.log.V(2).Info("Closing the link event subscription failed", "err", err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.all.Store(&vipSet{})
	for k, b := range a.bursts {
		b.cancel()
		delete(a.bursts, k)
	}
	for k, r := range a.responders {
		r.close()
		delete(a.responders, k)
	}
}

// reconcileLocked makes responders, owned sets and bursts match a.want on the links as they
// are now, and records every VIP's status. It reports whether any status changed.
func (a *Announcer) reconcileLocked() (bool, error) {
	links, err := a.deps.links()
	if err != nil {
		// Keep serving what we serve: the links most likely did not change with the listing.
		a.log.Error(err, "Listing network interfaces failed; keeping the current announcements")
		a.retry = true
		return false, fmt.Errorf("l2: listing network interfaces: %w (the current announcements stay; retrying)", err)
	}
	p := makePlan(links, a.want)
	a.closeStaleLocked(p)
	pairs := a.applyLocked(p)
	a.burstsLocked(pairs)
	return a.statusLocked(p), nil
}

// closeStaleLocked closes the responders with nothing left to do, whose socket failed, or whose
// interface is gone or was re-created.
func (a *Announcer) closeStaleLocked(p plan) {
	for k, r := range a.responders {
		lp := p.links[k.iface]
		err := r.failure()
		if lp != nil && len(lp.vips[k.proto]) > 0 && sameLink(r.link(), lp.link) && err == nil {
			continue
		}
		if err != nil {
			a.log.Info("Reopening a failed socket", "interface", k.iface, "protocol", string(k.proto), "err", err)
		}
		r.close()
		delete(a.responders, k)
		// Its bursts would only fail from now on; burstsLocked starts new ones if the VIPs
		// are announced again through a new socket.
		for pk, b := range a.bursts {
			if b.r == r {
				b.cancel()
				delete(a.bursts, pk)
			}
		}
	}
}

// applyLocked opens the missing responders and gives each its VIPs. It returns the pairs
// announced now, with the responder announcing them, and records socket failures in p.
func (a *Announcer) applyLocked(p plan) map[pairKey]responder {
	pairs := map[pairKey]responder{}
	all := vipSet{}
	for name, lp := range p.links {
		for proto, vips := range lp.vips {
			k := respKey{iface: name, proto: proto}
			r := a.responders[k]
			if r == nil {
				var err error
				if r, err = a.open(lp.link, proto); err != nil {
					ue := socketError(name, proto, err)
					for _, vip := range vips {
						p.vips[vip].fail(name, ue)
					}
					continue
				}
				a.responders[k] = r
			}
			failed := r.setOwned(vips)
			for _, vip := range vips {
				if err := failed[vip]; err != nil {
					p.vips[vip].fail(name, socketError(name, proto, err))
					continue
				}
				pairs[pairKey{vip: vip, iface: name}] = r
				all[vip] = struct{}{}
			}
		}
	}
	a.all.Store(&all)
	return pairs
}

func socketError(iface string, p protocol, err error) *ErrInterfaceUnavailable {
	name := "ARP"
	if p == protoNDP {
		name = "NDP"
	}
	return &ErrInterfaceUnavailable{Interface: iface, Reason: InterfaceSocketFailed, Protocol: name, Err: err}
}

func (a *Announcer) open(l link, p protocol) (responder, error) {
	cfg := responderConfig{log: a.log, iface: l, rec: a.deps.rec, all: &a.all, wake: a.Recheck}
	if p == protoARP {
		c, err := a.deps.dial.dialARP(l)
		if err != nil {
			return nil, err
		}
		return newARPResponder(cfg, c), nil
	}
	c, src, err := a.deps.dial.dialNDP(l)
	if err != nil {
		return nil, err
	}
	return newNDPResponder(cfg, c, src), nil
}

// burstsLocked stops the bursts of pairs no longer announced and starts one for every pair
// newly announced, or announced through a new socket (the interface came back or was
// re-created: whatever learnt our MAC there may have forgotten it).
func (a *Announcer) burstsLocked(pairs map[pairKey]responder) {
	for k, b := range a.bursts {
		if r, ok := pairs[k]; !ok || r != b.r {
			b.cancel()
			delete(a.bursts, k)
		}
	}
	for k, r := range pairs {
		if _, ok := a.bursts[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(a.ctx)
		a.bursts[k] = burst{r: r, cancel: cancel}
		log := a.log.WithValues("vip", k.vip, "interface", k.iface)
		log.V(2).Info("Announcing VIP")
		a.wg.Go(func() {
			defer cancel()
			runBurst(ctx, a.deps.clock, a.deps.schedule, func() error { return r.gratuitous(k.vip) }, log)
		})
	}
}

// statusLocked records every VIP's status and logs and counts interfaces that became
// unavailable or available again. It reports whether any status changed.
func (a *Announcer) statusLocked(p plan) bool {
	status := make(map[netip.Addr]VIPStatus, len(p.vips))
	unavailable := map[unavailableKey]*ErrInterfaceUnavailable{}
	for vip, vp := range p.vips {
		status[vip] = vp.status()
		for _, err := range vp.reported() {
			if ue, ok := errors.AsType[*ErrInterfaceUnavailable](err); ok {
				unavailable[unavailableKey{iface: ue.Interface, reason: ue.Reason, proto: ue.Protocol}] = ue
			}
		}
	}
	names := map[string]bool{}
	for k, ue := range unavailable {
		names[k.iface] = true
		if _, ok := a.unavailable[k]; !ok {
			a.deps.rec.interfaceUnavailable(k.iface, k.reason)
			a.log.Info("Interface cannot announce VIPs", "interface", k.iface, "reason", string(k.reason), "err", ue)
		}
	}
	for k := range a.unavailable {
		if _, ok := unavailable[k]; !ok {
			a.log.Info("Interface can announce VIPs again", "interface", k.iface, "reason", string(k.reason))
		}
	}
	a.deps.rec.unavailableNow(len(names))
	a.unavailable = unavailable
	a.retry = len(unavailable) > 0
	changed := len(status) != len(a.status)
	for vip, s := range status {
		if old, ok := a.status[vip]; !ok || !old.equal(s) {
			changed = true
		}
	}
	a.status = status
	for vip, s := range status {
		if s.Err != nil {
			a.log.V(2).Info("VIP not announced everywhere", "vip", vip, "interfaces", s.Interfaces, "err", s.Err)
		}
	}
	return changed
}
