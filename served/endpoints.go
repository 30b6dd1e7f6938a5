package served

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// SliceOf says which Service an EndpointSlice holds endpoints of, and of which IP family (0:
// IPv4, 1: IPv6). ok is false for a slice of no Service and for an FQDN slice, which carries no
// backend kube-proxy would use.
func SliceOf(s *discoveryv1.EndpointSlice) (svc types.NamespacedName, family int, ok bool) {
	if s == nil {
		return svc, 0, false
	}
	name, ok := s.Labels[discoveryv1.LabelServiceName]
	if !ok {
		return svc, 0, false
	}
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4:
		family = 0
	case discoveryv1.AddressTypeIPv6:
		family = 1
	default:
		return svc, 0, false
	}
	return types.NamespacedName{Namespace: s.Namespace, Name: name}, family, true
}

// Conditions are an endpoint's conditions as kube-proxy reads them (pkg/proxy's EndpointSlice
// cache): a nil Ready or Serving means true, a nil Terminating false.
type Conditions struct {
	Ready, Serving, Terminating bool
}

// ConditionsOf reads c.
func ConditionsOf(c discoveryv1.EndpointConditions) Conditions {
	return Conditions{
		Ready:       c.Ready == nil || *c.Ready,
		Serving:     c.Serving == nil || *c.Serving,
		Terminating: c.Terminating != nil && *c.Terminating,
	}
}

// Fallback reports whether the endpoint is one kube-proxy uses only when no ready one is left
// (KEP-1669): not ready, but still serving while it terminates.
func (c Conditions) Fallback() bool { return !c.Ready && c.Serving && c.Terminating }

// Local is what one node holds of one Service's endpoints of one IP family, for
// externalTrafficPolicy Local (kube-proxy sends an address's traffic to endpoints of its own
// family only, and drops it on a node without a usable local one).
type Local struct {
	// Ready: the node holds a ready endpoint.
	Ready bool
	// Fallback: the node holds a serving, terminating endpoint (Conditions.Fallback).
	Fallback bool
	// AnyReady: some node, this one or another, holds a ready endpoint.
	AnyReady bool
}

// Serves is the rule both speaker modes apply to a Local Service: a node may attract its traffic
// when it holds a ready endpoint, or, when no node does, a serving terminating one. kube-proxy
// forwards to a node's terminating endpoints once none of them is ready (KEP-1669) but its
// health check counts ready ones only, so a cloud load balancer leaves such a node while others
// have ready endpoints, and fails open to all of them when none has: the speakers do the same,
// so that an address does not move twice within a rollout, and does not go dark while the last
// Pods drain.
func (l Local) Serves() bool { return l.Ready || (!l.AnyReady && l.Fallback) }
