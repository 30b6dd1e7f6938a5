package supervisor

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// podCIDRInterval is how often the supervisor checks that every Node carries its Pod range.
const podCIDRInterval = 5 * time.Second

// setPodCIDR gives Node n its fixed Pod range (the one its CNI bridge serves and the other LAN
// members route to it), as kube-controller-manager's node IPAM would give it a range: the node
// proxies read it. A kubelet registers the Node without one.
func (s *supervisor) setPodCIDR(ctx context.Context, kube kubernetes.Interface, n topology.Node) error {
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, n.PodCIDR, n.PodCIDR)
	_, err := kube.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// keepPodCIDRs sets the Pod range of a Node registered again (deleted, then its kubelet
// restarted) until ctx ends.
func (s *supervisor) keepPodCIDRs(ctx context.Context, kube kubernetes.Interface) {
	t := time.NewTicker(podCIDRInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, n := range s.plan.Nodes {
			node, err := kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err == nil && node.Spec.PodCIDR == "" {
				if err := s.setPodCIDR(ctx, kube, n); err != nil {
					klog.Background().Error(err, "setting the Pod range", "node", n.Name)
				}
			}
		}
	}
}

// startRouteKeeper keeps the lab's routes in every namespace (topology.KeepRoutes).
func (s *supervisor) startRouteKeeper(ctx context.Context) {
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		topology.KeepRoutes(kctx, s.plan, klog.Background().WithName("routes"))
	})
	s.procs.add(func() { cancel(); <-done })
}
