//go:build netns && integration

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
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
// successful request from the LAN client through its address (allocation, announcement by ARP,
// the node proxies' rules). PureLB publishes 0.6–1.4 s for the second from its CI.
func BenchmarkLab(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the lab needs root: it makes network namespaces")
	}
	repo, _ := repoAndK8sBin(b)
	bin := b.TempDir()
	buildBinaries(b, repo, bin)
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
		var firsts []time.Duration
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
			var vip netip.Addr
			eventually(b, time.Minute, svc.Name+" answers through its address", func() (bool, string) {
				if !vip.IsValid() {
					s, err := l.kube.CoreV1().Services("default").Get(ctx, svc.Name, metav1.GetOptions{})
					if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
						return false, "no address yet"
					}
					vip, _ = netip.ParseAddr(s.Status.LoadBalancer.Ingress[0].IP)
				}
				r, err := httpGet(ctx, lan, url(vip, 80))
				return err == nil && r.body == hello+"\n", fmt.Sprintf("%s: %v", vip, err)
			})
			firsts = append(firsts, time.Since(created))
		}
		slices.Sort(firsts)
		q := func(p float64) float64 {
			return float64(firsts[min(len(firsts)-1, int(p*float64(len(firsts))))].Microseconds()) / 1000
		}
		b.ReportMetric(q(0.5), "first-request-p50-ms")
		b.ReportMetric(q(0.95), "first-request-p95-ms")
		b.ReportMetric(q(0.99), "first-request-p99-ms")
		b.ReportMetric(float64(firsts[len(firsts)-1].Microseconds())/1000, "first-request-max-ms")
	}
}
