package supervisor

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDaemonSetRolledOut(t *testing.T) {
	ds := func(gen, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Status: appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired,
				UpdatedNumberScheduled: updated, NumberAvailable: available},
		}
	}
	for name, tc := range map[string]struct {
		ds   *appsv1.DaemonSet
		want bool
	}{
		"rolled out":            {ds(2, 2, 3, 3, 3), true},
		"spec not yet observed": {ds(3, 2, 3, 3, 3), false},
		"no node yet":           {ds(1, 1, 0, 0, 0), false},
		"one node updating":     {ds(2, 2, 3, 2, 3), false},
		"one Pod not available": {ds(2, 2, 3, 3, 2), false},
	} {
		got, why := daemonSetRolledOut(tc.ds)
		if got != tc.want || (!got && why == "") {
			t.Errorf("%s: rolled out %t (%q), want %t", name, got, why, tc.want)
		}
	}
}

func TestDeploymentRolledOut(t *testing.T) {
	d := func(replicas int32, gen, observed int64, total, updated, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: total,
				UpdatedReplicas: updated, AvailableReplicas: available},
		}
	}
	for name, tc := range map[string]struct {
		d    *appsv1.Deployment
		want bool
	}{
		"rolled out":              {d(2, 1, 1, 2, 2, 2), true},
		"spec not yet observed":   {d(2, 2, 1, 2, 2, 2), false},
		"old replica still there": {d(2, 2, 2, 3, 2, 2), false},
		"one replica updating":    {d(2, 2, 2, 2, 1, 2), false},
		"not available":           {d(2, 2, 2, 2, 2, 1), false},
	} {
		got, why := deploymentRolledOut(tc.d)
		if got != tc.want || (!got && why == "") {
			t.Errorf("%s: rolled out %t (%q), want %t", name, got, why, tc.want)
		}
	}
}
