//go:build integration

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/frontdesk-lb/frontdesk/api/client"
	"github.com/frontdesk-lb/frontdesk/api/crds"
	"github.com/frontdesk-lb/frontdesk/api/v1alpha1"
	"github.com/frontdesk-lb/frontdesk/internal/poll"
	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// TestMain lets the test binary run main() (role "main"): the test starts the real command as a
// process.
func TestMain(m *testing.M) {
	testkit.Main(m, map[string]func(string) int{
		"main": func(string) int { main(); return 0 },
	})
}

const metricsToken = "frontdesk-main-test-token"

// TestBareMetalEndToEnd runs frontdesk-controller --cloud-provider=baremetal against a real API
// server: the Services guide's hello-svc, made a LoadBalancer, gets an address from the pool; the
// metrics show the pool; after a SIGTERM and a restart the address is the same.
func TestBareMetalEndToEnd(t *testing.T) {
	c := controlplane.Start(t, controlplane.WithToken(metricsToken, "metrics-reader", "system:masters"))
	ctx := context.Background()
	if err := crds.Install(ctx, c.Config); err != nil {
		t.Fatal(err)
	}
	api, err := client.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.IPPools().Create(ctx, &v1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "lab"},
		Spec: v1alpha1.IPPoolSpec{Addresses: []string{"198.18.100.0/28"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	run := func(name string) (stop func(), port int) {
		port = controlplane.FreePort(t)
		logPath := filepath.Join(t.TempDir(), name+".log")
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "--cloud-provider=baremetal", "--kubeconfig="+c.KubeconfigPath,
			"--authentication-kubeconfig="+c.KubeconfigPath, "--authorization-kubeconfig="+c.KubeconfigPath,
			"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--leader-elect=true",
			"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms",
			"--controllers=service,nodeport-usage,cloud-node", "--v=2")
		cmd.Env = testkit.ChildEnv("main", "")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
		stop = func() {
			select {
			case <-done:
				return
			default:
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Errorf("%s ignored SIGTERM for 20 s", name)
				_ = cmd.Process.Kill()
				<-done
			}
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				lines := strings.Split(string(b), "\n")
				t.Logf("--- %s log (end) ---\n%s", name, strings.Join(lines[max(0, len(lines)-60):], "\n"))
			}
		}
		t.Cleanup(stop)
		return stop, port
	}

	// A Node whose kubelet runs with --cloud-provider=external waits, tainted, for the cloud node
	// controller to initialise it from InstancesV2.
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1",
		Annotations: map[string]string{"alpha.kubernetes.io/provided-node-ip": "198.18.0.11"}},
		Spec: v1.NodeSpec{Taints: []v1.Taint{{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: v1.TaintEffectNoSchedule}}}}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	stop, port := run("first")
	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello-svc", Namespace: "default"},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "hello"},
			Ports: []v1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(5678)}}}}
	if _, err := c.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := waitIngress(t, c, 60*time.Second)
	if !strings.HasPrefix(first, "198.18.100.") {
		t.Fatalf("hello-svc got %q, want an address of the pool 198.18.100.0/28", first)
	}
	// The pool gauges follow allocations within the status interval (1 s): poll for them.
	getMetrics(t, port,
		`frontdesk_ippool_assigned_addresses{family="IPv4",pool="lab"} 1`,
		`frontdesk_ippool_capacity_addresses{family="IPv4",pool="lab"} 16`,
		`frontdesk_nodeport_used 1`,
		`frontdesk_service_controller_load_balancers 1`)

	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		node = n
		for _, taint := range n.Spec.Taints {
			if taint.Key == "node.cloudprovider.kubernetes.io/uninitialized" {
				return false, nil
			}
		}
		return n.Spec.ProviderID != "", nil
	})
	if err != nil {
		t.Fatalf("node-1 was not initialised by the cloud node controller: providerID %q, taints %v", node.Spec.ProviderID, node.Spec.Taints)
	}
	if node.Spec.ProviderID != "baremetal://node-1" {
		t.Errorf("providerID = %q, want baremetal://node-1", node.Spec.ProviderID)
	}
	if !slices.Contains(node.Status.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: "198.18.0.11"}) {
		t.Errorf("node addresses %v lack the kubelet-provided InternalIP 198.18.0.11", node.Status.Addresses)
	}

	stop()
	_, port = run("second")
	// The new leader has synced hello-svc once its own gauge counts it (the provider answered);
	// that is the witness, not a sleep. Its status patch follows the provider's answer, so the
	// address is watched for a moment more: it must be the first one throughout.
	getMetrics(t, port, `frontdesk_service_controller_load_balancers 1`)
	poll.Consistently(t, 2*time.Second, func() string {
		if again := waitIngress(t, c, 30*time.Second); again != first {
			return fmt.Sprintf("after a restart hello-svc moved from %s to %s", first, again)
		}
		return ""
	})
}

func waitIngress(t *testing.T, c *controlplane.Cluster, timeout time.Duration) string {
	t.Helper()
	var ip string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		s, err := c.Client.CoreV1().Services("default").Get(ctx, "hello-svc", metav1.GetOptions{})
		if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
			return false, nil //nolint:nilerr // keep polling through transient errors
		}
		ip = s.Status.LoadBalancer.Ingress[0].IP
		return true, nil
	})
	if err != nil {
		t.Fatalf("hello-svc got no ingress within %s", timeout)
	}
	return ip
}

// getMetrics polls /metrics until it holds every wanted line.
func getMetrics(t *testing.T, port int, want ...string) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second,
		// Self-signed serving certificate on loopback.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test
	var body string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", port), nil)
		req.Header.Set("Authorization", "Bearer "+metricsToken)
		resp, err := hc.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // the server may not listen yet
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		body = string(b)
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false, nil
			}
		}
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		var missing []string
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = append(missing, w)
			}
		}
		t.Fatalf("/metrics lacks %v; its frontdesk lines:\n%s", missing, grepLines(body, "frontdesk_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
