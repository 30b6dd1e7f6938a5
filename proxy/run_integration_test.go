//go:build integration

package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/knftables"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// waitEvery is how often the tests poll the fake kernel's rules for a state.
const waitEvery = 20 * time.Millisecond

// TestRunAgainstAPIServer runs the whole proxy (informers, loop, readiness) against a real API
// server, with knftables' fake as the kernel, and follows a Service through its life.
func TestRunAgainstAPIServer(t *testing.T) {
	c := controlplane.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	fake := knftables.NewFake(knftables.IPv4Family, "frontdesk")
	p, err := New(ctx, Config{
		Client: c.Client, NodeName: testNode, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
		ClusterCIDRs:  []netip.Prefix{podCIDR},
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
		t.Fatal("not ready 30 s after start with an empty cluster")
	}

	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("web")}}}}
	svc, err = c.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkt := tcp("10.244.1.7", svc.Spec.ClusterIP, 80)
	tr := newTracer(t, fake, knftables.IPv4Family, nodeIP)
	waitTrace(t, tr, pkt, []string{"RESET"})

	es := newSlice("web", "web-abc", v1.ProtocolTCP, local1, remote1)
	if _, err := c.Client.DiscoveryV1().EndpointSlices("default").Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitTrace(t, tr, pkt, []string{toLocal1, toRemote1})

	es = newSlice("web", "web-abc", v1.ProtocolTCP, remote1)
	if _, err := c.Client.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitTrace(t, tr, pkt, []string{toRemote1})

	if err := c.Client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitTrace(t, tr, pkt, []string{"ACCEPT"})
	if err := c.Client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "web-abc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 20*time.Second, waitEvery, "the table to hold nothing of the deleted Service", func() bool {
		fake.RLock()
		defer fake.RUnlock()
		for name := range fake.Table.Chains {
			if strings.Contains(name, "default/web/") {
				return false
			}
		}
		return true
	})
}

func waitTrace(t *testing.T, tr *tracer, pkt packet, want []string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		got = tr.trace(pkt)
		return cmp.Equal(want, got), nil
	})
	if err != nil {
		t.Fatalf("%s → %s:%d: still %v after 20 s, want %v", pkt.src, pkt.dst, pkt.dport, got, want)
	}
}
