package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// L2Advertisement tells the speakers which pools' addresses to announce over layer 2 (ARP for
// IPv4, NDP for IPv6), from which nodes and on which interfaces. An address is announced over
// layer 2 only when at least one L2Advertisement selects its pool; with none, the speakers
// announce nothing over layer 2 and IPAllocation reports Announced=False, reason NotAdvertised.
//
// Several L2Advertisements add up. A node may announce an address when some advertisement
// selects both the address's pool and the node. On that node the address is announced on the
// union of the interfaces of every advertisement that selects both; an advertisement that names
// no interface adds the interface whose subnet holds the address.
//
// Of the nodes that may announce an address, one at a time does (layer 2 has one owner per
// address); which one it is, and since when, is in the IPAllocation's status.announcers.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=frontdesk
// +kubebuilder:printcolumn:name="IP Pools",type=string,JSONPath=`.spec.ipPools`
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`
// +kubebuilder:printcolumn:name="IP Pool Selectors",type=string,JSONPath=`.spec.ipPoolSelectors`,priority=1
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +genclient
// +genclient:nonNamespaced
// +genclient:noStatus
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec L2AdvertisementSpec `json:"spec,omitempty"`
}

// L2AdvertisementSpec selects pools, nodes and interfaces. Every field may be empty: an
// L2Advertisement with an empty spec announces every pool from every node on the interface
// whose subnet holds each address.
type L2AdvertisementSpec struct {
	// IPPools names the pools whose addresses are announced. A pool is selected when it is
	// named here or its labels match one of IPPoolSelectors; when both are empty, every pool is
	// selected. A name of no existing pool selects nothing (the pool may be created later).
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule=`!format.dns1123Subdomain().validate(self).hasValue()`,message=`each entry of spec.ipPools must be the name of an IPPool: a DNS subdomain of lower case letters, digits, - and . (such as blue or pool-1.example)`
	IPPools []string `json:"ipPools,omitempty"`

	// IPPoolSelectors selects the pools whose labels match at least one of the selectors, in
	// addition to those named in IPPools. Both empty means every pool.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	IPPoolSelectors []metav1.LabelSelector `json:"ipPoolSelectors,omitempty"`

	// NodeSelectors limits the nodes that may announce to those whose labels match at least
	// one of the selectors. Empty means every node that runs a speaker.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Interfaces are the names of the Linux network interfaces the addresses are announced on,
	// on every selected node (a node lacking one of them announces on the others). Empty means
	// the interface whose subnet holds the address; a node with no such interface cannot
	// announce the address from this advertisement (Announced=False, reason NoSubnet, when no
	// node can).
	//
	// A name is 1 to 15 printable ASCII characters (the kernel's limit is 15 bytes) without
	// '/', ':' or whitespace, and is not "." or "..": the names the kernel and systemd accept.
	// ':' is refused because eth0:1 is a legacy address label, not an interface; name eth0.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=15
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[!-~]+$') && !self.contains('/') && !self.contains(':') && self != '.' && self != '..'`,messageExpression=`'not a Linux interface name: ' + (self == "" ? 'it is empty' : self == '.' || self == '..' ? '. and .. are not allowed' : self.contains('/') ? 'it contains /' : self.contains(':') ? 'it contains : (eth0:1 is an address label; name the interface, eth0)' : 'it contains whitespace, a control character or non-ASCII') + '; each entry of spec.interfaces must be 1 to 15 printable ASCII characters without /, : or whitespace, such as eth0 or bond0.100'`,message=`each entry of spec.interfaces must be a Linux interface name: 1 to 15 printable ASCII characters without /, : or whitespace, not . or .., such as eth0 or bond0.100`
	Interfaces []string `json:"interfaces,omitempty"`
}

// L2AdvertisementList is a list of L2Advertisements.
//
// +kubebuilder:object:root=true
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}
