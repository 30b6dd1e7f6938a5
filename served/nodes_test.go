package served

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit/objects"
)

// readyNode is node n1, labelled with its hostname, with MemoryPressure=False then Ready=True
// conditions (in that order, unlike objects.Node's lone Ready); tweaks change it.
func readyNode(tweaks ...func(*corev1.Node)) *corev1.Node {
	return objects.Node("n1", append([]func(*corev1.Node){
		objects.WithLabel("kubernetes.io/hostname", "n1"),
		objects.NoConditions,
		objects.WithCondition(corev1.NodeMemoryPressure, corev1.ConditionFalse),
		objects.WithCondition(corev1.NodeReady, corev1.ConditionTrue),
	}, tweaks...)...)
}

// label sets the exclude-from-load-balancers label to v.
func label(v string) func(*corev1.Node) {
	return objects.WithLabel(corev1.LabelNodeExcludeBalancers, v)
}

// deleting marks the node deleted at the zero time.
var deleting = objects.WithDeletionTimestamp(metav1.Time{})

func TestNodeOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		node *corev1.Node
		want Node
	}{
		{"nil", nil, Node{}},
		{"ready", readyNode(), Node{Name: "n1", Ready: true}},
		{"no conditions yet", readyNode(objects.NoConditions), Node{Name: "n1"}},
		{"Ready False", readyNode(objects.WithCondition(corev1.NodeReady, corev1.ConditionFalse)), Node{Name: "n1"}},
		{"Ready Unknown", readyNode(objects.WithCondition(corev1.NodeReady, corev1.ConditionUnknown)), Node{Name: "n1"}},
		{"exclude label empty", readyNode(label("")), Node{Name: "n1", Ready: true, Excluded: true}},
		{"exclude label true", readyNode(label("true")), Node{Name: "n1", Ready: true, Excluded: true}},
		{"exclude label garbage", readyNode(label("yes")), Node{Name: "n1", Ready: true, Excluded: true}},
		{"exclude label false", readyNode(label("false")), Node{Name: "n1", Ready: true}},
		{"exclude label 0", readyNode(label("0")), Node{Name: "n1", Ready: true}},
		{"exclude label FALSE", readyNode(label("FALSE")), Node{Name: "n1", Ready: true}},
		{"NetworkUnavailable True", readyNode(objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)),
			Node{Name: "n1", Ready: true, NetworkUnavailable: true}},
		{"NetworkUnavailable False", readyNode(objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionFalse)),
			Node{Name: "n1", Ready: true}},
		{"autoscaler taint", readyNode(objects.WithTaint(TaintToBeDeleted)), Node{Name: "n1", Ready: true, ToBeDeleted: true}},
		{"out-of-service taint", readyNode(objects.WithTaint(corev1.TaintNodeOutOfService)), Node{Name: "n1", Ready: true, OutOfService: true}},
		{"other taints", readyNode(objects.WithTaint(corev1.TaintNodeUnschedulable), objects.WithTaint("example.com/dedicated")), Node{Name: "n1", Ready: true}},
		{"cordoned", readyNode(objects.Unschedulable), Node{Name: "n1", Ready: true, Cordoned: true}},
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
		{"not ready", readyNode(objects.WithCondition(corev1.NodeReady, corev1.ConditionFalse)), NodeNotReady, NodeNotReady},
		{"being deleted", readyNode(deleting), NodeToBeDeleted, NodeToBeDeleted},
		{"autoscaler taint", readyNode(objects.WithTaint(TaintToBeDeleted)), NodeToBeDeleted, NodeToBeDeleted},
		{"excluded", readyNode(label("")), NodeExcluded, NodeExcluded},
		{"exclude label false", readyNode(label("false")), "", ""},
		// The cloud's health checks find a broken data path; nothing stands in front of an
		// announcing node.
		{"network unavailable", readyNode(objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), "", NetworkUnavailable},
		// A cordon stops new Pods, not traffic: no mode counts it.
		{"cordoned", readyNode(objects.Unschedulable), "", ""},
		{"out of service but Ready", readyNode(objects.WithTaint(corev1.TaintNodeOutOfService)), "", ""},
		// The first reason in the order of NodeReasons is reported.
		{"everything", readyNode(objects.WithCondition(corev1.NodeReady, corev1.ConditionFalse), deleting, label(""),
			objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)), NodeNotReady, NodeNotReady},
		{"excluded and network unavailable", readyNode(label(""), objects.WithCondition(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)),
			NodeExcluded, NodeExcluded},
		{"tainted and excluded", readyNode(label("true"), objects.WithTaint(TaintToBeDeleted)), NodeToBeDeleted, NodeToBeDeleted},
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
