package served

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// readyNode is a Ready node; tweaks change it.
func readyNode(tweaks ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"kubernetes.io/hostname": "n1"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, t := range tweaks {
		t(n)
	}
	return n
}

func label(v string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[corev1.LabelNodeExcludeBalancers] = v }
}

func condition(typ corev1.NodeConditionType, st corev1.ConditionStatus) func(*corev1.Node) {
	return func(n *corev1.Node) {
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == typ {
				n.Status.Conditions[i].Status = st
				return
			}
		}
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: typ, Status: st})
	}
}

func taint(key string) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	}
}

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }
func deleting(n *corev1.Node) { n.DeletionTimestamp = &metav1.Time{} }

func TestNodeOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		node *corev1.Node
		want Node
	}{
		{"nil", nil, Node{}},
		{"ready", readyNode(), Node{Name: "n1", Ready: true}},
		{"no conditions yet", readyNode(func(n *corev1.Node) { n.Status.Conditions = nil }), Node{Name: "n1"}},
		{"Ready False", readyNode(condition(corev1.NodeReady, corev1.ConditionFalse)), Node{Name: "n1"}},
		{"Ready Unknown", readyNode(condition(corev1.NodeReady, corev1.ConditionUnknown)), Node{Name: "n1"}},
		{"exclude label empty", readyNode(label("")), Node{Name: "n1", Ready: true, Excluded: true}},
		{"exclude label true", readyNode(label("true")), Node{Name: "n1", Ready: true, Excluded: true}},
		{"exclude label garbage", readyNode(label("yes")), Node{Name: "n1", Ready: true, Excluded: true}},
		{"exclude label false", readyNode(label("false")), Node{Name: "n1", Ready: true}},
		{"exclude label 0", readyNode(label("0")), Node{Name: "n1", Ready: true}},
		{"exclude label FALSE", readyNode(label("FALSE")), Node{Name: "n1", Ready: true}},
		{"NetworkUnavailable True", readyNode(condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)),
			Node{Name: "n1", Ready: true, NetworkUnavailable: true}},
		{"NetworkUnavailable False", readyNode(condition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse)),
			Node{Name: "n1", Ready: true}},
		{"autoscaler taint", readyNode(taint(TaintToBeDeleted)), Node{Name: "n1", Ready: true, ToBeDeleted: true}},
		{"out-of-service taint", readyNode(taint(corev1.TaintNodeOutOfService)), Node{Name: "n1", Ready: true, OutOfService: true}},
		{"other taints", readyNode(taint(corev1.TaintNodeUnschedulable), taint("example.com/dedicated")), Node{Name: "n1", Ready: true}},
		{"cordoned", readyNode(cordoned), Node{Name: "n1", Ready: true, Cordoned: true}},
		{"being deleted", readyNode(deleting), Node{Name: "n1", Ready: true, Deleting: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodeOf(tt.node); got != tt.want {
				t.Errorf("NodeOf = %+v\nwant     %+v", got, tt.want)
			}
		})
	}
}

func TestNodePolicies(t *testing.T) {
	for _, tt := range []struct {
		name          string
		node          *corev1.Node
		lb, announcer Reason
	}{
		{"ready", readyNode(), "", ""},
		{"not ready", readyNode(condition(corev1.NodeReady, corev1.ConditionFalse)), NodeNotReady, NodeNotReady},
		{"being deleted", readyNode(deleting), NodeToBeDeleted, NodeToBeDeleted},
		{"autoscaler taint", readyNode(taint(TaintToBeDeleted)), NodeToBeDeleted, NodeToBeDeleted},
		{"excluded", readyNode(label("")), NodeExcluded, NodeExcluded},
		{"exclude label false", readyNode(label("false")), "", ""},
		// The cloud's health checks find a broken data path; nothing stands in front of an
		// announcing node.
		{"network unavailable", readyNode(condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), "", NetworkUnavailable},
		// A cordon stops new Pods, not traffic: no mode counts it.
		{"cordoned", readyNode(cordoned), "", ""},
		{"out of service but Ready", readyNode(taint(corev1.TaintNodeOutOfService)), "", ""},
		// The first reason in the order of NodeReasons is reported.
		{"everything", readyNode(condition(corev1.NodeReady, corev1.ConditionFalse), deleting, label(""),
			condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), NodeNotReady, NodeNotReady},
		{"excluded and network unavailable", readyNode(label(""), condition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)),
			NodeExcluded, NodeExcluded},
		{"tainted and excluded", readyNode(label("true"), taint(TaintToBeDeleted)), NodeToBeDeleted, NodeToBeDeleted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := NodeOf(tt.node)
			if got := f.LoadBalancerTarget(); got != tt.lb {
				t.Errorf("LoadBalancerTarget = %q, want %q", got, tt.lb)
			}
			if got := f.Announcer(); got != tt.announcer {
				t.Errorf("Announcer = %q, want %q", got, tt.announcer)
			}
		})
	}
}
