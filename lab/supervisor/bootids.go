package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/frontdesk-lb/frontdesk/speaker/liveness"
)

// BootIDConfigMap, in ChartNamespace, holds each lab node's boot ID (Node name → UUID); the chart
// mounts it into the speakers (speaker.bootIDConfigMap). The lab's nodes are network namespaces
// of one kernel, so /proc/sys/kernel/random/boot_id is the same on all of them and never changes
// when a node "reboots": the lab stands in for each node's kernel here instead, so that the
// speakers tell a speaker restart (same boot ID) from a node reboot (a new one) as on real nodes.
const BootIDConfigMap = "frontdesk-lab-boot-ids"

// newBootID draws a random version 4 UUID, as the kernel does at every boot.
func newBootID() string {
	var b liveness.BootID
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b.String()
}

// writeBootIDs creates BootIDConfigMap with a new boot ID for every node (and the namespace, which
// helm install then finds), before the speakers start: each node boots once when the lab starts.
func writeBootIDs(ctx context.Context, kube kubernetes.Interface, namespace string, nodes []string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", namespace, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: BootIDConfigMap, Namespace: namespace}, Data: map[string]string{}}
	for _, n := range nodes {
		cm.Data[n] = newBootID()
	}
	if _, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("ConfigMap %s/%s: %w", namespace, BootIDConfigMap, err)
		}
		if _, err := kube.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("ConfigMap %s/%s: %w", namespace, BootIDConfigMap, err)
		}
	}
	return nil
}

// RenewBootID gives a lab node a new boot ID, as a reboot does. Whatever "powers off" a lab node
// (kills every process of it: its kubelet, containerd and Pods) calls it before the node's
// kubelet starts again (the supervisor restarts it 3 s after it exits), so that the node's
// speaker comes back on a new boot and its peers wait for its Pods to be ready again. Without it
// a power-off looks, to the speakers, like their peer's speaker restarting on a node that kept
// running. It returns the new boot ID. The lab's chart is in ChartNamespace, the default.
func RenewBootID(ctx context.Context, kube kubernetes.Interface, node string) (string, error) {
	id := newBootID()
	patch, err := json.Marshal(map[string]any{"data": map[string]string{node: id}})
	if err != nil {
		return "", err
	}
	if _, err := kube.CoreV1().ConfigMaps(ChartNamespace).Patch(ctx, BootIDConfigMap, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return "", fmt.Errorf("renewing the boot ID of %s in ConfigMap %s/%s: %w", node, ChartNamespace, BootIDConfigMap, err)
	}
	return id, nil
}
