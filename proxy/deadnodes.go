package proxy

import (
	"maps"
	"net/netip"
	"time"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/served"
)

// ExcludedNode is a node whose endpoints take no new connections because it is dead: the
// embedding speaker decides that from its liveness membership, only when a majority of the
// speakers agree (docs/design/dead-nodes.md). Kubernetes needs the node-monitor grace period
// (about 50 s) to say the same through EndpointSlice readiness; this is the shortcut.
type ExcludedNode struct {
	// DeadSince is when the node was seen dead; the exclusion-latency histogram counts from it.
	DeadSince time.Time
	// ReturnedAt, when set, says the node is back after a restart (a new speaker process,
	// perhaps a reboot): its endpoints are used again only once their EndpointSlice reports them
	// ready after ReturnedAt, since the ones listed from before may be Pods that no longer run.
	ReturnedAt time.Time
}

// SetExcludedNodes replaces the set of nodes whose endpoints take no new connections (nil or
// empty: none). The Services with endpoints on a node whose entry changed are synced like any
// other change. A Service whose every usable endpoint is on excluded nodes keeps them all (fail
// open: frontdesk_proxy_fail_open_services counts them), and endpoints without a node name are
// never excluded.
func (p *Proxy) SetExcludedNodes(nodes map[string]ExcludedNode) { p.store.setExcluded(nodes) }

func (s *store) setExcluded(nodes map[string]ExcludedNode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := map[string]bool{}
	for n, x := range nodes {
		if old, ok := s.excluded[n]; !ok || old != x {
			changed[n] = true
		}
	}
	for n := range s.excluded {
		if _, ok := nodes[n]; !ok {
			changed[n] = true
		}
	}
	if len(changed) == 0 {
		return
	}
	s.excluded = maps.Clone(nodes)
	for key, bySlice := range s.slices {
		if sliceOnNodes(bySlice, changed) {
			s.dirty[key] = true
		}
	}
	s.poke()
}

func sliceOnNodes(bySlice map[string]*discovery.EndpointSlice, nodes map[string]bool) bool {
	for _, es := range bySlice {
		for _, e := range es.Endpoints {
			if e.NodeName != nil && nodes[*e.NodeName] {
				return true
			}
		}
	}
	return false
}

// noteReady records, for one Service, when each endpoint address was first seen ready since it
// last was not: a node back after a restart has its endpoints taken back only once they are
// ready after its return. An address already ready in another slice of the Service keeps its
// time. Guarded by s.mu; called with the Service's slices after a change.
func (s *store) noteReady(key types.NamespacedName, now time.Time) {
	old := s.readyAt[key]
	cur := map[netip.Addr]time.Time{}
	for _, es := range s.slices[key] {
		for _, e := range es.Endpoints {
			if len(e.Addresses) == 0 || !served.ConditionsOf(e.Conditions).Ready {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil {
				continue
			}
			if t, ok := old[a]; ok {
				cur[a] = t
			} else {
				cur[a] = now
			}
		}
	}
	if len(cur) == 0 {
		delete(s.readyAt, key)
		return
	}
	s.readyAt[key] = cur
}

// excluded says whether e takes no new connections because its node is excluded: dead, or back
// after a restart with e not reported ready since.
func (o modelOptions) excludes(e endpoint) bool {
	x, ok := o.excluded[e.node]
	if !ok || e.node == "" || e.node == o.nodeName {
		return false
	}
	if x.ReturnedAt.IsZero() {
		return true
	}
	at, seen := o.readyAt[e.addr]
	return !seen || !at.After(x.ReturnedAt)
}

// excludeDead removes the endpoints on excluded nodes, unless that would leave the Service port
// nothing usable: then it keeps them all (fail open: better the endpoints Kubernetes still calls
// ready, some of which may answer, than a Service refused outright on the word of the speakers).
// It returns the endpoints to use, the excluded ones, and whether it failed open.
func excludeDead(eps []endpoint, o modelOptions) (kept, dead []endpoint, failOpen bool) {
	if len(o.excluded) == 0 {
		return eps, nil, false
	}
	for _, e := range eps {
		if o.excludes(e) {
			dead = append(dead, e)
		} else {
			kept = append(kept, e)
		}
	}
	if len(dead) == 0 {
		return eps, nil, false
	}
	all := func(endpoint) bool { return true }
	if len(usable(kept, all)) == 0 && len(usable(eps, all)) > 0 {
		return eps, nil, true
	}
	return kept, dead, false
}

// deadFlows lists the conntrack entries of TCP and SCTP connections to endpoints that the change
// from old to new excluded for their node's death: removed, the client's next packet is NATed
// afresh to a live endpoint, which answers with a reset, and the client reconnects at once
// instead of retransmitting into a dead node until its own timeout. UDP flows to them are
// already in staleFlows (the endpoints left the rules). Endpoints that merely left a Service
// keep their TCP connections, as with kube-proxy: a terminating Pod may still finish them.
func deadFlows(old, new *svcState) []FlowFilter {
	if new == nil || len(new.dead) == 0 {
		return nil
	}
	was := map[netip.Addr]bool{}
	if old != nil {
		for _, a := range old.dead {
			was[a] = true
		}
	}
	var out []FlowFilter
	for _, ep := range new.dead {
		if was[ep] {
			continue
		}
		for _, pt := range new.streams {
			for _, d := range pt.dests {
				out = append(out, FlowFilter{Protocol: pt.protocol, Dst: d.Addr(), DstPort: d.Port(), ReplySrc: ep})
			}
			if pt.nodePort != 0 {
				out = append(out, FlowFilter{Protocol: pt.protocol, DstPort: pt.nodePort, ReplySrc: ep, IPv6: ep.Is6()})
			}
		}
	}
	return out
}
