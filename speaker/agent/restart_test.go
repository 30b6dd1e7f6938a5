package agent

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestRestartIntent(t *testing.T) {
	now := metav1.Now()
	pod := func(deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "speaker-abcde", Namespace: "frontdesk-system", Finalizers: []string{"x"}}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	node := func(edit func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		if edit != nil {
			edit(n)
		}
		return n
	}
	tests := []struct {
		name     string
		podName  string
		pod      *corev1.Pod
		node     *corev1.Node // from the informer cache; nil: not there
		failPods bool
		want     bool
	}{
		{"rollout on a healthy node", "speaker-abcde", pod(true), node(nil), false, true},
		{"Pod not deleted: the node shuts down", "speaker-abcde", pod(false), node(nil), false, false},
		{"no Pod name", "", pod(true), node(nil), false, false},
		{"Pod not found", "speaker-zzzzz", pod(true), node(nil), false, false},
		{"API server failing", "speaker-abcde", pod(true), node(nil), true, false},
		{"Node gone", "speaker-abcde", pod(true), nil, false, false},
		{"Node cordoned", "speaker-abcde", pod(true), node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), false, false},
		{"Node not ready", "speaker-abcde", pod(true), node(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }), false, false},
		{"Node being deleted", "speaker-abcde", pod(true), node(func(n *corev1.Node) {
			n.DeletionTimestamp, n.Finalizers = &now, []string{"x"}
		}), false, false},
		{"Node to be deleted by the autoscaler", "speaker-abcde", pod(true), node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "ToBeDeletedByClusterAutoscaler", Effect: corev1.TaintEffectNoSchedule}}
		}), false, false},
		{"Node out of service", "speaker-abcde", pod(true), node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeOutOfService, Effect: corev1.TaintEffectNoExecute}}
		}), false, false},
		{"another taint", "speaker-abcde", pod(true), node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "lb", Effect: corev1.TaintEffectNoSchedule}}
		}), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset(tt.pod)
			if tt.failPods {
				kube.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("etcdserver: request timed out")
				})
			}
			got, why := restartIntent(context.Background(), kube.CoreV1(), "frontdesk-system", tt.podName, tt.node)
			if got != tt.want || why == "" {
				t.Errorf("restartIntent = %v (%q), want %v with a reason", got, why, tt.want)
			}
		})
	}
}
