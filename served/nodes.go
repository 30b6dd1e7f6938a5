package served

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// TaintToBeDeleted is the taint the cluster autoscaler puts on a node it is about to remove.
const TaintToBeDeleted = "ToBeDeletedByClusterAutoscaler"

// Reason says why a node does not count. Its value is a CamelCase token, usable as an Event
// reason or a metric label; the speaker's reasons of the same name are these.
type Reason string

// Reasons, in the order they are checked: the first that applies is reported.
const (
	// NodeNotReady: the Node's Ready condition is not True.
	NodeNotReady Reason = "NodeNotReady"
	// NodeToBeDeleted: the Node is being deleted or carries the ToBeDeletedByClusterAutoscaler taint.
	NodeToBeDeleted Reason = "NodeToBeDeleted"
	// NodeExcluded: the Node has the node.kubernetes.io/exclude-from-external-load-balancers label
	// (with a value other than false).
	NodeExcluded Reason = "NodeExcluded"
	// NetworkUnavailable: the Node's NetworkUnavailable condition is True.
	NetworkUnavailable Reason = "NetworkUnavailable"
)

// NodeReasons lists every Reason a Node policy returns, in the order they are checked.
func NodeReasons() []Reason {
	return []Reason{NodeNotReady, NodeToBeDeleted, NodeExcluded, NetworkUnavailable}
}

// Node holds the facts about a Node that decide whether it counts, as NodeOf reads them.
type Node struct {
	Name string
	// Ready: the NodeReady condition is True. A node without the condition (just registered) is
	// not ready.
	Ready bool
	// Deleting: metadata.deletionTimestamp is set.
	Deleting bool
	// ToBeDeleted: the cluster autoscaler's ToBeDeletedByClusterAutoscaler taint is present; the
	// autoscaler is draining the node and will remove it.
	ToBeDeleted bool
	// Excluded: the node.kubernetes.io/exclude-from-external-load-balancers label is present and
	// its value does not parse as false (strconv.ParseBool), as cloud-provider reads it: "",
	// "true" and any other text exclude, "false" (or "0", "f") keeps the node.
	Excluded bool
	// NetworkUnavailable: the NetworkUnavailable condition is True (the node's routes or CNI are
	// not set up).
	NetworkUnavailable bool
	// Cordoned: spec.unschedulable. No mode counts it: a cordon stops new Pods, not traffic
	// (see docs/design/eligibility.md). The speaker reads it on SIGTERM, as a hint that the node
	// is being drained for a shutdown.
	Cordoned bool
	// OutOfService: the node.kubernetes.io/out-of-service taint is present (non-graceful node
	// shutdown). Such a node is not ready; the speaker reads it on SIGTERM.
	OutOfService bool
}

// NodeOf reads the facts of n. A nil Node reads as the zero Node, which is not ready.
func NodeOf(n *corev1.Node) Node {
	if n == nil {
		return Node{}
	}
	f := Node{Name: n.Name, Deleting: n.DeletionTimestamp != nil, Cordoned: n.Spec.Unschedulable}
	if v, ok := n.Labels[corev1.LabelNodeExcludeBalancers]; ok {
		exclude, err := strconv.ParseBool(v)
		f.Excluded = err != nil || exclude
	}
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case corev1.NodeReady:
			f.Ready = c.Status == corev1.ConditionTrue
		case corev1.NodeNetworkUnavailable:
			f.NetworkUnavailable = c.Status == corev1.ConditionTrue
		}
	}
	for _, t := range n.Spec.Taints {
		switch t.Key {
		case TaintToBeDeleted:
			f.ToBeDeleted = true
		case corev1.TaintNodeOutOfService:
			f.OutOfService = true
		}
	}
	return f
}

// LoadBalancerTarget says why the service controller leaves the node out of the nodes it passes
// to a provider (the targets of a cloud load balancer), "" when it counts it. The cloud's health
// checks, not this set, find a node whose data path is broken; NetworkUnavailable and a cordon
// therefore do not count here.
func (f Node) LoadBalancerTarget() Reason {
	switch {
	case !f.Ready:
		return NodeNotReady
	case f.Deleting || f.ToBeDeleted:
		return NodeToBeDeleted
	case f.Excluded:
		return NodeExcluded
	}
	return ""
}

// Announcer says why a speaker on the node may not attract an address's traffic, by layer 2
// (the election) or BGP (advertising its routes), "" when it may. No health check stands in
// front of an announcing node, so besides what LoadBalancerTarget requires, its network must be
// set up. Every node this allows, LoadBalancerTarget allows.
func (f Node) Announcer() Reason {
	if r := f.LoadBalancerTarget(); r != "" {
		return r
	}
	if f.NetworkUnavailable {
		return NetworkUnavailable
	}
	return ""
}
