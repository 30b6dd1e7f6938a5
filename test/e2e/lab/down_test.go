//go:build netns && integration

package lab

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/lab/kubenode"
	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
)

// TestDownAfterSupervisorDied kills the lab's supervisor with SIGKILL while Pods run (their
// containers, shims, volumes and network namespaces stay behind, and the kubelets and containerds
// die with it), then checks that down removes everything by name: startLab's cleanup compares the
// machine before and after (namespaces, nftables tables, mounts, cgroups, CNI results, log links).
func TestDownAfterSupervisorDied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root: it makes network namespaces")
	}
	repo, _ := repoAndK8sBin(t)
	bin := buildBinaries(t, repo)
	l := startLab(t, supervisor.ProxyFrontdesk, bin)

	l.kubectl(t, "apply", "-f", "examples/hello-deploy.yaml")
	eventually(t, 90*time.Second, "3 hello Pods running", func() (bool, string) {
		pods, err := l.kube.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "app=hello"})
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 3, fmt.Sprintf("%d running", running)
	})
	if m, _ := kubenode.MountsUnder(l.o.Dir); len(m) == 0 {
		t.Fatal("no mount under the lab's directory while Pods run: the test would prove nothing")
	}
	st, err := supervisor.ReadState(l.o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.Supervisor, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// startLab's cleanup runs down and checks that nothing is left.
}
