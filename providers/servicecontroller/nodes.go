package servicecontroller

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ToBeDeletedTaint is the taint the cluster autoscaler puts on a node it is
// about to remove; traffic must leave such a node before it goes.
const ToBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"

// nodeEligible reports whether a load balancer may send traffic to n.
func nodeEligible(n *v1.Node) bool {
	return n.DeletionTimestamp == nil && !excludedByLabel(n) && !taintedForDeletion(n) && nodeReady(n)
}

// excludedByLabel follows cloud-provider: the label's presence excludes the
// node, unless its value parses as false ("false", "0", "f"...).
func excludedByLabel(n *v1.Node) bool {
	v, ok := n.Labels[v1.LabelNodeExcludeBalancers]
	if !ok {
		return false
	}
	exclude, err := strconv.ParseBool(v)
	return err != nil || exclude
}

func taintedForDeletion(n *v1.Node) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t v1.Taint) bool { return t.Key == ToBeDeletedTaint })
}

func nodeReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// nodeSet is what the provider's view of the nodes depends on: the name and
// the provider ID (an AWS provider registers instances by ID) of each
// eligible node.
type nodeSet map[string]string

func nodeSetOf(nodes []*v1.Node) nodeSet {
	s := make(nodeSet, len(nodes))
	for _, n := range nodes {
		s[n.Name] = n.Spec.ProviderID
	}
	return s
}

func (s nodeSet) equal(o nodeSet) bool { return maps.Equal(s, o) }

// String lists the names, for logs.
func (s nodeSet) String() string {
	return strings.Join(slices.Sorted(maps.Keys(s)), ",")
}

// eligibleNodes lists the eligible nodes, sorted by name so that providers
// see a stable order.
func (c *Controller) eligibleNodes() ([]*v1.Node, error) {
	all, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	nodes := slices.DeleteFunc(all, func(n *v1.Node) bool { return !nodeEligible(n) })
	slices.SortFunc(nodes, func(a, b *v1.Node) int { return strings.Compare(a.Name, b.Name) })
	return nodes, nil
}

// nodeChangeMatters reports whether an update of one node can change the
// eligible node set as providers see it. Status heartbeats, which are most
// node updates, do not.
func nodeChangeMatters(oldNode, newNode *v1.Node) bool {
	if nodeEligible(oldNode) != nodeEligible(newNode) {
		return true
	}
	return nodeEligible(newNode) && oldNode.Spec.ProviderID != newNode.Spec.ProviderID
}

func (c *Controller) onNodeAdd(obj any) {
	if n, ok := obj.(*v1.Node); ok && nodeEligible(n) {
		c.nodesChanged()
	}
}

func (c *Controller) onNodeUpdate(oldObj, newObj any) {
	oldNode, ok1 := oldObj.(*v1.Node)
	newNode, ok2 := newObj.(*v1.Node)
	if ok1 && ok2 && nodeChangeMatters(oldNode, newNode) {
		c.nodesChanged()
	}
}

func (c *Controller) onNodeDelete(obj any) {
	n, ok := obj.(*v1.Node)
	if !ok {
		// A tombstone holds a possibly stale object: assume it mattered.
		if _, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			c.nodesChanged()
		}
		return
	}
	if nodeEligible(n) {
		c.nodesChanged()
	}
}

// nodesChanged schedules one pass over the served Services. While a pass is
// waiting, more node events add nothing.
func (c *Controller) nodesChanged() {
	if c.cfg.NodeSyncDelay > 0 {
		c.nodeQueue.AddAfter(nodesKey, c.cfg.NodeSyncDelay)
		return
	}
	c.nodeQueue.Add(nodesKey)
}

// processNodeChange re-queues every served Service; each worker then compares
// the eligible node set with the one its provider last saw and calls
// UpdateLoadBalancer if they differ. It returns false when the queue is shut
// down.
func (c *Controller) processNodeChange(ctx context.Context) bool {
	key, quit := c.nodeQueue.Get()
	if quit {
		return false
	}
	defer c.nodeQueue.Done(key)
	if ctx.Err() != nil {
		return false
	}
	services, err := c.services.List(labels.Everything())
	if err != nil {
		// A lister reads memory; this does not happen. Try again later.
		klog.FromContext(ctx).Error(err, "Listing Services for a node change failed")
		c.nodesChanged()
		return true
	}
	queued := 0
	for _, svc := range services {
		if c.filter.wants(svc) && svc.DeletionTimestamp == nil {
			c.enqueue(svc)
			queued++
		}
	}
	klog.FromContext(ctx).V(2).Info("Eligible nodes may have changed; re-queued served Services", "services", queued)
	return true
}
