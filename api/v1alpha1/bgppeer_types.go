package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPPeer is a router the speakers open a BGP session with. Every selected node's speaker
// opens its own session to the peer and advertises, with itself as next hop, the addresses
// the BGPAdvertisements give it; the router then spreads traffic across the nodes (ECMP).
//
// The speakers never accept routes from a peer: everything a peer sends is refused by the
// import policy, so a peer cannot change how the nodes route.
//
// Each speaker reports its session in status.sessions (one entry per node):
//
//	kubectl get bgppeer tor1 -o jsonpath='{range .status.sessions[*]}{.node} {.state}{"\n"}{end}'
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=frontdesk
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="Peer ASN",type=integer,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="Local ASN",type=integer,JSONPath=`.spec.localASN`
// +kubebuilder:printcolumn:name="Session States",type=string,JSONPath=`.status.sessions[*].state`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule=`!has(self.spec.sourceAddress) || !isIP(self.spec.address) || !isIP(self.spec.sourceAddress) || ip(self.spec.address).family() == ip(self.spec.sourceAddress).family()`,message=`spec.sourceAddress must be of the family of spec.address (both IPv4 or both IPv6)`,fieldPath=`.spec.sourceAddress`
// +genclient
// +genclient:nonNamespaced
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec BGPPeerSpec `json:"spec"`
	// +optional
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerSpec is how to reach the peer and what the session looks like.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.ebgpMultiHop) || !has(self.ttlSecurityHops)`,message=`spec.ebgpMultiHop and spec.ttlSecurityHops exclude each other: multihop sends with a high TTL, TTL security (RFC 5082) requires the peer's packets to arrive with TTL 255 - hops; set one of them`,fieldPath=`.ttlSecurityHops`
// +kubebuilder:validation:XValidation:rule=`!has(self.keepaliveTimeSeconds) || (has(self.holdTimeSeconds) ? self.holdTimeSeconds : 90) == 0 || self.keepaliveTimeSeconds < (has(self.holdTimeSeconds) ? self.holdTimeSeconds : 90)`,message=`spec.keepaliveTimeSeconds must be less than spec.holdTimeSeconds (default 90); RFC 4271 suggests a third of it`,fieldPath=`.keepaliveTimeSeconds`
type BGPPeerSpec struct {
	// Address is the peer's IPv4 or IPv6 address.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule=`isIP(self)`,message=`spec.address must be an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1 (no zone, no prefix length)`
	Address string `json:"address"`

	// PeerASN is the peer's autonomous system number, 1 to 4294967295 (4-byte ASNs, RFC 6793).
	// 23456 (AS_TRANS) is refused: it is only a stand-in for a 4-byte ASN on old speakers.
	// Equal to LocalASN makes an iBGP session.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:XValidation:rule=`self != 23456`,message=`spec.peerASN 23456 is AS_TRANS (RFC 6793), not a real ASN; give the peer's 4-byte ASN`
	PeerASN int64 `json:"peerASN"`

	// LocalASN is the ASN the speakers use towards this peer, 1 to 4294967295, not 23456.
	//
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:XValidation:rule=`self != 23456`,message=`spec.localASN 23456 is AS_TRANS (RFC 6793), not a real ASN; give a 4-byte ASN`
	LocalASN int64 `json:"localASN"`

	// Port is the peer's TCP port, default 179.
	//
	// +optional
	// +kubebuilder:default=179
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// Passive, when true, makes the speakers wait for the peer to connect instead of
	// connecting themselves; only then do they listen on TCP port 179.
	//
	// +optional
	Passive bool `json:"passive,omitempty"`

	// SourceAddress is the local address the session is opened from. Empty means the
	// address the kernel picks for the route to the peer. A node without this address cannot
	// open the session (the state says so).
	//
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule=`isIP(self)`,message=`spec.sourceAddress must be an IPv4 or IPv6 address such as 192.0.2.10`
	SourceAddress string `json:"sourceAddress,omitempty"`

	// HoldTimeSeconds is the hold time offered to the peer: 0 (no keepalives, never time
	// out) or 3 to 65535 (RFC 4271), default 90. BFD detects failures faster.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:validation:XValidation:rule=`self == 0 || self >= 3`,message=`spec.holdTimeSeconds must be 0 or 3 to 65535 (RFC 4271)`
	HoldTimeSeconds *int32 `json:"holdTimeSeconds,omitempty"`

	// KeepaliveTimeSeconds is the interval between keepalives, less than the hold time.
	// Default: a third of the hold time.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=21845
	KeepaliveTimeSeconds *int32 `json:"keepaliveTimeSeconds,omitempty"`

	// PasswordSecret names a Secret, in the namespace the speakers run in, whose key holds
	// the TCP MD5 password (RFC 2385) of the session. Empty means no password. The Secret
	// must carry the label frontdesk.dev/bgp-password=true: the speakers read only the
	// Secrets so labelled (BGPPasswordSecretLabel).
	//
	// +optional
	PasswordSecret *SecretKeyRef `json:"passwordSecret,omitempty"`

	// EBGPMultiHop is the TTL of the speakers' packets for a peer more than one hop away,
	// 2 to 255. Unset means 1 for eBGP (the peer is directly connected).
	//
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	EBGPMultiHop *int32 `json:"ebgpMultiHop,omitempty"`

	// TTLSecurityHops enables the generalized TTL security mechanism (RFC 5082): packets
	// from the peer must arrive with a TTL of at least 255 minus this many hops, 1 to 254.
	// The peer must send with TTL 255.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	TTLSecurityHops *int32 `json:"ttlSecurityHops,omitempty"`

	// NodeSelectors limits the nodes that peer with this router to those whose labels match
	// at least one selector. Empty means every node that runs a speaker.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// BFD, when set, runs a BFD session (RFC 5880) beside the BGP session: when BFD sees the
	// peer go, the BGP session is reset at once instead of after the hold time.
	//
	// +optional
	BFD *BFDSettings `json:"bfd,omitempty"`

	// GracefulRestart, when set, advertises the graceful restart capability (RFC 4724), so
	// that the peer keeps the routes while a speaker restarts, for at most RestartTimeSeconds.
	//
	// +optional
	GracefulRestart *GracefulRestartSettings `json:"gracefulRestart,omitempty"`

	// MaxPrefixes is how many routes the peer may send, 1 to 10000000, default 100. The
	// speakers import no route, but hold what a peer sends until the session ends; so a peer
	// that sends more (a full table, a flood) has its session shut down with a Cease
	// NOTIFICATION (maximum number of prefixes reached, RFC 4486), said in the session's
	// status, and retried after maxPrefixRestartSeconds. Better than raising it: have the
	// router send the speakers nothing.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxPrefixes *int32 `json:"maxPrefixes,omitempty"`

	// MaxPrefixRestartSeconds is how long a session shut down for sending more than
	// maxPrefixes routes stays down before the speakers connect again, 5 to 86400 (a day),
	// default 300. A router that floods is usually misconfigured: a short wait lets every
	// attempt fill the speakers' memory up to the limit again and flap the routes. Changing it
	// does not reset the sessions; it applies from the next shutdown.
	//
	// +optional
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=86400
	MaxPrefixRestartSeconds *int32 `json:"maxPrefixRestartSeconds,omitempty"`
}

// BGPPasswordSecretLabel, set to "true", marks the Secrets of the speakers' namespace that hold
// BGP passwords. The speakers list and watch only those, so that no node caches the other
// Secrets of the namespace (Helm's release Secrets, the heartbeat key, a cloud config).
const BGPPasswordSecretLabel = "frontdesk.dev/bgp-password"

// SecretKeyRef names one key of a Secret in the speakers' namespace.
type SecretKeyRef struct {
	// Name is the Secret's name.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`!format.dns1123Subdomain().validate(self).hasValue()`,message=`spec.passwordSecret.name must be the name of a Secret: a DNS subdomain such as bgp-password`
	Name string `json:"name"`

	// Key is the key in the Secret's data holding the password, default "password".
	//
	// +optional
	// +kubebuilder:default=password
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// BFDSettings are the BFD timers. The defaults detect a failure in 0.9 s.
type BFDSettings struct {
	// ReceiveIntervalMilliseconds is the minimum interval between BFD packets this end
	// accepts, 10 to 60000, default 300.
	//
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	ReceiveIntervalMilliseconds int32 `json:"receiveIntervalMilliseconds,omitempty"`

	// TransmitIntervalMilliseconds is the desired interval between BFD packets this end
	// sends, 10 to 60000, default 300.
	//
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=60000
	TransmitIntervalMilliseconds int32 `json:"transmitIntervalMilliseconds,omitempty"`

	// DetectMultiplier is how many intervals without a packet mean the peer is gone, 2 to
	// 255, default 3.
	//
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=255
	DetectMultiplier int32 `json:"detectMultiplier,omitempty"`
}

// GracefulRestartSettings configure the graceful restart capability.
type GracefulRestartSettings struct {
	// RestartTimeSeconds is how long the peer keeps the routes of a restarting speaker, 1 to
	// 4095 (the field is 12 bits, RFC 4724), default 120.
	//
	// +optional
	// +kubebuilder:default=120
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4095
	RestartTimeSeconds int32 `json:"restartTimeSeconds,omitempty"`
}

// BGPPeerStatus is the sessions of the speakers with the peer.
type BGPPeerStatus struct {
	// Sessions has one entry per node peering with this router, written by that node's
	// speaker (server-side apply, field manager frontdesk-speaker/<node>).
	//
	// +optional
	// +listType=map
	// +listMapKey=node
	// +kubebuilder:validation:MaxItems=5000
	Sessions []BGPSession `json:"sessions,omitempty"`
}

// BGPSession is one node's session with the peer.
type BGPSession struct {
	// Node is the node's name.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node"`

	// State is the session's BGP state (RFC 4271 section 8.2.2).
	//
	// +required
	State BGPSessionState `json:"state"`

	// Since is when the session entered State.
	//
	// +optional
	Since *metav1.Time `json:"since,omitempty"`

	// Message says why the session is not established, when the speaker knows: the peer's
	// notification, a refused connection, a missing password Secret.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// RoutesAdvertised is how many routes the node advertises to the peer.
	//
	// +optional
	RoutesAdvertised int32 `json:"routesAdvertised,omitempty"`

	// BFD is the BFD session's state (Up, Down, Init, AdminDown), empty without BFD.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=16
	BFD string `json:"bfd,omitempty"`
}

// BGPSessionState is a BGP finite state machine state.
//
// +kubebuilder:validation:Enum=Idle;Connect;Active;OpenSent;OpenConfirm;Established
type BGPSessionState string

// The BGP session states.
const (
	BGPSessionIdle        BGPSessionState = "Idle"
	BGPSessionConnect     BGPSessionState = "Connect"
	BGPSessionActive      BGPSessionState = "Active"
	BGPSessionOpenSent    BGPSessionState = "OpenSent"
	BGPSessionOpenConfirm BGPSessionState = "OpenConfirm"
	BGPSessionEstablished BGPSessionState = "Established"
)

// BGPPeerList is a list of BGPPeers.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}
