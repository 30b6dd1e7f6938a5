package bgpmode

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/speaker/agent/loop"
	"github.com/frontdesk-lb/frontdesk/speaker/bgp/routes"
)

// ReasonBGPAggregationRefused (warning, on the BGPAdvertisement): its aggregationLength (or
// aggregationLengthV6) would make a route that covers addresses outside the pool of an address
// it selects, so it does not advertise that pool's addresses (issue 17, item 8; the CRD's
// floor cannot see the pools).
const ReasonBGPAggregationRefused = "BGPAggregationRefused"

// poolSpans are the IPPools' addresses by name, for routes.Snapshot, merged (routes.SpanOf)
// once per version of each pool. An entry that does not parse is left out (the API server
// refuses it; only a pool stored before the rule could hold one), which can only refuse more
// aggregates, never fewer.
func (p *Protocol) poolSpans() (map[string]routes.PoolSpan, error) {
	pools, err := p.pools.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	out := make(map[string]routes.PoolSpan, len(pools))
	spans := make(map[string]poolSpan, len(pools))
	for _, pool := range pools {
		ps, ok := p.spans[pool.Name]
		if !ok || ps.resourceVersion != pool.ResourceVersion {
			entries, _ := v1alpha1.ParseAddresses(pool.Spec.Addresses)
			ps = poolSpan{pool.ResourceVersion, routes.SpanOf(entries)}
		}
		spans[pool.Name] = ps
		out[pool.Name] = ps.span
	}
	p.spans = spans
	return out, nil
}

// poolSpan caches a pool's span: parsing and merging every pool on every run is waste.
type poolSpan struct {
	resourceVersion string
	span            routes.PoolSpan
}

// tellRefusals records a Warning Event for each refusal of the plan not told before: on the
// BGPAdvertisement for an aggregation (ReasonBGPAggregationRefused), on the Service for a
// community (ReasonBGPCommunityRefused). Every node computes the same refusals (they depend on
// the objects, not on the node), so only the first live speaker by name tells them, as the
// dead-node Events are (speaker/agent/deadnodes.go); a refusal that was told and went (the
// advertisement, pool or annotation fixed) is told again if it comes back. Around a change of
// the first live speaker an Event may be doubled.
func (p *Protocol) tellRefusals(plan routes.Plan, s *loop.Snapshot, ev loop.Recorder) {
	first := len(s.Alive) == 0 || loop.FirstAlive(s.Self, s.Alive) // no liveness view: alone
	p.aggTold = tellNew(p.aggTold, first && p.cfg.Events != nil, plan.Aggregations,
		func(r routes.RefusedAggregation) aggRefusal {
			return aggRefusal{r.Advertisement, r.Pool, r.Length, r.Addr.Is6()}
		},
		func(r routes.RefusedAggregation) {
			obj, err := p.ads.Get(r.Advertisement)
			if err != nil {
				return // deleted meanwhile
			}
			msg := aggregationMessage(r)
			p.log.Info("BGPAdvertisement refused for a pool", "advertisement", r.Advertisement, "pool", r.Pool, "why", msg)
			p.warnOn(obj, "BGPAdvertisement", ReasonBGPAggregationRefused, msg)
		})
	p.refused = tellNew(p.refused, first, plan.Refused,
		func(r routes.RefusedCommunity) routes.RefusedCommunity { return r },
		func(r routes.RefusedCommunity) {
			ev.Event([]types.NamespacedName{r.Service}, corev1.EventTypeWarning, ReasonBGPCommunityRefused,
				fmt.Sprintf("community %s from annotation %s is not attached: %s", r.Community, v1alpha1.ServiceCommunitiesAnnotation, r.Why))
		})
}

// tellNew calls tell for each of now whose key is not among told, when this speaker tells at
// all, and returns the keys told now, for the next run: what went and comes back is told
// again, and a speaker that does not tell forgets, so that it tells everything once it does.
func tellNew[T any, K comparable](told map[K]bool, tells bool, now []T, key func(T) K, tell func(T)) map[K]bool {
	next := make(map[K]bool, len(now))
	if !tells {
		return next
	}
	for _, r := range now {
		k := key(r)
		next[k] = true
		if !told[k] {
			tell(r)
		}
	}
	return next
}

// warnOn records a Warning Event on obj, a frontdesk.dev object of this kind from the cache:
// such objects carry no kind, and the recorder's scheme has no frontdesk.dev types.
func (p *Protocol) warnOn(obj runtime.Object, kind, reason, msg string) {
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind(kind))
	p.cfg.Events.Event(obj, corev1.EventTypeWarning, reason, msg)
}

// aggRefusal is what makes a refusal news: not the address it was found on, which changes
// with the allocations.
type aggRefusal struct {
	ad, pool string
	length   int
	v6       bool
}

// aggregationMessage says what was refused and what the admin can set.
func aggregationMessage(r routes.RefusedAggregation) string {
	field, host := "spec.aggregationLength", 32
	if r.Addr.Is6() {
		field, host = "spec.aggregationLengthV6", 128
	}
	what := fmt.Sprintf("%s %d would advertise %s for %s of IPPool %s, a route covering addresses outside the pool",
		field, r.Length, r.Route, r.Addr, r.Pool)
	if r.Within == 0 {
		return fmt.Sprintf("%s (%s is not among the pool's addresses now); this advertisement does not advertise it; "+
			"leave %s unset (%d) or fix the pool", what, r.Addr, field, host)
	}
	return fmt.Sprintf("%s; this advertisement does not advertise the pool's addresses it would aggregate so; "+
		"set %s to %d or more (the shortest route around %s within the pool), or leave it unset (%d)",
		what, field, r.Within, r.Addr, host)
}
