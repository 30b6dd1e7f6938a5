package client

import (
	"context"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// BGPPeerInterface reads BGPPeers and writes their status.
type BGPPeerInterface interface {
	Create(ctx context.Context, p *v1alpha1.BGPPeer, opts metav1.CreateOptions) (*v1alpha1.BGPPeer, error)
	Update(ctx context.Context, p *v1alpha1.BGPPeer, opts metav1.UpdateOptions) (*v1alpha1.BGPPeer, error)
	UpdateStatus(ctx context.Context, p *v1alpha1.BGPPeer, opts metav1.UpdateOptions) (*v1alpha1.BGPPeer, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.BGPPeer, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.BGPPeerList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	// Patch with types.ApplyPatchType and subresource "status" is how each speaker writes its
	// own entry of status.sessions (a map list keyed by node) without touching the others'.
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions,
		subresources ...string) (*v1alpha1.BGPPeer, error)
}

// BGPAdvertisementInterface reads and writes BGPAdvertisements.
type BGPAdvertisementInterface interface {
	Create(ctx context.Context, a *v1alpha1.BGPAdvertisement, opts metav1.CreateOptions) (*v1alpha1.BGPAdvertisement, error)
	Update(ctx context.Context, a *v1alpha1.BGPAdvertisement, opts metav1.UpdateOptions) (*v1alpha1.BGPAdvertisement, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1alpha1.BGPAdvertisement, error)
	List(ctx context.Context, opts metav1.ListOptions) (*v1alpha1.BGPAdvertisementList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// BGPInterface is the client of the BGP kinds. It is separate from Interface so that the
// controller, which never reads them, needs no change (and no RBAC) for BGP.
type BGPInterface interface {
	BGPPeers() BGPPeerInterface
	BGPAdvertisements() BGPAdvertisementInterface
}

// BGPClientset implements BGPInterface.
type BGPClientset struct {
	peers *gentype.ClientWithList[*v1alpha1.BGPPeer, *v1alpha1.BGPPeerList]
	ads   *gentype.ClientWithList[*v1alpha1.BGPAdvertisement, *v1alpha1.BGPAdvertisementList]
}

var _ BGPInterface = (*BGPClientset)(nil)

// NewBGPForConfig returns a BGP client for the API server cfg points at. cfg is not changed.
func NewBGPForConfig(cfg *rest.Config) (*BGPClientset, error) {
	config := rest.CopyConfig(cfg)
	setConfigDefaults(config)
	h, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, err
	}
	return newBGPForConfigAndClient(config, h)
}

func newBGPForConfigAndClient(config *rest.Config, h *http.Client) (*BGPClientset, error) {
	rc, err := rest.RESTClientForConfigAndClient(config, h)
	if err != nil {
		return nil, err
	}
	return &BGPClientset{
		peers: gentype.NewClientWithList[*v1alpha1.BGPPeer, *v1alpha1.BGPPeerList](
			v1alpha1.BGPPeersResource.Resource, rc, ParameterCodec, "",
			func() *v1alpha1.BGPPeer { return &v1alpha1.BGPPeer{} },
			func() *v1alpha1.BGPPeerList { return &v1alpha1.BGPPeerList{} }),
		ads: gentype.NewClientWithList[*v1alpha1.BGPAdvertisement, *v1alpha1.BGPAdvertisementList](
			v1alpha1.BGPAdvertisementsResource.Resource, rc, ParameterCodec, "",
			func() *v1alpha1.BGPAdvertisement { return &v1alpha1.BGPAdvertisement{} },
			func() *v1alpha1.BGPAdvertisementList { return &v1alpha1.BGPAdvertisementList{} }),
	}, nil
}

// BGPPeers returns the BGPPeer client.
func (c *BGPClientset) BGPPeers() BGPPeerInterface { return c.peers }

// BGPAdvertisements returns the BGPAdvertisement client.
func (c *BGPClientset) BGPAdvertisements() BGPAdvertisementInterface { return c.ads }

// NewBGPPeerInformer returns an informer of every BGPPeer.
func NewBGPPeerInformer(c BGPInterface, resync time.Duration) cache.SharedIndexInformer {
	peers := c.BGPPeers()
	return cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return peers.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return peers.Watch(ctx, o)
		},
	}, &v1alpha1.BGPPeer{}, resync, withNamespaceIndex(nil))
}

// NewBGPAdvertisementInformer returns an informer of every BGPAdvertisement.
func NewBGPAdvertisementInformer(c BGPInterface, resync time.Duration) cache.SharedIndexInformer {
	ads := c.BGPAdvertisements()
	return cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return ads.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return ads.Watch(ctx, o)
		},
	}, &v1alpha1.BGPAdvertisement{}, resync, withNamespaceIndex(nil))
}

// BGPPeerLister lists and gets BGPPeers from an informer's cache.
type BGPPeerLister = listers.ResourceIndexer[*v1alpha1.BGPPeer]

// BGPAdvertisementLister lists and gets BGPAdvertisements from an informer's cache.
type BGPAdvertisementLister = listers.ResourceIndexer[*v1alpha1.BGPAdvertisement]

// NewBGPPeerLister returns a lister over the indexer of a BGPPeer informer.
func NewBGPPeerLister(indexer cache.Indexer) BGPPeerLister {
	return listers.New[*v1alpha1.BGPPeer](indexer, v1alpha1.BGPPeersResource.GroupResource())
}

// NewBGPAdvertisementLister returns a lister over the indexer of a BGPAdvertisement informer.
func NewBGPAdvertisementLister(indexer cache.Indexer) BGPAdvertisementLister {
	return listers.New[*v1alpha1.BGPAdvertisement](indexer, v1alpha1.BGPAdvertisementsResource.GroupResource())
}
