//go:build integration

package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/cloud-provider/names"
	"k8s.io/component-base/cli"

	"github.com/frontdesk-lb/frontdesk/internal/testkit"
	"github.com/frontdesk-lb/frontdesk/lab/controlplane"
)

// waitEvery is how often the tests poll the API server for a state.
const waitEvery = 200 * time.Millisecond

// TestMain lets the test binary run as frontdesk-controller (role "controller", with the
// test-fake provider of fake_provider_test.go) instead of running tests, so the integration test
// starts real, separate controller processes.
func TestMain(m *testing.M) {
	testkit.Main(m, map[string]func(string) int{
		"controller": func(string) int { return cli.Run(NewCommand(genericapiserver.SetupSignalHandler())) },
	})
}

const metricsToken = "frontdesk-test-metrics-token"

// replica is one frontdesk-controller process.
type replica struct {
	name string
	port int
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startReplica runs a replica with leader election, as a Deployment runs several.
func startReplica(t *testing.T, name, kubeconfig string) *replica {
	t.Helper()
	return startCommand(t, name, kubeconfig,
		"--use-service-account-credentials",
		"--leader-elect=true",
		"--leader-elect-lease-duration=4s",
		"--leader-elect-renew-deadline=3s",
		"--leader-elect-retry-period=500ms",
	)
}

// startCommand runs the command against kubeconfig with args after the flags every test
// needs, logging to a file that a failed test prints; it is stopped at cleanup.
func startCommand(t *testing.T, name, kubeconfig string, args ...string) *replica {
	t.Helper()
	port := controlplane.FreePort(t)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], append([]string{
		"--cloud-provider=" + testProvider,
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--controller-start-interval=0",
		"--v=2",
	}, args...)...)
	cmd.Env = testkit.ChildEnv("controller", "")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, port: port, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("--- %s log (end) ---\n%s", name, tail(logPath, 40))
		}
	})
	return r
}

// stop sends SIGTERM and waits for the process to exit.
func (r *replica) stop(t *testing.T) {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not exit within 20 s of SIGTERM; killing it", r.name)
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// get fetches path from the replica's secure port, with the metrics token.
func (r *replica) get(path string) (int, string, error) {
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The serving certificate is self-signed; this is a loopback test.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", r.port, path), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, string(body), err
}

// isLeader reads the leader-election gauge from /metrics.
func (r *replica) isLeader() bool {
	code, body, err := r.get("/metrics")
	return err == nil && code == http.StatusOK &&
		strings.Contains(body, `leader_election_master_status{name="cloud-controller-manager"} 1`)
}

func TestCommandRunsWithLeaderElection(t *testing.T) {
	c := controlplane.Start(t, controlplane.WithToken(metricsToken, "metrics-reader", "system:masters"))
	ctx := context.Background()

	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	node, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	replicas := []*replica{startReplica(t, "replica-1", c.KubeconfigPath), startReplica(t, "replica-2", c.KubeconfigPath)}
	for _, r := range replicas {
		testkit.Eventually(t, 60*time.Second, waitEvery, func() string {
			code, body, err := r.get("/healthz")
			if err != nil || code != http.StatusOK {
				return fmt.Sprintf("%s /healthz: %d %q %v", r.name, code, body, err)
			}
			return ""
		})
	}

	var leader, follower *replica
	testkit.Eventually(t, 30*time.Second, waitEvery, func() string {
		var leaders []*replica
		for _, r := range replicas {
			if r.isLeader() {
				leaders = append(leaders, r)
			}
		}
		if len(leaders) != 1 {
			return fmt.Sprintf("%d leaders; want exactly 1", len(leaders))
		}
		leader = leaders[0]
		return ""
	})
	for _, r := range replicas {
		if r != leader {
			follower = r
		}
	}
	t.Logf("%s leads", leader.name)

	waitServed(t, c, createService(t, c, "first"))
	code, body, err := leader.get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("leader /metrics: %d %v", code, err)
	}
	for _, want := range []string{
		`frontdesk_service_controller_sync_duration_seconds_count{operation="ensure",result="success"}`,
		`frontdesk_service_controller_load_balancers 1`,
		`workqueue_depth{name="service"}`,
		`running_managed_controllers{manager="cloud-controller-manager",name="` + names.ServiceLBController + `"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("leader /metrics has no %s", want)
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, strings.SplitN(want, "{", 2)[0]) {
					t.Logf("  has: %s", line)
				}
			}
		}
	}
	if code, _, _ := follower.get("/metrics"); code != http.StatusOK {
		t.Errorf("follower /metrics: %d", code)
	}
	if code, _, err := leader.get("/configz"); err != nil || code != http.StatusOK {
		t.Errorf("leader /configz: %d %v", code, err)
	}

	// The leader goes; the follower takes over once the lease expires.
	leader.stop(t)
	testkit.Eventually(t, 30*time.Second, waitEvery, func() string {
		if !follower.isLeader() {
			return follower.name + " has not taken over"
		}
		return ""
	})
	waitServed(t, c, createService(t, c, "second"))
}

func createService(t *testing.T, c *controlplane.Cluster, name string) string {
	t.Helper()
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.ServiceSpec{
			Type:     v1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []v1.ServicePort{{Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := c.Client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func waitServed(t *testing.T, c *controlplane.Cluster, name string) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, waitEvery, func() string {
		svc, err := c.Client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if len(svc.Status.LoadBalancer.Ingress) == 0 || len(svc.Finalizers) == 0 {
			return fmt.Sprintf("Service %s not served: finalizers %v, status %+v", name, svc.Finalizers, svc.Status.LoadBalancer)
		}
		return ""
	})
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
