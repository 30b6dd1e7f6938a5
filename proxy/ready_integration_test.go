//go:build integration

package proxy

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestColdStartReadyAgainstAPIServer: 1,000 Services in a real API server, the proxy started cold
// three times with delivery to its handlers slowed (as on a busy node); each time the table must
// hold every ClusterIP at the instant Ready closes.
func TestColdStartReadyAgainstAPIServer(t *testing.T) {
	const n = 1000
	c := controlplane.Start(t)
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%04d", i), Namespace: "default"},
					Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}}
				if _, err := kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for round := range 3 {
		var nft *knftables.Fake
		runCtx, cancel := context.WithCancel(ctx)
		p, err := New(runCtx, Config{
			Client: c.Client, NodeName: testNode, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
			NFTables: func(f knftables.Family, table string) (knftables.Interface, error) {
				nft = knftables.NewFake(f, table)
				return nft, nil
			},
			Conntrack: &recordingConntrack{},
		})
		if err != nil {
			t.Fatal(err)
		}
		p.delivered = func() { time.Sleep(200 * time.Microsecond) }
		atReady := -1
		p.onReady = func() {
			nft.RLock()
			defer nft.RUnlock()
			// The API server's own "kubernetes" Service is there too.
			atReady = len(nft.Table.Maps[mapServiceIPs].Elements) + len(nft.Table.Maps[mapNoEndpointServices].Elements)
		}
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()
		select {
		case <-p.Ready():
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: not ready 60 s after start", round)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if atReady < n {
			t.Errorf("round %d: Ready closed with %d ClusterIPs in the table, want all %d (and the API server's own)", round, atReady, n)
		}
	}
}
