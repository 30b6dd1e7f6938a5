// Package nodeproxy tells a Service's owner what frontdesk's node proxies refuse to program for
// it: an externalIP or LoadBalancer IP that is not its to take, or ports and endpoints over the
// per-Service caps (served.Claims.CheckAddrs, served.Limits; issue 17, items 1 and 3). Every node's
// proxy applies the same rules; the Event comes from here, once for the cluster, instead of
// once per node.
//
// The Watcher's handlers only update memory and send Events (asynchronously, through the
// recorder), so they run directly on informer events, like controller/nodeports.
package nodeproxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/served"
)

// Config is what a Watcher needs. AllowedExternalIPCIDRs and Limits must be the node proxies'
// (--allowed-external-ip-cidrs, --max-ports-per-service, --max-endpoints-per-service-port).
type Config struct {
	Services               coreinformers.ServiceInformer
	EndpointSlices         discoveryinformers.EndpointSliceInformer
	Recorder               record.EventRecorder
	AllowedExternalIPCIDRs []netip.Prefix
	Limits                 served.Limits
	Logger                 klog.Logger
}

// Watcher mirrors Services and their EndpointSlices.
type Watcher struct {
	cfg      Config
	mu       sync.Mutex
	claims   *served.Claims
	services map[types.NamespacedName]*v1.Service
	// slices holds each Service's EndpointSlices by name, as the informer gave them (shared with
	// its cache: never changed here).
	slices map[types.NamespacedName]map[string]*discovery.EndpointSlice
	// reported holds what each Service was last told (warning keys), so that an Event is sent
	// when a refusal appears, not on every update while it lasts.
	reported map[types.NamespacedName]map[string]bool
}

// New registers a Watcher with the informers.
func New(cfg Config) (*Watcher, error) {
	w := newWatcher(cfg)
	if _, err := cfg.Services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.setService,
		UpdateFunc: func(_, obj any) { w.setService(obj) },
		DeleteFunc: w.deleteService,
	}); err != nil {
		return nil, err
	}
	_, err := cfg.EndpointSlices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.setSlice(obj, false) },
		UpdateFunc: func(_, obj any) { w.setSlice(obj, false) },
		DeleteFunc: func(obj any) { w.setSlice(obj, true) },
	})
	return w, err
}

// newWatcher is a Watcher of nothing yet; New gives it the informers' events, tests their own.
func newWatcher(cfg Config) *Watcher {
	return &Watcher{cfg: cfg, claims: served.NewClaims(), services: map[types.NamespacedName]*v1.Service{},
		slices: map[types.NamespacedName]map[string]*discovery.EndpointSlice{}, reported: map[types.NamespacedName]map[string]bool{}}
}

func (w *Watcher) setService(obj any) {
	svc, ok := obj.(*v1.Service)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.services[key] = svc
	affected := w.claims.Set(svc)
	w.check(key)
	for _, k := range affected {
		w.check(k)
	}
}

func (w *Watcher) deleteService(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	svc, ok := obj.(*v1.Service)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.services, key)
	delete(w.reported, key)
	for _, k := range w.claims.Delete(key) {
		w.check(k)
	}
}

func (w *Watcher) setSlice(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	es, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return
	}
	name := es.Labels[discovery.LabelServiceName]
	if name == "" {
		return
	}
	key := types.NamespacedName{Namespace: es.Namespace, Name: name}
	w.mu.Lock()
	defer w.mu.Unlock()
	if deleted {
		delete(w.slices[key], es.Name)
		if len(w.slices[key]) == 0 {
			delete(w.slices, key)
		}
	} else {
		if w.slices[key] == nil {
			w.slices[key] = map[string]*discovery.EndpointSlice{}
		}
		w.slices[key][es.Name] = es
	}
	w.check(key)
}

// warning is one Event to send, keyed so that a lasting condition is told once.
type warning struct{ key, reason, message string }

// check sends the Service's new warnings. It holds w.mu.
func (w *Watcher) check(key types.NamespacedName) {
	svc := w.services[key]
	if svc == nil {
		return
	}
	var warns []warning
	if svc.Spec.Type != v1.ServiceTypeExternalName && svc.Spec.ClusterIP != v1.ClusterIPNone {
		warns = w.warnings(key, svc)
	}
	now := map[string]bool{}
	for _, x := range warns {
		now[x.key] = true
		if w.reported[key][x.key] {
			continue
		}
		w.cfg.Logger.V(2).Info("Service refused by the node proxies", "service", key, "reason", x.reason, "message", x.message)
		w.cfg.Recorder.Event(svc, v1.EventTypeWarning, x.reason, x.message)
	}
	if len(now) == 0 {
		delete(w.reported, key)
	} else {
		w.reported[key] = now
	}
}

func (w *Watcher) warnings(key types.NamespacedName, svc *v1.Service) []warning {
	var out []warning
	for _, r := range w.claims.CheckAddrs(key, w.cfg.AllowedExternalIPCIDRs) {
		out = append(out, warning{fmt.Sprintf("addr/%s/%s", r.Kind, r.Addr), served.ReasonAddressRefused, r.Message(key)})
	}
	l := w.cfg.Limits
	if len(svc.Spec.Ports) > l.Ports {
		return append(out, warning{"ports", served.ReasonTooManyPorts, l.PortsMessage(len(svc.Spec.Ports))})
	}
	out = append(out, w.endpointWarnings(key, svc)...)
	slices.SortFunc(out, func(a, b warning) int { return cmp.Compare(a.key, b.key) })
	return out
}

// endpointWarnings are the Service's ports over the endpoint cap, counted by the proxies' own rule
// (served.CountEndpoints: each address and target port once, forbidden addresses left out), so
// that no Event tells of a cap that no node applies.
func (w *Watcher) endpointWarnings(key types.NamespacedName, svc *v1.Service) []warning {
	l := w.cfg.Limits
	var out []warning
	for _, fam := range []discovery.AddressType{discovery.AddressTypeIPv4, discovery.AddressTypeIPv6} {
		var of []*discovery.EndpointSlice
		listed := 0
		for _, es := range w.slices[key] {
			if es.AddressType == fam {
				of = append(of, es)
				listed += len(es.Endpoints)
			}
		}
		if listed <= l.EndpointsPerPort {
			// No port can count more endpoints than the slices list: most Services stop here,
			// without a pass per port over every endpoint.
			continue
		}
		for _, p := range svc.Spec.Ports {
			n := served.CountEndpoints(of, fam, p.Name, p.Protocol)
			if n <= l.EndpointsPerPort {
				continue
			}
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			port := fmt.Sprintf("%s/%d", proto, p.Port)
			out = append(out, warning{"endpoints/" + port + "/" + string(fam), served.ReasonTooManyEndpoints, l.EndpointsMessage(port, n)})
		}
	}
	return out
}
