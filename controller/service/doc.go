// Package service is frontdesk's load-balancer service controller:
// it drives any cloudprovider.LoadBalancer (bare metal, AWS) from the Services
// of type LoadBalancer that frontdesk serves.
//
// It keeps cloud-provider's contract, so a provider written for the upstream
// controller works unchanged: the finalizer
// service.kubernetes.io/load-balancer-cleanup is added before
// EnsureLoadBalancer creates anything, UpdateLoadBalancer follows changes of
// the eligible node set, EnsureLoadBalancerDeleted runs when a Service is
// deleted or stops wanting a load balancer, and status.loadBalancer is patched
// through the services/status subresource only when it changed. The patch
// that writes what EnsureLoadBalancer returned carries the resourceVersion
// the provider was given, as a precondition: a status decided on an old
// version of the Service (by a replica whose cache is behind, while another
// replica also acts) is refused and decided again. On clean-up the status is
// cleared before EnsureLoadBalancerDeleted, not after as in cloud-provider: a
// provider must not free an address a status still names. A provider
// error wrapping api.RetryError is retried after the delay it names; any other
// error is retried with per-Service exponential backoff.
//
// It differs from cloud-provider's controller (docs/design/controller.md) in
// these ways: it serves a configurable set of spec.loadBalancerClass values
// (and, optionally, Services with no class) and leaves every other class
// alone; it runs several workers; it exports metrics and Events whose
// reasons frontdesk controls; and, as said above, its status write is
// preconditioned and the status is cleared before the load balancer is
// deleted. A provider may also ask, through optional interfaces of its
// LoadBalancer, for Services waiting for an address to be woken (Waker),
// for Services to be synced when their EndpointSlices change
// (EndpointsFollower), and to decide the Service's condition
// frontdesk.dev/LoadBalancerReady (Readiness); all go through the one queue,
// so provider calls for a Service never overlap.
//
// # Whose finalizer is it?
//
// The cleanup finalizer's name is shared by every implementation built on
// cloud-provider, and the API server wipes spec.loadBalancerClass and
// status.loadBalancer when a Service's type changes away from LoadBalancer. A
// ClusterIP Service that still carries the finalizer therefore no longer says
// which implementation added it. The controller tells by asking the API
// server: it adds the finalizer under its own field manager
// ("frontdesk-controller"), so metadata.managedFields records that frontdesk
// added it, across restarts. A Service that is not of a served class, that
// the controller holds no load balancer for and whose finalizer another
// manager added is never touched: no provider call, no Event, and its
// finalizer stays.
//
// Finalizer and status are both patched through services/status, as
// cloud-provider does, so the API server's bootstrap role
// system:controller:service-controller is all the controller itself needs
// (a provider may need more).
//
// # Node set
//
// The nodes passed to the provider are those whose Ready condition is True,
// that do not carry the node.kubernetes.io/exclude-from-external-load-balancers
// label (unless its value is "false") nor the cluster autoscaler's
// ToBeDeletedByClusterAutoscaler taint, and that are not being deleted. When
// that set changes, every served Service is re-queued once (bursts of node
// events are coalesced) and its worker calls UpdateLoadBalancer; a Service
// whose own spec changed at the same time gets EnsureLoadBalancer instead.
// Provider calls for one Service therefore always come from one worker at a
// time.
package service
