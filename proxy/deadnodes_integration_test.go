//go:build integration

package proxy

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestExclusionWithAPIServerDown: the API server stops (with it, Kubernetes' own way of marking
// a dead node's endpoints not ready), then node-b dies: the proxy excludes node-b's endpoints from
// its informers' last state, keeps the Service's last endpoints when every one is on dead nodes,
// and takes node-b back, all without the API server.
func TestExclusionWithAPIServerDown(t *testing.T) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	fake := knftables.NewFake(knftables.IPv4Family, "frontdesk")
	p, err := New(ctx, Config{
		Client: c.Client, NodeName: testNode, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
		MinSyncPeriod: 20 * time.Millisecond,
		NFTables:      func(knftables.Family, string) (knftables.Interface, error) { return fake, nil },
		Conntrack:     &recordingConntrack{},
	})
	if err != nil {
		t.Fatal(err)
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
	case <-time.After(30 * time.Second):
		t.Fatal("not ready 30 s after start")
	}
	mk := func(name string, eps ...ep) string {
		svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("web")}}}}
		svc, err := c.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, newSlice(name, name+"-1", v1.ProtocolTCP, eps...), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return svc.Spec.ClusterIP
	}
	web := mk("web", remote1, remote3)
	only := mk("only", remote1)
	tr := newTracer(t, fake, knftables.IPv4Family, nodeIP)
	waitTrace(t, tr, tcp("10.244.1.7", web, 80), []string{toRemote1, toRemote3})
	waitTrace(t, tr, tcp("10.244.1.7", only, 80), []string{toRemote1})

	c.Stop()
	p.SetExcludedNodes(map[string]ExcludedNode{"node-b": {DeadSince: time.Now()}})
	waitTrace(t, tr, tcp("10.244.1.7", web, 80), []string{toRemote3})
	waitTrace(t, tr, tcp("10.244.1.7", only, 80), []string{toRemote1}) // fail open
	p.SetExcludedNodes(nil)
	waitTrace(t, tr, tcp("10.244.1.7", web, 80), []string{toRemote1, toRemote3})
}
