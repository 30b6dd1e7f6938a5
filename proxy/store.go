package proxy

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/frontdesk-lb/frontdesk/served"
)

// store holds the objects the rules are computed from and which Services changed since the last
// sync. Informer handlers (or tests) write to it; the sync loop takes snapshots. Objects are
// never modified: informers hand out shared pointers.
type store struct {
	mu       sync.Mutex
	services map[types.NamespacedName]*v1.Service
	slices   map[types.NamespacedName]map[string]*discovery.EndpointSlice
	node     *v1.Node
	// excluded is SetExcludedNodes' set, replaced whole (never modified, so snapshots share it);
	// readyAt holds when each endpoint address of a Service was last seen to become ready,
	// each inner map replaced whole on a change (noteReady).
	excluded map[string]ExcludedNode
	readyAt  map[types.NamespacedName]map[netip.Addr]time.Time
	dirty    map[types.NamespacedName]bool
	all      bool
	// synced is set once the informers have listed everything (at once without informers).
	synced bool
	// claims indexes every Service's addresses, so that a Service's externalIPs and
	// LoadBalancer IPs are checked against all the others' (served.Claims.CheckAddrs); allowedExternal
	// is Config.AllowedExternalIPCIDRs.
	claims          *served.Claims
	allowedExternal []netip.Prefix
	// poke asks for a sync (the runner coalesces the requests); expedite asks for one that does
	// not wait out the minimum interval, when a change gives a Service an external address.
	poke, expedite func()
}

func newStore(poke, expedite func()) *store {
	return &store{
		services: map[types.NamespacedName]*v1.Service{},
		slices:   map[types.NamespacedName]map[string]*discovery.EndpointSlice{},
		dirty:    map[types.NamespacedName]bool{},
		readyAt:  map[types.NamespacedName]map[netip.Addr]time.Time{},
		claims:   served.NewClaims(),
		poke:     poke, expedite: expedite,
	}
}

func pokeChan(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (s *store) setService(svc *v1.Service) {
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.services[key]
	if old != nil && sameVersion(old, svc) {
		return
	}
	s.services[key] = svc
	s.dirty[key] = true
	// A Service that gains or loses a ClusterIP or LoadBalancer IP changes what the Services
	// naming that address as an externalIP may have: they are rebuilt in the same sync.
	for _, k := range s.claims.Set(svc) {
		s.dirty[k] = true
	}
	s.poke()
	if gainsAddress(old, svc) {
		s.expedite()
	}
}

// gainsAddress says whether cur has an external address (in spec.externalIPs, or a LoadBalancer
// ingress IP) that old, the version the store held (nil: none), did not have. Such a change is
// not held back by MinSyncPeriod (see gainedSyncsPerPeriod): the speaker withholds an address
// until this proxy forwards it, so until the next sync the Service is unreachable through it.
func gainsAddress(old, cur *v1.Service) bool {
	had := map[string]bool{}
	if old != nil {
		for _, a := range externalAddrs(old) {
			had[a] = true
		}
	}
	for _, a := range externalAddrs(cur) {
		if !had[a] {
			return true
		}
	}
	return false
}

func externalAddrs(svc *v1.Service) []string {
	out := slices.Clone(svc.Spec.ExternalIPs)
	if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IP != "" {
				out = append(out, ing.IP)
			}
		}
	}
	return out
}

// sameVersion says that cur is the object the store already holds: an informer hands out the same
// version again when a new list re-establishes its watch, which would otherwise mark every
// Service changed and turn the next sync into a rewrite of the whole table.
func sameVersion(old, cur metav1.Object) bool {
	return old.GetResourceVersion() != "" && old.GetResourceVersion() == cur.GetResourceVersion()
}

func keyOf(svc *v1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
}

func (s *store) deleteService(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.services, key)
	s.dirty[key] = true
	for _, k := range s.claims.Delete(key) {
		s.dirty[k] = true
	}
	s.poke()
}

// sliceService names the Service an EndpointSlice belongs to; slices without the label are not
// managed for a Service and are ignored.
func sliceService(es *discovery.EndpointSlice) (types.NamespacedName, bool) {
	name := es.Labels[discovery.LabelServiceName]
	return types.NamespacedName{Namespace: es.Namespace, Name: name}, name != ""
}

func (s *store) setSlice(es *discovery.EndpointSlice) {
	key, ok := sliceService(es)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slices[key] == nil {
		s.slices[key] = map[string]*discovery.EndpointSlice{}
	}
	if old := s.slices[key][es.Name]; old != nil && sameVersion(old, es) {
		return
	}
	s.slices[key][es.Name] = es
	s.noteReady(key, time.Now())
	s.dirty[key] = true
	s.poke()
}

func (s *store) deleteSlice(es *discovery.EndpointSlice) {
	key, ok := sliceService(es)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.slices[key], es.Name)
	if len(s.slices[key]) == 0 {
		delete(s.slices, key)
	}
	s.noteReady(key, time.Now())
	s.dirty[key] = true
	s.poke()
}

// setNode records this node; a zone change touches every Service with PreferClose, so it
// recomputes everything.
func (s *store) setNode(n *v1.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node == nil || s.node.Labels[v1.LabelTopologyZone] != n.Labels[v1.LabelTopologyZone] {
		s.all = true
		s.poke()
	}
	s.node = n
}

func (s *store) markAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = true
	s.poke()
}

// snapshot is what one sync works from.
type snapshot struct {
	all      bool
	keys     []types.NamespacedName // the changed Services, or every Service when all
	services map[types.NamespacedName]*v1.Service
	slices   map[types.NamespacedName][]*discovery.EndpointSlice
	zone     string
	excluded map[string]ExcludedNode
	readyAt  map[types.NamespacedName]map[netip.Addr]time.Time
	// refusals are the changed Services' addresses they may not have (served.Claims.CheckAddrs), taken
	// under the store's lock, so that they agree with the Services of the snapshot.
	refusals map[types.NamespacedName][]served.Refusal
	// synced: the store held every object of the informers' first list when this was taken, so
	// a sync from it (after a full one) leaves the kernel with everything the cluster had.
	synced bool
}

// take empties the change set into a snapshot. full forces every Service in.
func (s *store) take(full bool) snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := snapshot{all: s.all || full, synced: s.synced, services: map[types.NamespacedName]*v1.Service{},
		slices: map[types.NamespacedName][]*discovery.EndpointSlice{}, excluded: s.excluded,
		readyAt: map[types.NamespacedName]map[netip.Addr]time.Time{}, refusals: map[types.NamespacedName][]served.Refusal{}}
	if s.node != nil {
		snap.zone = s.node.Labels[v1.LabelTopologyZone]
	}
	keys := s.dirty
	if snap.all {
		keys = map[types.NamespacedName]bool{}
		for k := range s.services {
			keys[k] = true
		}
	}
	for k := range keys {
		snap.keys = append(snap.keys, k)
		if svc, ok := s.services[k]; ok {
			snap.services[k] = svc
			if r := s.claims.CheckAddrs(k, s.allowedExternal); len(r) > 0 {
				snap.refusals[k] = r
			}
			if r := s.readyAt[k]; r != nil {
				snap.readyAt[k] = r
			}
			for _, es := range s.slices[k] {
				snap.slices[k] = append(snap.slices[k], es)
			}
		}
	}
	s.dirty = map[types.NamespacedName]bool{}
	s.all = false
	return snap
}

// requeue puts back the Services of a failed sync so that the retry covers them.
func (s *store) requeue(keys []types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		s.dirty[k] = true
	}
	s.poke()
}

func (s *store) setSynced() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced = true
}
