//go:build integration

package aws_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
	"github.com/frontdesk-lb/frontdesk/providers/aws/annotations"
	"github.com/frontdesk-lb/frontdesk/test/fakeaws"
)

// TestControllerEventsForTenants runs the real controller: a Service naming
// another account's certificate gets a Warning Event naming the annotation
// and why, and AWS sees no call that changes anything; a Service whose
// create AWS refuses gets an Event naming the IAM action, without the
// account ID or the controller's identity from AWS's message, which the
// controller's log keeps.
func TestControllerEventsForTenants(t *testing.T) {
	c := controlplane.Start(t)
	ctx := context.Background()
	fake := fakeaws.Start(t, fakeaws.WithRegion(region))
	vpc := fake.AddVPC(netip.MustParsePrefix("10.0.0.0/16"), nil)
	sub := fake.AddSubnet(region+"a", netip.MustParsePrefix("10.0.1.0/24"), map[string]string{"kubernetes.io/role/elb": "1"})
	instance := fake.AddInstance(fakeaws.Instance{SubnetID: sub})
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{ProviderID: "aws:///" + region + "a/" + instance}}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cloudConfig := filepath.Join(t.TempDir(), "cloud.yaml")
	if err := os.WriteFile(cloudConfig, fmt.Appendf(nil, `clusterName: %s
region: %s
vpcID: %s
sweepInterval: -1s
allow:
  certificateARNPrefixes: ["arn:aws:acm:%s:123456789012:certificate/"]
`, cluster, region, vpc, region), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := startController(t, c, fake, cloudConfig, "--controllers=service")

	warning := func(name, want string) string {
		var got string
		testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
			evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err.Error()
			}
			for _, ev := range evs.Items {
				if ev.InvolvedObject.Name == name && ev.Type == v1.EventTypeWarning && strings.Contains(ev.Message, want) {
					got = ev.Message
					return ""
				}
			}
			return fmt.Sprintf("no Warning Event on Service %s saying %q", name, want)
		})
		return got
	}
	create := func(name string, ann map[string]string) {
		svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
				Ports: []v1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)}}}}
		if _, err := c.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	theirs := "arn:aws:acm:" + region + ":210987654321:certificate/theirs"
	create("borrowed", map[string]string{annotations.SSLCert: theirs})
	msg := warning("borrowed", annotations.SSLCert)
	for _, want := range []string{theirs, "not allowed", "allow.certificateARNPrefixes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Event %q does not say %q", msg, want)
		}
	}
	for _, call := range fake.Calls() {
		if call.Mutating {
			t.Errorf("AWS saw %s:%s for a Service whose annotation is not allowed", call.Service, call.Action)
		}
	}

	fake.Deny("elasticloadbalancing:CreateLoadBalancer")
	create("denied", nil)
	msg = warning("denied", "missing IAM permission elasticloadbalancing:CreateLoadBalancer")
	for _, leak := range []string{"123456789012", "arn:", "fakeaws", "RequestID"} {
		if strings.Contains(msg, leak) {
			t.Errorf("Event %q shows %q from AWS's message", msg, leak)
		}
	}
	testkit.Eventually(t, 10*time.Second, waitEvery, func() string {
		b, _ := os.ReadFile(logPath)
		if !strings.Contains(string(b), "arn:aws:iam::123456789012:user/fakeaws") {
			return "the controller's log does not hold AWS's full message"
		}
		return ""
	})
}
