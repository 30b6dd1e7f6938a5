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
// The status says which nodes announce the address. The speakers write it, through the status
// subresource; the controller never does, and its spec writes leave the status as it is.
// `kubectl get ipallocations` shows it in the Announced By column, which names the first
// announcer only (a CRD printer column prints the first value its JSONPath finds); all of them
// are in status.announcers and in the Announced condition's message.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=frontdesk
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.pool`
// +kubebuilder:printcolumn:name="Announced By",type=string,JSONPath=`.status.announcers[*].node`
// +kubebuilder:printcolumn:name="Announced",type=string,JSONPath=`.status.conditions[?(@.type=="Announced")].status`,priority=1
// +kubebuilder:printcolumn:name="Sharing Key",type=string,JSONPath=`.spec.sharingKey`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule=`!isIP(self.spec.address) || !ip.isCanonical(self.spec.address) || self.metadata.name == (ip(self.spec.address).family() == 4 ? self.spec.address : (self.spec.address.startsWith(':') ? '0' : "") + self.spec.address.replace(':', '-') + (self.spec.address.endsWith(':') ? '0' : ""))`,messageExpression=`'metadata.name must be ' + (ip(self.spec.address).family() == 4 ? self.spec.address : (self.spec.address.startsWith(':') ? '0' : "") + self.spec.address.replace(':', '-') + (self.spec.address.endsWith(':') ? '0' : "")) + ', the name of address ' + self.spec.address + ' (IPv6 addresses are named with - for :, as in 2001-db8--7 for 2001:db8::7)'`,message=`metadata.name must encode spec.address: the address itself for IPv4, the address with - for : for IPv6 (2001-db8--7 for 2001:db8::7)`,fieldPath=`.spec.address`
// +genclient
// +genclient:nonNamespaced
type IPAllocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec IPAllocationSpec `json:"spec"`
	// +optional
	Status IPAllocationStatus `json:"status,omitempty"`
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

// IPAllocationStatus is where the address is announced from, as the speakers report it.
type IPAllocationStatus struct {
	// Announcers are the nodes announcing the address now, one entry per node and mode. Over
	// layer 2 there is one at a time (a second one appears briefly during a handover); over
	// BGP every node that peers may announce. A speaker adds its entry when it starts
	// announcing and removes it when it stops; an entry whose node is gone is removed by the
	// speaker that takes over.
	//
	// +optional
	// +listType=map
	// +listMapKey=node
	// +listMapKey=mode
	// +kubebuilder:validation:MaxItems=5000
	Announcers []Announcer `json:"announcers,omitempty"`

	// Conditions are the address's observed state; the type is IPAllocationConditionAnnounced.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// Announcer is one node announcing an address in one mode.
//
// +kubebuilder:validation:XValidation:rule=`self.mode == 'L2' || !has(self.interface)`,message=`interface is set only for mode L2: a BGP announcement is not bound to an interface`,fieldPath=`.interface`
type Announcer struct {
	// Node is the name of the node announcing the address.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node"`

	// Mode is how the node announces the address: L2 (ARP or NDP replies) or BGP.
	//
	// +required
	Mode AnnouncementMode `json:"mode"`

	// Interface is the network interface the address is announced on, for mode L2. When the
	// address is announced on several interfaces of the node, they are joined by commas in
	// name order (eth0,eth1).
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1023
	Interface string `json:"interface,omitempty"`

	// Since is when the node started announcing the address.
	//
	// +required
	Since metav1.Time `json:"since"`
}

// AnnouncementMode is how a node announces an address.
//
// +kubebuilder:validation:Enum=L2;BGP
type AnnouncementMode string

// The announcement modes.
const (
	// AnnouncementModeL2 is layer 2: the node answers ARP (IPv4) and NDP (IPv6) for the address.
	AnnouncementModeL2 AnnouncementMode = "L2"
	// AnnouncementModeBGP is a BGP route to the address with the node as next hop.
	AnnouncementModeBGP AnnouncementMode = "BGP"
)

// The condition types of an IPAllocation.
const (
	// IPAllocationConditionAnnounced is True when at least one node announces the address
	// (status.announcers is not empty), and False with the reason why none does. The speakers
	// set it along with status.announcers. Reasons: IPAllocationReasonAnnouncing (True);
	// IPAllocationReasonNotAdvertised, IPAllocationReasonNoEligibleNode,
	// IPAllocationReasonNoSubnet and IPAllocationReasonInterfaceUnavailable (False). The message says which nodes or which advertisement.
	IPAllocationConditionAnnounced = "Announced"
)

// The reasons of IPAllocation conditions.
const (
	// IPAllocationReasonAnnouncing: some node announces the address; the message names every
	// announcer (the Announced By column shows only the first).
	IPAllocationReasonAnnouncing = "Announcing"
	// IPAllocationReasonNotAdvertised: no L2Advertisement (nor BGP advertisement) selects the
	// address's pool, so no node is asked to announce it.
	IPAllocationReasonNotAdvertised = "NotAdvertised"
	// IPAllocationReasonNoEligibleNode: the pool is advertised, but no node may announce the
	// address now (none matches the advertisements' nodeSelectors, or none that does is ready
	// or runs a speaker, or none holds a ready endpoint of a Service with
	// externalTrafficPolicy Local).
	IPAllocationReasonNoEligibleNode = "NoEligibleNode"
	// IPAllocationReasonNoSubnet: the advertisements name no interface, and no interface of an
	// eligible node has a subnet that holds the address, so the speakers do not know where to
	// announce it. Name the interfaces in spec.interfaces, or add the subnet to a node.
	IPAllocationReasonNoSubnet = "NoSubnet"
	// IPAllocationReasonInterfaceUnavailable: the node elected to announce the address cannot,
	// because every interface it would announce on is missing or down; the message names them.
	// The speaker retries, and announces as soon as an interface is back.
	IPAllocationReasonInterfaceUnavailable = "InterfaceUnavailable"
	// IPAllocationReasonNotForwarded: the node elected to announce the address runs the node
	// proxy (frontdesk-speaker --proxy=nftables), and its rules do not forward the address yet
	// (just created, or externalTrafficPolicy Local without a local endpoint there). The speaker
	// announces it as soon as they do: a client is never sent to a node that would drop it.
	IPAllocationReasonNotForwarded = "NotForwarded"
)

// IPAllocationList is a list of IPAllocations.
//
// +kubebuilder:object:root=true
type IPAllocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAllocation `json:"items"`
}
