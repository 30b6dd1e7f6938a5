package aws

import (
	v1 "k8s.io/api/core/v1"

	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
)

// ip targets are Pods, and the service controller calls the provider when a
// Service or the node set changes, not when Pods do. So the provider is a
// service.EndpointsFollower: for a Service with ip targets, the
// service controller also watches its EndpointSlices and, a second after a
// change (a burst gives one pass), syncs the Service in its own queue. That
// queue hands a Service to one worker at a time, so EnsureLoadBalancer needs
// no lock of its own; EnsureLoadBalancer converges everything, and when only
// the endpoints changed only the targets are touched.

// FollowsEndpoints implements service.EndpointsFollower: a network
// load balancer with ip targets depends on the Service's endpoints. A Service
// with bad annotations does not: its sync fails before any AWS call.
func (c *Cloud) FollowsEndpoints(svc *v1.Service) bool {
	spec, err := annotations.Parse(svc.Annotations)
	return err == nil && spec.Type == annotations.NLB && spec.TargetType == annotations.TargetIP
}
