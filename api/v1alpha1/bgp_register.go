package v1alpha1

import "k8s.io/apimachinery/pkg/runtime"

// The BGP resources, as they appear in URLs and RBAC rules.
var (
	BGPPeersResource          = SchemeGroupVersion.WithResource("bgppeers")
	BGPAdvertisementsResource = SchemeGroupVersion.WithResource("bgpadvertisements")
)

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion,
			&BGPPeer{}, &BGPPeerList{},
			&BGPAdvertisement{}, &BGPAdvertisementList{},
		)
		return nil
	})
}
