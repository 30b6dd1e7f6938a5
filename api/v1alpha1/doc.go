// Package v1alpha1 is the frontdesk.dev/v1alpha1 API of the bare-metal provider: IPPool, the
// addresses an administrator hands to LoadBalancer Services, and IPAllocation, the record that
// one address is taken (see docs/design/controller.md, "where the truth lives"), and
// L2Advertisement, which pools the speakers announce over layer 2, from which nodes and on which
// interfaces. The speakers report which node announces each address in IPAllocation's status.
//
// The CRDs in charts/frontdesk/crds are generated from these types by `make generate`; the CEL
// rules they carry, and what they leave to the controller, are described in README.md.
//
// +kubebuilder:object:generate=true
// +groupName=frontdesk.dev
package v1alpha1
