//go:build netns && integration

package lab

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/frontdesk-lb/frontdesk/lab/supervisor"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// labServices is how many LoadBalancer Services BenchmarkLab creates, one after the other.
const labServices = 50

// BenchmarkLab measures the lab as users get it (make bench SUITE=lab): the time from up to ready
// with every binary and image cached (network, control plane, registry and images, kubelets,
// CoreDNS, helm install and rollout), then, for each of 50 LoadBalancer Services created one at
// a time in front of the guide's Deployment, the time from the Service's creation to the first
// successful request from the LAN client through its address (target p95 ≤ 1 s; PureLB
// publishes 0.6–1.4 s for it from its CI), broken down into the steps of the path as seen from
// outside (milestones): the address in the status (alloc), the announcing node's proxy rule for
// it (rules), the first gratuitous ARP on the LAN (announce), and from there to the answer.
func BenchmarkLab(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the lab needs root: it makes network namespaces")
	}
	repo, _ := repoAndK8sBin(b)
	bin := buildBinaries(b, repo)
	for b.Loop() {
		began := time.Now()
		l := startLab(b, supervisor.ProxyFrontdesk, bin)
		b.ReportMetric(time.Since(began).Seconds(), "up-s")

		ctx := b.Context()
		l.kubectl(b, "apply", "-f", "examples/hello-deploy.yaml")
		eventually(b, 2*time.Minute, "hello-deploy ready", func() (bool, string) {
			d, err := l.kube.AppsV1().Deployments("default").Get(ctx, "hello-deploy", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return d.Status.ReadyReplicas == 3, fmt.Sprintf("%d ready", d.Status.ReadyReplicas)
		})
		lan := l.plan.NS(topology.RoleLANClient)
		m := newMilestones()
		m.watchServices(b, l.kube)
		m.sniffARP(b, lan, l.plan.LANClient)
		for _, n := range l.plan.Nodes {
			m.watchRules(b, n.NS)
		}
		var paths []path
		for i := range labServices {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%02d", i)},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "hello"},
					Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(5678)}}},
			}
			created := time.Now()
			if _, err := l.kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			answered := firstAnswer(b, m, lan, svc.Name)
			paths = append(paths, m.path(svc.Name, created, answered))
		}
		m.stop()
		writePaths(b, paths)
		reportPaths(b, paths)
	}
}

// firstAnswer waits for the Service's address (from the watch, not a poll), then requests it from
// the LAN client back to back, each request on a new connection, as a user retrying would, and
// returns when the first answer came. A request sent before the address is announced is not
// lost: the client's kernel holds its SYN while it resolves the address, and the speaker's
// gratuitous ARP (which updates an entry the client is still resolving) releases it.
func firstAnswer(b *testing.B, m *milestones, lan, name string) time.Time {
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	a, ok := m.address(ctx, name)
	if !ok {
		b.Fatalf("%s: no address in its status after a minute", name)
	}
	var last error
	for ctx.Err() == nil {
		began := time.Now()
		r, err := httpGet(ctx, lan, url(a.vip, 80))
		if err == nil && r.body == hello+"\n" {
			return time.Now()
		}
		last = err
		if err == nil {
			last = fmt.Errorf("answered %q", r.body)
		}
		// A refusal or an unreachable host comes back at once: do not spin on it.
		if time.Since(began) < 20*time.Millisecond {
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.Fatalf("%s: %s did not answer within a minute of its allocation; last: %v", name, a.vip, last)
	return time.Time{}
}
