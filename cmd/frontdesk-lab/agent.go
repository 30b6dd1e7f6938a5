package main

import (
	"context"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/internal/kubeclient"
	"github.com/frontdesk-lb/frontdesk/lab/nodeagent"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

// runAgent runs the node agent of one node; the supervisor starts it inside the node's namespace.
func runAgent(ctx context.Context, o supervisor.Options, node string) error {
	plan, err := o.Plan()
	if err != nil {
		return err
	}
	n, ok := plan.Node(node)
	if !ok {
		return fmt.Errorf("agent: --node=%q is not a node of the lab (node1 to node%d)", node, len(plan.Nodes))
	}
	cfg, err := kubeclient.Config(o.Kubeconfig(), kubeclient.Options{})
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return nodeagent.New(nodeagent.Config{
		Plan: plan, NodeName: n.Name, NodeNS: n.NS, NodeIP: n.IP, PodCIDR: n.PodCIDR,
		Nameserver: plan.ControlPlane, Programs: supervisor.Programs(o),
		Dir: filepath.Join(o.Dir, "pods"), Logger: klog.Background().WithValues("node", n.Name),
	}, kube).Run(ctx)
}
