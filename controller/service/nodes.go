package service

import (
	"context"
	"maps"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/served"
)

// nodeEligible reports whether a load balancer may send traffic to n: package served's rule for
// load balancer targets, of which every node a speaker may announce from is one.
func nodeEligible(n *v1.Node) bool {
	return served.NodeOf(n).LoadBalancerTarget() == ""
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
		if c.filter.Wants(svc) && svc.DeletionTimestamp == nil {
			c.enqueue(svc)
			queued++
		}
	}
	klog.FromContext(ctx).V(2).Info("Eligible nodes may have changed; re-queued served Services", "services", queued)
	return true
}
