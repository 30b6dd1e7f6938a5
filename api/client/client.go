// Package client is the one way frontdesk's processes and tests make a frontdesk.dev/v1alpha1
// client: the clientset, listers and informers that `make generate` writes under api/generated
// (Kubernetes' own code generators, pinned in hack/tools), over a config that speaks JSON.
//
// A controller that records Events about IPPools must also add the types to the scheme of its
// event recorder: v1alpha1.AddToScheme(scheme.Scheme).
package client

import (
	"time"

	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned"
	fdv1alpha1 "github.com/frontdesk-lb/frontdesk/api/generated/clientset/versioned/typed/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/api/generated/informers/externalversions"
)

// Interface is the client of every frontdesk.dev/v1alpha1 kind.
type Interface = fdv1alpha1.FrontdeskV1alpha1Interface

// InformerFactory makes each frontdesk.dev informer once, like client-go's factory for the
// built-in kinds.
type InformerFactory = externalversions.SharedInformerFactory

// JSONConfig returns a copy of cfg that speaks JSON. Custom resources are never served as
// protobuf, and callers often hand over a config made for the built-in types with protobuf set
// (the cloud-controller-manager's client builder does), so the content type is forced here
// rather than left to each caller.
func JSONConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.ContentType = "application/json"
	c.AcceptContentTypes = "application/json"
	return c
}

// NewForConfig returns a client for the API server cfg points at. cfg is not changed.
func NewForConfig(cfg *rest.Config) (Interface, error) {
	return fdv1alpha1.NewForConfig(JSONConfig(cfg))
}

// NewInformerFactory returns an informer factory over c's connection.
func NewInformerFactory(c Interface, resync time.Duration) InformerFactory {
	return externalversions.NewSharedInformerFactory(versioned.New(c.RESTClient()), resync)
}
