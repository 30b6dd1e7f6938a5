package supervisor

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// workload names a DaemonSet or Deployment whose rollout the lab waits for.
type workload struct {
	kind      string // "DaemonSet" or "Deployment"
	namespace string
	name      string
}

func (w workload) String() string { return w.kind + " " + w.namespace + "/" + w.name }

// daemonSetRolledOut says whether every node wanted by ds runs its current template and is
// available, as `kubectl rollout status` decides; else what is missing.
func daemonSetRolledOut(ds *appsv1.DaemonSet) (bool, string) {
	st := ds.Status
	switch {
	case st.ObservedGeneration < ds.Generation:
		return false, "its controller has not seen the latest spec"
	case st.DesiredNumberScheduled == 0:
		return false, "no node wants a Pod yet"
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d Pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return false, fmt.Sprintf("%d of %d Pods available", st.NumberAvailable, st.DesiredNumberScheduled)
	}
	return true, ""
}

// deploymentRolledOut says whether d runs only its current template with every replica
// available; else what is missing.
func deploymentRolledOut(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, "its controller has not seen the latest spec"
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas still running", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas available", st.AvailableReplicas, want)
	}
	return true, ""
}

// waitRollout waits until every workload has rolled out, or fails naming those that have not
// and why.
func waitRollout(ctx context.Context, kube kubernetes.Interface, timeout time.Duration, ws ...workload) error {
	var pending []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pending = pending[:0]
		for _, w := range ws {
			var done bool
			var why string
			switch w.kind {
			case "DaemonSet":
				ds, err := kube.AppsV1().DaemonSets(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
				if err != nil {
					why = err.Error()
				} else {
					done, why = daemonSetRolledOut(ds)
				}
			case "Deployment":
				d, err := kube.AppsV1().Deployments(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
				if err != nil {
					why = err.Error()
				} else {
					done, why = deploymentRolledOut(d)
				}
			default:
				return false, fmt.Errorf("rollout of %s: unknown kind", w)
			}
			if !done {
				pending = append(pending, w.String()+": "+why)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil && len(pending) > 0 {
		return fmt.Errorf("not rolled out after %s: %s", timeout, strings.Join(pending, "; "))
	}
	return err
}
