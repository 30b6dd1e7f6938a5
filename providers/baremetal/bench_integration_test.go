//go:build integration

package baremetal_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

// benchServices is how many LoadBalancer Services are present while latency is measured (the
// targets are set for 10k).
const benchServices = 10000

// BenchmarkControllerAt10k creates 10k LoadBalancer Services against the real API server, then
// measures (1) the time from the creation of one more Service to its status.loadBalancer.ingress, 200
// times one after another, and (2) the time a restarted provider takes to rebuild its state from
// the 10k Services and IPAllocations, checking that no address moved. Run it once: -benchtime=1x.
func BenchmarkControllerAt10k(b *testing.B) {
	for b.Loop() {
		runControllerBench(b)
	}
}

func runControllerBench(b *testing.B) {
	e := newEnv(b)
	e.createPool(b, "big", "198.18.0.0/16")
	k := e.startController(b)
	ctx := context.Background()

	start := time.Now()
	createMany(b, e, benchServices)
	if b.Failed() {
		b.FailNow()
	}
	waitAllocations(b, e, benchServices)
	b.Logf("%d Services created and given addresses in %s", benchServices, time.Since(start).Round(time.Second))

	// (1) creation to ingress, seen through a watch as a client would.
	seen := make(chan string, 16)
	factory := informers.NewSharedInformerFactory(e.kube, 0)
	inf := factory.Core().V1().Services().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, obj any) {
		if s := obj.(*v1.Service); len(s.Status.LoadBalancer.Ingress) > 0 && len(s.Name) > 6 && s.Name[:6] == "probe-" {
			select {
			case seen <- s.Name:
			default:
			}
		}
	}}); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	var lat []time.Duration
	for i := range 200 {
		name := fmt.Sprintf("probe-%03d", i)
		t0 := time.Now()
		if _, err := e.kube.CoreV1().Services("default").Create(ctx, lbService(name, noNodePorts), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for got := ""; got != name; {
			select {
			case got = <-seen:
			case <-time.After(30 * time.Second):
				b.Fatalf("no ingress for %s after 30 s", name)
			}
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")

	// (2) restart: rebuild from the API server, then check that nothing moved.
	before := snapshot(b, e)
	k.stop()
	cloud := baremetal.New(baremetal.Options{})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	if err := cloud.Start(rctx, e.cfg); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(ms(time.Since(t0)), "rebuild-ms")
	b.ReportMetric(ms(cloud.RestoreDuration()), "restore-ms")
	lb, _ := cloud.LoadBalancer()
	moved := 0
	for key, addr := range before {
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		st, ok, err := lb.GetLoadBalancer(ctx, "kubernetes", &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
		if err != nil || !ok || len(st.Ingress) != 1 || st.Ingress[0].IP != addr {
			moved++
		}
	}
	if moved > 0 {
		b.Fatalf("%d of %d Services would get another address after the restart", moved, len(before))
	}
	b.ReportMetric(float64(len(before)), "services")
}

func createMany(b *testing.B, e *env, n int) {
	ctx := context.Background()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				// 10k Services cannot all have NodePorts (the range holds 2768): bare-metal
				// load balancers do not need them.
				s := lbService(fmt.Sprintf("bulk-%05d", i), noNodePorts)
				if _, err := e.kube.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

func waitAllocations(b *testing.B, e *env, n int) {
	err := wait.PollUntilContextTimeout(context.Background(), 2*time.Second, 15*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := e.api.IPAllocations().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		return err == nil && len(l.Items) >= n, nil
	})
	if err != nil {
		b.Fatalf("the Services did not all get addresses: %v", err)
	}
}

func snapshot(b *testing.B, e *env) map[string]string {
	l, err := e.kube.CoreV1().Services("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range l.Items {
		if len(s.Status.LoadBalancer.Ingress) == 1 {
			out[s.Namespace+"/"+s.Name] = s.Status.LoadBalancer.Ingress[0].IP
		}
	}
	return out
}

func noNodePorts(s *v1.Service) {
	no := false
	s.Spec.AllocateLoadBalancerNodePorts = &no
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
