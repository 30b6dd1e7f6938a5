package l2

import (
	"net/netip"
	"sync/atomic"

	"k8s.io/klog/v2"
)

// responder answers for the VIPs of one protocol on one interface. Its read loop is its own
// goroutine; close stops it and waits for it.
type responder interface {
	link() link
	// setOwned replaces the VIPs answered for. It returns the VIPs it could not take, and why.
	setOwned(vips []netip.Addr) map[netip.Addr]error
	// gratuitous sends the takeover announcement for one VIP.
	gratuitous(vip netip.Addr) error
	// failure is the error that stopped the read loop on its own, nil while it runs.
	failure() error
	close()
}

// responderConfig is what every responder gets from the announcer.
type responderConfig struct {
	log   klog.Logger
	iface link
	rec   recorder
	// all is every VIP this node announces, on any interface, to tell "not ours" from "ours,
	// but on another interface".
	all *atomic.Pointer[vipSet]
	// wake asks the announcer for a recheck; it must not block.
	wake func()
}

// responderBase holds what ARP and NDP responders share: the owned set, read by the read loop
// without locks, and the lifecycle of that loop.
type responderBase struct {
	responderConfig
	proto   protocol
	owned   atomic.Pointer[vipSet]
	done    chan struct{} // closed when the read loop returns
	closing atomic.Bool
	failed  atomic.Pointer[error]
}

func (b *responderBase) init(cfg responderConfig, p protocol) {
	b.responderConfig = cfg
	b.proto = p
	b.done = make(chan struct{})
	b.owned.Store(&vipSet{})
	b.log = cfg.log.WithValues("interface", cfg.iface.name(), "protocol", string(p))
}

func (b *responderBase) link() link { return b.iface }

func (b *responderBase) store(vips []netip.Addr) {
	s := make(vipSet, len(vips))
	for _, v := range vips {
		s[v] = struct{}{}
	}
	b.owned.Store(&s)
}

// target classifies the address a request asks about: "" when this responder answers for it.
func (b *responderBase) target(t netip.Addr) DropReason {
	if b.owned.Load().has(t) {
		return ""
	}
	if all := b.all.Load(); all != nil && all.has(t) {
		return DropWrongInterface
	}
	return DropNotOwned
}

// drop counts a packet not answered and returns the logger for its details, enabled only at
// high verbosity: on a busy segment nearly every ARP broadcast is dropped, so callers build the
// details only when it is enabled.
func (b *responderBase) drop(r DropReason) klog.Logger {
	b.rec.dropped(b.proto, b.link().name(), r)
	v := b.log.V(5)
	if !v.Enabled() {
		return klog.Logger{}
	}
	return v.WithValues("reason", string(r))
}

// stopped records why the read loop returned. Errors after close are the close itself.
func (b *responderBase) stopped(err error) {
	if b.closing.Load() {
		return
	}
	b.failed.Store(&err)
	b.log.Error(err, "Reading from the socket failed; it will be reopened")
	b.wake()
}

func (b *responderBase) failure() error {
	if p := b.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// shut closes the socket and waits for the read loop, which the close unblocks.
func (b *responderBase) shut(closeConn func() error) {
	b.closing.Store(true)
	if err := closeConn(); err != nil {
		b.log.V(2).Info("Closing the socket failed", "err", err)
	}
	<-b.done
}
