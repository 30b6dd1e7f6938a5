package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// IPAllocation records that one address is taken: it is the truth the bare-metal allocator
// restores from, and creating it is the lock (see docs/design/controller.md). There is one
// object per allocated address, named after the address by IPAllocationName, so that of two
// controllers that pick the same address only one Create succeeds. Services that share the
// address are listed in spec.services; joining or leaving is an Update with the object's
// resourceVersion.
//
// The address and the pool cannot change: a different address is a different object, and
// moving an address between pools is a release followed by a new allocation.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=frontdesk
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.pool`
// +kubebuilder:printcolumn:name="Sharing Key",type=string,JSONPath=`.spec.sharingKey`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule=`!isIP(self.spec.address) || !ip.isCanonical(self.spec.address) || self.metadata.name == (ip(self.spec.address).family() == 4 ? self.spec.address : (self.spec.address.startsWith(':') ? '0' : "") + self.spec.address.replace(':', '-') + (self.spec.address.endsWith(':') ? '0' : ""))`,messageExpression=`'metadata.name must be ' + (ip(self.spec.address).family() == 4 ? self.spec.address : (self.spec.address.startsWith(':') ? '0' : "") + self.spec.address.replace(':', '-') + (self.spec.address.endsWith(':') ? '0' : "")) + ', the name of address ' + self.spec.address + ' (IPv6 addresses are named with - for :, as in 2001-db8--7 for 2001:db8::7)'`,message=`metadata.name must encode spec.address: the address itself for IPv4, the address with - for : for IPv6 (2001-db8--7 for 2001:db8::7)`,fieldPath=`.spec.address`
type IPAllocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IPAllocationSpec `json:"spec"`
}

// IPAllocationSpec is the allocated address, its pool and the Services holding it.
type IPAllocationSpec struct {
	// Address is the allocated address in canonical form (RFC 5952 for IPv6: lower case, zeros
	// compressed), the form netip.Addr.String gives. It must be the address metadata.name
	// encodes, and cannot change.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=39
	// +kubebuilder:validation:XValidation:rule=`isIP(self) && ip.isCanonical(self)`,messageExpression=`isIP(self) ? 'not in canonical form: write it in lower case with the longest run of zero groups as ::, as in 2001:db8::7' : 'not an IP address; want an IPv4 or IPv6 address in canonical form, such as 198.51.100.7 or 2001:db8::7'`,message=`spec.address must be an IP address in canonical form, such as 198.51.100.7 or 2001:db8::7`
	// +kubebuilder:validation:XValidation:rule=`self == oldSelf`,message=`spec.address is immutable: release this IPAllocation and create one for the other address`
	Address string `json:"address"`

	// Pool is the name of the IPPool the address was drawn from. It cannot change.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self == oldSelf`,message=`spec.pool is immutable: release this IPAllocation and allocate from the other pool`
	Pool string `json:"pool"`

	// SharingKey is the sharing key of the Services holding the address (they share one only
	// when their keys are equal and not empty). Empty means the address is not shared.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SharingKey string `json:"sharingKey,omitempty"`

	// Services are the Services holding the address.
	//
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	Services []ServiceRef `json:"services,omitempty"`
}

// ServiceRef names one Service holding an address. The UID tells a Service from a later one of
// the same name, which must not inherit the address by accident.
type ServiceRef struct {
	// Namespace is the Service's namespace.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// Name is the Service's name.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// UID is the Service's metadata.uid.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=128
	UID types.UID `json:"uid"`
}

// IPAllocationList is a list of IPAllocations.
//
// +kubebuilder:object:root=true
type IPAllocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAllocation `json:"items"`
}
