package nodeagent

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Heartbeats, as a kubelet's defaults: the Lease every 10 s (40 s duration), the status less
// often since nothing in the lab's status changes.
const (
	leaseDuration  = 40 * time.Second
	leaseRenew     = 10 * time.Second
	statusInterval = time.Minute
)

// Capacity the node reports: enough for the scheduler to place the walkthrough's Pods, which
// request nothing.
var capacity = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("4"),
	corev1.ResourceMemory: resource.MustParse("8Gi"),
	corev1.ResourcePods:   resource.MustParse("110"),
}

// nodeObject is the Node as registered: labels, Pod CIDR, addresses, capacity, Ready.
func nodeObject(name string, ip netip.Addr, podCIDR netip.Prefix, now time.Time) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
		}},
		Spec: corev1.NodeSpec{PodCIDR: podCIDR.String(), PodCIDRs: []string{podCIDR.String()}},
	}
	n.Status = nodeStatus(name, ip, now)
	return n
}

func nodeStatus(name string, ip netip.Addr, now time.Time) corev1.NodeStatus {
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: ip.String()},
			{Type: corev1.NodeHostName, Address: name},
		},
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "lab node agent is posting ready status"),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
			// Set by the network plugin on real clusters: the lab's routes are there.
			cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", "lab routes between Pod CIDRs"),
		},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion: "v1.37.2-frontdesk-lab", OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
			ContainerRuntimeVersion: "frontdesk-lab://processes",
		},
	}
}

// register creates the Node, or takes over an existing one of the same name (a restarted agent)
// and refreshes its status.
func (a *Agent) register(ctx context.Context) error {
	want := nodeObject(a.cfg.NodeName, a.cfg.NodeIP, a.cfg.PodCIDR, time.Now())
	_, err := a.kube.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering Node %s: %w", a.cfg.NodeName, err)
	}
	return a.postStatus(ctx)
}

// postStatus replaces the Node's status, re-reading it on a conflict: the node lifecycle and
// cloud node controllers write to a new Node at the same time.
func (a *Agent) postStatus(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		n, err := a.kube.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status = nodeStatus(a.cfg.NodeName, a.cfg.NodeIP, time.Now())
		_, err = a.kube.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// renewLease creates or renews the node's Lease in kube-node-lease, the kubelet's heartbeat.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.kube.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(a.cfg.NodeName), LeaseDurationSeconds: ptr.To(int32(leaseDuration / time.Second)),
				RenewTime: &now,
			},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.RenewTime = &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// heartbeat keeps the Lease and the status fresh until ctx ends.
func (a *Agent) heartbeat(ctx context.Context) {
	lease := time.NewTicker(leaseRenew)
	defer lease.Stop()
	status := time.NewTicker(statusInterval)
	defer status.Stop()
	_ = a.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			if err := a.renewLease(ctx); err != nil {
				a.log.Error(err, "renewing the node Lease")
			}
		case <-status.C:
			if err := a.postStatus(ctx); err != nil {
				a.log.Error(err, "posting node status")
			}
		}
	}
}
