//go:build integration

package manager

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestNodeProxyEvents runs the command with node-proxy-events against a real API server: a
// tenant in namespace "a" whose externalIP is cluster DNS's ClusterIP gets one Warning Event
// that does not name kube-dns or kube-system, and kube-dns gets none.
func TestNodeProxyEvents(t *testing.T) {
	c := controlplane.Start(t)
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dns := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Protocol: v1.ProtocolUDP, Port: 53}}}}
	dns, err := c.Client.CoreV1().Services("kube-system").Create(ctx, dns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evil := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "evil", Namespace: "a"},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Protocol: v1.ProtocolUDP, Port: 53}}, ExternalIPs: []string{dns.Spec.ClusterIP}}}
	if _, err := c.Client.CoreV1().Services("a").Create(ctx, evil, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	warnings := func(ns string) []v1.Event {
		list, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
		if err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	startCommand(t, NodeProxyEventsController, c.KubeconfigPath,
		"--leader-elect=false", "--controllers="+NodeProxyEventsController, "--allowed-external-ip-cidrs=10.0.0.0/8")
	var got v1.Event
	testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
		for _, e := range warnings("a") {
			if e.InvolvedObject.Name == "evil" && e.Reason == "AddressNotProgrammed" {
				got = e
				return ""
			}
		}
		return "no AddressNotProgrammed Event on a/evil"
	})
	want := fmt.Sprintf("externalIP %s is not programmed by the node proxies: it is the ClusterIP of a Service in another namespace", dns.Spec.ClusterIP)
	if got.Message != want {
		t.Errorf("Event message %q, want %q", got.Message, want)
	}
	for _, secret := range []string{"kube-dns", "kube-system"} {
		if strings.Contains(got.Message, secret) {
			t.Errorf("the tenant's Event names %q: %q", secret, got.Message)
		}
	}
	if got.Count > 1 {
		t.Errorf("the Event was sent %d times; want once", got.Count)
	}
	// Only ours: the API server's own repair loop may warn about a Service created as it starts
	// (ClusterIPNotAllocated), which says nothing of this controller.
	for _, e := range warnings("kube-system") {
		if e.InvolvedObject.Name == "kube-dns" && e.Source.Component == Name {
			t.Errorf("the owner was warned: %s %s", e.Reason, e.Message)
		}
	}
}
