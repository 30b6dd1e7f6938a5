package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

// TestReadyOnlyWithEveryServiceInTheTable runs the proxy's informers against a fake clientset
// holding many Services and delivers each object to the proxy's handlers slowly, as a busy node
// does: Ready must not close before the kernel holds every ClusterIP. Waiting on the informers'
// HasSynced (their cache, not their handlers) closed it with a fraction in.
func TestReadyOnlyWithEveryServiceInTheTable(t *testing.T) {
	const n = 1500
	objs := make([]runtime.Object, 0, n+1)
	for i := range n {
		objs = append(objs, newService(fmt.Sprintf("s%04d", i), clusterIP(fmt.Sprintf("10.96.%d.%d", i/250, i%250+1))))
	}
	objs = append(objs, &v1.Node{})
	objs[n].(*v1.Node).Name = testNode
	var nft *knftables.Fake
	ctx, cancel := context.WithCancel(context.Background())
	p, err := New(ctx, Config{
		Client: fake.NewClientset(objs...), NodeName: testNode, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
		MinSyncPeriod: 10 * time.Millisecond,
		NFTables: func(f knftables.Family, table string) (knftables.Interface, error) {
			nft = knftables.NewFake(f, table)
			return nft, nil
		},
		Conntrack: &recordingConntrack{},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 1,500 objects at ≥ 200 µs each: the handlers lag the informer's cache by ≥ 0.3 s.
	p.delivered = func() { time.Sleep(200 * time.Microsecond) }
	atReady := -1
	p.onReady = func() {
		nft.RLock()
		defer nft.RUnlock()
		atReady = len(nft.Table.Maps[mapServiceIPs].Elements) + len(nft.Table.Maps[mapNoEndpointServices].Elements)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-p.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("not ready 60 s after start")
	}
	if atReady != n {
		t.Errorf("Ready closed with %d of %d ClusterIPs in the table; want every one", atReady, n)
	}
}
