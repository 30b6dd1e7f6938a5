package proxy

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/served"
)

// sync programs the pending changes: a partial sync of the changed Services, or a full sync when
// a table needs one (at start, after a failure, on the periodic resync or a zone change).
func (p *Proxy) sync(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	start := time.Now()
	full := false
	for _, t := range p.tables {
		full = full || t.needFull
	}
	snap := p.store.take(full)
	if !snap.all && len(snap.keys) == 0 {
		// An excluded node with no endpoint changes no rule, only the gauges.
		p.metrics.observeExcluded(snap.excluded, p.tables)
		// Conntrack deletions left over by an earlier sync's batch bound.
		p.clearConntrack(ctx, nil)
		// Nothing pending: the kernel holds the store as it is, and if the store now holds the
		// whole first list, that is a sync from fully delivered caches written (an earlier sync
		// may have started just before the caches were marked synced).
		p.markReady(snap.synced)
		return nil
	}
	var errs []error
	var flows []FlowFilter
	kind := "partial"
	if snap.all {
		kind = "full"
	}
	for i, t := range p.tables {
		opts := p.opts[i]
		opts.zone = snap.zone
		opts.excluded = snap.excluded
		want := make(map[types.NamespacedName]*svcState, len(snap.keys))
		for _, k := range snap.keys {
			if svc, ok := snap.services[k]; ok {
				opts.readyAt = snap.readyAt[k]
				opts.notMine = p.notMine(k, snap.refusals[k])
				want[k] = buildService(svc, snap.slices[k], opts, p.refused)
			} else {
				want[k] = nil
			}
		}
		// The old states, for the conntrack clean-up: the changed Services', or all on a full sync.
		var old map[types.NamespacedName]*svcState
		if snap.all {
			old = maps.Clone(t.applied)
		} else {
			old = make(map[types.NamespacedName]*svcState, len(snap.keys))
			for _, k := range snap.keys {
				old[k] = t.applied[k]
			}
		}
		var st syncStats
		var err error
		if snap.all {
			all := make(map[types.NamespacedName]*svcState, len(want))
			for k, s := range want {
				if s != nil {
					all[k] = s
				}
			}
			st, err = t.fullSync(ctx, all, p.cfg.ColdStartChunk)
		} else {
			st, err = t.partialSync(ctx, want)
		}
		p.metrics.transactions.WithLabelValues(string(t.fam.nft)).Add(float64(st.transactions))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.metrics.observeTable(t)
		keys := snap.keys
		if snap.all {
			keys = append(keys, sortedKeys(old)...)
		}
		p.mu.RLock()
		first := !p.synced
		p.mu.RUnlock()
		for _, k := range keys {
			flows = append(flows, staleFlows(old[k], t.applied[k], first)...)
			flows = append(flows, deadFlows(old[k], t.applied[k])...)
		}
		if snap.synced && !p.orphansChecked {
			// Once per process, when the table holds every Service of the first list.
			flows = append(flows, p.orphanFlows(ctx, t)...)
		}
	}
	p.metrics.syncDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if err := errors.Join(errs...); err != nil {
		p.metrics.syncErrors.WithLabelValues(kind).Inc()
		p.store.requeue(snap.keys)
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
		return err
	}
	if snap.synced {
		p.orphansChecked = true
	}
	p.health.update(snap, p.tables)
	p.metrics.observeExcluded(snap.excluded, p.tables)
	p.afterSync(ctx, flows, snap.synced)
	p.log.V(2).Info("synced", "kind", kind, "services", len(snap.keys), "elapsed", time.Since(start))
	return nil
}

// afterSync publishes what the kernel now does and clears the conntrack entries the change made
// stale. Conntrack comes after the rules: deleted earlier, an entry could be re-created by the
// old rules before the new ones are in.
func (p *Proxy) afterSync(ctx context.Context, flows []FlowFilter, synced bool) {
	vips := map[netip.Addr]bool{}
	for _, t := range p.tables {
		for a := range t.vips {
			vips[a] = true
		}
	}
	p.mu.Lock()
	changed := !maps.Equal(p.vips, vips)
	p.vips = vips
	p.lastGood, p.lastErr = time.Now(), nil
	p.synced = true
	flows = append(p.pendingCT, flows...)
	p.pendingCT = nil
	p.mu.Unlock()
	if changed {
		pokeChan(p.vipsChanged)
	}
	p.clearConntrack(ctx, flows)
	p.markReady(synced)
}

// Bounds of one sync's conntrack clean-up, which runs under syncMu: a UDP Service with many
// endpoints scaled to zero, or a conntrack that hangs, must not hold rule updates for minutes
// (issue 17, Also).
const (
	conntrackBatch   = 256  // filters tried per sync; the rest go to a following one
	conntrackPending = 4096 // filters kept for later at most; beyond, the oldest are dropped
)

// clearConntrack deletes the conntrack entries of flows and of the earlier syncs' leftovers:
// each filter once, at most conntrackBatch of them, within p.conntrackTimeout. Failed filters
// are kept for the next sync; untried ones too, and a sync is asked for to try them.
func (p *Proxy) clearConntrack(ctx context.Context, flows []FlowFilter) {
	p.mu.Lock()
	all := dedupFlows(append(p.pendingCT, flows...))
	p.pendingCT = nil
	p.mu.Unlock()
	if len(all) == 0 {
		return
	}
	batch, rest := all[:min(len(all), conntrackBatch)], all[min(len(all), conntrackBatch):]
	cctx, cancel := context.WithTimeout(ctx, p.conntrackTimeout)
	err := p.cfg.Conntrack.Delete(cctx, batch)
	cancel()
	var retry []FlowFilter
	if err != nil {
		p.metrics.conntrackErrors.Inc()
		failed := batch
		var fe *FlowErrors
		if errors.As(err, &fe) {
			failed = fe.Failed
		}
		p.log.Error(err, "clearing stale conntrack entries; retrying after the next sync", "filters", len(batch), "failed", len(failed))
		retry = failed
	}
	retry = append(retry, rest...)
	if n := len(retry) - conntrackPending; n > 0 {
		p.log.Error(nil, "too many conntrack deletions pending; dropping the oldest", "dropped", n)
		retry = retry[n:]
	}
	p.mu.Lock()
	p.pendingCT = dedupFlows(append(retry, p.pendingCT...))
	p.mu.Unlock()
	if len(rest) > 0 {
		p.runner.Run()
	}
}

// dedupFlows keeps the first of equal filters, in order.
func dedupFlows(flows []FlowFilter) []FlowFilter {
	seen := make(map[FlowFilter]bool, len(flows))
	return slices.DeleteFunc(flows, func(f FlowFilter) bool {
		if seen[f] {
			return true
		}
		seen[f] = true
		return false
	})
}

// markReady closes Ready after a sync that started from a store holding the informers' whole
// first list (synced, taken with the snapshot: the flag as it is now could have been set while
// the sync was writing an older snapshot) and left no table waiting for a full sync.
func (p *Proxy) markReady(synced bool) {
	if !synced {
		return
	}
	for _, t := range p.tables {
		if t.needFull {
			return
		}
	}
	p.readyOnce.Do(func() {
		if p.onReady != nil {
			p.onReady()
		}
		close(p.ready)
		p.log.Info("node proxy rules programmed")
	})
}

func (p *Proxy) refused(err error) {
	if errors.Is(err, ErrOverLimit) {
		p.metrics.overLimit.Inc()
		p.log.V(1).Info("service over a limit", "reason", err.Error())
		return
	}
	p.metrics.refused.Inc()
	p.log.V(1).Info("endpoint not programmed", "reason", err.Error())
}

// notMine turns a Service's refusals into the set buildService leaves out. The log and metric
// are for the node's operator; the Event the Service's owner reads comes from the controller
// (controller/nodeproxy), which applies the same rule once for the cluster instead of once per
// node.
func (p *Proxy) notMine(key types.NamespacedName, refusals []served.Refusal) map[addrClaim]bool {
	if len(refusals) == 0 {
		return nil
	}
	out := make(map[addrClaim]bool, len(refusals))
	for _, r := range refusals {
		out[addrClaim{r.Addr, r.Kind}] = true
		p.metrics.addrsRefused.Inc()
		p.log.V(1).Info("address not programmed", "service", key, "reason", r.Message(key))
	}
	return out
}

// staleFlows lists the UDP conntrack entries a change of one Service leaves pointing at endpoints
// the rules no longer use: an endpoint that left, or an address (LoadBalancer IP, externalIP,
// ClusterIP and port) or NodePort through which the rules no longer reach it. UDP has no close:
// without this a sender that keeps its source port keeps reaching a deleted Pod. Scaling to zero
// is included: the reject rule does not catch flows conntrack already DNATs (k8s #139628), nor
// does deleting the Service (k8s PR #141371). A LoadBalancer Service loses its address before it
// goes (the controller empties its status, then drops its finalizer), so its deletion finds only
// the ClusterIP left: the address's flows must go when the address does.
// first marks the proxy's first sync, where old is unknown: the empty-to-some cleanup is skipped
// there, since the previous run's rules stayed in the kernel and no blackhole entry could form
// (k8s #122740: clearing at every restart breaks QUIC and other UDP sessions).
func staleFlows(old, new *svcState, first bool) []FlowFilter {
	var out []FlowFilter
	if old != nil {
		for name, o := range old.udp {
			var n udpPort
			if new != nil {
				n = new.udp[name]
			}
			keep := map[netip.AddrPort]bool{}
			for _, a := range n.endpoints {
				keep[a] = true
			}
			dests := map[netip.AddrPort]bool{}
			for _, d := range n.dests {
				dests[d] = true
			}
			for _, ep := range o.endpoints {
				for _, d := range o.dests {
					if !keep[ep] || !dests[d] {
						out = append(out, FlowFilter{Dst: d.Addr(), DstPort: d.Port(), ReplySrc: ep.Addr(), ReplySrcPort: ep.Port()})
					}
				}
				if o.nodePort != 0 && (!keep[ep] || n.nodePort != o.nodePort) {
					out = append(out, FlowFilter{DstPort: o.nodePort, ReplySrc: ep.Addr(), ReplySrcPort: ep.Port(), IPv6: ep.Addr().Is6()})
				}
			}
		}
	}
	if new == nil || first {
		return out
	}
	for name, n := range new.udp {
		if len(n.endpoints) == 0 {
			continue
		}
		if old != nil && len(old.udp[name].endpoints) > 0 {
			continue
		}
		// Flows that arrived while nothing served the Service were not DNATed; left alone they
		// would keep bypassing the new rules.
		for _, d := range n.dests {
			out = append(out, FlowFilter{Dst: d.Addr(), DstPort: d.Port()})
		}
		if n.nodePort != 0 {
			out = append(out, FlowFilter{DstPort: n.nodePort, IPv6: n.endpoints[0].Addr().Is6()})
		}
	}
	return out
}
