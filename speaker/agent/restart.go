package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/frontdesk-lb/frontdesk/served"
)

// restartIntent decides, on SIGTERM, whether this speaker stops to be replaced on a node that
// stays up: then its peers are asked to keep it alive for their restart grace
// (liveness.LeaveForRestart) rather than take its addresses over and hand them back seconds
// later, breaking every connection opened meanwhile. The node's kernel keeps forwarding by the
// node proxy's rules (they stay when the speaker exits) and clients keep their ARP entries, so
// the node goes on serving while no speaker runs on it.
//
// The signal is the speaker's own Pod being deleted (a DaemonSet rollout, kubectl delete) on a
// node that is schedulable, ready and not being deleted. A SIGTERM without a Pod deletion is the
// kubelet shutting the node down or the container stopping for good, and any doubt (no Pod
// name, the API server not answering within ctx) is a plain leave: the peers take over at once,
// as before. The Pod is read live (its deletion is what the SIGTERM follows); the Node, n, comes
// from the speaker's informer cache (nil if it is not there): a cordon or a taint that matters
// was put on well before. It returns the decision and why, for the log.
func restartIntent(ctx context.Context, pods corev1client.PodsGetter, namespace, pod string, n *corev1.Node) (bool, string) {
	if namespace == "" || pod == "" {
		return false, "the speaker's Pod is not known (POD_NAME, POD_NAMESPACE)"
	}
	p, err := pods.Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Sprintf("reading the speaker's Pod: %v", err)
	}
	if p.DeletionTimestamp == nil {
		return false, "the speaker's Pod is not being deleted: the node or the container is stopping"
	}
	if n == nil {
		return false, "the Node is gone"
	}
	// The Node's facts as package served reads them. A cordon, which counts for no traffic
	// decision, is a hint here: a drain, maybe before a shutdown. So are the taints of a node
	// going away: the cluster autoscaler's, before it drains and deletes a node, and the one an
	// operator puts on a node shut down for good (non-graceful node shutdown).
	switch f := served.NodeOf(n); {
	case f.Deleting:
		return false, "the Node is being deleted"
	case f.Cordoned:
		return false, "the Node is cordoned (a drain, maybe a shutdown)"
	case !f.Ready:
		return false, "the Node is not ready"
	case f.ToBeDeleted:
		return false, "the Node has the taint " + served.TaintToBeDeleted
	case f.OutOfService:
		return false, "the Node has the taint " + corev1.TaintNodeOutOfService
	}
	return true, "the speaker's Pod is being deleted on a Node that stays up: a rollout or a Pod deletion"
}
