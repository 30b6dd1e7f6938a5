package aws

import (
	"context"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	cloudprovider "k8s.io/cloud-provider"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/providers/aws/model"
)

// Initialize starts what the provider needs from the cluster: Services (for
// the sweep) and EndpointSlices (for ip targets), an event recorder, and the
// sweep loop. All of it stops with stop.
func (c *Cloud) Initialize(clientBuilder cloudprovider.ControllerClientBuilder, stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	kube := clientBuilder.ClientOrDie("frontdesk-aws")
	factory := informers.NewSharedInformerFactory(kube, 0)
	svcs := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	svcLister, sliceLister := svcs.Lister(), slices.Lister()
	svcInformer, sliceInformer := svcs.Informer(), slices.Informer()
	factory.Start(ctx.Done())

	c.mu.Lock()
	c.opts.Endpoints = func(ns, name string) ([]model.Endpoint, error) {
		list, err := sliceLister.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
		if err != nil {
			return nil, err
		}
		return endpointsOf(list), nil
	}
	c.mu.Unlock()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "frontdesk-aws"})

	go func() {
		defer broadcaster.Shutdown()
		if !cache.WaitForCacheSync(ctx.Done(), svcInformer.HasSynced, sliceInformer.HasSynced) {
			return
		}
		go c.followEndpoints(ctx, sliceInformer, svcLister)
		if c.cfg.SweepInterval.Duration < 0 {
			<-ctx.Done()
			return
		}
		// A miss in the cache is confirmed by the API server before anything
		// is deleted: a Service created a moment ago may be known to the
		// service controller, which is creating its load balancer, and not
		// yet to this informer. Any doubt keeps the resources.
		lookup := func(ns, name string) (*v1.Service, bool, error) {
			if s, err := svcLister.Services(ns).Get(name); err == nil {
				return s, true, nil
			}
			s, err := kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, false, nil
			}
			return s, err == nil, err
		}
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			if _, err := c.Sweep(ctx, lookup, recorder, c.cfg.SweepDryRun); err != nil {
				klog.FromContext(ctx).Error(err, "AWS sweep failed")
			}
		}, c.cfg.SweepInterval.Duration)
	}()
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
