// Package nodeports watches the NodePorts the API server assigns and reports how full the
// NodePort range is: metrics, and a warning Event on the Service whose port pushes the range past a
// threshold, before it runs out and new NodePort and LoadBalancer Services fail to be created.
//
// The API server is the allocator of NodePorts; this package only mirrors its assignments into an
// allocator.PortAllocator (the same semantics: one owner per port number, any protocols), which
// gives exact used, free and static-band counts.
package nodeports

import (
	"fmt"
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/allocator"
)

// DefaultWarnRatio is the share of the range in use from which each new NodePort draws a warning.
const DefaultWarnRatio = 0.9

// Watcher mirrors Services' NodePorts. Its handlers only update memory and metrics, so they run
// directly on informer events; Events are sent asynchronously by the recorder.
type Watcher struct {
	mu        sync.Mutex
	ports     *allocator.PortAllocator
	recorder  record.EventRecorder
	warnRatio float64
	logger    klog.Logger
}

// New returns a Watcher over the NodePort range r (it must be the API server's
// --service-node-port-range) and registers it with the Service informer.
func New(logger klog.Logger, informer coreinformers.ServiceInformer, r allocator.PortRange, recorder record.EventRecorder, warnRatio float64) (*Watcher, error) {
	ports, err := allocator.NewPortAllocator(r)
	if err != nil {
		return nil, err
	}
	w := &Watcher{ports: ports, recorder: recorder, warnRatio: warnRatio, logger: logger}
	registerMetrics()
	_, err = informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.observe(obj) },
		UpdateFunc: func(_, obj any) { w.observe(obj) },
		DeleteFunc: w.forget,
	})
	return w, err
}

// Stats returns the current counts.
func (w *Watcher) Stats() allocator.PortStats { return w.ports.Stats() }

type portUse struct {
	proto allocator.Protocol
	port  uint16
}

// portsOf lists the node ports a Service holds: its ports' nodePort and its healthCheckNodePort
// (allocated from the same range by the API server).
func portsOf(s *v1.Service) []portUse {
	var out []portUse
	for _, p := range s.Spec.Ports {
		if p.NodePort != 0 {
			proto := p.Protocol
			if proto == "" {
				proto = v1.ProtocolTCP
			}
			out = append(out, portUse{allocator.Protocol(proto), uint16(p.NodePort)})
		}
	}
	if s.Spec.HealthCheckNodePort != 0 {
		out = append(out, portUse{allocator.TCP, uint16(s.Spec.HealthCheckNodePort)})
	}
	return out
}

func (w *Watcher) observe(obj any) {
	s, ok := obj.(*v1.Service)
	if !ok {
		return
	}
	key := s.Namespace + "/" + s.Name
	want := portsOf(s)
	w.mu.Lock()
	before := w.ports.Ports(key)
	w.ports.ReleaseOwner(key)
	added := false
	for _, u := range want {
		if err := w.ports.Restore(key, u.proto, u.port); err != nil {
			// The API server never assigns a port twice; a conflict means our view is behind
			// (the old holder's delete is still in flight). Its delete will settle it.
			w.logger.V(2).Info("NodePort held by another Service in our view", "service", key, "port", u.port, "err", err)
			continue
		}
		added = added || !slices.Contains(before, u.port)
	}
	st := w.ports.Stats()
	w.mu.Unlock()
	observeMetrics(st)
	if added && float64(st.Used) >= w.warnRatio*float64(st.Size) {
		w.recorder.Eventf(s, v1.EventTypeWarning, "NodePortRangeNearlyFull",
			"%d of the %d NodePorts of %d-%d are in use (%d free); new NodePort and LoadBalancer Services will fail once none is left: widen --service-node-port-range or set allocateLoadBalancerNodePorts: false where NodePorts are not needed",
			st.Used, st.Size, st.Range.First, st.Range.Last, st.Free)
	}
}

func (w *Watcher) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*v1.Service)
	if !ok {
		return
	}
	w.mu.Lock()
	w.ports.ReleaseOwner(s.Namespace + "/" + s.Name)
	st := w.ports.Stats()
	w.mu.Unlock()
	observeMetrics(st)
}

// String describes the range's use, for logs.
func (w *Watcher) String() string {
	st := w.ports.Stats()
	return fmt.Sprintf("%d/%d NodePorts used in %d-%d", st.Used, st.Size, st.Range.First, st.Range.Last)
}
