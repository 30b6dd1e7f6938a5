package aws

import (
	"context"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// Initialize is called by the cloud-controller-manager before its
// controllers start, and SetInformers right after it. The sweep starts once
// both are done and the shared caches have synced; it stops with stop.
func (c *Cloud) Initialize(clientBuilder cloudprovider.ControllerClientBuilder, stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	kube := clientBuilder.ClientOrDie("frontdesk-aws")
	go func() {
		select { // the controller manager calls SetInformers as soon as Initialize returns
		case <-c.informersSet:
		case <-ctx.Done():
			return
		}
		c.mu.Lock()
		shared := c.shared
		c.mu.Unlock()
		c.runSweep(ctx, kube, shared)
	}()
}

// sharedInformers are what the provider reads from the controller manager's
// informers: Services for the sweep, EndpointSlices for ip targets. The
// service controller watches the same ones, so the process keeps one cache
// of each.
type sharedInformers struct {
	services    corelisters.ServiceLister
	servicesOK  cache.InformerSynced
	slicesOK    cache.InformerSynced
	sliceLister discoverylisters.EndpointSliceLister
}

// SetInformers implements cloudprovider.InformerUser. The informers are
// requested here, before the controller manager starts its factory. The
// service controller, to which the provider is an EndpointsFollower, waits
// for the EndpointSlice cache before its first EnsureLoadBalancer, so ip
// targets are never registered from an empty cache.
func (c *Cloud) SetInformers(f informers.SharedInformerFactory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared != nil {
		return
	}
	svcs, slices := f.Core().V1().Services(), f.Discovery().V1().EndpointSlices()
	c.shared = &sharedInformers{
		services: svcs.Lister(), servicesOK: svcs.Informer().HasSynced,
		sliceLister: slices.Lister(), slicesOK: slices.Informer().HasSynced,
	}
	sliceLister := c.shared.sliceLister
	c.opts.Endpoints = func(ns, name string) ([]model.Endpoint, error) {
		list, err := sliceLister.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
		if err != nil {
			return nil, err
		}
		return endpointsOf(list), nil
	}
	close(c.informersSet)
}

// runSweep runs the sweep every SweepInterval until ctx ends.
func (c *Cloud) runSweep(ctx context.Context, kube kubernetes.Interface, shared *sharedInformers) {
	if !cache.WaitForCacheSync(ctx.Done(), shared.servicesOK, shared.slicesOK) || c.cfg.SweepInterval.Duration < 0 {
		return
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	defer broadcaster.Shutdown()
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "frontdesk-aws"})

	// A miss in the cache is confirmed by the API server before anything is
	// deleted: a Service created a moment ago may be known to the service
	// controller, which is creating its load balancer, and not yet to the
	// cache. Any doubt keeps the resources. The confirmation lists by name:
	// the controller may list Services but not get them (docs/chart.md).
	lookup := func(ns, name string) (*v1.Service, bool, error) {
		if s, err := shared.services.Services(ns).Get(name); err == nil {
			return s, true, nil
		}
		list, err := kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err != nil {
			return nil, false, err
		}
		if len(list.Items) == 0 {
			return nil, false, nil
		}
		return &list.Items[0], true, nil
	}
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if _, err := c.Sweep(ctx, lookup, recorder, c.cfg.SweepDryRun); err != nil {
			klog.FromContext(ctx).Error(err, "AWS sweep failed")
		}
	}, c.cfg.SweepInterval.Duration)
}

// endpointsOf gathers ready addresses with their named ports.
func endpointsOf(slices []*discoveryv1.EndpointSlice) []model.Endpoint {
	var out []model.Endpoint
	for _, s := range slices {
		ports := map[string]int32{}
		for _, p := range s.Ports {
			if p.Port != nil {
				name := ""
				if p.Name != nil {
					name = *p.Name
				}
				ports[name] = *p.Port
			}
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if addr, err := netip.ParseAddr(a); err == nil {
					out = append(out, model.Endpoint{Addr: addr, Ports: ports})
				}
			}
		}
	}
	return out
}

func typesUID(s string) types.UID { return types.UID(s) }
