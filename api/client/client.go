// Package client is a small typed client for the frontdesk.dev/v1alpha1 API: IPPool,
// IPAllocation and L2Advertisement clients built on client-go's generic gentype clients (what client-gen emits
// since Kubernetes 1.31, without the generator), informers over them, and the scheme that
// encodes the types.
//
// A controller that records Events about IPPools must also add the types to the scheme of its
// event recorder: v1alpha1.AddToScheme(scheme.Scheme).
package client

import (
	"context"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

var (
	// Scheme holds the frontdesk.dev/v1alpha1 types and the meta/v1 option types.
	Scheme = runtime.NewScheme()
	// Codecs encode and decode the types of Scheme.
	Codecs = serializer.NewCodecFactory(Scheme)
	// ParameterCodec turns option structs (ListOptions, ...) into query parameters.
	ParameterCodec = runtime.NewParameterCodec(Scheme)
)

func init() {
	utilruntime.Must(v1alpha1.AddToScheme(Scheme))
	// The option types under the unversioned "v1", as every client-gen scheme registers them.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
}

// IPPoolInterface reads and writes IPPools.
type IPPoolInterface interface {
	Create(ctx context.Context, pool *v1alpha1.IPPool, opts metav1.CreateOptions) (*v1alpha1.IPPool, error)
	Update(ctx context.Context, pool *v1alpha1.IPPool, opts metav1.UpdateOptions) (*v1alpha1.IPPool, error)
	// UpdateStatus writes the status subresource: only status changes, spec is ignored.
	UpdateStatus(ctx context.Context, pool *v1alpha1.IPPool, opts metav1.UpdateOptions) (*v1alpha1.IPPool, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.IPPool, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.IPPoolList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
		subresources ...string) (*v1alpha1.IPPool, error)
}

// IPAllocationInterface reads and writes IPAllocations. Create is the allocation lock: it fails
// with AlreadyExists when another writer holds the address.
type IPAllocationInterface interface {
	Create(ctx context.Context, a *v1alpha1.IPAllocation, opts metav1.CreateOptions) (*v1alpha1.IPAllocation, error)
	Update(ctx context.Context, a *v1alpha1.IPAllocation, opts metav1.UpdateOptions) (*v1alpha1.IPAllocation, error)
	// UpdateStatus writes the status subresource (the speakers' announcers and conditions):
	// only status changes, spec is ignored. Update, conversely, leaves status as stored.
	UpdateStatus(ctx context.Context, a *v1alpha1.IPAllocation, opts metav1.UpdateOptions) (*v1alpha1.IPAllocation, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.IPAllocation, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.IPAllocationList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
		subresources ...string) (*v1alpha1.IPAllocation, error)
}

// L2AdvertisementInterface reads and writes L2Advertisements.
type L2AdvertisementInterface interface {
	Create(ctx context.Context, a *v1alpha1.L2Advertisement, opts metav1.CreateOptions) (*v1alpha1.L2Advertisement, error)
	Update(ctx context.Context, a *v1alpha1.L2Advertisement, opts metav1.UpdateOptions) (*v1alpha1.L2Advertisement, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.L2Advertisement, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.L2AdvertisementList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
		subresources ...string) (*v1alpha1.L2Advertisement, error)
}

// Interface is the frontdesk.dev/v1alpha1 client.
type Interface interface {
	IPPools() IPPoolInterface
	IPAllocations() IPAllocationInterface
	L2Advertisements() L2AdvertisementInterface
}

// Clientset implements Interface over one REST client.
type Clientset struct {
	rest        rest.Interface
	pools       *gentype.ClientWithList[*v1alpha1.IPPool, *v1alpha1.IPPoolList]
	allocations *gentype.ClientWithList[*v1alpha1.IPAllocation, *v1alpha1.IPAllocationList]
	l2ads       *gentype.ClientWithList[*v1alpha1.L2Advertisement, *v1alpha1.L2AdvertisementList]
}

var _ Interface = (*Clientset)(nil)

// NewForConfig returns a client for the API server cfg points at. cfg is not changed.
func NewForConfig(cfg *rest.Config) (*Clientset, error) {
	config := rest.CopyConfig(cfg)
	setConfigDefaults(config)
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, err
	}
	return NewForConfigAndClient(config, httpClient)
}

// NewForConfigAndClient is NewForConfig with a given HTTP client, which takes precedence over
// the transport settings of cfg (so that several clients can share connections).
func NewForConfigAndClient(cfg *rest.Config, h *http.Client) (*Clientset, error) {
	config := rest.CopyConfig(cfg)
	setConfigDefaults(config)
	rc, err := rest.RESTClientForConfigAndClient(config, h)
	if err != nil {
		return nil, err
	}
	return New(rc), nil
}

// New returns a client over a REST client for frontdesk.dev/v1alpha1 (see NewForConfig for
// the settings it needs).
func New(rc rest.Interface) *Clientset {
	return &Clientset{
		rest: rc,
		pools: gentype.NewClientWithList[*v1alpha1.IPPool, *v1alpha1.IPPoolList](
			v1alpha1.IPPoolsResource.Resource, rc, ParameterCodec, "",
			func() *v1alpha1.IPPool { return &v1alpha1.IPPool{} },
			func() *v1alpha1.IPPoolList { return &v1alpha1.IPPoolList{} }),
		allocations: gentype.NewClientWithList[*v1alpha1.IPAllocation, *v1alpha1.IPAllocationList](
			v1alpha1.IPAllocationsResource.Resource, rc, ParameterCodec, "",
			func() *v1alpha1.IPAllocation { return &v1alpha1.IPAllocation{} },
			func() *v1alpha1.IPAllocationList { return &v1alpha1.IPAllocationList{} }),
		l2ads: gentype.NewClientWithList[*v1alpha1.L2Advertisement, *v1alpha1.L2AdvertisementList](
			v1alpha1.L2AdvertisementsResource.Resource, rc, ParameterCodec, "",
			func() *v1alpha1.L2Advertisement { return &v1alpha1.L2Advertisement{} },
			func() *v1alpha1.L2AdvertisementList { return &v1alpha1.L2AdvertisementList{} }),
	}
}

func setConfigDefaults(config *rest.Config) {
	gv := v1alpha1.SchemeGroupVersion
	config.GroupVersion = &gv
	config.APIPath = "/apis"
	// Custom resources are served as JSON, never protobuf. Callers often hand us a config made for
	// the built-in types with protobuf set (the cloud-controller-manager's client builder does), so
	// the content type is forced here rather than left to the caller.
	config.ContentType = "application/json"
	config.AcceptContentTypes = "application/json"
	config.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(Scheme, Codecs).WithoutConversion()
	if config.UserAgent == "" {
		config.UserAgent = rest.DefaultKubernetesUserAgent()
	}
}

// IPPools returns the IPPool client.
func (c *Clientset) IPPools() IPPoolInterface { return c.pools }

// IPAllocations returns the IPAllocation client.
func (c *Clientset) IPAllocations() IPAllocationInterface { return c.allocations }

// L2Advertisements returns the L2Advertisement client.
func (c *Clientset) L2Advertisements() L2AdvertisementInterface { return c.l2ads }

// RESTClient returns the underlying REST client.
func (c *Clientset) RESTClient() rest.Interface { return c.rest }
