//go:build integration

package agent

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/test/cluster"
)

// TestAgentWaitsForTheNodeProxy: with the node proxy in the speaker, an address this node won is
// announced only once the proxy forwards it; meanwhile the status says why.
func TestAgentWaitsForTheNodeProxy(t *testing.T) {
	c := cluster.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	api, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("198.51.100.9")
	n, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.IPPools().Create(ctx, &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "pool"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{"198.51.100.0/24"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.L2Advertisements().Create(ctx, &v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "all"}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip.String()}}
	if _, err := c.Client.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.IPAllocations().Create(ctx, &v1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.IPAllocationName(vip)},
		Spec: v1alpha1.IPAllocationSpec{Address: vip.String(), Pool: "pool",
			Services: []v1alpha1.ServiceRef{{Namespace: "default", Name: "web", UID: svc.UID}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var forwards atomic.Bool
	w := &world{alive: map[string]bool{"node-1": true}}
	ann := &fakeAnnouncer{}
	_, tctx := ktesting.NewTestContext(t)
	actx, stop := context.WithCancel(tctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(actx, Config{NodeName: "node-1", Kube: c.Client, API: api, Announcer: ann, Membership: w.member(),
			ResyncPeriod: time.Minute, Forwards: func(a netip.Addr) bool { return a == vip && forwards.Load() }})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	}()
	condition := func() *metav1.Condition {
		a, err := api.IPAllocations().Get(ctx, v1alpha1.IPAllocationName(vip), metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return meta.FindStatusCondition(a.Status.Conditions, v1alpha1.IPAllocationConditionAnnounced)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true,
			func(context.Context) (bool, error) { return cond(), nil }); err != nil {
			t.Fatalf("%s: %v (condition %+v, announcing %v)", what, err, condition(), ann.has(vip))
		}
	}
	waitFor("the status to say the proxy does not forward the address", func() bool {
		c := condition()
		return c != nil && c.Reason == v1alpha1.IPAllocationReasonNotForwarded && c.Status == metav1.ConditionFalse
	})
	if ann.has(vip) {
		t.Fatalf("%v is announced although the node proxy does not forward it", vip)
	}
	start := time.Now()
	forwards.Store(true)
	waitFor("the address to be announced once forwarded", func() bool { return ann.has(vip) })
	t.Logf("announced %v after the proxy forwarded it", time.Since(start).Round(time.Millisecond))
	waitFor("the status to say Announcing", func() bool {
		c := condition()
		return c != nil && c.Reason == v1alpha1.IPAllocationReasonAnnouncing
	})
}
