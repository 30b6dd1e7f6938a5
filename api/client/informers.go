package client

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/listers"
	"k8s.io/client-go/tools/cache"

	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
)

// IndexByPool is the name of the IPAllocation index by spec.pool (IPAllocationPoolIndexFunc),
// which turns "addresses of pool P" into one lookup.
const IndexByPool = "frontdesk.dev/pool"

// IPAllocationPoolIndexFunc indexes IPAllocations by spec.pool.
func IPAllocationPoolIndexFunc(obj any) ([]string, error) {
	a, ok := obj.(*v1alpha1.IPAllocation)
	if !ok {
		return nil, fmt.Errorf("IPAllocation index: got %T, want *v1alpha1.IPAllocation", obj)
	}
	return []string{a.Spec.Pool}, nil
}

// NewIPPoolInformer returns an informer of every IPPool. The caller runs it (Run(stopCh)) and
// stops it by closing stopCh. indexers may be nil.
func NewIPPoolInformer(c Interface, resync time.Duration, indexers cache.Indexers) cache.SharedIndexInformer {
	pools := c.IPPools()
	return cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return pools.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return pools.Watch(ctx, o)
		},
	}, &v1alpha1.IPPool{}, resync, withNamespaceIndex(indexers))
}

// NewIPAllocationInformer returns an informer of every IPAllocation, indexed by IndexByPool
// besides the given indexers (which may be nil).
func NewIPAllocationInformer(c Interface, resync time.Duration, indexers cache.Indexers) cache.SharedIndexInformer {
	allocations := c.IPAllocations()
	idx := withNamespaceIndex(indexers)
	idx[IndexByPool] = IPAllocationPoolIndexFunc
	return cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return allocations.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return allocations.Watch(ctx, o)
		},
	}, &v1alpha1.IPAllocation{}, resync, idx)
}

// NewL2AdvertisementInformer returns an informer of every L2Advertisement. indexers may be nil.
func NewL2AdvertisementInformer(c Interface, resync time.Duration, indexers cache.Indexers) cache.SharedIndexInformer {
	ads := c.L2Advertisements()
	return cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return ads.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return ads.Watch(ctx, o)
		},
	}, &v1alpha1.L2Advertisement{}, resync, withNamespaceIndex(indexers))
}

// withNamespaceIndex copies indexers and adds the namespace index every client-gen informer
// carries (a no-op for these cluster-scoped kinds, kept so generic listers work unchanged).
func withNamespaceIndex(indexers cache.Indexers) cache.Indexers {
	out := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	for k, v := range indexers {
		out[k] = v
	}
	return out
}

// IPPoolLister lists and gets IPPools from an informer's cache.
type IPPoolLister = listers.ResourceIndexer[*v1alpha1.IPPool]

// IPAllocationLister lists and gets IPAllocations from an informer's cache.
type IPAllocationLister = listers.ResourceIndexer[*v1alpha1.IPAllocation]

// L2AdvertisementLister lists and gets L2Advertisements from an informer's cache.
type L2AdvertisementLister = listers.ResourceIndexer[*v1alpha1.L2Advertisement]

// NewIPPoolLister returns a lister over the indexer of an IPPool informer.
func NewIPPoolLister(indexer cache.Indexer) IPPoolLister {
	return listers.New[*v1alpha1.IPPool](indexer, v1alpha1.IPPoolsResource.GroupResource())
}

// NewIPAllocationLister returns a lister over the indexer of an IPAllocation informer.
func NewIPAllocationLister(indexer cache.Indexer) IPAllocationLister {
	return listers.New[*v1alpha1.IPAllocation](indexer, v1alpha1.IPAllocationsResource.GroupResource())
}

// NewL2AdvertisementLister returns a lister over the indexer of an L2Advertisement informer.
func NewL2AdvertisementLister(indexer cache.Indexer) L2AdvertisementLister {
	return listers.New[*v1alpha1.L2Advertisement](indexer, v1alpha1.L2AdvertisementsResource.GroupResource())
}
