package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceCommunitiesAnnotation on a Service asks for BGP communities on its addresses' routes,
// as a comma-separated list (65000:100,no-export). Only the communities a BGPAdvertisement
// allows in spec.serviceCommunities are attached; the others are ignored and an Event says so.
// On an address shared by several Services, a community is attached only when every one of
// them asks for it: one Service cannot change how the router treats the others' traffic.
const ServiceCommunitiesAnnotation = "frontdesk.dev/bgp-communities"

// BGPAdvertisement tells the speakers which pools' addresses to advertise over BGP, to which
// peers, from which nodes and with which attributes. An address is advertised over BGP only
// when at least one BGPAdvertisement selects its pool.
//
// Every node that some advertisement selects, and that peers with a selected BGPPeer,
// advertises the address with itself as next hop (as a /32 or /128 unless aggregated), so the
// router spreads traffic over those nodes. For a Service with externalTrafficPolicy Local,
// only nodes with a ready endpoint of the Service advertise.
//
// Several BGPAdvertisements add up: a route to a peer carries the communities and large
// communities of every advertisement that selects the address, the node and the peer, and the
// highest local preference among them.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=frontdesk
// +kubebuilder:printcolumn:name="IP Pools",type=string,JSONPath=`.spec.ipPools`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Communities",type=string,JSONPath=`.spec.communities`,priority=1
// +kubebuilder:printcolumn:name="Local Pref",type=integer,JSONPath=`.spec.localPreference`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +genclient
// +genclient:nonNamespaced
// +genclient:noStatus
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec BGPAdvertisementSpec `json:"spec,omitempty"`
}

// BGPAdvertisementSpec selects pools, nodes and peers and sets route attributes. Every field
// may be empty: an empty spec advertises every pool from every node to every peer.
type BGPAdvertisementSpec struct {
	// IPPools names the pools whose addresses are advertised. A pool is selected when it is
	// named here or its labels match one of IPPoolSelectors; both empty means every pool.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule=`!format.dns1123Subdomain().validate(self).hasValue()`,message=`each entry of spec.ipPools must be the name of an IPPool: a DNS subdomain of lower case letters, digits, - and . (such as blue or pool-1.example)`
	IPPools []string `json:"ipPools,omitempty"`

	// IPPoolSelectors selects pools by label, in addition to IPPools.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	IPPoolSelectors []metav1.LabelSelector `json:"ipPoolSelectors,omitempty"`

	// NodeSelectors limits the advertising nodes to those matching one selector. Empty means
	// every node that runs a speaker.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Peers names the BGPPeers the addresses are advertised to. Empty means every peer.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule=`!format.dns1123Subdomain().validate(self).hasValue()`,message=`each entry of spec.peers must be the name of a BGPPeer: a DNS subdomain such as tor1`
	Peers []string `json:"peers,omitempty"`

	// Communities are BGP communities (RFC 1997) attached to the routes: ASN:VALUE with both
	// halves 0 to 65535 (65000:100), or one of the well-known names no-export, no-advertise,
	// no-export-subconfed, no-peer.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=19
	// +kubebuilder:validation:items:XValidation:rule=`self in ['no-export', 'no-advertise', 'no-export-subconfed', 'no-peer'] || self.matches('^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0):(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)$')`,message=`each entry of spec.communities must be a community ASN:VALUE with both halves 0 to 65535 in decimal without leading zeros (65000:100), or no-export, no-advertise, no-export-subconfed or no-peer`
	Communities []string `json:"communities,omitempty"`

	// LargeCommunities are BGP large communities (RFC 8092) attached to the routes:
	// GLOBAL:LOCAL1:LOCAL2, each part 0 to 4294967295 in decimal (65000:1:2).
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,9})$') && self.split(':').all(p, int(p) <= 4294967295)`,message=`each entry of spec.largeCommunities must be a large community GLOBAL:LOCAL1:LOCAL2, each part 0 to 4294967295 in decimal without leading zeros (65000:1:2)`
	LargeCommunities []string `json:"largeCommunities,omitempty"`

	// LocalPreference is the LOCAL_PREF of the routes, 0 to 4294967295. It is sent to iBGP
	// peers only (RFC 4271 section 5.1.5); eBGP peers never see it.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	LocalPreference *int64 `json:"localPreference,omitempty"`

	// AggregationLength is the prefix length of the IPv4 routes, 8 to 32, default 32: with
	// 24, every address of 198.51.100.0/24 is advertised as that one /24 route. The route must
	// cover only addresses of the address's pool (for a CIDR entry: no shorter than its
	// prefix; for a range: the route around the address must lie inside it): otherwise this
	// advertisement does not advertise the address, and a BGPAggregationRefused Warning Event
	// on it says why. The API server refuses lengths under 8 (no pool entry is larger than a
	// /8, and 0 would be a default route: issue 17).
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	// +kubebuilder:validation:XValidation:rule=`self >= 8`,message=`spec.aggregationLength must be 8 to 32: no IPPool entry is larger than a /8, so a shorter route (0 is a default route) would advertise addresses no pool holds; use the prefix length of the pools advertised, or 32`
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the prefix length of the IPv6 routes, 32 to 128, default 128. As
	// with AggregationLength, the route must stay in the address's pool, and lengths under 32
	// (the largest IPv6 pool entry) are refused.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:validation:XValidation:rule=`self >= 32`,message=`spec.aggregationLengthV6 must be 32 to 128: no IPPool entry is larger than a /32, so a shorter route (0 is a default route) would advertise addresses no pool holds; use the prefix length of the pools advertised, or 128`
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// ServiceCommunities are the communities a Service may ask for with the
	// frontdesk.dev/bgp-communities annotation: a community as in Communities, or ASN:* for
	// every community of that ASN half (65000:*). Empty means a Service may ask for none.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=19
	// +kubebuilder:validation:items:XValidation:rule=`self in ['no-export', 'no-advertise', 'no-export-subconfed', 'no-peer'] || self.matches('^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0):(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0|\\*)$')`,message=`each entry of spec.serviceCommunities must be a community ASN:VALUE (65000:100), ASN:* (65000:*), or no-export, no-advertise, no-export-subconfed or no-peer`
	ServiceCommunities []string `json:"serviceCommunities,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisements.
//
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}
